// Package localcloud is the local cloud: one loopback process that serves every POP API
// action certflow calls (CAS, SLB, CDN, ECS Cloud Assistant, OOS; AIRec and MNS through
// sub-emulators), verifies signatures as the real gateways do, keeps state seeded from an
// estate file, injects faults on demand, and serves what is deployed over real TLS.
package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

// Options configure Start. Zero values: the embedded default estate, no faults, a
// temporary directory removed by Close.
type Options struct {
	Estate []byte // YAML estate; nil = DefaultEstate()
	Faults []byte // YAML faults; nil = none
	Dir    string // working directory (roots, targets, ECS sandboxes); "" = a temp dir
}

// Cloud is a running local cloud. Its methods are safe for concurrent use.
type Cloud struct {
	estate  *Estate
	ca      *localca.CA
	dir     string
	tempDir bool
	roots   string
	old     *localca.Cert // the older certificate the estate starts with

	st     *state
	faults *faultEngine
	calls  callLog
	rpc    *RPCVerifier
	roa    *ROAVerifier

	keysMu sync.Mutex
	keys   map[string]Key

	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc

	ext extensions // sub-emulators, TLS farm, hosts (extensions.go)

	closeOnce sync.Once
	closeErr  error
}

// products maps an RPC API version to its product name.
var products = map[string]string{
	"2020-04-07": "cas", "2014-05-15": "Slb", "2018-05-10": "Cdn", "2014-05-26": "Ecs", "2019-06-01": "Oos",
}

// Start seeds the state from the estate, creates the local CA (root PEM written under
// Dir), and starts serving on 127.0.0.1. ctx carries values only: the cloud runs until
// Close, which stops every server and background job.
func Start(ctx context.Context, opts Options) (*Cloud, error) {
	raw := opts.Estate
	if raw == nil {
		raw = DefaultEstate()
	}
	est, err := ParseEstate(raw)
	if err != nil {
		return nil, err
	}
	var fcfg Faults
	if opts.Faults != nil {
		if fcfg, err = ParseFaults(opts.Faults); err != nil {
			return nil, err
		}
	}
	c := &Cloud{estate: est, dir: opts.Dir, st: newState(), faults: newFaultEngine(fcfg), keys: map[string]Key{}}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "certflow-localcloud-"); err != nil {
			return nil, fmt.Errorf("localcloud: temp dir: %w", err)
		}
		c.tempDir = true
	}
	c.ctx, c.stop = context.WithCancel(context.WithoutCancel(ctx))
	c.keys[est.AccessKeyID] = Key{Secret: est.AccessKeySecret}
	c.rpc = &RPCVerifier{Keys: c.lookupKey}
	c.roa = &ROAVerifier{Keys: c.lookupKey}
	if err := c.seed(); err != nil {
		c.Close()
		return nil, err
	}
	if c.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		c.Close()
		return nil, fmt.Errorf("localcloud: listen: %w", err)
	}
	c.srv = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); _ = c.srv.Serve(c.ln) }()
	if err := c.startExtensions(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops every server and background job and removes a temporary Dir. Later calls
// return the first call's result.
func (c *Cloud) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Cloud) close() error {
	c.stop()
	var errs []error
	if c.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := c.srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	errs = append(errs, c.closeExtensions())
	c.wg.Wait()
	if c.tempDir {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// Endpoint is the base URL of the RPC/ROA server, e.g. "http://127.0.0.1:41234".
func (c *Cloud) Endpoint() string { return "http://" + c.ln.Addr().String() }

// Addr is the host:port of the RPC/ROA server (what SDK clients take as Domain).
func (c *Cloud) Addr() string { return c.ln.Addr().String() }

// CA is the local CA that issued the estate's certificates; tests issue new ones with it.
func (c *Cloud) CA() *localca.CA { return c.ca }

// Estate returns the parsed estate.
func (c *Cloud) Estate() Estate { return *c.estate }

// Calls returns the call log so far, oldest first.
func (c *Cloud) Calls() []Call { return c.calls.all() }

// Dump returns the state as indented JSON (identifiers and fingerprints, no key material):
// CAS, SLB stores, listeners, CDN domains, ECS hosts and invocations, OOS secret names,
// what every TLS endpoint serves, and queue depths.
func (c *Cloud) Dump() ([]byte, error) {
	b, err := c.st.dump()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	type servedView struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		SHA256 string `json:"sha256,omitempty"`
	}
	var served []servedView
	for _, ep := range c.Endpoints() {
		sum, _ := c.Deployed(ep.ID, ep.Name)
		served = append(served, servedView{ID: ep.ID, Name: ep.Name, Kind: ep.Kind, SHA256: sum})
	}
	m["serving"] = served
	queues := map[string]int{}
	if c.ext.mns != nil {
		for _, q := range c.ext.mns.Queues() {
			queues[q] = len(c.ext.mns.Messages(q))
		}
	}
	m["queues"] = queues
	return json.MarshalIndent(m, "", "  ")
}

// SetFaults replaces the fault configuration (and resets its counters and RNG).
func (c *Cloud) SetFaults(f Faults) {
	c.faults.set(f)
	if c.ext.airecSvc != nil {
		c.ext.airecSvc.SetSilentFailure(f.AIRecSilentFailure)
	}
}

// IssueSTS creates a temporary access key valid for ttl and returns it.
func (c *Cloud) IssueSTS(ttl time.Duration) (ak, secret, token string) {
	ak, secret, token = "STS."+randHex(12), randHex(16), "CAIS"+randHex(32)
	c.keysMu.Lock()
	c.keys[ak] = Key{Secret: secret, Token: token, Expires: time.Now().Add(ttl)}
	c.keysMu.Unlock()
	return ak, secret, token
}

func (c *Cloud) lookupKey(ak string) (Key, bool) {
	c.keysMu.Lock()
	k, ok := c.keys[ak]
	c.keysMu.Unlock()
	if ok && k.Token != "" && c.faults.tokensExpired() {
		k.Expires = time.Unix(1, 0)
	}
	return k, ok
}

// ServeHTTP routes ROA (Authorization: acs … or Bearer, AIRec paths) and RPC requests.
func (c *Cloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeAPIError(w, reqID, r.Host, "", badRequest("InvalidRequest", "read body: %v", err))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_certflow/") {
		c.serveAdmin(w, r, body)
		return
	}
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(auth, "acs ") || strings.HasPrefix(auth, "Bearer ") || strings.HasPrefix(r.URL.Path, "/v2/openapi/") {
		c.serveROA(w, r, body, reqID, start)
		return
	}
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeAPIError(w, reqID, r.Host, "", badRequest("InvalidParameter", "malformed form body"))
			return
		}
		for k, v := range form {
			params[k] = v[0]
		}
	}
	product := products[params["Version"]]
	call := Call{Time: start, Product: product, Action: params["Action"], Region: params["RegionId"], Params: logParams(params)}
	status, resp, apiE := c.serveRPC(r.Method, params, product)
	call.Latency = time.Since(start)
	if apiE != nil {
		call.Code, call.Status = apiE.Code, apiE.Status
		c.calls.add(call)
		writeAPIError(w, reqID, r.Host, product, apiE)
		return
	}
	call.Status = status
	c.calls.add(call)
	resp["RequestId"] = reqID
	writeJSON(w, status, resp)
}

// serveRPC verifies, applies faults and runs one RPC action.
func (c *Cloud) serveRPC(method string, params map[string]string, product string) (int, map[string]any, *APIError) {
	if _, e := c.rpc.Verify(method, params); e != nil {
		return 0, nil, e
	}
	if product == "" {
		return 0, nil, badRequest("InvalidVersion", "Specified parameter Version is not valid.")
	}
	action := params["Action"]
	h := c.handler(product, action)
	if h == nil {
		return 0, nil, notFound("InvalidAction.NotFound", "Specified api %s is not found, please check your url and method.", action)
	}
	lat, e := c.faults.before(product, action, time.Now())
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-c.ctx.Done():
		}
	}
	if e != nil {
		return 0, nil, e
	}
	resp, e := h(&rpcCall{c: c, p: params, action: action})
	if e != nil {
		return 0, nil, e
	}
	if resp == nil {
		resp = map[string]any{}
	}
	return http.StatusOK, resp, nil
}

func (c *Cloud) serveROA(w http.ResponseWriter, r *http.Request, body []byte, reqID string, start time.Time) {
	call := Call{Time: start, Product: "Airec", Action: r.Method + " " + r.URL.Path}
	fail := func(e *APIError) {
		call.Code, call.Status, call.Latency = e.Code, e.Status, time.Since(start)
		c.calls.add(call)
		writeAPIError(w, reqID, r.Host, "airec", e)
	}
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if !c.validBearer(tok) {
			fail(apiErr(http.StatusUnauthorized, "InvalidBearerToken", "The bearer token is not valid."))
			return
		}
	} else if _, e := c.roa.Verify(r, body); e != nil {
		fail(e)
		return
	}
	h := c.ext.airec
	if h == nil || !strings.HasPrefix(r.URL.Path, "/v2/openapi/") {
		fail(notFound("InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if lat, e := c.faults.before("Airec", call.Action, time.Now()); e != nil {
		fail(e)
		return
	} else if lat > 0 {
		time.Sleep(lat)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(rec, r)
	call.Status, call.Latency = rec.status, time.Since(start)
	c.calls.add(call)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (c *Cloud) validBearer(tok string) bool {
	for _, a := range c.estate.AIRec {
		if a.Token != "" && tok == a.Token {
			return true
		}
	}
	return false
}

// writeFile writes data under the cloud's directory with the given mode.
func (c *Cloud) writeFile(name string, data []byte, mode os.FileMode) (string, error) {
	p := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, mode)
}

// Package airecemu is the AIRec side of the local cloud: the certificate API of the user's
// workflow (bind a certificate_info.xlsx with a chain and key, poll the status, switch HTTPS
// enforcement) with the state behind it, so that each custom domain's TLS server can serve
// what is bound now.
//
// Authentication is not checked here: the local cloud core verifies the ROA signature or the
// Bearer token and hands /v2/openapi/... requests to Service. Request and response shapes are
// the ones pkg/airec sends and decodes (airec.Envelope, airec.Status, …).
//
// Faithful to the documented trap: a mapping file without a domain or certificate_id column
// binds nothing, yet the bind is accepted and the status ends in SUCCESS.
package airecemu

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/pkg/airec"
)

// maxBody bounds a bind upload.
const maxBody = 16 << 20

// Call is one request the service answered, for call logs and tests.
type Call struct {
	Time       time.Time
	Method     string
	Path       string
	Action     string // bind, status, https_get, https_set, or unknown
	Instance   string
	HTTPStatus int
	Code       string // error code; empty on success
}

// Options configures a Service.
type Options struct {
	// Instances maps an AIRec instance ID to its custom domains.
	Instances map[string][]string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ValidateAfter is how long a bind takes: PENDING for the first half, VALIDATING for the
	// second, then SUCCESS or FAILED and the domains switch. Zero completes at once.
	ValidateAfter time.Duration
	// OnCall, when set, is called after every request (from the serving goroutine).
	OnCall func(Call)
}

// Service is the emulated AIRec certificate API and its state. It is an http.Handler and is
// safe for concurrent use.
type Service struct {
	opts Options

	mu        sync.Mutex
	instances map[string]*instance
	owner     map[string]string // domain → instance
	silent    bool
}

type instance struct {
	id      string
	domains []string
	enforce bool
	bound   map[string]*binding
	last    *job
	seq     int
}

type binding struct {
	cert   *tls.Certificate
	certID string
	sha256 string
}

// job is one accepted bind.
type job struct {
	taskID  string
	at      time.Time
	applied bool
	silent  bool // report SUCCESS, bind nothing
	lie     bool // with silent: report the planned domains as bound
	outcome []*outcome
}

type outcome struct {
	domain, certID, status, message string
	sha256                          string // of the certificate the bind would serve
	bind                            *binding
}

// New returns a Service for the given instances. Domains are matched case-insensitively.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, instances: map[string]*instance{}, owner: map[string]string{}}
	for id, ds := range opts.Instances {
		in := &instance{id: id, bound: map[string]*binding{}}
		for _, d := range ds {
			d = canon(d)
			in.domains = append(in.domains, d)
			s.owner[d] = id
		}
		slices.Sort(in.domains)
		s.instances[id] = in
	}
	return s
}

func canon(d string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".") }

// SetSilentFailure injects the silent binding failure for every later bind: the upload is
// accepted, the status reports SUCCESS with every mapped domain bound to the new certificate,
// and nothing is bound. Only a TLS check of the domains can tell.
func (s *Service) SetSilentFailure(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// Seed binds an initial certificate to every custom domain of instance (the estate's old
// certificate), with certificate ID "seed".
func (s *Service) Seed(instance string, chainPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("airecemu: seed %s: %w", instance, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[instance]
	if !ok {
		return fmt.Errorf("airecemu: seed: unknown instance %q", instance)
	}
	b := &binding{cert: &pair, certID: "seed", sha256: fingerprint(pair.Leaf)}
	for _, d := range in.domains {
		in.bound[d] = b
	}
	return nil
}

// Serving returns the certificate the custom domain serves now; nil, nil when nothing is
// bound to it. An unknown domain is an error.
func (s *Service) Serving(domain string) (*tls.Certificate, error) {
	d := canon(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.owner[d]
	if !ok {
		return nil, fmt.Errorf("airecemu: %q is not a custom domain of any instance", domain)
	}
	in := s.instances[id]
	s.advance(in)
	if b := in.bound[d]; b != nil {
		return b.cert, nil
	}
	return nil, nil
}

// Enforced reports whether HTTPS enforcement is on for instance.
func (s *Service) Enforced(instance string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[instance]
	return ok && in.enforce
}

// Domains lists every custom domain of every instance, sorted.
func (s *Service) Domains() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.owner))
	for d := range s.owner {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// advance completes the instance's bind once its time has come. Callers hold s.mu.
func (s *Service) advance(in *instance) {
	j := in.last
	if j == nil || j.applied || s.opts.Now().Before(j.at.Add(s.opts.ValidateAfter)) {
		return
	}
	j.applied = true
	if j.silent {
		return
	}
	for _, o := range j.outcome {
		if o.status == airec.StatusSuccess {
			in.bound[o.domain] = o.bind
		}
	}
}

// state is the job's overall state now. Callers hold s.mu and have called advance.
func (s *Service) state(j *job) string {
	if !j.applied {
		if s.opts.Now().Before(j.at.Add(s.opts.ValidateAfter / 2)) {
			return airec.StatusPending
		}
		return airec.StatusValidating
	}
	if j.silent {
		return airec.StatusSuccess
	}
	for _, o := range j.outcome {
		if o.status == airec.StatusFailed {
			return airec.StatusFailed
		}
	}
	return airec.StatusSuccess
}

// ServeHTTP routes /v2/openapi/instances/{id}/certificates/{bind,status} and
// /v2/openapi/instances/{id}/settings/https.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := &Call{Time: s.opts.Now(), Method: r.Method, Path: r.URL.Path, Action: "unknown"}
	defer func() {
		if s.opts.OnCall != nil {
			s.opts.OnCall(*call)
		}
	}()
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/openapi/instances/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" {
		s.fail(w, call, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
		return
	}
	call.Instance = parts[0]
	route := parts[1] + "/" + parts[2]
	type handler func(http.ResponseWriter, *http.Request, *Call, *instance)
	var h handler
	switch {
	case route == "certificates/bind" && r.Method == http.MethodPost:
		call.Action, h = "bind", s.bind
	case route == "certificates/status" && r.Method == http.MethodGet:
		call.Action, h = "status", s.status
	case route == "settings/https" && r.Method == http.MethodGet:
		call.Action, h = "https_get", s.httpsGet
	case route == "settings/https" && r.Method == http.MethodPut:
		call.Action, h = "https_set", s.httpsSet
	default:
		s.fail(w, call, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
		return
	}
	s.mu.Lock()
	in, ok := s.instances[call.Instance]
	s.mu.Unlock()
	if !ok {
		s.fail(w, call, http.StatusNotFound, airec.ErrCodeInstanceNotFound, fmt.Sprintf("instance %s does not exist", call.Instance))
		return
	}
	h(w, r, call, in)
}

func (s *Service) bind(w http.ResponseWriter, r *http.Request, call *Call, in *instance) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		s.fail(w, call, http.StatusBadRequest, "InvalidParameter", "Content-Type must be multipart/form-data with a boundary")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseMultipartForm(maxBody); err != nil {
		s.fail(w, call, http.StatusBadRequest, "InvalidParameter", "the multipart body cannot be read: "+err.Error())
		return
	}
	defer r.MultipartForm.RemoveAll()
	part := map[string][]byte{}
	for _, name := range []string{airec.PartMapping, airec.PartCert, airec.PartKey} {
		data, err := formFile(r, name)
		if err != nil {
			s.fail(w, call, http.StatusBadRequest, airec.ErrCodeMissingParameter, fmt.Sprintf("the %s part is required", name))
			return
		}
		part[name] = data
	}
	pair, code, msg := checkPair(part[airec.PartCert], part[airec.PartKey], s.opts.Now())
	if code != "" {
		s.fail(w, call, http.StatusBadRequest, code, msg)
		return
	}
	m, err := airec.ReadMapping(bytes.NewReader(part[airec.PartMapping]), nil)
	if err != nil {
		s.fail(w, call, http.StatusBadRequest, airec.ErrCodeInvalidMapping, "mapping_file is not an xlsx workbook")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(in)
	if in.last != nil && !in.last.applied {
		s.fail(w, call, http.StatusConflict, airec.ErrCodeBindInProgress, fmt.Sprintf("bind task %s is still %s", in.last.taskID, s.state(in.last)))
		return
	}
	in.seq++
	j := &job{taskID: fmt.Sprintf("bind-%s-%d", in.id, in.seq), at: s.opts.Now()}
	b := &binding{cert: pair, sha256: fingerprint(pair.Leaf)}
	// The real service's trap: without both key columns, nothing is read and all is "fine".
	j.silent = len(m.Rows) == 0
	seen := map[string]bool{}
	for _, row := range m.Rows {
		d := canon(row.Domain)
		if seen[d] {
			continue
		}
		seen[d] = true
		o := &outcome{domain: d, certID: row.CertificateID, status: airec.StatusSuccess, sha256: b.sha256}
		switch {
		case s.owner[d] != in.id:
			o.status, o.message = airec.StatusFailed, fmt.Sprintf("%s is not a custom domain of instance %s", d, in.id)
		case pair.Leaf.VerifyHostname(d) != nil:
			o.status, o.message = airec.StatusFailed, fmt.Sprintf("the certificate does not cover %s", d)
		case !typeMatches(row.CertType, pair.Leaf):
			o.status, o.message = airec.StatusFailed, fmt.Sprintf("cert_type %q does not match the certificate's %s key", row.CertType, pair.Leaf.PublicKeyAlgorithm)
		default:
			o.bind = &binding{cert: b.cert, certID: row.CertificateID, sha256: b.sha256}
		}
		j.outcome = append(j.outcome, o)
	}
	if s.silent {
		j.silent, j.lie = true, true
	}
	in.last = j
	s.advance(in)
	s.ok(w, call, airec.BindResult{TaskID: j.taskID, Status: s.state(j)})
}

func (s *Service) status(w http.ResponseWriter, _ *http.Request, call *Call, in *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(in)
	st := airec.Status{Status: airec.StatusNone, Domains: []airec.DomainStatus{}}
	planned := map[string]*outcome{}
	if j := in.last; j != nil {
		st.Status, st.TaskID = s.state(j), j.taskID
		for _, o := range j.outcome {
			planned[o.domain] = o
		}
		var failed []string
		for _, o := range j.outcome {
			if o.status == airec.StatusFailed {
				failed = append(failed, o.message)
			}
		}
		if j.applied && !j.silent && len(failed) > 0 {
			st.Message = strings.Join(failed, "; ")
		}
	} else {
		for _, b := range in.bound {
			if b != nil {
				st.Status = airec.StatusSuccess
			}
		}
	}
	for _, d := range in.domains {
		ds := airec.DomainStatus{Domain: d, Status: airec.StatusNone}
		if b := in.bound[d]; b != nil {
			ds.Status, ds.CertificateID, ds.SHA256 = airec.StatusSuccess, b.certID, b.sha256
		}
		if o, ok := planned[d]; ok && in.last != nil {
			j := in.last
			switch {
			case !j.applied:
				ds.Status, ds.CertificateID, ds.SHA256 = st.Status, o.certID, ""
			case j.lie:
				ds.Status, ds.CertificateID, ds.SHA256 = airec.StatusSuccess, o.certID, o.sha256
			case o.status == airec.StatusFailed:
				ds.Status, ds.Message = airec.StatusFailed, o.message
			}
		}
		st.Domains = append(st.Domains, ds)
	}
	s.ok(w, call, st)
}

func (s *Service) httpsGet(w http.ResponseWriter, _ *http.Request, call *Call, in *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok(w, call, airec.HTTPSSetting{EnforceHTTPS: in.enforce})
}

func (s *Service) httpsSet(w http.ResponseWriter, r *http.Request, call *Call, in *instance) {
	var body struct {
		EnforceHTTPS *bool `json:"enforceHttps"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		s.fail(w, call, http.StatusBadRequest, "InvalidParameter", "the body must be JSON {\"enforceHttps\": true|false}")
		return
	}
	if body.EnforceHTTPS == nil {
		s.fail(w, call, http.StatusBadRequest, airec.ErrCodeMissingParameter, "enforceHttps is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(in)
	if *body.EnforceHTTPS {
		for _, d := range in.domains {
			if in.bound[d] == nil {
				s.fail(w, call, http.StatusBadRequest, airec.ErrCodeNotBound, fmt.Sprintf("custom domain %s has no certificate bound", d))
				return
			}
		}
	}
	in.enforce = *body.EnforceHTTPS
	s.ok(w, call, airec.HTTPSSetting{EnforceHTTPS: in.enforce})
}

// checkPair parses the chain and key as the service would; error messages never quote the key.
func checkPair(chainPEM, keyPEM []byte, now time.Time) (*tls.Certificate, string, string) {
	n, rest := 0, chainPEM
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, airec.ErrCodeInvalidCert, fmt.Sprintf("certificate %d of cert cannot be parsed", n)
		}
	}
	if n == 0 {
		return nil, airec.ErrCodeInvalidCert, "cert holds no PEM certificate"
	}
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, airec.ErrCodeKeyMismatch, "the private key does not match the certificate"
		}
		return nil, airec.ErrCodeInvalidKey, "key is not a usable PEM private key"
	}
	if now.After(pair.Leaf.NotAfter) {
		return nil, airec.ErrCodeInvalidCert, fmt.Sprintf("the certificate expired at %s", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(pair.Leaf.NotBefore) {
		return nil, airec.ErrCodeInvalidCert, fmt.Sprintf("the certificate is not valid before %s", pair.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &pair, "", ""
}

func typeMatches(certType string, leaf *x509.Certificate) bool {
	switch strings.ToUpper(certType) {
	case airec.CertTypeRSA:
		return leaf.PublicKeyAlgorithm == x509.RSA
	case airec.CertTypeECC:
		return leaf.PublicKeyAlgorithm == x509.ECDSA
	}
	return false
}

func formFile(r *http.Request, name string) ([]byte, error) {
	if fhs := r.MultipartForm.File[name]; len(fhs) > 0 {
		f, err := fhs[0].Open()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err := io.ReadAll(f)
		if err == nil && len(data) == 0 {
			err = errors.New("empty")
		}
		return data, err
	}
	if v := r.MultipartForm.Value[name]; len(v) > 0 && v[0] != "" {
		return []byte(v[0]), nil
	}
	return nil, errors.New("absent")
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func (s *Service) ok(w http.ResponseWriter, call *Call, result any) {
	call.HTTPStatus = http.StatusOK
	writeJSON(w, http.StatusOK, map[string]any{"requestId": requestID(), "result": result})
}

func (s *Service) fail(w http.ResponseWriter, call *Call, status int, code, msg string) {
	call.HTTPStatus, call.Code = status, code
	writeJSON(w, status, airec.Envelope[struct{}]{RequestID: requestID(), Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"requestId":"","code":"InternalError","message":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// requestID looks like the service's: an upper-case UUID.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

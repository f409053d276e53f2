package airecemu_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/xuri/excelize/v2"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/airecemu"
)

const (
	instanceID = "airec-cn-test01"
	testAK     = "LTAItestak"
	testSecret = "testsecret-value"
	testToken  = "bearer-token-123"
)

var airecDomains = []string{"rec.example.com", "api.example.com"}

// verifyROA checks an "acs AK:signature" request exactly as facts §2.3 describes.
func verifyROA(r *http.Request, body []byte) error {
	ak, sig, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "acs "), ":")
	if !ok || ak != testAK {
		return errors.New("InvalidAccessKeyId.NotFound")
	}
	sts := r.Method + "\n"
	for _, h := range []string{"Accept", "Content-MD5", "Content-Type", "Date"} {
		if v := r.Header.Get(h); v != "" {
			sts += v + "\n"
		}
	}
	var names []string
	for n := range r.Header {
		if l := strings.ToLower(n); strings.HasPrefix(l, "x-acs-") {
			names = append(names, l)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		sts += n + ":" + r.Header.Get(n) + "\n"
	}
	sts += r.URL.Path
	if q := r.URL.Query(); len(q) > 0 {
		var keys []string
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			if v := q.Get(k); v != "" {
				kv = append(kv, k+"="+v)
			} else {
				kv = append(kv, k)
			}
		}
		sts += "?" + strings.Join(kv, "&")
	}
	mac := hmac.New(sha1.New, []byte(testSecret))
	mac.Write([]byte(sts))
	if base64.StdEncoding.EncodeToString(mac.Sum(nil)) != sig {
		return errors.New("SignatureDoesNotMatch")
	}
	sum := md5.Sum(body)
	if r.Header.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("ContentMD5NotMatched")
	}
	return nil
}

type rig struct {
	emu      *airecemu.Service
	srv      *httptest.Server
	ca       *localca.CA
	leaf     *localca.Cert
	chain    []byte
	mu       sync.Mutex
	calls    []airecemu.Call
	authSeen []string
	now      time.Time
}

func (g *rig) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *rig) tick(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = g.now.Add(d)
}

// newRig starts the emulator behind a gateway that verifies Bearer tokens and ROA
// signatures, as the local cloud core does.
func newRig(t *testing.T, validateAfter time.Duration) *rig {
	t.Helper()
	ca, err := localca.New("airecemu test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: airecDomains, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{ca: ca, leaf: leaf, chain: ca.ChainPEM(leaf), now: time.Now()}
	g.emu = airecemu.New(airecemu.Options{
		Instances:     map[string][]string{instanceID: airecDomains, "airec-cn-other": {"other.example.com"}},
		Now:           g.clock,
		ValidateAfter: validateAfter,
		OnCall: func(c airecemu.Call) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.calls = append(g.calls, c)
		},
	})
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		var err error
		switch {
		case auth == "Bearer "+testToken:
			g.record("bearer")
		case strings.HasPrefix(auth, "acs "):
			if err = verifyROA(r, body); err == nil {
				g.record("roa")
			}
		default:
			err = errors.New("InvalidAuthorization")
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": "GW-1", "Code": err.Error(), "Message": "rejected by the test gateway"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *rig) record(kind string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authSeen = append(g.authSeen, kind)
}

func (g *rig) bearer(t *testing.T) *airec.Client {
	t.Helper()
	c, err := airec.New(airec.ClientOptions{Endpoint: g.srv.URL, InstanceID: instanceID, Token: testToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (g *rig) signed(t *testing.T) *airec.Client {
	t.Helper()
	sc, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewStaticAKCredentialsProvider(testAK, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := airec.New(airec.ClientOptions{Endpoint: g.srv.URL, InstanceID: instanceID, SDK: sc, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mapping(t *testing.T, certType string, domains ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := airec.BuildMapping(&b, "123456789012345678", certType, domains); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func serving(t *testing.T, emu *airecemu.Service, domain string) *tls.Certificate {
	t.Helper()
	c, err := emu.Serving(domain)
	if err != nil {
		t.Fatalf("Serving(%s): %v", domain, err)
	}
	return c
}

func servesLeaf(t *testing.T, emu *airecemu.Service, domain string, leaf *localca.Cert) bool {
	t.Helper()
	c := serving(t, emu, domain)
	return c != nil && bytes.Equal(c.Leaf.Raw, leaf.DER)
}

func TestRoundTrip(t *testing.T) {
	for _, auth := range []string{"bearer", "roa"} {
		t.Run(auth, func(t *testing.T) {
			g := newRig(t, 10*time.Second)
			old, err := g.ca.Issue(localca.Template{DNSNames: airecDomains})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.emu.Seed(instanceID, g.ca.ChainPEM(old), old.KeyPEM()); err != nil {
				t.Fatal(err)
			}
			c := g.bearer(t)
			if auth == "roa" {
				c = g.signed(t)
			}
			ctx := t.Context()
			st, err := c.Status(ctx)
			if err != nil || st.Status != airec.StatusSuccess || len(st.Domains) != 2 || st.Domains[0].CertificateID != "seed" {
				t.Fatalf("status before bind = %+v, %v", st, err)
			}

			res, err := c.Bind(ctx, mapping(t, "ECC", airecDomains...), g.chain, g.leaf.KeyPEM())
			if err != nil {
				t.Fatalf("Bind: %v", err)
			}
			if res.Status != airec.StatusPending || res.TaskID == "" || res.RequestID == "" {
				t.Errorf("bind result = %+v", res)
			}
			// A second bind while the first validates is refused, retryably.
			_, err = c.Bind(ctx, mapping(t, "ECC", airecDomains...), g.chain, g.leaf.KeyPEM())
			var ae *airec.APIError
			if !errors.As(err, &ae) || ae.Code != airec.ErrCodeBindInProgress || ae.HTTPStatus != http.StatusConflict || !airec.IsRetryable(err) {
				t.Errorf("second bind err = %v, want retryable %s", err, airec.ErrCodeBindInProgress)
			}
			for _, step := range []struct {
				after time.Duration
				want  string
			}{{0, airec.StatusPending}, {6 * time.Second, airec.StatusValidating}, {5 * time.Second, airec.StatusSuccess}} {
				g.tick(step.after)
				st, err = c.Status(ctx)
				if err != nil || st.Status != step.want {
					t.Fatalf("status after +%v = %+v, %v; want %s", step.after, st, err, step.want)
				}
				if step.want != airec.StatusSuccess && !servesLeaf(t, g.emu, "rec.example.com", old) {
					t.Errorf("domain switched before the bind completed")
				}
			}
			for _, d := range airecDomains {
				ds, ok := st.Domain(d)
				if !ok || ds.Status != airec.StatusSuccess || ds.CertificateID != "123456789012345678" || ds.SHA256 != g.leaf.SHA256() {
					t.Errorf("%s status = %+v", d, ds)
				}
				if !servesLeaf(t, g.emu, d, g.leaf) {
					t.Errorf("%s does not serve the new certificate", d)
				}
			}

			if on, err := c.HTTPSEnforced(ctx); err != nil || on {
				t.Fatalf("HTTPSEnforced before = %v, %v", on, err)
			}
			if err := c.EnforceHTTPS(ctx, true); err != nil {
				t.Fatalf("EnforceHTTPS: %v", err)
			}
			if on, err := c.HTTPSEnforced(ctx); err != nil || !on || !g.emu.Enforced(instanceID) {
				t.Fatalf("HTTPSEnforced after = %v, %v", on, err)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, a := range g.authSeen {
				if a != auth {
					t.Errorf("gateway saw %s auth, want only %s", a, auth)
				}
			}
			if len(g.calls) != 9 || g.calls[0].Action != "status" || g.calls[1].Action != "bind" || g.calls[2].Code != airec.ErrCodeBindInProgress {
				t.Errorf("calls = %+v", g.calls)
			}
		})
	}
}

func TestSignatureRejected(t *testing.T) {
	g := newRig(t, 0)
	sc, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewStaticAKCredentialsProvider(testAK, "wrong-secret"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := airec.New(airec.ClientOptions{Endpoint: g.srv.URL, InstanceID: instanceID, SDK: sc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Bind(t.Context(), mapping(t, "ECC", airecDomains...), g.chain, g.leaf.KeyPEM())
	var ae *airec.APIError
	if !errors.As(err, &ae) || ae.Code != "SignatureDoesNotMatch" || ae.RequestID != "GW-1" {
		t.Fatalf("err = %v, want SignatureDoesNotMatch from the gateway", err)
	}
	if c, _ := g.emu.Serving("rec.example.com"); c != nil {
		t.Error("a rejected request bound a certificate")
	}
}

// TestSilentFailure reproduces the documented trap and the injected fault.
func TestSilentFailure(t *testing.T) {
	noDomainColumn := func(t *testing.T) []byte {
		t.Helper()
		f := excelize.NewFile()
		defer f.Close()
		for i, row := range [][]any{{"hostname", "certificate_id", "cert_type"}, {"rec.example.com", "123", "ECC"}, {"api.example.com", "123", "ECC"}} {
			if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := f.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name    string
		mapping func(t *testing.T) []byte
		knob    bool
		// what the status claims about rec.example.com after SUCCESS
		claimsBound bool
	}{
		{"mapping without a domain column", noDomainColumn, false, false},
		{"injected: good mapping binds nothing", func(t *testing.T) []byte { return mapping(t, "ECC", airecDomains...) }, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, 0)
			g.emu.SetSilentFailure(tc.knob)
			m, err := airec.ReadMapping(bytes.NewReader(tc.mapping(t)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Valid() == !tc.knob {
				t.Fatalf("test mapping valid = %v", m.Valid())
			}
			c := g.bearer(t)
			if _, err := c.Bind(t.Context(), tc.mapping(t), g.chain, g.leaf.KeyPEM()); err != nil {
				t.Fatalf("Bind: %v", err)
			}
			st, err := c.Status(t.Context())
			if err != nil || st.Status != airec.StatusSuccess {
				t.Fatalf("status = %+v, %v; the silent failure reports SUCCESS", st, err)
			}
			ds, _ := st.Domain("rec.example.com")
			if claims := ds.SHA256 == g.leaf.SHA256(); claims != tc.claimsBound {
				t.Errorf("status claims bound = %v (%+v), want %v", claims, ds, tc.claimsBound)
			}
			for _, d := range airecDomains {
				if got := serving(t, g.emu, d); got != nil {
					t.Errorf("%s serves a certificate after a silent failure", d)
				}
			}
			if err := c.EnforceHTTPS(t.Context(), true); err == nil {
				t.Error("HTTPS enforcement accepted with nothing bound")
			}
		})
	}
}

func TestBindRejects(t *testing.T) {
	g := newRig(t, 0)
	other, err := localca.New("other")
	if err != nil {
		t.Fatal(err)
	}
	otherLeaf, err := other.Issue(localca.Template{DNSNames: airecDomains})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := g.ca.Issue(localca.Template{DNSNames: airecDomains, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	good := mapping(t, "ECC", airecDomains...)
	key := g.leaf.KeyPEM()
	tests := []struct {
		name             string
		xlsx, chain, key []byte
		code             string
	}{
		{"key of another certificate", good, g.chain, otherLeaf.KeyPEM(), airec.ErrCodeKeyMismatch},
		{"chain is garbage", good, []byte("not pem"), key, airec.ErrCodeInvalidCert},
		{"key is garbage", good, g.chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}}), airec.ErrCodeInvalidKey},
		{"expired", good, g.ca.ChainPEM(expired), expired.KeyPEM(), airec.ErrCodeInvalidCert},
		{"mapping not xlsx", []byte("domain,certificate_id\n"), g.chain, key, airec.ErrCodeInvalidMapping},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.bearer(t).Bind(t.Context(), tc.xlsx, tc.chain, tc.key)
			var ae *airec.APIError
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.HTTPStatus != http.StatusBadRequest || airec.IsRetryable(err) {
				t.Fatalf("err = %v, want permanent %s", err, tc.code)
			}
			for _, k := range [][]byte{key, otherLeaf.KeyPEM(), expired.KeyPEM()} {
				if line := strings.Split(string(k), "\n")[1]; strings.Contains(err.Error(), line) {
					t.Errorf("error contains key material: %v", err)
				}
			}
		})
	}
	t.Run("unknown instance", func(t *testing.T) {
		c, err := airec.New(airec.ClientOptions{Endpoint: g.srv.URL, InstanceID: "airec-cn-nope", Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Status(t.Context())
		var ae *airec.APIError
		if !errors.As(err, &ae) || ae.Code != airec.ErrCodeInstanceNotFound || ae.HTTPStatus != http.StatusNotFound {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestBindPerDomainFailures: a domain of another instance, a domain the certificate does not
// cover and a cert_type that does not match the key fail per domain; the rest binds.
func TestBindPerDomainFailures(t *testing.T) {
	g := newRig(t, 0)
	c := g.bearer(t)
	if _, err := c.Bind(t.Context(), mapping(t, "ECC", "rec.example.com", "other.example.com"), g.chain, g.leaf.KeyPEM()); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context())
	if err != nil || st.Status != airec.StatusFailed || !strings.Contains(st.Message, "other.example.com is not a custom domain of instance "+instanceID) {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if !servesLeaf(t, g.emu, "rec.example.com", g.leaf) || serving(t, g.emu, "api.example.com") != nil {
		t.Error("the good domain should be bound and only it")
	}
	if _, err := c.Bind(t.Context(), mapping(t, "RSA", "api.example.com"), g.chain, g.leaf.KeyPEM()); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Status(t.Context())
	if ds, _ := st.Domain("api.example.com"); ds.Status != airec.StatusFailed || !strings.Contains(ds.Message, `cert_type "RSA"`) {
		t.Errorf("api.example.com = %+v, want FAILED for the cert_type", ds)
	}
}

func TestHTTPSSettingBody(t *testing.T) {
	g := newRig(t, 0)
	for _, tc := range []struct{ body, code string }{
		{`{}`, airec.ErrCodeMissingParameter},
		{`{"enforceHttps":"yes"}`, "InvalidParameter"},
		{`{"enforce":true}`, "InvalidParameter"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, g.srv.URL+"/v2/openapi/instances/"+instanceID+"/settings/https", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env airec.Envelope[airec.HTTPSSetting]
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || env.Code != tc.code || env.RequestID == "" {
			t.Errorf("body %s: HTTP %d %+v, want 400 %s", tc.body, resp.StatusCode, env, tc.code)
		}
	}
}

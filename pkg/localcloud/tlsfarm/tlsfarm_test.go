package tlsfarm_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/tlsfarm"
)

// source is a Source whose state tests change between handshakes.
type source struct {
	mu     sync.Mutex
	certs  map[string]map[string]*tls.Certificate // id → sni → cert ("" = default)
	policy map[string]tlsfarm.Policy
	calls  int
}

func newSource() *source {
	return &source{certs: map[string]map[string]*tls.Certificate{}, policy: map[string]tlsfarm.Policy{}}
}

func (s *source) Serving(id, sni string) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if c, ok := s.certs[id][sni]; ok {
		return c, nil
	}
	return s.certs[id][""], nil
}

func (s *source) Policy(id string) tlsfarm.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policy[id]
}

func (s *source) deploy(id, sni string, c *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs[id] == nil {
		s.certs[id] = map[string]*tls.Certificate{}
	}
	s.certs[id][sni] = c
}

func (s *source) setPolicy(id string, p tlsfarm.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy[id] = p
}

type pki struct {
	ca   *localca.CA
	a, b *tls.Certificate // a.example.com, b.example.com
	def  *tls.Certificate // default: default.example.com + 127.0.0.1
	aSum string
	bSum string
	dSum string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	ca, err := localca.New("tlsfarm test")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(tmpl localca.Template) (*tls.Certificate, string) {
		leaf, err := ca.Issue(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tlsfarm.Certificate(ca.ChainPEM(leaf), leaf.KeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		return c, leaf.SHA256()
	}
	p := &pki{ca: ca}
	p.a, p.aSum = issue(localca.Template{DNSNames: []string{"a.example.com"}, KeyType: localca.ECDSAP256})
	p.b, p.bSum = issue(localca.Template{DNSNames: []string{"b.example.com"}, KeyType: localca.ECDSAP256})
	p.def, p.dSum = issue(localca.Template{DNSNames: []string{"default.example.com"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: localca.ECDSAP256})
	return p
}

func newFarm(t *testing.T, src tlsfarm.Source) *tlsfarm.Farm {
	t.Helper()
	f := tlsfarm.New(src)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// dial handshakes with full verification against the test root. serverName
// "127.0.0.1" makes the client send no SNI while still verifying (IP SAN).
func dial(t *testing.T, addr, serverName string, pool *x509.CertPool, minV, maxV uint16) (tls.ConnectionState, error) {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, RootCAs: pool, MinVersion: minV, MaxVersion: maxV}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

func leafSum(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return fmt.Sprintf("%x", sha256Sum(st.PeerCertificates[0].Raw))
}

func TestSNIAndDefault(t *testing.T) {
	p := newPKI(t)
	src := newSource()
	src.deploy("clb-1", "", p.def)
	src.deploy("clb-1", "a.example.com", p.a)
	src.deploy("clb-1", "b.example.com", p.b)
	f := newFarm(t, src)
	addr, httpAddr, err := f.Listen("clb-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if httpAddr != "" {
		t.Fatalf("http address %q without withHTTP", httpAddr)
	}
	tests := []struct {
		name, sni, want string
	}{
		{"sni a", "a.example.com", p.aSum},
		{"sni b", "b.example.com", p.bSum},
		{"no sni gets the default", "127.0.0.1", p.dSum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dial(t, addr, tc.sni, p.ca.Pool(), 0, 0)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := leafSum(st); !strings.EqualFold(got, tc.want) {
				t.Fatalf("served %s, want %s", got, tc.want)
			}
			if n := len(st.PeerCertificates); n != 2 {
				t.Fatalf("server sent %d certificates, want leaf + intermediate", n)
			}
		})
	}
	// An unknown SNI falls back to the default, which does not cover it: the
	// verifying client must refuse.
	if _, err := dial(t, addr, "c.example.com", p.ca.Pool(), 0, 0); err == nil {
		t.Fatal("handshake for an uncovered name verified")
	}
	// Redeploy: the next handshake sees the new certificate.
	src.deploy("clb-1", "a.example.com", p.b)
	if _, err := dial(t, addr, "a.example.com", p.ca.Pool(), 0, 0); err == nil {
		t.Fatal("b's certificate verified for a.example.com after redeploy")
	}
}

func TestNothingDeployed(t *testing.T) {
	p := newPKI(t)
	f := newFarm(t, newSource())
	addr, _, err := f.Listen("empty", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dial(t, addr, "a.example.com", p.ca.Pool(), 0, 0)
	if err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
		t.Fatalf("err = %v, want a TLS alert", err)
	}
}

// TestConfigFollowsSource: the farm reuses a handshake configuration per
// certificate and policy, yet every handshake serves what the Source says now:
// a redeploy, a roll-back to the earlier certificate and a policy change each
// show up on the very next handshake.
func TestConfigFollowsSource(t *testing.T) {
	p := newPKI(t)
	src := newSource()
	f := newFarm(t, src)
	addr, _, err := f.Listen("ep", false)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		change  func()
		sni     string
		want    string // leaf sha256; "" = the handshake must fail
		wantVer uint16
	}{
		{"a deployed", func() { src.deploy("ep", "", p.a) }, "a.example.com", p.aSum, tls.VersionTLS13},
		{"a again", func() {}, "a.example.com", p.aSum, tls.VersionTLS13},
		{"b replaces a", func() { src.deploy("ep", "", p.b) }, "b.example.com", p.bSum, tls.VersionTLS13},
		{"a rolled back", func() { src.deploy("ep", "", p.a) }, "a.example.com", p.aSum, tls.VersionTLS13},
		{"policy caps at 1.2", func() { src.setPolicy("ep", tlsfarm.Policy{MaxTLS: tls.VersionTLS12}) }, "a.example.com", p.aSum, tls.VersionTLS12},
		{"policy lifted", func() { src.setPolicy("ep", tlsfarm.Policy{}) }, "a.example.com", p.aSum, tls.VersionTLS13},
		{"undeployed", func() { src.deploy("ep", "", nil) }, "a.example.com", "", 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			for range 3 {
				cs, err := dial(t, addr, st.sni, p.ca.Pool(), 0, 0)
				if st.want == "" {
					if err == nil {
						t.Fatalf("handshake succeeded with nothing deployed (served %s)", leafSum(cs))
					}
					continue
				}
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				if got := leafSum(cs); !strings.EqualFold(got, st.want) {
					t.Fatalf("served %s, want %s", got, st.want)
				}
				if cs.Version != st.wantVer {
					t.Fatalf("version %x, want %x", cs.Version, st.wantVer)
				}
			}
		})
	}
}

func TestTLSVersions(t *testing.T) {
	p := newPKI(t)
	src := newSource()
	src.deploy("min12", "", p.a)
	src.setPolicy("min12", tlsfarm.Policy{MinTLS: tls.VersionTLS12})
	src.deploy("only10", "", p.a)
	src.setPolicy("only10", tlsfarm.Policy{MinTLS: tls.VersionTLS10, MaxTLS: tls.VersionTLS10})
	f := newFarm(t, src)
	min12, _, err := f.Listen("min12", false)
	if err != nil {
		t.Fatal(err)
	}
	only10, _, err := f.Listen("only10", false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		addr       string
		minV, maxV uint16
		wantVer    uint16 // 0 = handshake must fail
	}{
		{"min 1.2 rejects a TLS 1.1 client", min12, tls.VersionTLS10, tls.VersionTLS11, 0},
		{"min 1.2 serves 1.3", min12, 0, 0, tls.VersionTLS13},
		{"min 1.2 serves 1.2", min12, tls.VersionTLS12, tls.VersionTLS12, tls.VersionTLS12},
		{"1.0-only serves a 1.0 client", only10, tls.VersionTLS10, tls.VersionTLS13, tls.VersionTLS10},
		{"1.0-only fails a modern client", only10, tls.VersionTLS12, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dial(t, tc.addr, "a.example.com", p.ca.Pool(), tc.minV, tc.maxV)
			if tc.wantVer == 0 {
				if err == nil {
					t.Fatalf("handshake succeeded with version %x", st.Version)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tc.wantVer {
				t.Fatalf("version %x, want %x", st.Version, tc.wantVer)
			}
		})
	}
}

func TestRedirectAndHSTS(t *testing.T) {
	p := newPKI(t)
	src := newSource()
	src.deploy("cdn", "", p.a)
	f := newFarm(t, src)
	tlsAddr, httpAddr, err := f.Listen("cdn", true)
	if err != nil {
		t.Fatal(err)
	}
	client := func(addr string) *http.Client {
		return &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	get := func(t *testing.T, c *http.Client, url string) *http.Response {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name       string
		policy     tlsfarm.Policy
		httpStatus int
		location   string
		hsts       string
	}{
		{"nothing enforced", tlsfarm.Policy{}, 200, "", ""},
		{"force https", tlsfarm.Policy{ForceHTTPS: true}, 301, "https://a.example.com/x?y=1", ""},
		{"hsts only", tlsfarm.Policy{HSTSMaxAge: 365 * 24 * time.Hour}, 200, "", "max-age=31536000"},
		{"both", tlsfarm.Policy{ForceHTTPS: true, HSTSMaxAge: time.Hour}, 301, "https://a.example.com/x?y=1", "max-age=3600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src.setPolicy("cdn", tc.policy)
			hr := get(t, client(httpAddr), "http://a.example.com/x?y=1")
			if hr.StatusCode != tc.httpStatus || hr.Header.Get("Location") != tc.location {
				t.Fatalf("http: %d Location %q", hr.StatusCode, hr.Header.Get("Location"))
			}
			sr := get(t, client(tlsAddr), "https://a.example.com/")
			if sr.StatusCode != 200 || sr.Header.Get("Strict-Transport-Security") != tc.hsts {
				t.Fatalf("https: %d HSTS %q", sr.StatusCode, sr.Header.Get("Strict-Transport-Security"))
			}
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestThousandEndpointsNoLeak(t *testing.T) {
	p := newPKI(t)
	src := newSource()
	const n = 1000
	for i := range n {
		src.deploy(fmt.Sprintf("ep-%d", i), "", p.a)
	}
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	f := tlsfarm.New(src)
	addrs := make([]string, n)
	for i := range n {
		a, _, err := f.Listen(fmt.Sprintf("ep-%d", i), i%2 == 0)
		if err != nil {
			t.Fatalf("listen %d: %v", i, err)
		}
		addrs[i] = a
	}
	if g := runtime.NumGoroutine(); g < baseG+n {
		t.Fatalf("only %d goroutines for %d endpoints", g, n)
	}
	// Handshake with a sample spread over the range, keeping one conn open
	// so Close must tear down live connections too.
	var open *tls.Conn
	for i := 0; i < n; i += 97 {
		if _, err := dial(t, addrs[i], "a.example.com", p.ca.Pool(), 0, 0); err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
	}
	c, err := tls.Dial("tcp", addrs[n-1], &tls.Config{ServerName: "a.example.com", RootCAs: p.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	open = c
	defer open.Close()
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, _, err := f.Listen("late", false); err == nil {
		t.Fatal("Listen after Close succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs(t)
		// +2: the open client conn's fd and slack for the runtime's own.
		if g <= baseG+2 && fd <= baseFD+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %d goroutines (baseline %d), %d fds (baseline %d)", g, baseG, fd, baseFD)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCertificateCache(t *testing.T) {
	ca, err := localca.New("cache")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"x.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue(localca.Template{DNSNames: []string{"y.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	cache := tlsfarm.NewCertCache(2)
	c1, err := cache.Certificate(ca.ChainPEM(leaf), leaf.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := cache.Certificate(ca.ChainPEM(leaf), leaf.KeyPEM())
	if err != nil || c1 != c2 {
		t.Fatalf("second parse not served from cache: %p %p %v", c1, c2, err)
	}
	if len(c1.Certificate) != 2 || c1.Leaf == nil || c1.Leaf.Subject.CommonName == "" && len(c1.Leaf.DNSNames) == 0 {
		t.Fatalf("parsed chain: %d certs, leaf %v", len(c1.Certificate), c1.Leaf)
	}
	_, err = cache.Certificate(ca.ChainPEM(leaf), other.KeyPEM())
	if err == nil {
		t.Fatal("mismatched key accepted")
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("error leaks key material: %v", err)
	}
	if _, err := cache.Certificate(ca.ChainPEM(other), other.KeyPEM()); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Certificate(other.CertPEM(), other.KeyPEM()); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 2 {
		t.Fatalf("cache holds %d, bound is 2", cache.Len())
	}
}

func BenchmarkHandshake(b *testing.B) {
	p := newPKI(b)
	src := newSource()
	src.deploy("ep", "", p.a)
	f := tlsfarm.New(src)
	defer f.Close()
	addr, _, err := f.Listen("ep", false)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &tls.Config{ServerName: "a.example.com", RootCAs: p.ca.Pool()}
	b.ResetTimer()
	for b.Loop() {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

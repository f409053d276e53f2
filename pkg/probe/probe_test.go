package probe_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/probe"
)

// TestProbeFindings drives every TLS finding code with a real server configured to cause it.
func TestProbeFindings(t *testing.T) {
	ca := newCA(t, "probe")
	other := newCA(t, "stranger")
	now := time.Now()
	const name = "www.example.com"
	names := []string{name}

	good := issue(t, ca, nil, localca.Template{DNSNames: names})
	expiredLeaf := issue(t, ca, nil, localca.Template{DNSNames: names, NotBefore: now.AddDate(0, 0, -100), NotAfter: now.AddDate(0, 0, -2)})
	futureLeaf := issue(t, ca, nil, localca.Template{DNSNames: names, NotBefore: now.AddDate(0, 0, 2), NotAfter: now.AddDate(0, 0, 90)})
	soonLeaf := issue(t, ca, nil, localca.Template{DNSNames: names, NotAfter: now.AddDate(0, 0, 5).Add(time.Hour)})
	wrongHost := issue(t, ca, nil, localca.Template{DNSNames: []string{"shop.example.com"}})
	strangerLeaf := issue(t, other, nil, localca.Template{DNSNames: names})
	renewed := issue(t, ca, nil, localca.Template{DNSNames: names})
	// An intermediate that expired, still signing a current leaf: the only path runs through it.
	// Its root must be older than it, as real roots are.
	oldRoot, err := localca.IssueBy(nil, localca.Template{CommonName: "probe old root", IsCA: true, KeyType: localca.ECDSAP256,
		NotBefore: now.AddDate(-5, 0, 0), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	oldInter := issue(t, ca, oldRoot, localca.Template{CommonName: "probe old intermediate", IsCA: true,
		NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)})
	underOld := issue(t, ca, oldInter, localca.Template{DNSNames: names, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(0, 0, 60)})
	// An expired certificate the server also sends although the real path does not need it.
	expiredExtra := issue(t, ca, ca.Root, localca.Template{CommonName: "retired cross-sign", IsCA: true,
		NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(0, -1, 0)})

	tests := []struct {
		name    string
		cert    tls.Certificate
		opts    probe.Options
		want    []string // finding codes, in order
		ok      bool
		message string // substring of the first finding's message
	}{
		{name: "clean", cert: tlsCert(good, ca.Intermediate), want: []string{}, ok: true},
		{name: "untrusted root", cert: tlsCert(strangerLeaf, other.Intermediate), want: []string{probe.CodeUntrusted}, message: "stranger intermediate CA"},
		{name: "leaf only, intermediate known", cert: tlsCert(good),
			opts: probe.Options{Intermediates: pool(ca.Intermediate)},
			want: []string{probe.CodeIncompleteChain}, message: `intermediate "probe intermediate CA" not included`},
		{name: "leaf only, intermediate unknown", cert: tlsCert(good), want: []string{probe.CodeUntrusted}},
		{name: "hostname mismatch", cert: tlsCert(wrongHost, ca.Intermediate), want: []string{probe.CodeHostnameMismatch}, message: "shop.example.com"},
		{name: "expired leaf", cert: tlsCert(expiredLeaf, ca.Intermediate), want: []string{probe.CodeExpired}, message: "leaf"},
		{name: "not yet valid", cert: tlsCert(futureLeaf, ca.Intermediate), want: []string{probe.CodeNotYetValid}},
		{name: "expired intermediate on the path", cert: tlsCert(underOld, oldInter), want: []string{probe.CodeExpired}, message: "intermediate \"probe old intermediate\""},
		{name: "expiring soon", cert: tlsCert(soonLeaf, ca.Intermediate), want: []string{probe.CodeExpiringSoon}, ok: true, message: "expires in 5 days"},
		{name: "expiring soon below custom threshold", cert: tlsCert(good, ca.Intermediate), opts: probe.Options{WarnDays: 100}, want: []string{probe.CodeExpiringSoon}, ok: true},
		{name: "warning disabled", cert: tlsCert(soonLeaf, ca.Intermediate), opts: probe.Options{WarnDays: -1}, want: []string{}, ok: true},
		{name: "expired extra certificate", cert: tlsCert(good, ca.Intermediate, expiredExtra), want: []string{probe.CodeChainHasExpiredExtra}, ok: true, message: "retired cross-sign"},
		{name: "stale certificate", cert: tlsCert(good, ca.Intermediate), opts: probe.Options{ExpectSHA256: renewed.SHA256()},
			want: []string{probe.CodeStaleCertificate}, message: "got CN \"www.example.com\", serial " + probe.Serial(good.Cert)},
		{name: "expected certificate, openssl-style fingerprint", cert: tlsCert(renewed, ca.Intermediate),
			opts: probe.Options{ExpectSHA256: colonHex(renewed.SHA256())}, want: []string{}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{tc.cert}}, nil)
			opts := tc.opts
			opts.Roots = pool(ca.Root, oldRoot)
			r := probe.Probe(t.Context(), probe.Endpoint{Name: name, Address: addr}, opts)
			if got := codes(r); !slices.Equal(got, tc.want) {
				t.Fatalf("codes = %v, want %v; findings %+v", got, tc.want, r.Findings)
			}
			if r.OK != tc.ok {
				t.Errorf("OK = %v, want %v", r.OK, tc.ok)
			}
			if tc.message != "" && !strings.Contains(r.Findings[0].Message, tc.message) {
				t.Errorf("message %q lacks %q", r.Findings[0].Message, tc.message)
			}
			if r.Served == nil {
				t.Fatal("no served certificate recorded")
			}
			leaf := tc.cert.Leaf
			if r.Served.SHA256 != sha256Hex(leaf.Raw) || r.Served.Serial != probe.Serial(leaf) || !r.Served.NotAfter.Equal(leaf.NotAfter.UTC().Truncate(time.Second)) {
				t.Errorf("served = %+v, want leaf %s", r.Served, leaf.Subject.CommonName)
			}
			if r.Served.TLSVersion != "TLS 1.3" || r.Address != addr {
				t.Errorf("tls %q address %q", r.Served.TLSVersion, r.Address)
			}
		})
	}
}

func TestProbeConnectionFailures(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want string
	}{
		{"nothing listening", closedAddr(t), probe.CodeUnreachable},
		{"not a TLS server", serveGarbage(t), probe.CodeHandshakeFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := probe.Probe(t.Context(), probe.Endpoint{Name: "www.example.com", Address: tc.addr}, probe.Options{Timeout: 3 * time.Second})
			if got := codes(r); !slices.Equal(got, []string{tc.want}) || r.OK || r.Served != nil {
				t.Fatalf("codes = %v ok=%v served=%v, want [%s]", got, r.OK, r.Served, tc.want)
			}
			if !strings.Contains(r.Findings[0].Message, tc.addr) {
				t.Errorf("message %q does not name %s", r.Findings[0].Message, tc.addr)
			}
		})
	}
	t.Run("bad name", func(t *testing.T) {
		r := probe.Probe(t.Context(), probe.Endpoint{Name: "*.example.com"}, probe.Options{})
		if f, ok := finding(r, probe.CodeUnreachable); !ok || !strings.Contains(f.Message, "wildcard") {
			t.Fatalf("findings %+v", r.Findings)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// A server that accepts and never answers: the probe must give up at its timeout.
		addr := serveSilent(t)
		start := time.Now()
		r := probe.Probe(t.Context(), probe.Endpoint{Name: "www.example.com", Address: addr}, probe.Options{Timeout: 300 * time.Millisecond})
		if !r.Has(probe.CodeHandshakeFailed) || time.Since(start) > 5*time.Second {
			t.Fatalf("codes %v after %v", codes(r), time.Since(start))
		}
	})
}

// TestProbeTLSVersion: a server that only speaks TLS 1.0 is reached (the probe offers 1.0 on
// purpose) and reported, rather than failing the handshake.
func TestProbeTLSVersion(t *testing.T) {
	ca := newCA(t, "tlsver")
	leaf := issue(t, ca, nil, localca.Template{DNSNames: []string{"old.example.com"}})
	addr := serveTLS(t, &tls.Config{
		Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)},
		MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
	}, nil)
	tests := []struct {
		name   string
		min    uint16
		want   []string
		wantOK bool
	}{
		{"default minimum 1.2", 0, []string{probe.CodeTLSVersion}, false},
		{"minimum 1.0 accepted", tls.VersionTLS10, []string{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := probe.Probe(t.Context(), probe.Endpoint{Name: "old.example.com", Address: addr}, probe.Options{Roots: ca.Pool(), MinTLS: tc.min})
			if !slices.Equal(codes(r), tc.want) || r.OK != tc.wantOK {
				t.Fatalf("codes %v ok %v; findings %+v", codes(r), r.OK, r.Findings)
			}
			if r.Served.TLSVersion != "TLS 1.0" {
				t.Errorf("tls version %q", r.Served.TLSVersion)
			}
			if len(r.Findings) > 0 && !strings.Contains(r.Findings[0].Message, "TLS 1.0, below the minimum TLS 1.2") {
				t.Errorf("message %q", r.Findings[0].Message)
			}
		})
	}
}

// TestProbeSharedAddressSNI is C19: one address hosts several sites and answers a client without
// SNI (or with an unknown name) with another site's certificate.
func TestProbeSharedAddressSNI(t *testing.T) {
	ca := newCA(t, "vip")
	www := issue(t, ca, nil, localca.Template{DNSNames: []string{"www.example.com"}})
	shop := issue(t, ca, nil, localca.Template{DNSNames: []string{"shop.example.net"}})
	var (
		mu   sync.Mutex
		seen []string
	)
	lastSNI := func() string { mu.Lock(); defer mu.Unlock(); return seen[len(seen)-1] }
	cfg := &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		seen = append(seen, hello.ServerName)
		mu.Unlock()
		if hello.ServerName == "www.example.com" {
			c := tlsCert(www, ca.Intermediate)
			return &c, nil
		}
		c := tlsCert(shop, ca.Intermediate) // the VIP's default site
		return &c, nil
	}}
	// Without SNI the server answers with its first certificate: the default site again.
	cfg.Certificates = []tls.Certificate{tlsCert(shop, ca.Intermediate)}
	addr := serveTLS(t, cfg, nil)

	t.Run("right name is sent as SNI and gets its own certificate", func(t *testing.T) {
		r := probe.Probe(t.Context(), probe.Endpoint{Name: "WWW.Example.com.", Address: addr},
			probe.Options{Roots: ca.Pool(), ExpectSHA256: www.SHA256()})
		if !r.OK || len(r.Findings) != 0 {
			t.Fatalf("findings %+v", r.Findings)
		}
		if got := lastSNI(); got != "www.example.com" {
			t.Errorf("server saw SNI %q", got)
		}
	})
	t.Run("name the address does not host gets the default site", func(t *testing.T) {
		r := probe.Probe(t.Context(), probe.Endpoint{Name: "api.example.com", Address: addr},
			probe.Options{Roots: ca.Pool(), ExpectSHA256: www.SHA256()})
		if got := codes(r); !slices.Equal(got, []string{probe.CodeHostnameMismatch, probe.CodeStaleCertificate}) {
			t.Fatalf("codes %v", got)
		}
		f, _ := finding(r, probe.CodeStaleCertificate)
		if !strings.Contains(f.Message, `got CN "shop.example.net"`) || !strings.Contains(f.Message, probe.Serial(shop.Cert)) {
			t.Errorf("stale message %q does not say what was served", f.Message)
		}
		if got := lastSNI(); got != "api.example.com" {
			t.Errorf("server saw SNI %q", got)
		}
	})
	t.Run("without SNI (an IP as the name) the default site answers and is caught", func(t *testing.T) {
		host, _, _ := net.SplitHostPort(addr)
		r := probe.Probe(t.Context(), probe.Endpoint{Name: host, Address: addr},
			probe.Options{Roots: ca.Pool(), ExpectSHA256: www.SHA256()})
		if got := codes(r); !slices.Equal(got, []string{probe.CodeHostnameMismatch, probe.CodeStaleCertificate}) {
			t.Fatalf("codes %v", got)
		}
		if f, _ := finding(r, probe.CodeStaleCertificate); !strings.Contains(f.Message, `got CN "shop.example.net"`) {
			t.Errorf("stale message %q", f.Message)
		}
	})
}

func TestProbeHTTP(t *testing.T) {
	ca := newCA(t, "http")
	const name = "www.example.com"
	leaf := issue(t, ca, nil, localca.Template{DNSNames: []string{name}})
	withHSTS := func(v string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if v != "" {
				w.Header().Set("Strict-Transport-Security", v)
			}
		})
	}
	redirect := func(code int, loc string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != name {
				http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			if loc != "" {
				w.Header().Set("Location", loc)
			}
			w.WriteHeader(code)
		})
	}
	tests := []struct {
		name     string
		hsts     string
		httpSrv  http.Handler // nil: nothing listens for HTTP
		want     []string
		severity string
	}{
		{"redirect and long hsts", "max-age=31536000; includeSubDomains", redirect(301, "https://www.example.com/"), []string{}, ""},
		{"308 is permanent too", "max-age=31536000", redirect(308, "https://WWW.example.com:443/x"), []string{}, ""},
		{"no hsts", "", redirect(301, "https://www.example.com/"), []string{probe.CodeNoHSTS}, probe.SeverityError},
		{"short hsts", "max-age=300", redirect(301, "https://www.example.com/"), []string{probe.CodeHSTSShort}, probe.SeverityWarning},
		{"hsts without max-age", "includeSubDomains", redirect(301, "https://www.example.com/"), []string{probe.CodeNoHSTS}, probe.SeverityError},
		{"plain http served", "max-age=31536000", redirect(200, ""), []string{probe.CodeNoHTTPSRedirect}, probe.SeverityError},
		{"temporary redirect", "max-age=31536000", redirect(302, "https://www.example.com/"), []string{probe.CodeNoHTTPSRedirect}, probe.SeverityError},
		{"redirect to another host", "max-age=31536000", redirect(301, "https://login.example.org/"), []string{probe.CodeNoHTTPSRedirect}, probe.SeverityError},
		{"redirect stays on http", "max-age=31536000", redirect(301, "http://www.example.com/"), []string{probe.CodeNoHTTPSRedirect}, probe.SeverityError},
		{"http port closed", "max-age=31536000", nil, []string{probe.CodeNoHTTPSRedirect}, probe.SeverityWarning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)}}, withHSTS(tc.hsts))
			httpAddr := closedAddr(t)
			if tc.httpSrv != nil {
				httpAddr = serveHTTP(t, tc.httpSrv)
			}
			r := probe.Probe(t.Context(), probe.Endpoint{Name: name, Address: addr, HTTPAddress: httpAddr},
				probe.Options{Roots: ca.Pool(), CheckHTTP: true})
			if got := codes(r); !slices.Equal(got, tc.want) {
				t.Fatalf("codes %v, want %v; %+v", got, tc.want, r.Findings)
			}
			if len(tc.want) > 0 && r.Findings[0].Severity != tc.severity {
				t.Errorf("severity %q, want %q", r.Findings[0].Severity, tc.severity)
			}
		})
	}
	t.Run("http checks off by default", func(t *testing.T) {
		addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)}}, nil)
		r := probe.Probe(t.Context(), probe.Endpoint{Name: name, Address: addr, HTTPAddress: closedAddr(t)}, probe.Options{Roots: ca.Pool()})
		if len(r.Findings) != 0 {
			t.Fatalf("findings %+v", r.Findings)
		}
	})
}

func TestProbeAllCancelled(t *testing.T) {
	addr := serveSilent(t)
	eps := make([]probe.Endpoint, 200)
	for i := range eps {
		eps[i] = probe.Endpoint{Name: "www.example.com", Address: addr}
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res := probe.ProbeAll(ctx, eps, probe.Options{Timeout: time.Minute}, 10, nil)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("cancelled run took %v", took)
	}
	for i, r := range res {
		if r.OK || len(r.Findings) != 1 {
			t.Fatalf("result %d after cancel: %+v", i, r)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		notAfter time.Time
		want     int
	}{
		{now.Add(30*24*time.Hour + time.Minute), 30},
		{now.Add(23 * time.Hour), 0},
		{now.Add(-time.Hour), -1},
		{now.Add(-48 * time.Hour), -2},
	}
	for _, tc := range tests {
		if got := probe.DaysLeft(tc.notAfter, now); got != tc.want {
			t.Errorf("DaysLeft(%v) = %d, want %d", tc.notAfter, got, tc.want)
		}
	}
}

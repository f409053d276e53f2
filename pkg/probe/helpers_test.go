package probe_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/probe"
)

// newCA creates a test CA or stops the test.
func newCA(t testing.TB, name string) *localca.CA {
	t.Helper()
	ca, err := localca.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a leaf with parent (the CA's intermediate when parent is nil).
func issue(t testing.TB, ca *localca.CA, parent *localca.Cert, tmpl localca.Template) *localca.Cert {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = localca.ECDSAP256
	}
	if parent == nil {
		parent = ca.Intermediate
	}
	c, err := localca.IssueBy(parent, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsCert is what a server presents: leaf first, then chain (in the order given), leaf's key.
func tlsCert(leaf *localca.Cert, chain ...*localca.Cert) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{leaf.DER}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.DER)
	}
	return c
}

// serveTLS starts an HTTPS server on 127.0.0.1 with cfg (Certificates or GetCertificate set by
// the caller) and handler h (a plain 200 when nil). It returns host:port.
func serveTLS(t testing.TB, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = cfg
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serveHTTP starts a plain HTTP server on 127.0.0.1 and returns host:port.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// serveGarbage accepts TCP and answers with something that is not TLS.
func serveGarbage(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

func pool(certs ...*localca.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Cert)
	}
	return p
}

func codes(r probe.Result) []string {
	out := []string{}
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

func finding(r probe.Result, code string) (probe.Finding, bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return probe.Finding{}, false
}

// quietLog drops the TLS handshake errors httptest servers log when a probe hangs up on purpose.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func sha256Hex(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// colonHex writes a hex fingerprint the way openssl prints it: "AB:CD:…".
func colonHex(h string) string {
	var parts []string
	for i := 0; i+2 <= len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}

// serveSilent accepts TCP connections and never says anything, until the test ends.
func serveSilent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); <-done; _ = c.Close() }()
		}
	}()
	return l.Addr().String()
}

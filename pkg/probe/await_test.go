package probe_test

import (
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/probe"
)

// Await keeps probing until the new certificate is served (propagation), and gives up at
// its deadline with the last result.
func TestAwait(t *testing.T) {
	ca := newCA(t, "await")
	old := issue(t, ca, nil, localca.Template{DNSNames: []string{"www.example.com"}})
	renewed := issue(t, ca, nil, localca.Template{DNSNames: []string{"www.example.com"}})
	var handshakes atomic.Int32
	cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := tlsCert(old, ca.Intermediate)
		if handshakes.Add(1) > 3 { // the new certificate "propagates" after three handshakes
			c = tlsCert(renewed, ca.Intermediate)
		}
		return &c, nil
	}}
	ep := probe.Endpoint{Name: "www.example.com", Address: serveTLS(t, cfg, nil)}
	opts := probe.Options{Roots: ca.Pool(), ExpectSHA256: renewed.SHA256(), WarnDays: -1}
	served := func(r probe.Result) bool { return r.Served != nil && r.Served.SHA256 == renewed.SHA256() }

	res, ok := probe.Await(t.Context(), ep, opts, time.Now().Add(10*time.Second), 10*time.Millisecond, served)
	if !ok || res.Served.SHA256 != renewed.SHA256() || handshakes.Load() != 4 {
		t.Errorf("ok %v after %d handshakes, served %+v; want the renewed certificate on the 4th", ok, handshakes.Load(), res.Served)
	}

	never := func(probe.Result) bool { return false }
	start := time.Now()
	res, ok = probe.Await(t.Context(), ep, opts, time.Now().Add(100*time.Millisecond), 10*time.Millisecond, never)
	if ok || res.Served == nil || time.Since(start) > 5*time.Second {
		t.Errorf("never-satisfied Await: ok %v, served %+v after %v", ok, res.Served, time.Since(start))
	}
	before := handshakes.Load()
	if _, ok := probe.Await(t.Context(), ep, opts, time.Now().Add(-time.Second), time.Second, never); ok || handshakes.Load() != before+1 {
		t.Errorf("a past deadline must still probe exactly once (%d handshakes)", handshakes.Load()-before)
	}
}

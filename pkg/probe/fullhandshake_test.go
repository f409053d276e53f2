//go:build linux

package probe_test

import (
	"crypto/tls"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/tlsfarm"
	"github.com/certflow/certflow/pkg/probe"
)

// TestEveryProbeIsAFullHandshake: a server that issues session tickets still sees a full
// handshake (no resumption) from every probe, and every probe verifies the chain and the
// name: a name the certificate does not cover fails each time, however many passed before.
func TestEveryProbeIsAFullHandshake(t *testing.T) {
	ca := newCA(t, "full")
	leaf := issue(t, ca, nil, localca.Template{DNSNames: []string{"www.example.com"}})
	var (
		mu            sync.Mutex
		full, resumed int
		groups        = map[tls.CurveID]int{}
	)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)},
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			if cs.DidResume {
				resumed++
			} else {
				full++
			}
			groups[cs.CurveID]++
			return nil
		},
	}
	addr := serveTLS(t, cfg, nil)
	opts := probe.Options{Roots: ca.Pool(), ExpectSHA256: leaf.SHA256()}
	const n = 6
	for i := range n {
		if r := probe.Probe(t.Context(), probe.Endpoint{Name: "www.example.com", Address: addr}, opts); !r.OK {
			t.Fatalf("probe %d: %+v", i, r.Findings)
		}
		r := probe.Probe(t.Context(), probe.Endpoint{Name: "other.example.com", Address: addr}, opts)
		if r.OK || !r.Has(probe.CodeHostnameMismatch) {
			t.Fatalf("probe %d of an uncovered name: ok=%v findings %+v", i, r.OK, r.Findings)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if full != 2*n || resumed != 0 {
		t.Fatalf("server saw %d full and %d resumed handshakes, want %d full", full, resumed, 2*n)
	}
	if groups[tls.X25519] != 2*n {
		t.Fatalf("key exchange groups %v, want X25519 on every probe", groups)
	}
}

// farmSource serves one certificate on every endpoint of a tlsfarm.
type farmSource struct{ cert *tls.Certificate }

func (s farmSource) Serving(string, string) (*tls.Certificate, error) { return s.cert, nil }
func (s farmSource) Policy(string) tlsfarm.Policy                     { return tlsfarm.Policy{} }

// BenchmarkProbeAll1000 probes 1,000 tlsfarm endpoints (one listener each, plus an HTTP
// companion, as the local cloud runs them) at the checker's default concurrency, verifying
// chain, name and fingerprint. Client and servers share the process, so cpu-ms/probe is the
// CPU of both ends of one verified handshake: the figure that bounds throughput on few cores.
func BenchmarkProbeAll1000(b *testing.B) {
	const n, concurrency = 1000, 50
	ca := newCA(b, "bench1000")
	leaf := issue(b, ca, nil, localca.Template{DNSNames: []string{"*.example.com"}, KeyType: localca.ECDSAP256})
	cert := tlsCert(leaf, ca.Intermediate)
	farm := tlsfarm.New(farmSource{cert: &cert})
	b.Cleanup(func() { _ = farm.Close() })
	eps := make([]probe.Endpoint, n)
	for i := range eps {
		addr, _, err := farm.Listen(fmt.Sprint(i), true)
		if err != nil {
			b.Fatal(err)
		}
		eps[i] = probe.Endpoint{Name: fmt.Sprintf("e%04d.example.com", i), Address: addr}
	}
	opts := probe.Options{Roots: ca.Pool(), ExpectSHA256: leaf.SHA256(), Timeout: 20 * time.Second}
	cpu0 := cpuTime(b)
	for b.Loop() {
		for _, r := range probe.ProbeAll(b.Context(), eps, opts, concurrency, nil) {
			if !r.OK {
				b.Fatalf("%s: %+v", r.Name, r.Findings)
			}
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N*n), "cpu-ms/probe")
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N*n), "wall-ms/probe")
}

func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

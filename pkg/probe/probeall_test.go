//go:build linux

package probe_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/probe"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestProbeAllThousand probes 1,000 endpoints on one shared server under a file-descriptor limit
// only a little above what bounded concurrency needs: leaking or unbounded connections would hit
// EMFILE and show up as unreachable findings.
func TestProbeAllThousand(t *testing.T) {
	const n, concurrency = 1000, 32
	ca := newCA(t, "many")
	leaf := issue(t, ca, nil, localca.Template{DNSNames: []string{"*.example.com"}})
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)}}, nil)

	eps := make([]probe.Endpoint, n)
	for i := range eps {
		eps[i] = probe.Endpoint{Name: fmt.Sprintf("e%04d.example.com", i), Address: addr}
	}
	// Client and server share this process: each probe costs up to two descriptors, plus the
	// server's lag in noticing a close. 1,000 leaked connections would need 1,000 more.
	before := openFDs(t)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(before + 6*concurrency + 64)
	if lim.Cur > old.Cur {
		t.Skipf("soft fd limit %d already below what the test sets", old.Cur)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

	calls, last := 0, 0
	start := time.Now()
	res := probe.ProbeAll(t.Context(), eps, probe.Options{Roots: ca.Pool(), Timeout: 20 * time.Second}, concurrency,
		func(done, total int, _ probe.Result) {
			calls++
			if done != last+1 || total != n {
				t.Errorf("progress %d/%d after %d", done, total, last)
			}
			last = done
		})
	t.Logf("%d endpoints in %v (concurrency %d)", n, time.Since(start), concurrency)
	if calls != n {
		t.Errorf("progress called %d times", calls)
	}
	for i, r := range res {
		if r.Name != eps[i].Name {
			t.Fatalf("result %d is %q, want %q (input order)", i, r.Name, eps[i].Name)
		}
		if !r.OK {
			t.Fatalf("%s: %+v", r.Name, r.Findings)
		}
	}
	// Everything closed: descriptors return to where they were (allow the server a moment).
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > before+4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := openFDs(t); after > before+4 {
		t.Errorf("open descriptors %d after the run, %d before", after, before)
	}
}

// BenchmarkProbe measures one verified handshake (chain + hostname) against a loopback server:
// the unit the checker pays per endpoint, to compare with `openssl s_client`.
func BenchmarkProbe(b *testing.B) {
	ca := newCA(b, "bench")
	leaf := issue(b, ca, nil, localca.Template{DNSNames: []string{"www.example.com"}})
	addr := serveTLS(b, &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)}}, nil)
	ep := probe.Endpoint{Name: "www.example.com", Address: addr}
	opts := probe.Options{Roots: ca.Pool(), ExpectSHA256: leaf.SHA256()}
	for b.Loop() {
		if r := probe.Probe(b.Context(), ep, opts); !r.OK {
			b.Fatalf("%+v", r.Findings)
		}
	}
}

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/probe"
)

// CheckerConcurrency is the probes in flight, as `certflow check` runs by default.
const CheckerConcurrency = 50

// Checker is one measured checker run against an openssl loop over the same endpoints.
type Checker struct {
	Endpoints     int     `json:"endpoints"`
	Concurrency   int     `json:"concurrency"`
	WallSeconds   float64 `json:"wallSeconds"` // one probe.ProbeAll run, verification on
	OK            int     `json:"ok"`          // endpoints that passed every check
	OpenSSL       string  `json:"openssl"`     // `openssl version`, or why the loop did not run
	OpenSSLOK     int     `json:"opensslOk"`   // endpoints openssl verified (exit 0)
	OpenSSLSecs   float64 `json:"opensslSeconds"`
	Speedup       float64 `json:"speedupVsOpenssl"`  // OpenSSLSecs / WallSeconds
	HandshakeNs   float64 `json:"handshakeNsPerOp"`  // one verified probe, serial (testing.Benchmark)
	HandshakesSec float64 `json:"handshakesSeconds"` // HandshakeNs × Endpoints
	// VsHandshakes is WallSeconds / HandshakesSec: below 1 means the run beats doing the
	// same handshakes one after another.
	VsHandshakes float64 `json:"wallOverHandshakes"`
}

// RunChecker starts a local cloud of n targets (no faults), probes every TLS endpoint once
// with verification (chain, hostname, expected fingerprint), runs `openssl s_client` over
// the same endpoints one after another in a shell loop, and benchmarks one probe.
func RunChecker(ctx context.Context, n, ecs int, dir string) (Checker, error) {
	mix, err := MixFor(n, ecs)
	if err != nil {
		return Checker{}, err
	}
	estate, err := Estate(mix)
	if err != nil {
		return Checker{}, err
	}
	lc, err := localcloud.Start(ctx, localcloud.Options{Estate: estate, Dir: dir})
	if err != nil {
		return Checker{}, fmt.Errorf("checker %d: start local cloud: %w", n, err)
	}
	defer lc.Close()
	var eps []probe.Endpoint
	for _, e := range lc.Endpoints() {
		if e.Kind != "airec" && len(eps) < n {
			eps = append(eps, probe.Endpoint{Name: e.Name, Address: e.Address})
		}
	}
	if len(eps) < n {
		return Checker{}, fmt.Errorf("checker %d: the estate has only %d TLS endpoints", n, len(eps))
	}
	opts := probe.Options{Roots: lc.CA().Pool(), ExpectSHA256: lc.InitialCertificate().SHA256(), Timeout: 10 * time.Second}
	c := Checker{Endpoints: n, Concurrency: CheckerConcurrency}

	// One warm-up probe so the first-run costs (TLS session setup code paths) are not billed to one side only.
	probe.Probe(ctx, eps[0], opts)
	start := time.Now()
	results := probe.ProbeAll(ctx, eps, opts, CheckerConcurrency, nil)
	c.WallSeconds = time.Since(start).Seconds()
	for _, r := range results {
		if r.OK {
			c.OK++
		}
	}

	br := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			if r := probe.Probe(ctx, eps[0], opts); !r.OK {
				b.Fatalf("probe %s: %+v", eps[0].Name, r.Findings)
			}
		}
	})
	c.HandshakeNs = float64(br.NsPerOp())
	c.HandshakesSec = c.HandshakeNs * float64(n) / 1e9
	if c.HandshakesSec > 0 {
		c.VsHandshakes = c.WallSeconds / c.HandshakesSec
	}

	c.OpenSSL, c.OpenSSLOK, c.OpenSSLSecs, err = opensslLoop(ctx, eps, lc.Roots())
	if err != nil {
		return c, err
	}
	if c.OpenSSLSecs > 0 && c.WallSeconds > 0 {
		c.Speedup = c.OpenSSLSecs / c.WallSeconds
	}
	return c, nil
}

// opensslLoopScript is the user's own verification step, once per endpoint, with the
// chain verified against the local root (-verify_return_error makes a bad chain fail).
const opensslLoopScript = `ok=0
while read -r name addr; do
  if openssl s_client -connect "$addr" -servername "$name" -CAfile "$1" -verify_return_error </dev/null >/dev/null 2>&1; then ok=$((ok+1)); fi
done
echo "$ok"`

// opensslLoop runs opensslLoopScript over eps; a missing openssl is reported in version, not as an error.
func opensslLoop(ctx context.Context, eps []probe.Endpoint, roots string) (version string, ok int, secs float64, err error) {
	out, verr := exec.CommandContext(ctx, "openssl", "version").Output()
	if verr != nil {
		return "not installed: " + verr.Error(), 0, 0, nil
	}
	version = strings.TrimSpace(string(out))
	var in bytes.Buffer
	for _, e := range eps {
		fmt.Fprintf(&in, "%s %s\n", e.Name, e.Address)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", opensslLoopScript, "openssl-loop", roots)
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	start := time.Now()
	res, err := cmd.Output()
	secs = time.Since(start).Seconds()
	if err != nil {
		return version, 0, secs, fmt.Errorf("openssl loop: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "%d", &ok)
	}
	return version, ok, secs, nil
}

// absPath is p made absolute (for files handed to child processes).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

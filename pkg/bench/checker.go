package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/probe"
)

// CheckerConcurrency is the probes in flight, as `certflow check` runs by default.
const CheckerConcurrency = 50

// Checker is one measured checker run against an openssl loop over the same endpoints.
type Checker struct {
	Endpoints   int     `json:"endpoints"`
	Concurrency int     `json:"concurrency"`
	WallSeconds float64 `json:"wallSeconds"` // one probe.ProbeAll run, verification on
	OK          int     `json:"ok"`          // endpoints that passed every check
	OpenSSL     string  `json:"openssl"`     // `openssl version`, or why the loop did not run
	OpenSSLOK   int     `json:"opensslOk"`   // endpoints openssl verified (exit 0)
	OpenSSLSecs float64 `json:"opensslSeconds"`
	// OpenSSLFailed names up to 5 endpoints openssl did not verify, so a short count is explained.
	OpenSSLFailed []string `json:"opensslFailed,omitempty"`
	Speedup       float64  `json:"speedupVsOpenssl"`  // OpenSSLSecs / WallSeconds
	HandshakeNs   float64  `json:"handshakeNsPerOp"`  // HandshakesSec / Endpoints
	HandshakesSec float64  `json:"handshakesSeconds"` // the same probes at concurrency 1, measured
	// VsHandshakes is WallSeconds / HandshakesSec: below 1 means the run beats doing the
	// same handshakes one after another.
	VsHandshakes float64 `json:"wallOverHandshakes"`
	// CPUMsPerProbe is the process CPU (user+sys, getrusage) the concurrent run used per
	// endpoint: both ends of a verified handshake, since the TLS servers share the process.
	CPUMsPerProbe float64 `json:"cpuMsPerProbe"`
	// Cores is GOMAXPROCS during the run.
	Cores int `json:"cores"`
	// SpeedupCeiling is the most any checker sharing these cores with the servers could reach
	// against this openssl loop: (OpenSSLSecs / Endpoints) / (CPUMsPerProbe / Cores).
	SpeedupCeiling float64 `json:"speedupCeiling"`
}

// RunChecker starts a local cloud of n targets (no faults), probes every TLS endpoint once
// with verification (chain, hostname, expected fingerprint), probes them again one after
// another, and runs `openssl s_client` over the same endpoints one after another in a shell
// loop with the same checks (chain to the same root, host name, SNI).
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
	c := Checker{Endpoints: n, Concurrency: CheckerConcurrency, Cores: runtime.GOMAXPROCS(0)}

	// A warm-up pass over every endpoint, so the servers' first-contact costs (per-endpoint
	// configuration, connection state) are billed to none of the three measured runs; the
	// servers of a real estate are long-running and warm too.
	probe.ProbeAll(ctx, eps, opts, CheckerConcurrency, nil)
	// Each measured run starts from a collected heap, so none pays for the garbage of setup.
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	results := probe.ProbeAll(ctx, eps, opts, CheckerConcurrency, nil)
	c.WallSeconds = time.Since(start).Seconds()
	c.CPUMsPerProbe = (cpuTime() - cpu0).Seconds() * 1000 / float64(n)
	for _, r := range results {
		if r.OK {
			c.OK++
		}
	}

	// The same probes one after another, for real (not one endpoint's time × n).
	runtime.GC()
	start = time.Now()
	probe.ProbeAll(ctx, eps, opts, 1, nil)
	c.HandshakesSec = time.Since(start).Seconds()
	c.HandshakeNs = c.HandshakesSec * 1e9 / float64(n)
	if c.HandshakesSec > 0 {
		c.VsHandshakes = c.WallSeconds / c.HandshakesSec
	}

	c.OpenSSL, c.OpenSSLOK, c.OpenSSLFailed, c.OpenSSLSecs, err = opensslLoop(ctx, eps, lc.Roots())
	if err != nil {
		return c, err
	}
	if c.OpenSSLSecs > 0 && c.WallSeconds > 0 {
		c.Speedup = c.OpenSSLSecs / c.WallSeconds
	}
	if c.OpenSSLSecs > 0 && c.CPUMsPerProbe > 0 {
		c.SpeedupCeiling = (c.OpenSSLSecs * 1000 / float64(n)) / (c.CPUMsPerProbe / float64(c.Cores))
	}
	return c, nil
}

// cpuTime is the CPU this process has used (user + system); 0 when the platform cannot say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// opensslLoopScript is the user's own verification step, once per endpoint: the chain
// verified against the local root and the host name against the certificate
// (-verify_return_error makes either failure fail the command), SNI set as the checker sets it.
const opensslLoopScript = `ok=0
while read -r name addr; do
  if err=$(openssl s_client -connect "$addr" -servername "$name" -verify_hostname "$name" -CAfile "$1" -verify_return_error </dev/null 2>&1 >/dev/null); then ok=$((ok+1)); else echo "FAIL $name $addr: $(printf '%s' "$err" | tail -n 2 | tr '\n' ' ')"; fi
done
echo "$ok"`

// opensslLoop runs opensslLoopScript over eps; a missing openssl is reported in version, not as an error.
func opensslLoop(ctx context.Context, eps []probe.Endpoint, roots string) (version string, ok int, failed []string, secs float64, err error) {
	out, verr := exec.CommandContext(ctx, "openssl", "version").Output()
	if verr != nil {
		return "not installed: " + verr.Error(), 0, nil, 0, nil
	}
	version = strings.TrimSpace(string(out))
	var in bytes.Buffer
	for _, e := range eps {
		name, err := probe.HostName(e.Name) // the A-label the checker sends and verifies
		if err != nil {
			name = e.Name
		}
		fmt.Fprintf(&in, "%s %s\n", name, e.Address)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", opensslLoopScript, "openssl-loop", roots)
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	start := time.Now()
	res, err := cmd.Output()
	secs = time.Since(start).Seconds()
	if err != nil {
		return version, 0, nil, secs, fmt.Errorf("openssl loop: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(res))
	for sc.Scan() {
		if f, isFail := strings.CutPrefix(sc.Text(), "FAIL "); isFail {
			if len(failed) < 5 {
				failed = append(failed, f)
			}
			continue
		}
		fmt.Sscanf(sc.Text(), "%d", &ok)
	}
	return version, ok, failed, secs, nil
}

// absPath is p made absolute (for files handed to child processes).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

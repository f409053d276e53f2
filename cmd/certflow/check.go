package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/probe"
)

// checkOptions is what `certflow check` was asked to do, after parsing and validation.
type checkOptions struct {
	endpoints   []probe.Endpoint
	probe       probe.Options
	concurrency int
	json        bool
}

// resolveFlag collects repeated --resolve NAME:PORT:ADDR (like curl's), keyed "name:port".
type resolveFlag map[string]string

func (r resolveFlag) String() string { return "" }

func (r resolveFlag) Set(v string) error {
	name, rest, ok1 := strings.Cut(v, ":")
	port, addr, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || name == "" || addr == "" {
		return fmt.Errorf("--resolve %q: want NAME:PORT:ADDR (ADDR is an IP, or IP:PORT to change the port too)", v)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("--resolve %q: %w", v, err)
	}
	host, err := probe.HostName(name)
	if err != nil {
		return fmt.Errorf("--resolve %q: %w", v, err)
	}
	// ADDR may carry its own port ("127.0.0.1:8443", "[::1]:8443"); otherwise PORT is kept.
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if _, err := parsePort(p); err != nil {
			return fmt.Errorf("--resolve %q: %w", v, err)
		}
		addr = net.JoinHostPort(h, p)
	} else {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
	}
	r[net.JoinHostPort(host, port)] = addr
	return nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return n, nil
}

var tlsVersions = map[string]uint16{
	"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
}

const checkUsage = `usage: certflow check [flags] NAME[:PORT]...

Verifies that each endpoint serves a certificate that chains to a trusted root, covers NAME,
is in date and (with --expect-sha256) is the one deployed: the replacement for
  openssl s_client -connect NAME:443 -servername NAME | grep "Verify return code"
NAME is always sent as SNI and verified; --resolve only changes where to connect.
Exit status: 0 every endpoint clean (warnings allowed), 1 some endpoint has an error finding,
2 usage error.

flags:
`

// parseCheck parses and validates the command line. Flags and names may be interleaved.
// Errors wrap errUsage; flag.ErrHelp is returned as is.
func parseCheck(args []string, stderr io.Writer) (checkOptions, error) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	resolve := resolveFlag{}
	fs.Var(resolve, "resolve", "NAME:PORT:ADDR: connect to ADDR (IP or IP:PORT) for NAME:PORT; repeatable")
	roots := fs.String("roots", "", "PEM `file` of extra trusted roots, added to the system roots")
	inters := fs.String("intermediates", "", "PEM `file` of known intermediates, used only to tell an incomplete chain from an untrusted one")
	expect := fs.String("expect-sha256", "", "SHA-256 `hex` of the leaf every endpoint must serve (colons allowed)")
	minTLS := fs.String("min-tls", "1.2", "lowest acceptable TLS `version`: 1.0, 1.1, 1.2 or 1.3")
	warnDays := fs.Int("warn-days", probe.DefaultWarnDays, "warn when the verified chain expires within `N` days")
	checkHTTP := fs.Bool("http", false, "also check the HTTP→HTTPS redirect (port 80) and HSTS")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "per-endpoint `timeout`")
	concurrency := fs.Int("concurrency", 50, "endpoints probed at once")
	asJSON := fs.Bool("json", false, "print the run as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}

	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return checkOptions{}, err
			}
			return checkOptions{}, fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		names, args = append(names, rest[0]), rest[1:]
	}
	if len(names) == 0 {
		return checkOptions{}, fmt.Errorf("%w: no endpoint given; want NAME[:PORT]...", errUsage)
	}

	o := checkOptions{concurrency: *concurrency, json: *asJSON}
	o.probe = probe.Options{WarnDays: *warnDays, CheckHTTP: *checkHTTP, Timeout: *timeout}
	if *warnDays <= 0 {
		o.probe.WarnDays = -1 // 0 on the command line means "never warn", not "default"
	}
	if *timeout <= 0 {
		return o, fmt.Errorf("%w: --timeout %v must be positive", errUsage, *timeout)
	}
	if *concurrency < 1 {
		return o, fmt.Errorf("%w: --concurrency %d must be at least 1", errUsage, *concurrency)
	}
	v, ok := tlsVersions[strings.TrimPrefix(strings.ToLower(*minTLS), "tls")]
	if !ok {
		return o, fmt.Errorf("%w: --min-tls %q: want 1.0, 1.1, 1.2 or 1.3", errUsage, *minTLS)
	}
	o.probe.MinTLS = v
	if *expect != "" {
		h := probe.NormaliseSHA256(*expect)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return o, fmt.Errorf("%w: --expect-sha256 %q is not a SHA-256 fingerprint (64 hex digits)", errUsage, *expect)
		}
		o.probe.ExpectSHA256 = h
	}
	if *roots != "" {
		p, err := x509.SystemCertPool()
		if err != nil || p == nil {
			p = x509.NewCertPool() // no system store (minimal container): the file alone
		}
		if err := addPEMFile(p, *roots); err != nil {
			return o, fmt.Errorf("%w: --roots: %w", errUsage, err)
		}
		o.probe.Roots = p
	}
	if *inters != "" {
		p := x509.NewCertPool()
		if err := addPEMFile(p, *inters); err != nil {
			return o, fmt.Errorf("%w: --intermediates: %w", errUsage, err)
		}
		o.probe.Intermediates = p
	}
	for _, arg := range names {
		ep, err := endpointArg(arg, resolve)
		if err != nil {
			return o, fmt.Errorf("%w: %w", errUsage, err)
		}
		o.endpoints = append(o.endpoints, ep)
	}
	return o, nil
}

// endpointArg turns NAME[:PORT] into an endpoint, applying --resolve for the TLS port and port 80.
func endpointArg(arg string, resolve resolveFlag) (probe.Endpoint, error) {
	name, port := arg, "443"
	if h, p, err := net.SplitHostPort(arg); err == nil {
		if _, err := parsePort(p); err != nil {
			return probe.Endpoint{}, fmt.Errorf("endpoint %q: %w", arg, err)
		}
		name, port = h, p
	}
	host, err := probe.HostName(name)
	if err != nil {
		return probe.Endpoint{}, err
	}
	ep := probe.Endpoint{Name: name, Address: net.JoinHostPort(host, port)}
	if a, ok := resolve[net.JoinHostPort(host, port)]; ok {
		ep.Address = a
	}
	if a, ok := resolve[net.JoinHostPort(host, "80")]; ok {
		ep.HTTPAddress = a
	}
	return ep, nil
}

func addPEMFile(p *x509.CertPool, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !p.AppendCertsFromPEM(b) {
		return fmt.Errorf("%s: no PEM certificate found", path)
	}
	return nil
}

// runCheck is `certflow check`.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseCheck(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow check: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}
	var progress func(done, total int, r probe.Result)
	if len(o.endpoints) > 20 {
		progress = func(done, total int, r probe.Result) {
			fmt.Fprintf(stderr, "[%d/%d] %s %s\n", done, total, r.Name, verdictWord(r))
		}
	}
	start := time.Now()
	results := probe.ProbeAll(ctx, o.endpoints, o.probe, o.concurrency, progress)
	run := probe.NewRun(results, start.UTC(), warnDaysForReport(o.probe.WarnDays))

	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(run); err != nil {
			fmt.Fprintf(stderr, "certflow check: write json: %v\n", err)
			return exitUsage
		}
	} else {
		writeCheckText(stdout, run, time.Since(start))
	}
	if !run.OK {
		return exitFinding
	}
	return exitOK
}

func warnDaysForReport(d int) int {
	if d < 0 {
		return 0
	}
	return d
}

func verdictWord(r probe.Result) string {
	switch {
	case !r.OK:
		return "FAIL"
	case r.Warnings() > 0:
		return "WARN"
	}
	return "OK"
}

// writeCheckText prints one verdict line per endpoint (the "Verify return code" of openssl),
// its findings indented below, and a summary line.
func writeCheckText(w io.Writer, run probe.Run, took time.Duration) {
	for _, r := range run.Endpoints {
		line := fmt.Sprintf("%-4s %s (%s)", verdictWord(r), r.Name, r.Address)
		if s := r.Served; s != nil {
			line += fmt.Sprintf("  %s  expires %s (%d days)  serial %s  sha256 %s",
				s.TLSVersion, s.NotAfter.Format("2006-01-02"), s.DaysLeft, s.Serial, s.SHA256)
		}
		if r.OK {
			line += "  verify: ok"
		} else {
			line += fmt.Sprintf("  verify: %d error(s)", r.Errors())
		}
		fmt.Fprintln(w, line)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "     %-7s %s: %s\n", f.Severity, f.Code, f.Message)
		}
	}
	s := run.Summary()
	fmt.Fprintf(w, "%d endpoint(s) checked in %s: %d ok (%d with warnings), %d failing\n",
		s.Total, took.Round(time.Millisecond), s.OK, s.WithWarnings, s.WithErrors)
}

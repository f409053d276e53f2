// Package probe checks that an HTTPS endpoint serves the right certificate over a trusted chain
// and only over HTTPS. One probe is one TLS handshake (SNI = the endpoint's name, chain and
// hostname verified explicitly with crypto/x509), plus optional plain-HTTP redirect and HSTS
// checks. What is wrong comes back as findings with stable codes, never as a bare bool.
package probe

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certflow/certflow/pkg/certs"
)

// Defaults applied to zero Options fields.
const (
	DefaultMinTLS     = tls.VersionTLS12
	DefaultWarnDays   = 30
	DefaultHSTSMinAge = 180 * 24 * time.Hour
	DefaultTimeout    = 10 * time.Second
)

// Endpoint is one name to check and where to reach it. Address may differ from what DNS says
// about Name (like curl's --resolve); the handshake still uses Name for SNI and verification.
type Endpoint struct {
	// Name is the host name clients use (A-label or U-label; a trailing dot is ignored).
	Name string `json:"name"`
	// Address is host:port to dial for TLS; "" means Name:443.
	Address string `json:"address,omitempty"`
	// HTTPAddress is host:port for the plain-HTTP redirect check; "" means Name:80.
	HTTPAddress string `json:"httpAddress,omitempty"`
}

// Options tune a probe. The zero value is usable: system roots, TLS 1.2 minimum, 30 warning
// days, 10 s timeout, no HTTP checks, no expected fingerprint.
type Options struct {
	// Roots are the trust anchors; nil means the system roots. Callers that trust extra roots
	// add them to a copy of the system pool themselves.
	Roots *x509.CertPool
	// Intermediates are intermediates known to exist. They are never used to make a chain
	// pass: only to tell incomplete_chain (server omits one of these) from untrusted.
	Intermediates *x509.CertPool
	// ExpectSHA256 is the hex SHA-256 of the leaf that should be served (colons allowed);
	// "" skips the stale_certificate check.
	ExpectSHA256 string
	// MinTLS is the lowest acceptable negotiated version (tls.VersionTLS12 when 0).
	MinTLS uint16
	// WarnDays raises expiring_soon when the verified path expires within this many days
	// (30 when 0; negative disables).
	WarnDays int
	// CheckHTTP adds the HTTP→HTTPS redirect and HSTS checks.
	CheckHTTP bool
	// HSTSMinAge is the shortest acceptable HSTS max-age (180 days when 0).
	HSTSMinAge time.Duration
	// Timeout bounds each of the two network steps of a probe: the TLS handshake with its
	// HSTS read, and the plain-HTTP redirect check (10 s when 0).
	Timeout time.Duration
	// Now is the clock (time.Now when nil); tests move it to cross expiry thresholds.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MinTLS == 0 {
		o.MinTLS = DefaultMinTLS
	}
	if o.WarnDays == 0 {
		o.WarnDays = DefaultWarnDays
	}
	if o.HSTSMinAge == 0 {
		o.HSTSMinAge = DefaultHSTSMinAge
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Served is what the endpoint presented, for reports and for comparing with what was deployed.
type Served struct {
	SHA256      string    `json:"sha256"`
	Serial      string    `json:"serial"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	NotAfter    time.Time `json:"notAfter"`
	DaysLeft    int       `json:"daysLeft"`
	TLSVersion  string    `json:"tlsVersion"`
	HandshakeMs int64     `json:"handshakeMs"`
}

// Result is the outcome of probing one endpoint. OK is true when no finding has severity error.
type Result struct {
	Name     string    `json:"name"`
	Address  string    `json:"address"`
	OK       bool      `json:"ok"`
	Findings []Finding `json:"findings"`
	Served   *Served   `json:"served,omitempty"`
}

// Errors counts the findings of severity error.
func (r Result) Errors() int { return r.count(SeverityError) }

// Warnings counts the findings of severity warning.
func (r Result) Warnings() int { return r.count(SeverityWarning) }

func (r Result) count(sev string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

// Has reports whether the result carries a finding with this code.
func (r Result) Has(code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Probe checks one endpoint. It never returns an error: every failure, dialling included, is a
// finding in the result. It honours ctx and Options.Timeout and closes every connection it opens.
// Safe for concurrent use.
func Probe(ctx context.Context, ep Endpoint, opts Options) Result {
	opts = opts.withDefaults()
	name, addr, httpAddr, err := normalise(ep)
	res := Result{Name: ep.Name, Address: addr, Findings: []Finding{}}
	if err != nil {
		res.add(SeverityError, CodeUnreachable, err.Error())
		return res.finish()
	}
	tlsCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	now := opts.Now()
	state, chainFindings, hsts, ms, err := handshake(tlsCtx, name, addr, opts, now)
	if err != nil {
		var de *dialError
		if errors.As(err, &de) {
			res.add(SeverityError, CodeUnreachable, err.Error())
		} else {
			res.add(SeverityError, CodeHandshakeFailed, err.Error())
		}
		return res.finish()
	}
	leaf := state.PeerCertificates[0]
	res.Served = served(leaf, state.Version, ms, now)
	res.Findings = append(res.Findings, chainFindings...)
	if state.Version < opts.MinTLS {
		res.add(SeverityError, CodeTLSVersion, fmt.Sprintf("negotiated %s, below the minimum %s",
			tls.VersionName(state.Version), tls.VersionName(opts.MinTLS)))
	}
	if want := NormaliseSHA256(opts.ExpectSHA256); want != "" && want != res.Served.SHA256 {
		res.add(SeverityError, CodeStaleCertificate, fmt.Sprintf(
			"served certificate is not the deployed one (got CN %q, serial %s, sha256 %s; want sha256 %s)",
			leaf.Subject.CommonName, res.Served.Serial, res.Served.SHA256, want))
	}
	if opts.CheckHTTP {
		if hsts != nil {
			res.Findings = append(res.Findings, hsts.findings(opts.HSTSMinAge)...)
		}
		// Its own budget: a slow HTTPS answer must not starve the redirect check.
		httpCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		res.Findings = append(res.Findings, checkRedirect(httpCtx, name, httpAddr)...)
	}
	return res.finish()
}

func (r *Result) add(sev, code, msg string) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Code: code, Message: msg})
}

func (r Result) finish() Result {
	r.OK = r.Errors() == 0
	return r
}

// ProbeAll probes eps with at most concurrency probes in flight (8 when < 1) and returns results
// in input order. progress, when non-nil, is called once per finished probe, never concurrently,
// with a running count. Cancelling ctx makes the remaining probes report unreachable quickly.
func ProbeAll(ctx context.Context, eps []Endpoint, opts Options, concurrency int, progress func(done, total int, r Result)) []Result {
	if concurrency < 1 {
		concurrency = 8
	}
	results := make([]Result, len(eps))
	var (
		mu   sync.Mutex
		done int
	)
	var g errgroup.Group
	g.SetLimit(concurrency)
	for i, ep := range eps {
		g.Go(func() error {
			r := Probe(ctx, ep, opts)
			results[i] = r
			if progress != nil {
				mu.Lock()
				done++
				progress(done, len(eps), r)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // probes report failures as findings, never as errors
	return results
}

// NormaliseSHA256 lowercases a hex fingerprint and drops colons and spaces, so that
// "AB:CD…" from openssl and "abcd…" compare equal.
func NormaliseSHA256(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(":", "", " ", "").Replace(s)
}

// HostName turns a name as people write it into the form used for SNI and verification:
// trailing dot dropped, lowercased, IDN U-labels converted to A-labels. IP literals pass through.
// It is certs.NormalizeName, so the checker and the deployer read names the same way; a wildcard
// is not a host name and is rejected.
func HostName(name string) (string, error) {
	n, err := certs.NormalizeName(strings.Trim(strings.TrimSpace(name), "[]"))
	if err != nil {
		return "", fmt.Errorf("endpoint %w", err)
	}
	if strings.HasPrefix(n, "*.") {
		return "", fmt.Errorf("endpoint name %q: a wildcard is not a host name; list the concrete names", name)
	}
	return n, nil
}

func normalise(ep Endpoint) (name, addr, httpAddr string, err error) {
	addr, httpAddr = ep.Address, ep.HTTPAddress
	name, err = HostName(ep.Name)
	if err != nil {
		return "", addr, httpAddr, err
	}
	if addr == "" {
		addr = net.JoinHostPort(name, "443")
	}
	if httpAddr == "" {
		httpAddr = net.JoinHostPort(name, "80")
	}
	return name, addr, httpAddr, nil
}

type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return fmt.Sprintf("dial %s: %v", e.addr, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// handshake dials addr and completes a TLS handshake offering TLS 1.0–1.3, so that a server stuck
// on an old version is observed rather than refused. The chain is captured, not trusted: the
// caller verifies it explicitly with verifyServed before drawing any conclusion. The handshake
// itself still proves the server holds the leaf's key. When the chain verifies, one GET request
// reads the HSTS header over the same connection.
func handshake(ctx context.Context, name, addr string, opts Options, now time.Time) (tls.ConnectionState, []Finding, *hstsHeader, int64, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, nil, nil, 0, &dialError{addr: addr, err: err}
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	cfg := &tls.Config{
		ServerName: name,
		// Verification is done explicitly after the handshake (verifyServed) so that an
		// untrusted or expired chain is still seen and reported with its details.
		InsecureSkipVerify: true, //nolint:gosec // verified explicitly in verifyServed
		MinVersion:         tls.VersionTLS10,
		NextProtos:         []string{"http/1.1"},
		// The classical groups every TLS server supports, as openssl 3.0 offers them. Go's
		// default adds the X25519MLKEM768 hybrid, which keeps a session's secrets from a future
		// quantum adversary; a probe carries none, and the hybrid costs about a fifth of a
		// verified handshake's CPU on both ends. Certificate checks do not depend on it.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	conn := tls.Client(raw, cfg)
	start := time.Now()
	if err := conn.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, nil, nil, 0, fmt.Errorf("tls handshake with %s (sni %s): %w", addr, name, err)
	}
	ms := time.Since(start).Milliseconds()
	state := conn.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return state, nil, nil, ms, fmt.Errorf("tls handshake with %s (sni %s): server sent no certificate", addr, name)
	}
	findings := verifyServed(name, state.PeerCertificates, opts, now)
	var hsts *hstsHeader
	// A browser honours HSTS only from a connection it trusts, so the header is read only then.
	if opts.CheckHTTP && !hasAny(findings, CodeUntrusted, CodeHostnameMismatch, CodeExpired, CodeNotYetValid) {
		hsts = readHSTS(conn, name)
	}
	_ = conn.Close()
	return state, findings, hsts, ms, nil
}

func served(leaf *x509.Certificate, version uint16, ms int64, now time.Time) *Served {
	sum := sha256.Sum256(leaf.Raw)
	return &Served{
		SHA256:      hex.EncodeToString(sum[:]),
		Serial:      Serial(leaf),
		Subject:     leaf.Subject.String(),
		Issuer:      leaf.Issuer.String(),
		NotAfter:    leaf.NotAfter.UTC(),
		DaysLeft:    DaysLeft(leaf.NotAfter, now),
		TLSVersion:  tls.VersionName(version),
		HandshakeMs: ms,
	}
}

// Serial is the certificate's serial number as uppercase hex bytes, leading zeros kept
// (as openssl prints it).
func Serial(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// DaysLeft is the number of whole days from now until notAfter; negative once expired.
func DaysLeft(notAfter, now time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // floor, so a certificate that expired an hour ago shows -1, not 0
	}
	return days
}

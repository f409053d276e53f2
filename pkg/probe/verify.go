package probe

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"
)

// verifyServed verifies the chain a server presented for name, as a browser would, and explains
// every way it falls short. It is a pure function of the certificates, the options and the time.
//
// Go's verifier stops at the first problem and hides why a candidate issuer was rejected, so a
// failed verification is retried (a) at the instants just before each served certificate expired
// or just after it became valid, which exposes an otherwise good path whose only fault is time,
// and (b) with the known intermediates added, which exposes an incomplete chain. Whatever path is
// found that way is still only used to explain the failure; the endpoint fails either way.
func verifyServed(name string, served []*x509.Certificate, opts Options, now time.Time) []Finding {
	leaf := served[0]
	var fs []Finding
	add := func(sev, code, format string, a ...any) {
		fs = append(fs, Finding{Severity: sev, Code: code, Message: fmt.Sprintf(format, a...)})
	}

	if err := leaf.VerifyHostname(name); err != nil {
		add(SeverityError, CodeHostnameMismatch, "certificate %s does not cover %q (names: %s)",
			describe(leaf), name, sanList(leaf))
	}

	sent := x509.NewCertPool()
	for _, c := range served[1:] {
		sent.AddCert(c)
	}
	verify := func(pool *x509.CertPool, at time.Time) ([][]*x509.Certificate, error) {
		return leaf.Verify(x509.VerifyOptions{
			Roots:         opts.Roots,
			Intermediates: pool,
			CurrentTime:   at,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
	}

	chains, firstErr := verify(sent, now)
	completed := false
	if firstErr != nil {
		pools := []*x509.CertPool{sent}
		if opts.Intermediates != nil {
			all := opts.Intermediates.Clone()
			for _, c := range served[1:] {
				all.AddCert(c)
			}
			pools = append(pools, all)
		}
		times := retryTimes(served, now)
	search:
		for i, pool := range pools {
			for _, at := range times {
				if c, err := verify(pool, at); err == nil {
					chains, completed = c, i == 1
					break search
				}
			}
			// An out-of-date leaf under an issuer that has been renewed since: the instants
			// above find no common window, so check the leaf's signature by hand and let Go
			// verify the issuer's own path now.
			if c := viaIssuer(leaf, served[1:], pool, opts.Roots, now); c != nil {
				chains, completed = c, i == 1
				break
			}
		}
	}

	if chains == nil {
		// Trust could not be established at any instant. Still say when the leaf itself is out of date.
		timeFindings(leaf, "leaf", now, add)
		add(SeverityError, CodeUntrusted, "chain of %s does not lead to a trusted root (issuer %q): %v",
			describe(leaf), leaf.Issuer.CommonName, firstErr)
		return fs
	}

	best := bestChain(chains)
	if completed {
		missing := missingFrom(best, served)
		add(SeverityError, CodeIncompleteChain, "server sends an incomplete chain: %s not included (a known intermediate completes it; clients without it reject the site)",
			strings.Join(missing, ", "))
	}
	for i, c := range best {
		timeFindings(c, role(i, len(best)), now, add)
	}
	if opts.WarnDays > 0 && !hasAny(fs, CodeExpired, CodeNotYetValid) {
		first := best[0]
		for _, c := range best[1:] {
			if c.NotAfter.Before(first.NotAfter) {
				first = c
			}
		}
		if left := DaysLeft(first.NotAfter, now); left < opts.WarnDays {
			add(SeverityWarning, CodeExpiringSoon, "%s expires in %d days (%s), within the %d-day threshold",
				describe(first), left, first.NotAfter.UTC().Format(time.RFC3339), opts.WarnDays)
		}
	}
	for _, c := range served[1:] {
		if onAny(c, chains) || !now.After(c.NotAfter) {
			continue
		}
		add(SeverityWarning, CodeChainHasExpiredExtra, "server also sends %s, expired %s, which is not on the verified path; remove it from the bundle",
			describe(c), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return fs
}

func viaIssuer(leaf *x509.Certificate, issuers []*x509.Certificate, pool, roots *x509.CertPool, now time.Time) [][]*x509.Certificate {
	for _, iss := range issuers {
		if leaf.CheckSignatureFrom(iss) != nil {
			continue
		}
		tails, err := iss.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: pool, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			continue
		}
		chains := make([][]*x509.Certificate, 0, len(tails))
		for _, tail := range tails {
			chains = append(chains, append([]*x509.Certificate{leaf}, tail...))
		}
		return chains
	}
	return nil
}

// retryTimes are the instants worth verifying at: now, then one second inside the validity
// window of every served certificate that is out of date now.
func retryTimes(served []*x509.Certificate, now time.Time) []time.Time {
	times := []time.Time{now}
	for _, c := range served {
		switch {
		case now.After(c.NotAfter):
			times = append(times, c.NotAfter.Add(-time.Second))
		case now.Before(c.NotBefore):
			times = append(times, c.NotBefore.Add(time.Second))
		}
	}
	return times
}

func timeFindings(c *x509.Certificate, role string, now time.Time, add func(sev, code, format string, a ...any)) {
	switch {
	case now.After(c.NotAfter):
		add(SeverityError, CodeExpired, "%s %s expired %s (%d days ago)", role, describe(c),
			c.NotAfter.UTC().Format(time.RFC3339), int(now.Sub(c.NotAfter)/(24*time.Hour)))
	case now.Before(c.NotBefore):
		add(SeverityError, CodeNotYetValid, "%s %s is not valid before %s", role, describe(c),
			c.NotBefore.UTC().Format(time.RFC3339))
	}
}

// bestChain is the verified path that stays valid longest (what a client would settle on when
// several exist; blackbox_exporter's "last chain expiry").
func bestChain(chains [][]*x509.Certificate) []*x509.Certificate {
	sort.SliceStable(chains, func(i, j int) bool { return earliest(chains[i]).After(earliest(chains[j])) })
	return chains[0]
}

func earliest(chain []*x509.Certificate) time.Time {
	t := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

func onAny(c *x509.Certificate, chains [][]*x509.Certificate) bool {
	for _, ch := range chains {
		for _, x := range ch {
			if bytes.Equal(x.Raw, c.Raw) {
				return true
			}
		}
	}
	return false
}

// missingFrom names the intermediates of chain (leaf and root excluded) the server did not send.
func missingFrom(chain, served []*x509.Certificate) []string {
	var out []string
	if len(chain) < 3 {
		return []string{"an intermediate"}
	}
	for _, c := range chain[1 : len(chain)-1] {
		if !onAny(c, [][]*x509.Certificate{served}) {
			out = append(out, fmt.Sprintf("intermediate %q", c.Subject.CommonName))
		}
	}
	if len(out) == 0 {
		out = []string{"an intermediate"}
	}
	return out
}

func role(i, n int) string {
	switch {
	case i == 0:
		return "leaf"
	case i == n-1:
		return "root"
	}
	return "intermediate"
}

func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %s)", c.Subject.CommonName, Serial(c))
}

func sanList(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "none; CN-only certificates are ignored by clients"
	}
	if len(names) > 6 {
		names = append(names[:6], fmt.Sprintf("and %d more", len(names)-6))
	}
	return strings.Join(names, ", ")
}

package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// assemble turns the certificates and keys read from the input into a Bundle: drop duplicates,
// find the leaf (by key when there is one), walk issuer links checking each signature, drop
// and report what is not on the path, then judge trust, names, validity and key strength.
func assemble(input []*x509.Certificate, keys []crypto.Signer, opts Options) (*Bundle, []Finding) {
	var fs []Finding

	// Duplicates: keep the first copy, one finding per duplicated certificate.
	var certs []*x509.Certificate
	copies := map[*x509.Certificate]int{}
	for _, c := range input {
		if i := slices.IndexFunc(certs, func(o *x509.Certificate) bool { return bytes.Equal(o.Raw, c.Raw) }); i >= 0 {
			copies[certs[i]]++
			continue
		}
		certs = append(certs, c)
	}
	for _, c := range certs {
		switch n := copies[c]; {
		case n == 1:
			fs = append(fs, warnf(CodeChainDuplicate, "certificate %s is included more than once; the copy is dropped", displayName(c)))
		case n > 1:
			fs = append(fs, warnf(CodeChainDuplicate, "certificate %s is included %d times; the %d copies are dropped", displayName(c), n+1, n))
		}
	}

	// The leaf: the certificate whose public key is the private key's.
	var leaf *x509.Certificate
	var key crypto.Signer
	for _, c := range certs {
		for _, k := range keys {
			if samePublicKey(c.PublicKey, k) && (leaf == nil || leaf.IsCA && !c.IsCA) {
				leaf, key = c, k
			}
		}
	}
	if len(keys) > 1 {
		fs = append(fs, warnf(CodeKeyMultiple, "%d private keys were given; only the one matching the leaf is used", len(keys)))
	}
	if leaf == nil {
		leaf = structuralLeaf(certs)
		if len(keys) > 0 {
			fs = append(fs, errorf(CodeKeyMismatch, "private key does not match the certificate: certificate %s has %s key, private key is %s%s",
				displayName(leaf), KeyDescription(leaf.PublicKey), KeyDescription(keys[0]), sameKindNote(leaf.PublicKey, keys[0])))
		}
	}

	// The path: leaf, its issuer, that one's issuer... as far as the input goes.
	path := []*x509.Certificate{leaf}
	badSig := false
	var impostors []*x509.Certificate // named as issuer but did not sign: reported once, as bad signature
	for cur := leaf; !selfSigned(cur); {
		var next *x509.Certificate
		var sigErr error
		var named *x509.Certificate
		for _, c := range certs {
			if slices.Contains(path, c) || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			named = c
			if err := cur.CheckSignatureFrom(c); err != nil {
				sigErr = err
				continue
			}
			next = c
			break
		}
		if next == nil {
			if named != nil {
				badSig = true
				impostors = append(impostors, named)
				fs = append(fs, errorf(CodeChainBadSignature, "certificate %s names issuer %s, but the included %s did not sign it: %v",
					displayName(cur), issuerName(cur), displayName(named), sigErr))
			}
			break
		}
		path = append(path, next)
		cur = next
	}

	b := &Bundle{Leaf: leaf, Key: key}
	if n := len(path); n > 1 && selfSigned(path[n-1]) {
		b.Root = path[n-1]
		path = path[:n-1]
		fs = append(fs, warnf(CodeChainHasRoot, "the chain includes the self-signed root %s; clients already hold it, so it is left out of the chain that is deployed", displayName(b.Root)))
	}
	b.Intermediates = path[1:]

	for _, c := range certs {
		if !slices.Contains(path, c) && c != b.Root && !slices.Contains(impostors, c) {
			fs = append(fs, warnf(CodeChainUnrelated, "certificate %s is not part of the chain of %s; it is dropped", displayName(c), displayName(leaf)))
		}
	}
	if moved := reordered(certs, path); moved != "" {
		fs = append(fs, warnf(CodeChainOrderFixed, "the chain was not in leaf → intermediates order (%s); it was reordered", moved))
	}

	if !badSig {
		fs = append(fs, trust(b, opts)...)
	}
	fs = append(fs, facts(b, opts)...)
	return b, fs
}

// structuralLeaf picks the leaf without a key: a certificate that issued none of the others,
// preferring non-CA certificates, first in input order.
func structuralLeaf(certs []*x509.Certificate) *x509.Certificate {
	isIssuer := func(c *x509.Certificate) bool {
		for _, o := range certs {
			if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && o.CheckSignatureFrom(c) == nil {
				return true
			}
		}
		return false
	}
	var fallback *x509.Certificate
	for _, c := range certs {
		if isIssuer(c) {
			continue
		}
		if !c.IsCA {
			return c
		}
		if fallback == nil {
			fallback = c
		}
	}
	if fallback != nil {
		return fallback
	}
	return certs[0]
}

// selfSigned checks the signature directly, not with CheckSignatureFrom, which also demands
// that the signer be a CA: a self-signed leaf is self-signed too.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// sameKindNote clarifies a mismatch between two keys of the same kind and size.
func sameKindNote(certPub any, key crypto.Signer) string {
	if KeyDescription(certPub) == KeyDescription(key) {
		return " (a different key of the same kind)"
	}
	return ""
}

// reordered describes how the input order differed from the path order, or returns "".
func reordered(input, path []*x509.Certificate) string {
	last := -1
	if slices.Index(input, path[0]) > 0 {
		last = len(input) // the leaf was not first: that alone is a reordering
	}
	for _, c := range path {
		i := slices.Index(input, c)
		if i < last {
			pos := slices.Index(input, path[0]) + 1
			return fmt.Sprintf("the leaf %s was certificate %d of %d", displayName(path[0]), pos, len(input))
		}
		last = i
	}
	return ""
}

// trust checks that the path reaches a root in the trust pool, for TLS server use.
func trust(b *Bundle, opts Options) []Finding {
	roots := opts.Roots
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
	}
	inter := x509.NewCertPool()
	for _, c := range b.Intermediates {
		inter.AddCert(c)
	}
	vo := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: opts.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	_, err := b.Leaf.Verify(vo)
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		// Expiry is reported on its own; judge the chain's structure at a time every link was valid.
		if t, ok := commonValidity(b.chain()); ok {
			vo.CurrentTime = t
			_, err = b.Leaf.Verify(vo)
		}
	}
	if err == nil {
		return nil
	}
	last := b.Leaf
	if len(b.Intermediates) > 0 {
		last = b.Intermediates[len(b.Intermediates)-1]
	}
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknown) && b.Root != nil:
		return []Finding{errorf(CodeChainUntrusted, "the chain ends at root %s, which is not in the trust pool", displayName(b.Root))}
	case errors.As(err, &unknown) && selfSigned(last):
		return []Finding{errorf(CodeChainUntrusted, "certificate %s is self-signed and not in the trust pool", displayName(last))}
	case errors.As(err, &unknown):
		return []Finding{errorf(CodeChainIncomplete, "chain incomplete: issuer %s of %s is not included and is not a trusted root", issuerName(last), displayName(last))}
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return []Finding{errorf(CodeChainInvalid, "certificate %s is not valid for TLS server authentication (extended key usage)", displayName(b.Leaf))}
	case errors.As(err, &inv) && (inv.Reason == x509.Expired):
		return nil // the certificates' validity windows do not overlap; expired already says so
	}
	return []Finding{errorf(CodeChainInvalid, "chain of %s does not verify: %v", displayName(b.Leaf), err)}
}

// commonValidity finds an instant at which every certificate is valid.
func commonValidity(cs []*x509.Certificate) (time.Time, bool) {
	from, to := time.Time{}, time.Unix(math.MaxInt32, 0)
	for _, c := range cs {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(to) {
			to = c.NotAfter
		}
	}
	t := from.Add(time.Second)
	return t, t.Before(to)
}

// facts judges the leaf's names, validity of every link, and key strength.
func facts(b *Bundle, opts Options) []Finding {
	var fs []Finding
	leaf := b.Leaf
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		fs = append(fs, errorf(CodeNoSAN, "certificate %s has no subjectAltName; modern clients ignore the common name, so it covers no name", displayName(leaf)))
	}
	now := opts.now()
	for i, c := range b.chain() {
		role := "certificate"
		if i > 0 {
			role = "intermediate"
		}
		switch {
		case now.After(c.NotAfter):
			fs = append(fs, errorf(CodeExpired, "%s %s expired on %s (%d days ago)", role, displayName(c), day(c.NotAfter), days(now.Sub(c.NotAfter))))
		case now.Before(c.NotBefore):
			fs = append(fs, errorf(CodeNotYetValid, "%s %s is not valid until %s", role, displayName(c), c.NotBefore.UTC().Format(time.RFC3339)))
		case i == 0 && opts.warnDays() > 0 && c.NotAfter.Sub(now) < time.Duration(opts.warnDays())*24*time.Hour:
			fs = append(fs, warnf(CodeExpiringSoon, "certificate %s expires in %d days, on %s (warning window %d days)", displayName(c), days(c.NotAfter.Sub(now)), day(c.NotAfter), opts.warnDays()))
		}
		if why := weakKey(c.PublicKey); why != "" {
			fs = append(fs, errorf(CodeKeyWeak, "%s %s has a weak key: %s", role, displayName(c), why))
		}
	}
	var bad []string
	for _, n := range opts.Names {
		if _, err := NormalizeName(n); err != nil {
			fs = append(fs, errorf(CodeNameInvalid, "%v", err))
			continue
		}
		if !leafCovers(leaf, n) {
			bad = append(bad, n)
		}
	}
	for _, n := range bad {
		sans := strings.Join(b.Names(), ", ")
		if sans == "" {
			sans = "none"
		}
		fs = append(fs, errorf(CodeNameNotCovered, "certificate %s does not cover %s (its DNS names: %s)", displayName(leaf), n, sans))
	}
	return fs
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// Package certs reads a certificate bundle (PEM chain and key, or PFX/PKCS#12), repairs what
// travel does to PEM text, puts the chain in order, matches the key to the leaf, and says in
// findings with stable codes everything that would make a deployment fail or a client distrust
// it. It also holds the one name-coverage rule (Covers) that planning and checking share.
// Nothing here touches the network; all functions are safe for concurrent use.
package certs

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"
)

// Options tune Parse and ParsePFX. The zero value is usable: system roots, 30-day warning, now.
type Options struct {
	Passphrase []byte         // decrypts an encrypted PEM key; nil = encrypted keys are refused (key_encrypted)
	Roots      *x509.CertPool // trust pool for chain completeness; nil = system roots
	Names      []string       // names the certificate must cover; each one missing is name_not_covered
	WarnDays   int            // expiring_soon threshold in days; 0 = 30, negative = never warn
	Now        time.Time      // the time validity is judged at; zero = time.Now()
	RequireKey bool           // no private key at all is a key_missing error (a key input without a key always is)
	CertSource string         // names the certificate input in messages (e.g. its file name); "" = "certificate PEM"
	KeySource  string         // names the key input in messages; "" = "key PEM"
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o Options) warnDays() int {
	if o.WarnDays == 0 {
		return 30
	}
	return o.WarnDays
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Bundle is a parsed, ordered certificate bundle. Leaf is never nil in a Bundle returned by
// Parse or ParsePFX. Key is nil when no (matching) private key was given. A Bundle is not
// modified after it is returned and is safe for concurrent reads; its fmt output never
// contains key material.
type Bundle struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate // leaf's issuer first; never the root
	Root          *x509.Certificate   // a self-signed root that was included (chain_has_root); not sent
	Key           crypto.Signer
}

// LoadRoots returns the system trust pool plus every certificate in extraPEMFile
// ("" = the system pool alone). The error names the file.
func LoadRoots(extraPEMFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if extraPEMFile == "" {
		return pool, nil
	}
	data, err := os.ReadFile(extraPEMFile)
	if err != nil {
		return nil, fmt.Errorf("roots file: %w", err)
	}
	blocks, fs := scanPEM(data, "roots file "+extraPEMFile)
	if HasErrors(fs) {
		for _, f := range fs {
			if f.Severity == SeverityError {
				return nil, fmt.Errorf("%s", f.Message)
			}
		}
	}
	n := 0
	for _, b := range blocks {
		if b.block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("roots file %s: block %d: %w", extraPEMFile, b.index, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("roots file %s: no certificate found", extraPEMFile)
	}
	return pool, nil
}

// Parse reads a PEM certificate chain (any order, duplicates allowed) and an optional PEM private
// key (keyPEM nil = none given; a key block inside certPEM is used too). It returns the bundle and
// every finding; the bundle is nil only when no certificate could be read. Deploy only when
// !HasErrors(findings).
func Parse(certPEM, keyPEM []byte, opts Options) (*Bundle, []Finding) {
	certWhat := orDefault(opts.CertSource, "certificate PEM")
	keyWhat := orDefault(opts.KeySource, "key PEM")

	var (
		fs       []Finding
		certs    []*x509.Certificate
		keys     []crypto.Signer
		keyNoted bool // a key-specific finding was already given; key_missing would only repeat it
	)
	read := func(data []byte, what string) {
		blocks, f := scanPEM(data, what)
		fs = append(fs, f...)
		for _, b := range blocks {
			switch label := b.block.Type; {
			case label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE":
				der := b.block.Bytes
				if label == "TRUSTED CERTIFICATE" { // OpenSSL appends trust settings after the DER
					var raw asn1.RawValue
					if _, err := asn1.Unmarshal(der, &raw); err == nil {
						der = raw.FullBytes
					}
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					fs = append(fs, errorf(CodePEMMalformed, "%s: block %d (%s): not a valid X.509 certificate: %v", what, b.index, label, err))
					continue
				}
				certs = append(certs, c)
			case isKeyLabel(label):
				k, f := parseKeyBlock(b, what, opts.Passphrase)
				fs = append(fs, f...)
				if len(f) > 0 {
					keyNoted = true
				}
				if k != nil {
					keys = append(keys, k)
				}
			case label == "EC PARAMETERS": // written by `openssl ecparam -genkey`; harmless
			default:
				fs = append(fs, warnf(CodePEMUnexpected, "%s: block %d (%s) is neither a certificate nor a private key; ignored", what, b.index, label))
			}
		}
	}
	read(certPEM, certWhat)
	if keyPEM != nil {
		read(keyPEM, keyWhat)
	}
	if len(keys) == 0 && !keyNoted {
		switch {
		case keyPEM != nil:
			fs = append(fs, errorf(CodeKeyMissing, "%s has no private key block", keyWhat))
		case opts.RequireKey:
			fs = append(fs, errorf(CodeKeyMissing, "no private key given"))
		}
	}
	if len(certs) == 0 {
		if !HasErrors(fs) || !hasCode(fs, CodePEMMalformed) && !hasCode(fs, CodePEMUTF16) {
			fs = append(fs, errorf(CodePEMMalformed, "%s has no certificate", certWhat))
		}
		return nil, fs
	}
	b, more := assemble(certs, keys, opts)
	return b, append(fs, more...)
}

func hasCode(fs []Finding, code string) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// ChainPEM is the leaf then the intermediates (never the root) as LF-only PEM: what is sent to
// clouds as the certificate.
func (b *Bundle) ChainPEM() []byte {
	var buf bytes.Buffer
	for _, c := range b.chain() {
		buf.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return buf.Bytes()
}

// KeyPEM is the private key as LF-only, unencrypted PKCS#8 PEM, or nil when the bundle has no key.
// Treat the result as secret: write it only to its destination.
func (b *Bundle) KeyPEM() []byte {
	if b.Key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil { // only key types parsePrivateDER never returns
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func (b *Bundle) chain() []*x509.Certificate {
	return append([]*x509.Certificate{b.Leaf}, b.Intermediates...)
}

// SHA256 is the lowercase hex SHA-256 fingerprint of the leaf's DER.
func (b *Bundle) SHA256() string { return Fingerprint(b.Leaf) }

// SHA1 is the lowercase hex SHA-1 fingerprint of the leaf's DER (some consoles still show it).
func (b *Bundle) SHA1() string {
	sum := sha1.Sum(b.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}

// Fingerprint is the lowercase hex SHA-256 of a certificate's DER: how certflow identifies a
// certificate everywhere (served == expected, BindTask, idempotency).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Names are the leaf's DNS SANs, normalised (NormalizeName), in certificate order; a SAN that
// does not normalise is kept lower-cased so it still shows up in reports.
func (b *Bundle) Names() []string {
	out := make([]string, 0, len(b.Leaf.DNSNames))
	for _, n := range b.Leaf.DNSNames {
		if nn, err := NormalizeName(n); err == nil {
			out = append(out, nn)
		} else {
			out = append(out, strings.ToLower(n))
		}
	}
	return out
}

// Covers reports whether the leaf covers name by the shared rule (see the function Covers);
// an IP address is covered by an equal IP SAN.
func (b *Bundle) Covers(name string) bool {
	return leafCovers(b.Leaf, name)
}

func leafCovers(leaf *x509.Certificate, name string) bool {
	if n, err := NormalizeName(name); err == nil {
		for _, ip := range leaf.IPAddresses {
			if ip.String() == n {
				return true
			}
		}
	}
	return Covers(leaf.DNSNames, name)
}

// KeyType is the leaf key's algorithm in AIRec's cert_type vocabulary: "RSA", "ECC" or "ED25519".
func (b *Bundle) KeyType() string { return keyType(b.Leaf.PublicKey) }

// Summary describes the leaf; it is the "leaf" object of certflow's JSON output.
type Summary struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	SANs      []string  `json:"sans"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	KeyType   string    `json:"keyType"`
	SHA256    string    `json:"sha256"`
	SHA1      string    `json:"sha1"`
}

// ChainEntry describes one certificate of the chain as sent (leaf first).
type ChainEntry struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
	SHA256   string    `json:"sha256"`
}

// Summary returns the leaf's facts. SANs are the DNS names (normalised) then IP addresses.
func (b *Bundle) Summary() Summary {
	sans := b.Names()
	for _, ip := range b.Leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	return Summary{
		Subject:   b.Leaf.Subject.String(),
		Issuer:    b.Leaf.Issuer.String(),
		SANs:      sans,
		Serial:    Serial(b.Leaf),
		NotBefore: b.Leaf.NotBefore.UTC(),
		NotAfter:  b.Leaf.NotAfter.UTC(),
		KeyType:   b.KeyType(),
		SHA256:    b.SHA256(),
		SHA1:      b.SHA1(),
	}
}

// Chain describes the leaf and the intermediates, in the order they are sent.
func (b *Bundle) Chain() []ChainEntry {
	var out []ChainEntry
	for _, c := range b.chain() {
		out = append(out, ChainEntry{
			Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: Serial(c),
			NotAfter: c.NotAfter.UTC(), SHA256: Fingerprint(c),
		})
	}
	return out
}

// Serial renders a certificate's serial number as lowercase hex, even length.
func Serial(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	if c.SerialNumber.Sign() < 0 {
		return c.SerialNumber.Text(16)
	}
	return hex.EncodeToString(c.SerialNumber.Bytes())
}

// String describes the bundle without any key material.
func (b *Bundle) String() string {
	if b == nil || b.Leaf == nil {
		return "certs.Bundle{}"
	}
	key := "no key"
	if b.Key != nil {
		key = "key " + KeyDescription(b.Key)
	}
	return fmt.Sprintf("certs.Bundle{%s, sha256 %s, %d intermediate(s), %s}",
		displayName(b.Leaf), b.SHA256(), len(b.Intermediates), key)
}

// GoString is String: %#v must not dump the key either.
func (b *Bundle) GoString() string { return b.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x) print String, so a stray Printf of a
// Bundle can never print the private key.
func (b *Bundle) Format(f fmt.State, _ rune) { fmt.Fprint(f, b.String()) }

// displayName names a certificate in messages: "CN=x" when it has a CN, else its subject, else its first SAN.
func displayName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return "CN=" + c.Subject.CommonName
	case len(c.Subject.String()) > 0:
		return c.Subject.String()
	case len(c.DNSNames) > 0:
		return "SAN " + c.DNSNames[0]
	}
	return "serial " + Serial(c)
}

// issuerName names a certificate's issuer the same way.
func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return "CN=" + c.Issuer.CommonName
	}
	return c.Issuer.String()
}

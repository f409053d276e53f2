package localcloud

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// material is a certificate chain (leaf first, as uploaded) with its optional key.
type material struct {
	CertPEM string
	KeyPEM  string
	Chain   []*x509.Certificate
	TLS     *tls.Certificate // nil without a key
}

// parseMaterial parses a PEM chain and, if given, a PEM key that must match the leaf.
func parseMaterial(certPEM, keyPEM string) (*material, error) {
	var chain []*x509.Certificate
	rest := []byte(certPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	m := &material{CertPEM: certPEM, KeyPEM: keyPEM, Chain: chain}
	if keyPEM != "" {
		pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		m.TLS = &pair
	}
	return m, nil
}

func (m *material) leaf() *x509.Certificate { return m.Chain[0] }

func (m *material) sha1Hex() string {
	s := sha1.Sum(m.leaf().Raw)
	return hex.EncodeToString(s[:])
}

func (m *material) sha256Hex() string {
	s := sha256.Sum256(m.leaf().Raw)
	return hex.EncodeToString(s[:])
}

// colonFingerprint is SLB's form: lower-case SHA-1 with colons.
func (m *material) colonFingerprint() string {
	h := m.sha1Hex()
	parts := make([]string, 0, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// names is the leaf's SANs, or its CN when it has none.
func (m *material) names() []string {
	if len(m.leaf().DNSNames) > 0 {
		return m.leaf().DNSNames
	}
	if cn := m.leaf().Subject.CommonName; cn != "" {
		return []string{cn}
	}
	return nil
}

func (m *material) algorithm() (string, int) {
	switch k := m.leaf().PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECC", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "ED25519", 256
	}
	return "UNKNOWN", 0
}

func issuerName(c *x509.Certificate) string {
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	return c.Issuer.CommonName
}

func first(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// covers reports whether a certificate name (possibly "*.x") covers host, one label deep.
func covers(pattern, host string) bool {
	pattern = strings.TrimSuffix(strings.ToLower(pattern), ".")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if pattern == host {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		i := strings.IndexByte(host, '.')
		return i > 0 && host[i+1:] == rest
	}
	return false
}

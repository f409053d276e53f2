// Package localca is a small certificate authority for the local cloud, the demo and tests:
// a root, an intermediate, and leaves issued for any names with any key type and validity.
// It never touches the network or the disk; callers decide where PEM goes.
package localca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType selects the algorithm of a generated key.
type KeyType string

const (
	RSA2048   KeyType = "rsa2048"
	RSA1024   KeyType = "rsa1024" // weak on purpose: for tests of key_weak
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	Ed25519   KeyType = "ed25519"
)

// NewKey generates a private key of the given type.
func NewKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA2048, "":
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("localca: unknown key type %q", t)
}

// Cert is an issued certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	DER  []byte
}

// CertPEM returns the certificate alone as PEM.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// KeyPEM returns the private key as PKCS#8 PEM.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil { // only for key types this package never generates
		panic(fmt.Sprintf("localca: marshal key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// SHA256 is the lowercase hex SHA-256 fingerprint of the certificate's DER.
func (c *Cert) SHA256() string {
	sum := sha256.Sum256(c.DER)
	return fmt.Sprintf("%x", sum)
}

// CA is a root and an intermediate; leaves are issued by the intermediate.
// A CA is safe for concurrent use.
type CA struct {
	Root         *Cert
	Intermediate *Cert
}

// New creates a root ("certflow local root CA") and an intermediate under it, both ECDSA P-256,
// valid from an hour ago for ten years.
func New(name string) (*CA, error) {
	if name == "" {
		name = "certflow local"
	}
	now := time.Now().Add(-time.Hour)
	root, err := issue(nil, Template{
		CommonName: name + " root CA", NotBefore: now, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, KeyType: ECDSAP256,
	})
	if err != nil {
		return nil, err
	}
	inter, err := issue(root, Template{
		CommonName: name + " intermediate CA", NotBefore: now, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, KeyType: ECDSAP256,
	})
	if err != nil {
		return nil, err
	}
	return &CA{Root: root, Intermediate: inter}, nil
}

// Template describes a certificate to issue. Zero values take sensible defaults:
// RSA 2048, valid from an hour ago for 90 days, CommonName = first DNS name.
type Template struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	NotBefore  time.Time
	NotAfter   time.Time
	KeyType    KeyType
	Key        crypto.Signer // reuse this key instead of generating one
	IsCA       bool
	NoSAN      bool // put the first DNS name in the CN only: for tests of CN-only certificates
}

// Issue signs a leaf (or, with IsCA, a further intermediate) with the intermediate.
func (ca *CA) Issue(t Template) (*Cert, error) { return issue(ca.Intermediate, t) }

// IssueBy signs with any parent (a root, another intermediate, a self-signed cert when nil).
func IssueBy(parent *Cert, t Template) (*Cert, error) { return issue(parent, t) }

// ChainPEM is leaf + intermediate as one PEM text, the full chain a server sends.
func (ca *CA) ChainPEM(leaf *Cert) []byte {
	return append(leaf.CertPEM(), ca.Intermediate.CertPEM()...)
}

// Pool is a cert pool holding only the root.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root.Cert)
	return p
}

func issue(parent *Cert, t Template) (*Cert, error) {
	key := t.Key
	if key == nil {
		var err error
		if key, err = NewKey(t.KeyType); err != nil {
			return nil, err
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = time.Now().Add(-time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = t.NotBefore.Add(90 * 24 * time.Hour)
	}
	cn := t.CommonName
	if cn == "" && len(t.DNSNames) > 0 {
		cn = t.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"certflow local"}},
		NotBefore:             t.NotBefore,
		NotAfter:              t.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
	}
	if t.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if !t.NoSAN {
			tmpl.DNSNames = t.DNSNames
			tmpl.IPAddresses = t.IPs
		}
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("localca: issue %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key, DER: der}, nil
}

// LoadRoot reads a root written by WriteRoot-style PEM (certificate then key).
func Load(rootCert, rootKey, interCert, interKey []byte) (*CA, error) {
	root, err := parsePair(rootCert, rootKey)
	if err != nil {
		return nil, fmt.Errorf("localca: root: %w", err)
	}
	inter, err := parsePair(interCert, interKey)
	if err != nil {
		return nil, fmt.Errorf("localca: intermediate: %w", err)
	}
	return &CA{Root: root, Intermediate: inter}, nil
}

func parsePair(certPEM, keyPEM []byte) (*Cert, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key is not a signer")
	}
	return &Cert{Cert: cert, Key: signer, DER: cb.Bytes}, nil
}

package certs

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"software.sslmate.com/src/go-pkcs12"
)

func TestParsePFX(t *testing.T) {
	ca := newCA(t, "pfx")
	leaves := map[string]*localca.Cert{
		"RSA":   issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.RSA2048}),
		"ECDSA": issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256}),
	}
	encoders := map[string]*pkcs12.Encoder{
		"LegacyRC2":  pkcs12.LegacyRC2,
		"LegacyDES":  pkcs12.LegacyDES,
		"Modern2023": pkcs12.Modern2023,
		"Modern2026": pkcs12.Modern2026,
	}
	for encName, enc := range encoders {
		for keyName, leaf := range leaves {
			encode := func(t *testing.T, cas []*x509.Certificate, password string) []byte {
				t.Helper()
				pfx, err := enc.Encode(leaf.Key, leaf.Cert, cas, password)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				return pfx
			}
			t.Run(encName+"/"+keyName+"/right password", func(t *testing.T) {
				pfx := encode(t, []*x509.Certificate{ca.Intermediate.Cert}, "s3cret")
				b, fs := ParsePFX(pfx, "s3cret", opts(ca))
				wantCodes(t, fs)
				if b.SHA256() != leaf.SHA256() || len(b.Intermediates) != 1 || b.Key == nil || b.KeyType() != map[string]string{"RSA": "RSA", "ECDSA": "ECC"}[keyName] {
					t.Fatalf("bundle = %v", b)
				}
				if string(b.ChainPEM()) != string(ca.ChainPEM(leaf)) || string(b.KeyPEM()) != string(leaf.KeyPEM()) {
					t.Error("chain or key PEM differs from the originals")
				}
			})
			t.Run(encName+"/"+keyName+"/wrong password", func(t *testing.T) {
				b, fs := ParsePFX(encode(t, nil, "s3cret"), "guess", Options{CertSource: "site.pfx"})
				wantCodes(t, fs, CodePFXPassword)
				if b != nil || fs[0].Message != "site.pfx: the password is incorrect" {
					t.Errorf("bundle %v, message %q", b, fs[0].Message)
				}
			})
			t.Run(encName+"/"+keyName+"/no password given", func(t *testing.T) {
				_, fs := ParsePFX(encode(t, nil, "s3cret"), "", opts(ca))
				wantCodes(t, fs, CodePFXPassword)
				if !strings.Contains(fs[0].Message, "password-protected; no password given") {
					t.Errorf("message %q", fs[0].Message)
				}
			})
			t.Run(encName+"/"+keyName+"/chain reversed and incomplete", func(t *testing.T) {
				// Windows exports often put CA certificates first; the key still finds the leaf.
				pfx, err := enc.Encode(leaf.Key, ca.Root.Cert, []*x509.Certificate{leaf.Cert}, "pw")
				if err != nil {
					t.Fatal(err)
				}
				b, fs := ParsePFX(pfx, "pw", opts(ca))
				wantCodes(t, fs, CodeChainUnrelated, CodeChainIncomplete, CodeChainOrderFixed)
				if b.SHA256() != leaf.SHA256() {
					t.Error("leaf not found by key")
				}
			})
		}
	}

	t.Run("empty password PFX", func(t *testing.T) {
		leaf := leaves["ECDSA"]
		pfx, err := pkcs12.Modern2023.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Intermediate.Cert}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, fs := ParsePFX(pfx, "", opts(ca))
		wantCodes(t, fs)
	})
	t.Run("certificate-only trust store", func(t *testing.T) {
		pfx, err := pkcs12.LegacyDES.EncodeTrustStore([]*x509.Certificate{ca.Root.Cert}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		_, fs := ParsePFX(pfx, "pw", opts(ca))
		wantCodes(t, fs, CodeKeyMissing)
	})
	t.Run("PEM given as PFX", func(t *testing.T) {
		_, fs := ParsePFX(ca.ChainPEM(leaves["RSA"]), "pw", Options{CertSource: "chain.pem"})
		wantCodes(t, fs, CodePFXMalformed)
		if !strings.Contains(fs[0].Message, "chain.pem: not a readable PFX/PKCS#12 file") {
			t.Errorf("message %q", fs[0].Message)
		}
	})
	for file, alg := range map[string]string{
		"pfx-camellia256.pfx": "uses Camellia-256-CBC (1.2.392.200011.61.1.1.1.4)",
		"pfx-rc4-128.pfx":     "uses pbeWithSHAAnd128BitRC4 (1.2.840.113549.1.12.1.1)",
	} {
		t.Run("unsupported "+file, func(t *testing.T) {
			_, fs := ParsePFX(readFixture(t, file), fixturePass, Options{CertSource: file})
			wantCodes(t, fs, CodePFXUnsupported)
			if !strings.Contains(fs[0].Message, alg) || !strings.Contains(fs[0].Message, file) {
				t.Errorf("message %q does not name the file and %q", fs[0].Message, alg)
			}
		})
	}
}

// FuzzParsePFX: whatever the bytes and password, ParsePFX returns findings, never panics, and
// a bundle it returns is whole.
func FuzzParsePFX(f *testing.F) {
	ca := newCA(f, "fuzz")
	leaf := issue(f, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	for _, enc := range []*pkcs12.Encoder{pkcs12.LegacyRC2, pkcs12.LegacyDES, pkcs12.Modern2023} {
		pfx, err := enc.WithIterations(1).Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Intermediate.Cert}, "pw")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pfx, "pw")
		f.Add(pfx[:len(pfx)/2], "pw")
	}
	f.Add([]byte{0x30, 0x80}, "")
	f.Add([]byte(nil), "x")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		b, fs := ParsePFX(data, password, Options{Roots: ca.Pool()})
		if b == nil && len(fs) == 0 {
			t.Fatal("no bundle and no finding")
		}
		if b != nil {
			if b.Leaf == nil || b.Key == nil && !HasErrors(fs) {
				t.Fatalf("incomplete bundle without an error: %v", fs)
			}
			_ = b.ChainPEM()
			_ = b.Summary()
			_ = b.String()
		}
	})
}

// A PFX demanding absurd iteration counts is refused at once, not computed for hours.
func TestParsePFXIterationLimit(t *testing.T) {
	ca := newCA(t, "iter")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	type macData struct {
		Digest     asn1.RawValue
		Salt       []byte
		Iterations int64 `asn1:"optional,default:1"`
	}
	type pfxPDU struct {
		Version  int
		AuthSafe asn1.RawValue
		Mac      macData
	}
	for name, enc := range map[string]*pkcs12.Encoder{"LegacyRC2": pkcs12.LegacyRC2, "Modern2023": pkcs12.Modern2023} {
		t.Run(name, func(t *testing.T) {
			good, err := enc.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Intermediate.Cert}, "pw")
			if err != nil {
				t.Fatal(err)
			}
			var p pfxPDU
			if _, err := asn1.Unmarshal(good, &p); err != nil {
				t.Fatal(err)
			}
			p.Mac.Iterations = 1 << 40
			bad, err := asn1.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, fs := ParsePFX(bad, "pw", opts(ca))
			wantCodes(t, fs, CodePFXUnsupported)
			if !strings.Contains(fs[0].Message, "an iteration count of 1099511627776 (certflow accepts at most 2000000)") {
				t.Errorf("message %q", fs[0].Message)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusing took %v", d)
			}
			// The untouched file still passes the guard.
			if _, fs := ParsePFX(good, "pw", opts(ca)); HasErrors(fs) {
				t.Errorf("good PFX: %v", fs)
			}
		})
	}
}

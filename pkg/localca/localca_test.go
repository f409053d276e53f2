package localca

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestIssueVerifiesToRoot(t *testing.T) {
	ca, err := New("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []KeyType{RSA2048, ECDSAP256, ECDSAP384, Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			leaf, err := ca.Issue(Template{DNSNames: []string{"www.example.com", "*.example.com"}, KeyType: kt})
			if err != nil {
				t.Fatal(err)
			}
			inter := x509.NewCertPool()
			inter.AddCert(ca.Intermediate.Cert)
			_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), Intermediates: inter, DNSName: "a.example.com"})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := leaf.Cert.Subject.CommonName; got != "www.example.com" {
				t.Errorf("CN = %q", got)
			}
			if len(leaf.SHA256()) != 64 {
				t.Errorf("sha256 %q", leaf.SHA256())
			}
		})
	}
}

func TestNoSANAndValidity(t *testing.T) {
	ca, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	leaf, err := ca.Issue(Template{DNSNames: []string{"old.example.com"}, NoSAN: true, NotBefore: past, NotAfter: past.Add(time.Hour), KeyType: ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Cert.DNSNames) != 0 || leaf.Cert.Subject.CommonName != "old.example.com" {
		t.Errorf("NoSAN: names %v CN %q", leaf.Cert.DNSNames, leaf.Cert.Subject.CommonName)
	}
	if !leaf.Cert.NotAfter.Before(time.Now()) {
		t.Error("expected an expired certificate")
	}
}

func TestLoadRoundTrip(t *testing.T) {
	ca, err := New("rt")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(ca.Root.CertPEM(), ca.Root.KeyPEM(), ca.Intermediate.CertPEM(), ca.Intermediate.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := back.Issue(Template{DNSNames: []string{"x.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Cert.CheckSignatureFrom(ca.Intermediate.Cert); err != nil {
		t.Fatalf("leaf not signed by the loaded intermediate: %v", err)
	}
}

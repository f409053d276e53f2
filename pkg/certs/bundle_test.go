package certs

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

// C06: whatever order the chain arrives in, the leaf is found (by key, or by structure without
// one) and the chain comes out leaf → intermediates, with the reordering reported.
func TestParseChainOrder(t *testing.T) {
	ca := newCA(t, "c06")
	sub, err := localca.IssueBy(ca.Intermediate, localca.Template{CommonName: "c06 sub CA", IsCA: true, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := localca.IssueBy(sub, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	L, S, I, R := leaf.CertPEM(), sub.CertPEM(), ca.Intermediate.CertPEM(), ca.Root.CertPEM()
	want := [][]byte{leaf.DER, sub.DER, ca.Intermediate.DER}

	tests := []struct {
		name  string
		chain []byte
		codes []string
	}{
		{"in order", cat(L, S, I), nil},
		{"reversed (C06)", cat(I, S, L), []string{CodeChainOrderFixed}},
		{"leaf last", cat(S, I, L), []string{CodeChainOrderFixed}},
		{"intermediates swapped", cat(L, I, S), []string{CodeChainOrderFixed}},
		{"leaf in the middle", cat(S, L, I), []string{CodeChainOrderFixed}},
		{"duplicated leaf and intermediate", cat(L, S, L, I, S), []string{CodeChainDuplicate, CodeChainDuplicate}},
		{"root first", cat(R, I, S, L), []string{CodeChainOrderFixed, CodeChainHasRoot}},
		{"root last", cat(L, S, I, R), []string{CodeChainHasRoot}},
	}
	for _, tc := range tests {
		for _, withKey := range []bool{true, false} {
			name := tc.name + map[bool]string{true: "/with key", false: "/without key"}[withKey]
			t.Run(name, func(t *testing.T) {
				var key []byte
				if withKey {
					key = leaf.KeyPEM()
				}
				b, fs := Parse(tc.chain, key, opts(ca))
				wantCodes(t, fs, tc.codes...)
				if got := derOf(append([]*x509.Certificate{b.Leaf}, b.Intermediates...)); !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("chain order wrong: got %d certs", len(got))
				}
				if !bytes.Equal(b.ChainPEM(), cat(L, S, I)) {
					t.Error("ChainPEM is not leaf, sub CA, intermediate")
				}
				if withKey != (b.Key != nil) {
					t.Errorf("key present = %v, want %v", b.Key != nil, withKey)
				}
				if slices.Contains(tc.codes, CodeChainHasRoot) && (b.Root == nil || !bytes.Equal(b.Root.Raw, ca.Root.DER)) {
					t.Error("root not set aside")
				}
			})
		}
	}

	t.Run("reorder message names the leaf's position", func(t *testing.T) {
		_, fs := Parse(cat(I, S, L), leaf.KeyPEM(), opts(ca))
		if msg := findingFor(t, fs, CodeChainOrderFixed).Message; !strings.Contains(msg, "the leaf CN=www.example.com was certificate 3 of 3") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("unrelated certificate is dropped", func(t *testing.T) {
		other := newCA(t, "other")
		stray := issue(t, other, localca.Template{DNSNames: []string{"stray.example.net"}, KeyType: localca.ECDSAP256})
		b, fs := Parse(cat(L, stray.CertPEM(), S, I), leaf.KeyPEM(), opts(ca))
		wantCodes(t, fs, CodeChainUnrelated)
		if !strings.Contains(fs[0].Message, "CN=stray.example.net is not part of the chain of CN=www.example.com") {
			t.Errorf("message %q", fs[0].Message)
		}
		if len(b.Intermediates) != 2 {
			t.Errorf("intermediates = %d, want 2", len(b.Intermediates))
		}
	})
}

// C07 and the other ways a chain fails to reach a trusted root.
func TestParseChainTrust(t *testing.T) {
	ca := newCA(t, "c07")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	selfSigned, err := localca.IssueBy(nil, localca.Template{DNSNames: []string{"self.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	// Same names, different keys: the impostor intermediate carries the right subject but did not sign.
	twin := newCA(t, "c07")
	twinLeaf := issue(t, twin, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	otherPool := newCA(t, "elsewhere").Pool()

	tests := []struct {
		name    string
		chain   []byte
		key     []byte
		roots   func(o *Options)
		codes   []string
		message string
	}{
		{"complete", ca.ChainPEM(leaf), leaf.KeyPEM(), nil, nil, ""},
		{"leaf only (C07)", leaf.CertPEM(), leaf.KeyPEM(), nil, []string{CodeChainIncomplete},
			"chain incomplete: issuer CN=c07 intermediate CA of CN=www.example.com is not included and is not a trusted root"},
		{"root not trusted", ca.ChainPEM(leaf), leaf.KeyPEM(), func(o *Options) { o.Roots = otherPool }, []string{CodeChainIncomplete},
			"issuer CN=c07 root CA of CN=c07 intermediate CA is not included"},
		{"system roots do not know a private CA", ca.ChainPEM(leaf), leaf.KeyPEM(), func(o *Options) { o.Roots = nil }, []string{CodeChainIncomplete},
			"issuer CN=c07 root CA"},
		{"included root not trusted", cat(ca.ChainPEM(leaf), ca.Root.CertPEM()), leaf.KeyPEM(), func(o *Options) { o.Roots = otherPool },
			[]string{CodeChainHasRoot, CodeChainUntrusted}, "the chain ends at root CN=c07 root CA, which is not in the trust pool"},
		{"self-signed leaf", selfSigned.CertPEM(), selfSigned.KeyPEM(), nil, []string{CodeChainUntrusted},
			"certificate CN=self.example.com is self-signed and not in the trust pool"},
		{"intermediate that did not sign the leaf", cat(leaf.CertPEM(), twin.Intermediate.CertPEM()), leaf.KeyPEM(), nil, []string{CodeChainBadSignature},
			"certificate CN=www.example.com names issuer CN=c07 intermediate CA, but the included CN=c07 intermediate CA did not sign it"},
		{"leaf from the twin CA", twin.ChainPEM(twinLeaf), twinLeaf.KeyPEM(), nil, []string{CodeChainIncomplete}, "CN=c07 root CA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(ca)
			if tc.roots != nil {
				tc.roots(&o)
			}
			b, fs := Parse(tc.chain, tc.key, o)
			wantCodes(t, fs, tc.codes...)
			if tc.message != "" {
				if msg := fs[len(fs)-1].Message; !strings.Contains(msg, tc.message) {
					t.Errorf("message %q\nwant it to contain %q", msg, tc.message)
				}
			}
			if b == nil || b.Key == nil {
				t.Fatal("bundle or key missing")
			}
		})
	}
}

func TestLoadRoots(t *testing.T) {
	ca := newCA(t, "roots")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	dir := t.TempDir()
	rootsFile := filepath.Join(dir, "roots.pem")
	// CRLF and a BOM in the roots file are repaired like any other PEM.
	if err := os.WriteFile(rootsFile, []byte("\ufeff"+strings.ReplaceAll(string(ca.Root.CertPEM()), "\n", "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadRoots(rootsFile)
	if err != nil {
		t.Fatal(err)
	}
	_, fs := Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), Options{Roots: pool})
	wantCodes(t, fs)

	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("nothing here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "missing.pem",
		empty:                             "empty.pem: no PEM block found",
	} {
		if _, err := LoadRoots(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadRoots(%s) error = %v, want it to contain %q", file, err, want)
		}
	}
	if _, err := LoadRoots(""); err != nil {
		t.Errorf("LoadRoots(\"\"): %v", err)
	}
}

// C12 and the rest of the leaf's facts: SANs, validity, key strength, requested names.
func TestParseLeafFacts(t *testing.T) {
	ca := newCA(t, "facts")
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour

	tests := []struct {
		name    string
		tmpl    localca.Template
		opts    func(*Options)
		codes   []string
		message string
	}{
		{"CN only (C12)", localca.Template{DNSNames: []string{"www.example.com"}, NoSAN: true}, nil, []string{CodeNoSAN},
			"certificate CN=www.example.com has no subjectAltName; modern clients ignore the common name"},
		{"CN only with a required name", localca.Template{DNSNames: []string{"www.example.com"}, NoSAN: true},
			func(o *Options) { o.Names = []string{"www.example.com"} }, []string{CodeNoSAN, CodeNameNotCovered}, "(its DNS names: none)"},
		{"expired", localca.Template{DNSNames: []string{"www.example.com"}, NotBefore: now.Add(-100 * day), NotAfter: now.Add(-3*day - time.Hour)},
			nil, []string{CodeExpired}, "certificate CN=www.example.com expired on " + now.Add(-3*day-time.Hour).UTC().Format("2006-01-02") + " (3 days ago)"},
		{"not yet valid", localca.Template{DNSNames: []string{"www.example.com"}, NotBefore: now.Add(2 * day), NotAfter: now.Add(90 * day)},
			nil, []string{CodeNotYetValid}, "is not valid until " + now.Add(2*day).UTC().Format(time.RFC3339)},
		{"expiring within 30 days", localca.Template{DNSNames: []string{"www.example.com"}, NotAfter: now.Add(10*day + time.Hour)},
			nil, []string{CodeExpiringSoon}, "expires in 10 days"},
		{"expiring, custom window", localca.Template{DNSNames: []string{"www.example.com"}, NotAfter: now.Add(40*day + time.Hour)},
			func(o *Options) { o.WarnDays = 45 }, []string{CodeExpiringSoon}, "(warning window 45 days)"},
		{"outside a short window", localca.Template{DNSNames: []string{"www.example.com"}, NotAfter: now.Add(10*day + time.Hour)},
			func(o *Options) { o.WarnDays = 5 }, nil, ""},
		{"warnings off", localca.Template{DNSNames: []string{"www.example.com"}, NotAfter: now.Add(day)},
			func(o *Options) { o.WarnDays = -1 }, nil, ""},
		{"RSA 1024", localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.RSA1024}, nil, []string{CodeKeyWeak},
			"certificate CN=www.example.com has a weak key: RSA 1024 (minimum is RSA 2048)"},
		{"names covered", localca.Template{DNSNames: []string{"*.example.com", "example.com"}},
			func(o *Options) { o.Names = []string{"example.com", "WWW.example.com.", "bücher.example.com"} }, nil, ""},
		{"names not covered", localca.Template{DNSNames: []string{"*.example.com"}},
			func(o *Options) { o.Names = []string{"a.example.com", "example.com", "a.b.example.com", "bad..name"} },
			[]string{CodeNameNotCovered, CodeNameNotCovered, CodeNameInvalid}, "does not cover a.b.example.com (its DNS names: *.example.com)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tmpl.KeyType == "" {
				tc.tmpl.KeyType = localca.ECDSAP256
			}
			leaf := issue(t, ca, tc.tmpl)
			o := Options{Roots: ca.Pool(), Now: now}
			if tc.opts != nil {
				tc.opts(&o)
			}
			b, fs := Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), o)
			wantCodes(t, fs, tc.codes...)
			if tc.message != "" && !slices.ContainsFunc(fs, func(f Finding) bool { return strings.Contains(f.Message, tc.message) }) {
				t.Errorf("no finding says %q:\n%s", tc.message, dump(fs))
			}
			if b == nil {
				t.Fatal("no bundle")
			}
		})
	}

	t.Run("expired intermediate", func(t *testing.T) {
		oldInter, err := localca.IssueBy(ca.Root, localca.Template{CommonName: "old intermediate", IsCA: true, KeyType: localca.ECDSAP256,
			NotBefore: now.Add(-400 * day), NotAfter: now.Add(-day - time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := localca.IssueBy(oldInter, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256,
			NotBefore: now.Add(-300 * day), NotAfter: now.Add(60 * day)})
		if err != nil {
			t.Fatal(err)
		}
		_, fs := Parse(cat(leaf.CertPEM(), oldInter.CertPEM()), leaf.KeyPEM(), Options{Roots: ca.Pool(), Now: now})
		wantCodes(t, fs, CodeExpired)
		if !strings.Contains(fs[0].Message, "intermediate CN=old intermediate expired") {
			t.Errorf("message %q", fs[0].Message)
		}
	})
}

func TestBundleFacts(t *testing.T) {
	ca := newCA(t, "summary")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"WWW.Example.com", "XN--BCHER-KVA.example.com"}, KeyType: localca.RSA2048})
	b, fs := Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), opts(ca))
	wantCodes(t, fs)
	s := b.Summary()
	sha1sum := sha1.Sum(leaf.DER)
	if s.SHA256 != leaf.SHA256() || b.SHA256() != leaf.SHA256() || s.SHA1 != hex.EncodeToString(sha1sum[:]) || b.SHA1() != s.SHA1 {
		t.Errorf("fingerprints: %+v", s)
	}
	if s.Serial != hex.EncodeToString(leaf.Cert.SerialNumber.Bytes()) {
		t.Errorf("serial = %s", s.Serial)
	}
	if s.KeyType != "RSA" || s.Subject != "CN=WWW.Example.com,O=certflow local" || s.Issuer != "CN=summary intermediate CA,O=certflow local" {
		t.Errorf("summary: %+v", s)
	}
	if strings.Join(s.SANs, ",") != "www.example.com,xn--bcher-kva.example.com" {
		t.Errorf("sans = %v", s.SANs)
	}
	if !s.NotAfter.Equal(leaf.Cert.NotAfter) || s.NotAfter.Location() != time.UTC {
		t.Errorf("notAfter = %v", s.NotAfter)
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"subject":`, `"issuer":`, `"sans":`, `"serial":`, `"notBefore":`, `"notAfter":`, `"keyType":"RSA"`, `"sha256":`, `"sha1":`} {
		if !strings.Contains(string(j), field) {
			t.Errorf("summary JSON lacks %s: %s", field, j)
		}
	}
	chain := b.Chain()
	if len(chain) != 2 || chain[0].SHA256 != leaf.SHA256() || chain[1].Subject != "CN=summary intermediate CA,O=certflow local" || chain[1].Issuer != "CN=summary root CA,O=certflow local" {
		t.Errorf("chain = %+v", chain)
	}
	if got := b.String(); !strings.Contains(got, "CN=WWW.Example.com") || !strings.Contains(got, "key RSA 2048") {
		t.Errorf("String() = %q", got)
	}
}

package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec, ec384 *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

func newKeys(t testing.TB) testKeys {
	t.Helper()
	gen := func(kt localca.KeyType) crypto.Signer {
		k, err := localca.NewKey(kt)
		if err != nil {
			t.Fatalf("key %s: %v", kt, err)
		}
		return k
	}
	return testKeys{
		rsa: gen(localca.RSA2048).(*rsa.PrivateKey), rsa2: gen(localca.RSA2048).(*rsa.PrivateKey),
		ec: gen(localca.ECDSAP256).(*ecdsa.PrivateKey), ec384: gen(localca.ECDSAP384).(*ecdsa.PrivateKey),
		ed: gen(localca.Ed25519).(ed25519.PrivateKey),
	}
}

func pkcs8PEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func sec1PEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// relabel keeps the DER and changes the PEM label: tools mislabel keys; the DER decides.
func relabel(p []byte, label string) []byte {
	b, _ := pem.Decode(p)
	return pem.EncodeToMemory(&pem.Block{Type: label, Bytes: b.Bytes})
}

// C08: every key encoding is accepted, and every mismatch names both keys' types and sizes.
func TestParseKeyEncodings(t *testing.T) {
	ca := newCA(t, "keys")
	k := newKeys(t)
	leafFor := func(key crypto.Signer) *localca.Cert {
		return issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, Key: key})
	}
	rsaLeaf, ecLeaf, edLeaf := leafFor(k.rsa), leafFor(k.ec), leafFor(k.ed)

	tests := []struct {
		name     string
		leaf     *localca.Cert
		key      []byte
		mismatch string // "" = must match
		keyType  string
	}{
		{"RSA PKCS#8", rsaLeaf, pkcs8PEM(t, k.rsa), "", "RSA"},
		{"RSA PKCS#1", rsaLeaf, pkcs1PEM(k.rsa), "", "RSA"},
		{"RSA PKCS#8 labelled RSA PRIVATE KEY", rsaLeaf, relabel(pkcs8PEM(t, k.rsa), "RSA PRIVATE KEY"), "", "RSA"},
		{"EC PKCS#8", ecLeaf, pkcs8PEM(t, k.ec), "", "ECC"},
		{"EC SEC1", ecLeaf, sec1PEM(t, k.ec), "", "ECC"},
		{"EC SEC1 labelled PRIVATE KEY", ecLeaf, relabel(sec1PEM(t, k.ec), "PRIVATE KEY"), "", "ECC"},
		{"Ed25519 PKCS#8", edLeaf, pkcs8PEM(t, k.ed), "", "ED25519"},

		{"RSA leaf, EC PKCS#8 key", rsaLeaf, pkcs8PEM(t, k.ec), "has RSA 2048 key, private key is ECDSA P-256", "RSA"},
		{"RSA leaf, EC SEC1 key", rsaLeaf, sec1PEM(t, k.ec), "has RSA 2048 key, private key is ECDSA P-256", "RSA"},
		{"RSA leaf, Ed25519 key", rsaLeaf, pkcs8PEM(t, k.ed), "has RSA 2048 key, private key is Ed25519", "RSA"},
		{"RSA leaf, other RSA PKCS#1 key", rsaLeaf, pkcs1PEM(k.rsa2), "has RSA 2048 key, private key is RSA 2048 (a different key of the same kind)", "RSA"},
		{"EC leaf, RSA PKCS#1 key", ecLeaf, pkcs1PEM(k.rsa), "has ECDSA P-256 key, private key is RSA 2048", "ECC"},
		{"EC leaf, RSA PKCS#8 key", ecLeaf, pkcs8PEM(t, k.rsa), "has ECDSA P-256 key, private key is RSA 2048", "ECC"},
		{"EC P-256 leaf, EC P-384 SEC1 key", ecLeaf, sec1PEM(t, k.ec384), "has ECDSA P-256 key, private key is ECDSA P-384", "ECC"},
		{"Ed25519 leaf, EC key", edLeaf, pkcs8PEM(t, k.ec), "has Ed25519 key, private key is ECDSA P-256", "ED25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, fs := Parse(ca.ChainPEM(tc.leaf), tc.key, opts(ca))
			if b == nil {
				t.Fatalf("no bundle: %v", fs)
			}
			if b.KeyType() != tc.keyType {
				t.Errorf("KeyType() = %q, want %q", b.KeyType(), tc.keyType)
			}
			if tc.mismatch == "" {
				wantCodes(t, fs)
				if b.Key == nil || !samePublicKey(b.Leaf.PublicKey, b.Key) {
					t.Fatal("bundle key is not the leaf's")
				}
				// KeyPEM is PKCS#8 whatever came in, and reads back as the same key.
				back, err := parsePrivateDER(mustDecode(t, b.KeyPEM(), "PRIVATE KEY"))
				if err != nil || !samePublicKey(b.Leaf.PublicKey, back) {
					t.Fatalf("KeyPEM does not round-trip: %v", err)
				}
				return
			}
			wantCodes(t, fs, CodeKeyMismatch)
			want := "certificate CN=www.example.com " + tc.mismatch
			if msg := fs[0].Message; !strings.Contains(msg, want) {
				t.Errorf("message %q\nwant it to contain %q", msg, want)
			}
			if b.Key != nil || b.KeyPEM() != nil {
				t.Error("a mismatched key must not be carried in the bundle")
			}
			if b.Leaf.Subject.CommonName != "www.example.com" {
				t.Errorf("leaf = %s, want the www.example.com certificate", b.Leaf.Subject)
			}
		})
	}
}

func mustDecode(t testing.TB, p []byte, label string) []byte {
	t.Helper()
	b, rest := pem.Decode(p)
	if b == nil || b.Type != label || len(rest) != 0 {
		t.Fatalf("want exactly one %s block, got %q", label, p)
	}
	return b.Bytes
}

func TestParseKeyProblems(t *testing.T) {
	ca := newCA(t, "keyprob")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	other := newKeys(t)

	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		opts    func(*Options)
		codes   []string
		mention string
	}{
		{"key file without key", ca.ChainPEM(leaf), ca.Intermediate.CertPEM(), nil, []string{CodeKeyMissing, CodeChainDuplicate}, "key PEM has no private key block"},
		{"no key at all, key not required", ca.ChainPEM(leaf), nil, nil, nil, ""},
		{"no key at all, key required", ca.ChainPEM(leaf), nil, func(o *Options) { o.RequireKey = true }, []string{CodeKeyMissing}, "no private key given"},
		{"key inside the certificate file", cat(ca.ChainPEM(leaf), leaf.KeyPEM()), nil, func(o *Options) { o.RequireKey = true }, nil, ""},
		{"two keys, one matching", ca.ChainPEM(leaf), cat(pkcs8PEM(t, other.ec), leaf.KeyPEM()), nil, []string{CodeKeyMultiple}, "2 private keys"},
		{"OpenSSH key", ca.ChainPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte{0, 0, 0}}), nil, []string{CodeKeyUnsupported}, "ssh-keygen"},
		{"DSA key", ca.ChainPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "DSA PRIVATE KEY", Bytes: []byte{0, 0, 0}}), nil, []string{CodeKeyUnsupported}, "block 1 (DSA PRIVATE KEY)"},
		{"garbage key", ca.ChainPEM(leaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}}), nil, []string{CodePEMMalformed}, "not a valid PKCS#8, PKCS#1 or SEC1 private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(ca)
			if tc.opts != nil {
				tc.opts(&o)
			}
			b, fs := Parse(tc.cert, tc.key, o)
			wantCodes(t, fs, tc.codes...)
			if tc.mention != "" && !strings.Contains(fs[0].Message, tc.mention) {
				t.Errorf("message %q: want %q", fs[0].Message, tc.mention)
			}
			if b == nil || b.Leaf.Subject.CommonName != "www.example.com" {
				t.Fatalf("leaf not found: %v", b)
			}
		})
	}
}

// C10: encrypted keys are refused without a passphrase, decrypted with the right one, and a
// wrong one says so. Fixtures are OpenSSL 3 output (testdata/README.md).
func TestParseEncryptedKeys(t *testing.T) {
	ca := newCA(t, "enc")
	plain, err := parsePrivateDER(mustDecode(t, readFixture(t, "key-plain.pem"), "PRIVATE KEY"))
	if err != nil {
		t.Fatal(err)
	}
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, Key: plain})
	rsaKey := newKeys(t).rsa
	rsaLeaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, Key: rsaKey})
	//nolint:staticcheck // legacy encryption is exactly what this test needs to produce
	legacyRSA, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), []byte(fixturePass), x509.PEMCipher3DES)
	if err != nil {
		t.Fatal(err)
	}

	type variant struct {
		name string
		leaf *localca.Cert
		key  []byte
		pkcs string // "PKCS#8" or "Proc-Type"
	}
	variants := []variant{
		{"PBES2 AES-256 HMAC-SHA256", leaf, readFixture(t, "key-pbes2-aes256-sha256.pem"), "PKCS#8"},
		{"PBES2 AES-128 HMAC-SHA1", leaf, readFixture(t, "key-pbes2-aes128-sha1.pem"), "PKCS#8"},
		{"PBES2 3DES HMAC-SHA512", leaf, readFixture(t, "key-pbes2-3des-sha512.pem"), "PKCS#8"},
		{"PBES2 scrypt AES-256", leaf, readFixture(t, "key-scrypt-aes256.pem"), "PKCS#8"},
		{"legacy SEC1 AES-256-CBC", leaf, readFixture(t, "key-legacy-aes256.pem"), "Proc-Type: 4,ENCRYPTED, AES-256-CBC"},
		{"legacy PKCS#1 DES-EDE3-CBC", rsaLeaf, pem.EncodeToMemory(legacyRSA), "Proc-Type: 4,ENCRYPTED, DES-EDE3-CBC"},
	}
	for _, v := range variants {
		t.Run(v.name+"/no passphrase", func(t *testing.T) {
			b, fs := Parse(ca.ChainPEM(v.leaf), v.key, opts(ca))
			wantCodes(t, fs, CodeKeyEncrypted)
			want := "private key is encrypted (" + v.pkcs + "); no passphrase configured"
			if !strings.Contains(fs[0].Message, want) {
				t.Errorf("message %q: want %q", fs[0].Message, want)
			}
			if b.Key != nil || b.KeyPEM() != nil {
				t.Error("an encrypted key must never be carried on")
			}
		})
		t.Run(v.name+"/right passphrase", func(t *testing.T) {
			o := opts(ca)
			o.Passphrase = []byte(fixturePass)
			b, fs := Parse(ca.ChainPEM(v.leaf), v.key, o)
			wantCodes(t, fs)
			if b.Key == nil || !samePublicKey(b.Leaf.PublicKey, b.Key) {
				t.Fatal("decrypted key does not match the leaf")
			}
			if strings.Contains(string(b.KeyPEM()), "ENCRYPTED") {
				t.Error("KeyPEM is still encrypted")
			}
		})
		t.Run(v.name+"/wrong passphrase", func(t *testing.T) {
			o := opts(ca)
			o.Passphrase = []byte("Tr0ub4dor&3")
			b, fs := Parse(ca.ChainPEM(v.leaf), v.key, o)
			wantCodes(t, fs, CodeKeyPassphrase)
			if b.Key != nil {
				t.Error("key set despite a wrong passphrase")
			}
		})
	}

	t.Run("PKCS#12 PBE in PKCS#8 is refused by name", func(t *testing.T) {
		o := opts(ca)
		o.Passphrase = []byte(fixturePass)
		_, fs := Parse(ca.ChainPEM(leaf), readFixture(t, "key-pbe-sha1-3des.pem"), o)
		wantCodes(t, fs, CodeKeyEncrypted)
		if !strings.Contains(fs[0].Message, "pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3), which certflow cannot decrypt") {
			t.Errorf("message %q does not name the algorithm", fs[0].Message)
		}
	})
}

// Key material never reaches findings or fmt output, whatever goes wrong.
func TestNoKeyMaterialInOutput(t *testing.T) {
	ca := newCA(t, "leak")
	k := newKeys(t)
	rsaLeaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, Key: k.rsa})
	keyPEM := pkcs1PEM(k.rsa)
	secrets := []string{k.rsa.D.String(), fmt.Sprintf("%x", k.rsa.D), fmt.Sprintf("%X", k.rsa.D), k.rsa.Primes[0].String()}
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l[:20], l[len(l)-20:])
		}
	}
	check := func(t *testing.T, what, s string) {
		t.Helper()
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Fatalf("%s contains key material: %s", what, s)
			}
		}
	}
	lines := strings.Split(string(keyPEM), "\n")
	broken := strings.Join(append(append([]string{}, lines[:3]...), "!!!"+lines[3]), "\n")
	inputs := map[string][]byte{
		"good":           keyPEM,
		"flattened":      []byte(strings.ReplaceAll(string(keyPEM), "\n", " ")),
		"truncated":      []byte(broken),
		"corrupt base64": []byte(strings.Replace(string(keyPEM), lines[5], "!!"+lines[5][2:], 1)),
		"mismatch":       sec1PEM(t, k.ec),
		"wrong DER":      relabel(keyPEM, "ENCRYPTED PRIVATE KEY"),
		"utf16":          toUTF16(string(keyPEM), binary.LittleEndian, true),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			o := opts(ca)
			o.Passphrase = []byte("pw")
			b, fs := Parse(ca.ChainPEM(rsaLeaf), in, o)
			for _, f := range fs {
				check(t, "finding", f.Message)
			}
			if b != nil {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
					check(t, "fmt "+verb, fmt.Sprintf(verb, b))
				}
				check(t, "String", b.String())
				check(t, "Summary", fmt.Sprintf("%+v", b.Summary()))
			}
		})
	}
}

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/localca"
	"software.sslmate.com/src/go-pkcs12"
)

type validateEnv struct {
	dir   string
	ca    *localca.CA
	roots string // PEM file with the local root
}

func newValidateEnv(t *testing.T) validateEnv {
	t.Helper()
	ca, err := localca.New("validate")
	if err != nil {
		t.Fatal(err)
	}
	e := validateEnv{dir: t.TempDir(), ca: ca}
	e.roots = e.write(t, "roots.pem", ca.Root.CertPEM())
	return e
}

func (e validateEnv) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e validateEnv) issue(t *testing.T, tmpl localca.Template) *localca.Cert {
	t.Helper()
	if tmpl.KeyType == "" {
		tmpl.KeyType = localca.ECDSAP256
	}
	c, err := e.ca.Issue(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runValidateArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(t.Context(), append([]string{"validate"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// The cases C06–C12 through the command: exit status and JSON codes.
func TestValidateCases(t *testing.T) {
	e := newValidateEnv(t)
	www := []string{"www.example.com"}
	good := e.issue(t, localca.Template{DNSNames: www})
	rsa := e.issue(t, localca.Template{DNSNames: www, KeyType: localca.RSA2048})
	cnOnly := e.issue(t, localca.Template{DNSNames: www, NoSAN: true})
	inter := e.ca.Intermediate.CertPEM()

	tests := []struct {
		name  string
		cert  []byte
		key   []byte
		extra []string
		exit  int
		codes []string
	}{
		{"clean", e.ca.ChainPEM(good), good.KeyPEM(), nil, exitOK, nil},
		{"C06 reversed chain", append(slices.Clip(inter), good.CertPEM()...), good.KeyPEM(), nil, exitOK, []string{certs.CodeChainOrderFixed}},
		{"C07 leaf only", good.CertPEM(), good.KeyPEM(), nil, exitFinding, []string{certs.CodeChainIncomplete}},
		{"C08 RSA leaf, EC key", e.ca.ChainPEM(rsa), good.KeyPEM(), nil, exitFinding, []string{certs.CodeKeyMismatch}},
		{"C09 CRLF and indentation", []byte(strings.ReplaceAll(string(e.ca.ChainPEM(good)), "\n", "  \r\n  ")), good.KeyPEM(), nil, exitOK, []string{certs.CodePEMRepaired}},
		{"C10 encrypted key, no passphrase", e.ca.ChainPEM(good), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}}), nil, exitFinding, []string{certs.CodeKeyEncrypted}},
		{"C11 literal \\n", []byte(strings.ReplaceAll(string(e.ca.ChainPEM(good)), "\n", `\n`)), good.KeyPEM(), nil, exitOK, []string{certs.CodePEMRepaired}},
		{"C11 flattened", []byte(strings.ReplaceAll(string(e.ca.ChainPEM(good)), "\n", " ")), []byte(strings.ReplaceAll(string(good.KeyPEM()), "\n", "")), nil, exitOK, []string{certs.CodePEMRepaired, certs.CodePEMRepaired}},
		{"C12 CN only", e.ca.ChainPEM(cnOnly), cnOnly.KeyPEM(), nil, exitFinding, []string{certs.CodeNoSAN}},
		{"C20 name not covered", e.ca.ChainPEM(good), good.KeyPEM(), []string{"--name", "WWW.example.com.", "--name", "api.example.com"}, exitFinding, []string{certs.CodeNameNotCovered}},
		{"UTF-16", append([]byte{0xff, 0xfe}, validateUTF16LE(string(e.ca.ChainPEM(good)))...), good.KeyPEM(), nil, exitFinding, []string{certs.CodePEMUTF16}},
		{"expiring soon is only a warning", e.ca.ChainPEM(good), good.KeyPEM(), []string{"--warn-days", "365"}, exitOK, []string{certs.CodeExpiringSoon}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certFile := e.write(t, "cert.pem", tc.cert)
			keyFile := e.write(t, "key.pem", tc.key)
			args := append([]string{"--cert", certFile, "--key", keyFile, "--roots", e.roots, "--json"}, tc.extra...)
			code, stdout, stderr := runValidateArgs(t, args...)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.exit, stdout, stderr)
			}
			var res struct {
				Valid    bool
				Findings []certs.Finding
				Leaf     map[string]any
				Chain    []map[string]any
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("json: %v\n%s", err, stdout)
			}
			got := certs.Codes(res.Findings)
			slices.Sort(got)
			want := slices.Clone(tc.codes)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("codes %v, want %v\n%s", got, want, stdout)
			}
			if res.Valid != (tc.exit == exitOK) {
				t.Errorf("valid = %v with exit %d", res.Valid, code)
			}
		})
	}

	t.Run("C10 with --passphrase-env", func(t *testing.T) {
		block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", validateSEC1(t, good), []byte("hunter2"), x509.PEMCipherAES256) //nolint:staticcheck // legacy on purpose
		if err != nil {
			t.Fatal(err)
		}
		keyFile := e.write(t, "enc.pem", pem.EncodeToMemory(block))
		certFile := e.write(t, "chain.pem", e.ca.ChainPEM(good))
		code, stdout, _ := runValidateArgs(t, "--cert", certFile, "--key", keyFile, "--roots", e.roots)
		if code != exitFinding || !strings.Contains(stdout, "key_encrypted: "+keyFile) || !strings.Contains(stdout, "no passphrase configured") {
			t.Errorf("without passphrase: exit %d\n%s", code, stdout)
		}
		t.Setenv("CERTFLOW_TEST_PASSPHRASE", "hunter2")
		code, stdout, _ = runValidateArgs(t, "--cert", certFile, "--key", keyFile, "--roots", e.roots, "--passphrase-env", "CERTFLOW_TEST_PASSPHRASE")
		if code != exitOK || !strings.HasPrefix(stdout, "VALID: deployable\n") || !strings.Contains(stdout, "key      ECDSA P-256, matches the leaf") {
			t.Errorf("with passphrase: exit %d\n%s", code, stdout)
		}
		if strings.Contains(stdout, "hunter2") {
			t.Error("passphrase printed")
		}
	})
}

// PFX through the command: legacy and modern, password from the environment.
func TestValidatePFX(t *testing.T) {
	e := newValidateEnv(t)
	leaf := e.issue(t, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.RSA2048})
	t.Setenv("PFX_PASSWORD", "s3cret")
	for name, enc := range map[string]*pkcs12.Encoder{"legacy RC2": pkcs12.LegacyRC2, "legacy DES": pkcs12.LegacyDES, "modern": pkcs12.Modern} {
		t.Run(name, func(t *testing.T) {
			pfx, err := enc.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{e.ca.Intermediate.Cert}, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			file := e.write(t, "b.pfx", pfx)
			code, stdout, stderr := runValidateArgs(t, "--pfx", file, "--password-env", "PFX_PASSWORD", "--roots", e.roots, "--json")
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			var res struct {
				Valid bool
				Leaf  struct{ SHA256, KeyType string }
				Chain []struct{ Subject string }
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			if !res.Valid || res.Leaf.SHA256 != leaf.SHA256() || res.Leaf.KeyType != "RSA" || len(res.Chain) != 2 {
				t.Errorf("result: %+v", res)
			}
			code, stdout, _ = runValidateArgs(t, "--pfx", file, "--roots", e.roots, "--json")
			if code != exitFinding || !strings.Contains(stdout, `"code": "pfx_password"`) {
				t.Errorf("no password: exit %d\n%s", code, stdout)
			}
		})
	}
}

func TestValidateJSONShape(t *testing.T) {
	e := newValidateEnv(t)
	leaf := e.issue(t, localca.Template{DNSNames: []string{"www.example.com"}})
	code, stdout, _ := runValidateArgs(t, "--cert", e.write(t, "c.pem", e.ca.ChainPEM(leaf)), "--key", e.write(t, "k.pem", leaf.KeyPEM()), "--roots", e.roots, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(raw); !slices.Equal(got, []string{"chain", "findings", "leaf", "valid"}) {
		t.Errorf("top-level keys %v", got)
	}
	if string(raw["findings"]) != "[]" {
		t.Errorf("findings = %s, want []", raw["findings"])
	}
	var leafObj map[string]json.RawMessage
	json.Unmarshal(raw["leaf"], &leafObj)
	if got := keys(leafObj); !slices.Equal(got, []string{"issuer", "keyType", "notAfter", "notBefore", "sans", "serial", "sha1", "sha256", "subject"}) {
		t.Errorf("leaf keys %v", got)
	}
	var chain []map[string]json.RawMessage
	json.Unmarshal(raw["chain"], &chain)
	if len(chain) != 2 || !slices.Equal(keys(chain[1]), []string{"issuer", "notAfter", "serial", "sha256", "subject"}) {
		t.Errorf("chain %s", raw["chain"])
	}
	if strings.Contains(stdout, "PRIVATE KEY") {
		t.Error("key material in output")
	}
}

func TestValidateUsageAndIO(t *testing.T) {
	e := newValidateEnv(t)
	leaf := e.issue(t, localca.Template{DNSNames: []string{"www.example.com"}})
	cert := e.write(t, "c.pem", e.ca.ChainPEM(leaf))
	big := e.write(t, "big.pem", bytes.Repeat([]byte("A"), 2<<20))
	missing := filepath.Join(e.dir, "nope.pem")
	tests := []struct {
		name   string
		args   []string
		exit   int
		stderr string
	}{
		{"nothing", nil, exitUsage, "give --cert FILE"},
		{"both inputs", []string{"--cert", cert, "--pfx", cert}, exitUsage, "exclude each other"},
		{"key with pfx", []string{"--pfx", cert, "--key", cert}, exitUsage, "--key goes with --cert"},
		{"password without pfx", []string{"--cert", cert, "--password-env", "X"}, exitUsage, "--password-env is for --pfx"},
		{"unset env", []string{"--pfx", cert, "--password-env", "CERTFLOW_SURELY_UNSET"}, exitUsage, "CERTFLOW_SURELY_UNSET (from --password-env) is not set"},
		{"stray argument", []string{"--cert", cert, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"unknown flag", []string{"--cert", cert, "--bogus"}, exitUsage, "bogus"},
		{"bad warn-days", []string{"--cert", cert, "--warn-days", "-3"}, exitUsage, "--warn-days -3"},
		{"missing cert file", []string{"--cert", missing}, exitUsage, "--cert: open " + missing},
		{"missing key file", []string{"--cert", cert, "--key", missing}, exitUsage, "--key: open " + missing},
		{"missing roots file", []string{"--cert", cert, "--roots", missing}, exitUsage, missing},
		{"huge file", []string{"--cert", big}, exitUsage, "big.pem is larger than"},
		{"help", []string{"-h"}, exitOK, "usage: certflow validate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runValidateArgs(t, tc.args...)
			if code != tc.exit || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.exit, tc.stderr)
			}
		})
	}
}

func TestValidateHumanOutput(t *testing.T) {
	e := newValidateEnv(t)
	leaf := e.issue(t, localca.Template{DNSNames: []string{"www.example.com", "example.com"}})
	code, stdout, _ := runValidateArgs(t, "--cert", e.write(t, "c.pem", leaf.CertPEM()), "--roots", e.roots)
	if code != exitFinding {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"INVALID: 1 error\n",
		"  names    www.example.com, example.com\n",
		"  key      not given\n",
		"  chain    leaf\n",
		"  sha256   " + leaf.SHA256() + "\n",
		"findings:\n  error    chain_incomplete: chain incomplete: issuer CN=validate intermediate CA of CN=www.example.com",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func validateUTF16LE(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

func validateSEC1(t *testing.T, c *localca.Cert) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(c.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

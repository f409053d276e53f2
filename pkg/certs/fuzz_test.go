package certs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// FuzzNormalize: the PEM normaliser and the name normaliser never panic; normalising twice
// changes nothing more; names that normalise are stable and cover themselves.
func FuzzNormalize(f *testing.F) {
	ca := newCA(f, "fuzznorm")
	leaf := issue(f, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	chain := string(ca.ChainPEM(leaf))
	for _, s := range []string{
		chain,
		strings.ReplaceAll(chain, "\n", "\r\n"),
		strings.ReplaceAll(chain, "\n", `\n`),
		strings.ReplaceAll(chain, "\n", " "),
		strings.ReplaceAll(chain, "\n", ""),
		"\ufeff" + chain,
		"  " + strings.ReplaceAll(chain, "\n", "\n  "),
		string(readFixture(f, "key-legacy-aes256.pem")),
		"-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\n-----END X-----",
		"-----BEGIN A-----a: b: c:-----END A-----",
		"-----BEGIN CERTIFICATE-----",
	} {
		f.Add([]byte(s), "*.Example.COM.")
	}
	f.Add([]byte("\xff\xfe-\x00-\x00"), "bücher.example.com")
	f.Add([]byte{}, "xn--bcher-kva.example.com")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		once, fs := NormalizePEM(data, "in")
		if len(once) == 0 && len(fs) == 0 && bytes.Contains(data, []byte("-----BEGIN ")) {
			// Possible only when every block was rejected, which always says so.
			t.Fatalf("input with a BEGIN line produced neither blocks nor findings")
		}
		twice, fs2 := NormalizePEM(once, "in")
		if len(once) > 0 && (!bytes.Equal(once, twice) || len(fs2) != 0) {
			t.Fatalf("not idempotent: %v\n%q\n%q", fs2, once, twice)
		}
		_, _ = Parse(data, data, Options{Roots: ca.Pool()})

		n, err := NormalizeName(name)
		if err != nil {
			return
		}
		if n2, err := NormalizeName(n); err != nil || n2 != n {
			t.Fatalf("NormalizeName not stable: %q → %q → %q, %v", name, n, n2, err)
		}
		if !Covers([]string{n}, name) {
			t.Fatalf("%q does not cover itself (normalised %q)", name, n)
		}
	})
}

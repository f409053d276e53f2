package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

const fixturePass = "correct-horse"

func newCA(t testing.TB, name string) *localca.CA {
	t.Helper()
	ca, err := localca.New(name)
	if err != nil {
		t.Fatalf("localca.New: %v", err)
	}
	return ca
}

func issue(t testing.TB, ca *localca.CA, tmpl localca.Template) *localca.Cert {
	t.Helper()
	c, err := ca.Issue(tmpl)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return c
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// opts returns Options trusting only ca's root, judged at a fixed "now" inside default validity.
func opts(ca *localca.CA) Options {
	return Options{Roots: ca.Pool(), Now: time.Now()}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wantCodes fails unless fs holds exactly the want codes (order-insensitive).
func wantCodes(t testing.TB, fs []Finding, want ...string) {
	t.Helper()
	got := Codes(fs)
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Fatalf("codes = %v, want %v\nfindings:\n%s", got, w, dump(fs))
	}
}

func findingFor(t testing.TB, fs []Finding, code string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no %s finding in:\n%s", code, dump(fs))
	return Finding{}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func derOf(cs []*x509.Certificate) [][]byte {
	var out [][]byte
	for _, c := range cs {
		out = append(out, c.Raw)
	}
	return out
}

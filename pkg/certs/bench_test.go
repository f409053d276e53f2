package certs

import (
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// BenchmarkParse: a full chain (leaf + intermediate, RSA 2048 leaf) and its key, trusted by a
// private root, with one name to cover: the work every deploy and bind does once per certificate.
func BenchmarkParse(b *testing.B) {
	ca := newCA(b, "bench")
	leaf := issue(b, ca, localca.Template{DNSNames: []string{"*.example.com", "example.com"}, KeyType: localca.RSA2048})
	chain, key := ca.ChainPEM(leaf), leaf.KeyPEM()
	o := Options{Roots: ca.Pool(), Names: []string{"www.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		bundle, fs := Parse(chain, key, o)
		if bundle == nil || HasErrors(fs) {
			b.Fatalf("parse: %v", fs)
		}
	}
}

// BenchmarkParseRepaired measures the same input flattened onto one line (the repair path).
func BenchmarkParseRepaired(b *testing.B) {
	ca := newCA(b, "bench")
	leaf := issue(b, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	chain, key := []byte(string(ca.ChainPEM(leaf))), leaf.KeyPEM()
	flat := make([]byte, 0, len(chain))
	for _, c := range chain {
		if c != '\n' {
			flat = append(flat, c)
		}
	}
	o := Options{Roots: ca.Pool()}
	b.ReportAllocs()
	for b.Loop() {
		if bundle, fs := Parse(flat, key, o); bundle == nil || HasErrors(fs) {
			b.Fatalf("parse: %v", fs)
		}
	}
}

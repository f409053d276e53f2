package certs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// An intermediate pasted many times gives one finding with the count, not one per copy.
func TestDuplicateIntermediateReportedOnce(t *testing.T) {
	ca, err := localca.New("dup")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	chain := append(leaf.CertPEM(), bytes.Repeat(ca.Intermediate.CertPEM(), 5)...)
	b, fs := Parse(chain, leaf.KeyPEM(), Options{Roots: ca.Pool()})
	if b == nil || HasErrors(fs) {
		t.Fatalf("findings %v", fs)
	}
	var dups []Finding
	for _, f := range fs {
		if f.Code == CodeChainDuplicate {
			dups = append(dups, f)
		}
	}
	if len(dups) != 1 || !strings.Contains(dups[0].Message, "5 times") || !strings.Contains(dups[0].Message, "4 copies") {
		t.Errorf("duplicate findings %v, want one saying 5 times / 4 copies", dups)
	}
	if len(b.Intermediates) != 1 {
		t.Errorf("%d intermediates kept, want 1", len(b.Intermediates))
	}
}

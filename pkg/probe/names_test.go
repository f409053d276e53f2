package probe_test

import (
	"crypto/tls"
	"testing"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/probe"
)

// TestC20WildcardAgreement is C20: the checker's hostname verdict (a real handshake and Go's
// VerifyHostname) agrees with certs.Covers, the rule the deployer plans with, for every row.
func TestC20WildcardAgreement(t *testing.T) {
	ca := newCA(t, "c20")
	type row struct {
		name    string
		covered bool
	}
	tests := []struct {
		sans []string
		rows []row
	}{
		{[]string{"*.example.com"}, []row{
			{"a.example.com", true},
			{"example.com", false},
			{"a.b.example.com", false},
			{"A.Example.COM", true},
			{"a.example.com.", true},
			{"a.example.org", false},
		}},
		{[]string{"example.com", "*.example.com"}, []row{
			{"example.com", true},
			{"EXAMPLE.com.", true},
			{"www.example.com", true},
			{"x.www.example.com", false},
		}},
		{[]string{"xn--bcher-kva.example", "*.xn--bcher-kva.example"}, []row{
			{"bücher.example", true},
			{"shop.bücher.example", true},
			{"xn--bcher-kva.example", true},
			{"bucher.example", false},
		}},
		{[]string{"*.a.example.com"}, []row{
			{"x.a.example.com", true},
			{"a.example.com", false},
			{"x.b.example.com", false},
		}},
	}
	for _, tc := range tests {
		leaf := issue(t, ca, nil, localca.Template{DNSNames: tc.sans})
		addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, ca.Intermediate)}}, nil)
		for _, rw := range tc.rows {
			t.Run(tc.sans[0]+"/"+rw.name, func(t *testing.T) {
				if got := certs.Covers(tc.sans, rw.name); got != rw.covered {
					t.Errorf("certs.Covers(%v, %q) = %v, want %v", tc.sans, rw.name, got, rw.covered)
				}
				r := probe.Probe(t.Context(), probe.Endpoint{Name: rw.name, Address: addr}, probe.Options{Roots: ca.Pool()})
				if got := !r.Has(probe.CodeHostnameMismatch); got != rw.covered {
					t.Errorf("probe covered = %v, want %v; findings %+v", got, rw.covered, r.Findings)
				}
				if rw.covered && !r.OK {
					t.Errorf("covered name not OK: %+v", r.Findings)
				}
			})
		}
	}
}

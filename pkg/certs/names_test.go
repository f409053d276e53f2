package certs

import (
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// C20: the one wildcard rule, used before deploying and by the checker.
func TestCovers(t *testing.T) {
	tests := []struct {
		san  []string
		name string
		want bool
	}{
		{[]string{"*.example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "A.Example.COM", true},
		{[]string{"*.example.com"}, "a.example.com.", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, "aexample.com", false},
		{[]string{"*.example.com"}, ".example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"*.Example.COM."}, "www.example.com", true},
		{[]string{"a.example.com"}, "*.example.com", false},
		{[]string{"*.example.com"}, "*.b.example.com", false},
		{[]string{"*.com"}, "example.com", false},
		{[]string{"a*.example.com"}, "ab.example.com", false},
		{[]string{"example.com", "*.example.com"}, "example.com", true},
		{[]string{"WWW.EXAMPLE.COM"}, "www.example.com", true},
		{[]string{"www.example.com"}, "www.example.com..", false},
		{[]string{"www.example.com"}, "", false},
		{nil, "www.example.com", false},
		// IDN: U-labels become A-labels on both sides.
		{[]string{"*.example.com"}, "bücher.example.com", true},
		{[]string{"*.example.com"}, "BÜCHER.example.com", true},
		{[]string{"*.example.com"}, "xn--bcher-kva.example.com", true},
		{[]string{"xn--bcher-kva.example.com"}, "bücher.example.com", true},
		{[]string{"bücher.example.com"}, "xn--bcher-kva.example.com", true},
		{[]string{"*.xn--bcher-kva.example"}, "www.bücher.example", true},
		{[]string{"*.bücher.example"}, "a.b.bücher.example", false},
		{[]string{"xn--bcher-kva.example.com"}, "bucher.example.com", false},
		// A wildcard never stands for part of an IP address.
		{[]string{"*.2.3.4"}, "1.2.3.4", false},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.san, ",")+"~"+tc.name, func(t *testing.T) {
			if got := Covers(tc.san, tc.name); got != tc.want {
				t.Errorf("Covers(%q, %q) = %v, want %v", tc.san, tc.name, got, tc.want)
			}
		})
	}
}

// The bundle applies the same rule to a real certificate, plus IP SANs.
func TestBundleCovers(t *testing.T) {
	ca := newCA(t, "covers")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"*.example.com", "xn--bcher-kva.example.org"}, KeyType: localca.ECDSAP256})
	b, fs := Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), opts(ca))
	wantCodes(t, fs)
	for name, want := range map[string]bool{
		"a.example.com": true, "A.Example.COM": true, "a.example.com.": true,
		"example.com": false, "a.b.example.com": false,
		"bücher.example.org": true, "www.bücher.example.org": false,
	} {
		if got := b.Covers(name); got != want {
			t.Errorf("Covers(%q) = %v, want %v", name, got, want)
		}
	}
	if got := b.Names(); strings.Join(got, ",") != "*.example.com,xn--bcher-kva.example.org" {
		t.Errorf("Names() = %v", got)
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "Www.Example.COM.", want: "www.example.com"},
		{in: "  a.example.com ", want: "a.example.com"},
		{in: "*.Example.com", want: "*.example.com"},
		{in: "bücher.example.com", want: "xn--bcher-kva.example.com"},
		{in: "*.bücher.example", want: "*.xn--bcher-kva.example"},
		{in: "XN--BCHER-KVA.example.com", want: "xn--bcher-kva.example.com"},
		{in: "_acme-challenge.example.com", want: "_acme-challenge.example.com"},
		{in: "10.0.0.1", want: "10.0.0.1"},
		{in: "", wantErr: `name "": empty`},
		{in: ".", wantErr: `name ".": empty`},
		{in: "a..example.com", wantErr: `name "a..example.com": empty label`},
		{in: "a.example.com..", wantErr: `name "a.example.com..": empty label`},
		{in: "-a.example.com", wantErr: `name "-a.example.com"`},
		{in: "a b.example.com", wantErr: `name "a b.example.com"`},
		{in: "a.*.example.com", wantErr: `name "a.*.example.com"`},
		{in: "xn--zz.example.com", wantErr: `name "xn--zz.example.com": not a valid internationalised domain name`},
		{in: strings.Repeat("a", 64) + ".com", wantErr: "longer than 63"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeName(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NormalizeName(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

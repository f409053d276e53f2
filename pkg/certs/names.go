package certs

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// NormalizeName returns the canonical form of a DNS name as certflow compares names:
// surrounding blanks removed, lower case, one trailing dot dropped, internationalised labels
// converted to A-labels (IDNA lookup profile). A leading "*." wildcard label is kept.
// IP addresses are returned in their canonical text form. The error names the name.
func NormalizeName(name string) (string, error) {
	n := strings.TrimSpace(name)
	n = strings.TrimSuffix(n, ".")
	if n == "" {
		return "", fmt.Errorf("name %q: empty", name)
	}
	if ip := net.ParseIP(n); ip != nil {
		return ip.String(), nil
	}
	wild := strings.HasPrefix(n, "*.")
	if wild {
		n = n[2:]
	}
	ascii, err := toASCII(n)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("name %q: longer than 253 characters", name)
	}
	for _, label := range strings.Split(ascii, ".") {
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("name %q: %w", name, err)
		}
	}
	if wild {
		return "*." + ascii, nil
	}
	return ascii, nil
}

// toASCII lower-cases plain names by hand and hands anything internationalised (or already
// punycoded, so it gets validated) to the IDNA lookup profile. Plain ASCII names bypass IDNA
// because its STD3 rules reject the underscores that real internal names carry.
func toASCII(n string) (string, error) {
	plain := true
	for i := 0; i < len(n); i++ {
		if n[i] >= 0x80 {
			plain = false
			break
		}
	}
	lower := strings.ToLower(n)
	if plain && !strings.HasPrefix(lower, "xn--") && !strings.Contains(lower, ".xn--") {
		return lower, nil
	}
	if !utf8.ValidString(n) {
		return "", fmt.Errorf("not valid UTF-8")
	}
	a, err := idna.Lookup.ToASCII(n)
	if err == nil {
		// The result must itself be a valid lookup name, or normalising would not be stable.
		_, err = idna.Lookup.ToUnicode(a)
	}
	if err != nil {
		return "", fmt.Errorf("not a valid internationalised domain name: %w", err)
	}
	return strings.ToLower(a), nil
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return fmt.Errorf("empty label")
	case len(label) > 63:
		return fmt.Errorf("label %q longer than 63 characters", label)
	case label[0] == '-' || label[len(label)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", label)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("label %q has character %q", label, c)
		}
	}
	return nil
}

// Covers reports whether any of sans covers name. It is the one name rule certflow uses
// before deploying and when checking: both sides normalised by NormalizeName (case folded,
// one trailing dot ignored, IDN as A-labels); a SAN "*.example.com" covers exactly one extra
// label ("a.example.com", not "example.com" nor "a.b.example.com"); a wildcard never stands
// for a public-suffix-like single label ("*.com" covers nothing); a requested wildcard name
// is covered only by the same wildcard. Invalid names are covered by nothing.
func Covers(sans []string, name string) bool {
	n, err := NormalizeName(name)
	if err != nil {
		return false
	}
	for _, s := range sans {
		san, err := NormalizeName(s)
		if err != nil {
			continue
		}
		if san == n {
			return true
		}
		suffix, ok := strings.CutPrefix(san, "*.")
		if !ok || !strings.Contains(suffix, ".") || strings.HasPrefix(n, "*.") || net.ParseIP(n) != nil {
			continue
		}
		if dot := strings.IndexByte(n, '.'); dot > 0 && n[dot+1:] == suffix {
			return true
		}
	}
	return false
}

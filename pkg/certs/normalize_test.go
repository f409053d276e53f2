package certs

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/certflow/certflow/pkg/localca"
)

func toUTF16(s string, order binary.AppendByteOrder, bom bool) []byte {
	var out []byte
	if bom {
		out = order.AppendUint16(out, 0xfeff)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		out = order.AppendUint16(out, u)
	}
	return out
}

// C09 and C11: what editors, YAML, JSON, env vars and console fields do to PEM text.
// Every mangling of the chain and the key must come back byte-identical to the canonical PEM,
// with one pem_repaired warning saying what was fixed.
func TestParseRepairsMangledPEM(t *testing.T) {
	ca := newCA(t, "mangle")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	chain, key := ca.ChainPEM(leaf), leaf.KeyPEM()

	tests := []struct {
		name    string
		mangle  func(string) string
		mention string // a phrase the pem_repaired message must contain ("" = no repair expected)
	}{
		{"canonical", func(s string) string { return s }, ""},
		{"CRLF", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }, "CRLF"},
		{"bare CR", func(s string) string { return strings.ReplaceAll(s, "\n", "\r") }, "CRLF"},
		{"indented from YAML", func(s string) string {
			return "cert: |\n" + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
		}, "indentation"},
		{"trailing spaces", func(s string) string { return strings.ReplaceAll(s, "\n", " \t \n") }, "trailing blanks"},
		{"CRLF + indent + trailing spaces", func(s string) string {
			return "  " + strings.ReplaceAll(s, "\n", "  \r\n  ")
		}, "CRLF"},
		{"literal \\n (JSON)", func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }, `literal "\n"`},
		{"literal \\r\\n", func(s string) string { return strings.ReplaceAll(s, "\n", `\r\n`) }, `literal "\n"`},
		{"double-escaped \\\\n", func(s string) string { return strings.ReplaceAll(s, "\n", `\\n`) }, `literal "\n"`},
		{"flattened onto one line", func(s string) string { return strings.ReplaceAll(s, "\n", "") }, "flattened"},
		{"spaces for newlines", func(s string) string { return strings.ReplaceAll(s, "\n", " ") }, "flattened"},
		{"tabs for newlines", func(s string) string { return strings.ReplaceAll(s, "\n", "\t") }, "flattened"},
		{"UTF-8 BOM", func(s string) string { return "\ufeff" + s }, "byte-order mark"},
		{"BOM + CRLF + indent", func(s string) string { return "\ufeff" + strings.ReplaceAll(s, "\n", "\r\n   ") }, "byte-order mark"},
		{"base64 wrapped at 76", func(s string) string { return rewrap(s, 76) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, fs := Parse([]byte(tc.mangle(string(chain))), []byte(tc.mangle(string(key))), opts(ca))
			if tc.mention == "" {
				wantCodes(t, fs)
			} else {
				wantCodes(t, fs, CodePEMRepaired, CodePEMRepaired)
				for _, f := range fs {
					if f.Severity != SeverityWarning || !strings.Contains(f.Message, tc.mention) {
						t.Errorf("finding %q: want a warning mentioning %q", f, tc.mention)
					}
				}
			}
			if b == nil {
				t.Fatal("no bundle")
			}
			if got := b.ChainPEM(); !bytes.Equal(got, chain) {
				t.Errorf("ChainPEM differs from the canonical chain:\n%s", got)
			}
			if bytes.Contains(b.ChainPEM(), []byte("\r")) || bytes.Contains(b.KeyPEM(), []byte("\r")) {
				t.Error("output PEM is not LF-only")
			}
			if !bytes.Equal(b.KeyPEM(), key) {
				t.Error("KeyPEM differs from the input key")
			}
		})
	}
}

// rewrap re-flows every base64 body at width columns (some tools use 76): valid PEM, no repair.
func rewrap(s string, width int) string {
	var out strings.Builder
	var body strings.Builder
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "-----BEGIN"):
			out.WriteString(l + "\n")
			body.Reset()
		case strings.HasPrefix(l, "-----END"):
			b := body.String()
			for len(b) > width {
				out.WriteString(b[:width] + "\n")
				b = b[width:]
			}
			out.WriteString(b + "\n" + l + "\n")
		default:
			body.WriteString(l)
		}
	}
	return out.String()
}

func TestParseRejectsUnreadablePEM(t *testing.T) {
	ca := newCA(t, "reject")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	chain := string(ca.ChainPEM(leaf))
	lines := strings.Split(chain, "\n")

	tests := []struct {
		name    string
		cert    []byte
		code    string
		mention string
	}{
		{"UTF-16 LE with BOM", toUTF16(chain, binary.LittleEndian, true), CodePEMUTF16, "UTF-16 (little-endian)"},
		{"UTF-16 BE with BOM", toUTF16(chain, binary.BigEndian, true), CodePEMUTF16, "UTF-16 (big-endian)"},
		{"UTF-16 LE without BOM", toUTF16(chain, binary.LittleEndian, false), CodePEMUTF16, "little-endian"},
		{"UTF-16 BE without BOM", toUTF16(chain, binary.BigEndian, false), CodePEMUTF16, "big-endian"},
		{"empty", nil, CodePEMMalformed, "no PEM block found (the input is empty)"},
		{"binary DER", leaf.DER, CodePEMMalformed, "binary DER"},
		{"text without PEM", []byte("hello\n"), CodePEMMalformed, "no PEM block found"},
		{"truncated: no END line", []byte(strings.Join(lines[:5], "\n")), CodePEMMalformed, `block 1 (CERTIFICATE) has no "-----END CERTIFICATE-----" line`},
		{"bad base64", []byte(strings.Replace(chain, lines[3], lines[3][:10]+"!!"+lines[3][12:], 1)), CodePEMMalformed, "block 1 (CERTIFICATE): invalid base64"},
		{"not a certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), CodePEMMalformed, "block 1 (CERTIFICATE): not a valid X.509 certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, fs := Parse(tc.cert, nil, Options{CertSource: "cert.pem", Roots: ca.Pool()})
			if !HasErrors(fs) {
				t.Fatalf("no error finding: %v", fs)
			}
			f := findingFor(t, fs, tc.code)
			if !strings.Contains(f.Message, tc.mention) || !strings.Contains(f.Message, "cert.pem") {
				t.Errorf("message %q: want it to name cert.pem and say %q", f.Message, tc.mention)
			}
		})
	}
}

// Other blocks in a bundle are reported, not silently skipped; EC PARAMETERS is expected noise.
func TestParseOtherBlocks(t *testing.T) {
	ca := newCA(t, "other")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	csr := "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
	params := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	b, fs := Parse(cat([]byte("subject=CN=www.example.com\n"), ca.ChainPEM(leaf), []byte(csr)), cat([]byte(params), leaf.KeyPEM()), opts(ca))
	wantCodes(t, fs, CodePEMUnexpected)
	if f := fs[0]; !strings.Contains(f.Message, "block 3 (CERTIFICATE REQUEST)") {
		t.Errorf("message %q does not name the block", f.Message)
	}
	if b.Key == nil {
		t.Error("key not read")
	}
}

func TestNormalizePEMIsIdempotent(t *testing.T) {
	ca := newCA(t, "idem")
	leaf := issue(t, ca, localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256})
	in := strings.ReplaceAll(string(cat(ca.ChainPEM(leaf), readFixture(t, "key-legacy-aes256.pem"))), "\n", " ")
	once, fs := NormalizePEM([]byte(in), "in")
	wantCodes(t, fs, CodePEMRepaired)
	twice, fs := NormalizePEM(once, "in")
	wantCodes(t, fs)
	if !bytes.Equal(once, twice) {
		t.Error("NormalizePEM(NormalizePEM(x)) != NormalizePEM(x)")
	}
	if !bytes.Contains(once, []byte("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,")) {
		t.Errorf("legacy encryption headers not rebuilt:\n%s", once)
	}
}

package bind

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/certflow/certflow/pkg/airec"
)

// sheet writes an xlsx with the given rows (first row = header).
func sheet(t *testing.T, rows ...[]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckMapping(t *testing.T) {
	domains := []string{"rec-api.example.com", "rec.example.com"}
	var built bytes.Buffer
	if err := airec.BuildMapping(&built, "12345678901234", airec.CertTypeRSA, domains); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		xlsx []byte
		want string // "" = accepted
	}{
		{"built by certflow", built.Bytes(), ""},
		{"odd headers still match (C14)", sheet(t, []any{"\uFEFFDomain", "Certificate_ID ", "Cert Type"},
			[]any{"rec.example.com", "12345678901234", "RSA"}, []any{"rec-api.example.com", "12345678901234", "RSA"}), ""},
		{"no domain column: the silent failure", sheet(t, []any{"certificate_id", "cert_type"},
			[]any{"12345678901234", "RSA"}, []any{"12345678901234", "RSA"}), "missing_column"},
		{"no certificate_id column", sheet(t, []any{"domain", "cert_type"},
			[]any{"rec.example.com", "RSA"}, []any{"rec-api.example.com", "RSA"}), "missing_column"},
		{"another certificate", sheet(t, []any{"domain", "certificate_id", "cert_type"},
			[]any{"rec.example.com", "999", "RSA"}, []any{"rec-api.example.com", "999", "RSA"}), "row 2 maps rec.example.com to certificate 999, not 12345678901234"},
		{"a domain missing", sheet(t, []any{"domain", "certificate_id", "cert_type"},
			[]any{"rec.example.com", "12345678901234", "RSA"}), "it maps [rec.example.com], the task binds [rec-api.example.com rec.example.com]"},
		{"rounded numeric ID (C13)", sheet(t, []any{"domain", "certificate_id", "cert_type"},
			[]any{"rec.example.com", 123456789012345678, "RSA"}, []any{"rec-api.example.com", 123456789012345678, "RSA"}), "numeric_id_rounded"},
		{"not xlsx", []byte("domain,certificate_id,cert_type\n"), "certificate_info.xlsx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckMapping(tc.xlsx, nil, "12345678901234", domains)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/localca"
)

func runMappingArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(t.Context(), append([]string{"mapping"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestMappingBuildAndCheck(t *testing.T) {
	dir := t.TempDir()
	xlsx := filepath.Join(dir, "certificate_info.xlsx")
	code, _, stderr := runMappingArgs(t, "build", "--cert-id", "123456789012345678", "--cert-type", "RSA",
		"--domain", "rec.example.com", "--domain", "api.example.com,img.example.com", "-o", xlsx)
	if code != exitOK {
		t.Fatalf("build exit %d: %s", code, stderr)
	}

	ca, err := localca.New("mapping cmd test")
	if err != nil {
		t.Fatal(err)
	}
	covering, err := ca.Issue(localca.Template{DNSNames: []string{"*.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := ca.Issue(localca.Template{DNSNames: []string{"rec.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	coverPEM := filepath.Join(dir, "wild.pem")
	narrowPEM := filepath.Join(dir, "narrow.pem")
	if err := os.WriteFile(coverPEM, ca.ChainPEM(covering), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(narrowPEM, ca.ChainPEM(narrow), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("valid json", func(t *testing.T) {
		code, out, stderr := runMappingArgs(t, "check", xlsx, "--cert", coverPEM, "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s%s", code, out, stderr)
		}
		var rep struct {
			Valid    bool              `json:"valid"`
			Sheet    string            `json:"sheet"`
			Rows     []map[string]any  `json:"rows"`
			Findings []json.RawMessage `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("json: %v\n%s", err, out)
		}
		if !rep.Valid || rep.Sheet != "Sheet1" || len(rep.Rows) != 3 || rep.Findings == nil || len(rep.Findings) != 0 {
			t.Errorf("report = %+v", rep)
		}
		if r := rep.Rows[1]; r["row"] != float64(3) || r["domain"] != "api.example.com" || r["certificate_id"] != "123456789012345678" || r["cert_type"] != "RSA" {
			t.Errorf("row = %v", r)
		}
	})
	t.Run("not covered", func(t *testing.T) {
		code, out, _ := runMappingArgs(t, "check", "--cert", narrowPEM, xlsx)
		if code != exitFinding || !strings.Contains(out, "domain_not_covered row 3 column domain") || !strings.Contains(out, "INVALID") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("template", func(t *testing.T) {
		tpl := excelize.NewFile()
		defer tpl.Close()
		for i, h := range []string{"Domain", "Certificate ID", "Cert Type"} {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			if err := tpl.SetCellStr("Sheet1", cell, h); err != nil {
				t.Fatal(err)
			}
		}
		tplPath := filepath.Join(dir, "template.xlsx")
		if err := tpl.SaveAs(tplPath); err != nil {
			t.Fatal(err)
		}
		outPath := filepath.Join(dir, "filled.xlsx")
		if code, _, stderr := runMappingArgs(t, "build", "--template", tplPath, "--cert-id", "42", "--cert-type", "ECC", "--domain", "rec.example.com", "-o", outPath); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		code, out, _ := runMappingArgs(t, "check", outPath)
		if code != exitOK || !strings.Contains(out, "1 rows, 0 errors, 3 warnings: valid") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}

func TestMappingCheckInvalid(t *testing.T) {
	dir := t.TempDir()
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{{"domain", "cert_type"}, {"rec.example.com", "RSA"}}
	for i := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	bad := filepath.Join(dir, "bad.xlsx")
	if err := f.SaveAs(bad); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runMappingArgs(t, "check", bad, "--json")
	var rep struct {
		Valid    bool            `json:"valid"`
		Findings []airec.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != exitFinding || rep.Valid || len(rep.Findings) != 1 || rep.Findings[0].Code != airec.CodeMissingColumn || rep.Findings[0].Column != "certificate_id" {
		t.Errorf("exit %d report %+v", code, rep)
	}
}

func TestMappingUsage(t *testing.T) {
	dir := t.TempDir()
	notXLSX := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(notXLSX, []byte("domain,certificate_id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		errHas string
	}{
		{"no subcommand", nil, "usage"},
		{"unknown subcommand", []string{"frob"}, "unknown subcommand"},
		{"build without -o", []string{"build", "--cert-id", "1", "--cert-type", "RSA", "--domain", "a.example.com"}, "-o FILE"},
		{"build bad type", []string{"build", "--cert-id", "1", "--cert-type", "DSA", "--domain", "a.example.com", "-o", filepath.Join(dir, "o.xlsx")}, "bad_cert_type"},
		{"check two files", []string{"check", "a.xlsx", "b.xlsx"}, "exactly one FILE"},
		{"check missing file", []string{"check", filepath.Join(dir, "nope.xlsx")}, "no such file"},
		{"check not xlsx", []string{"check", notXLSX}, "open xlsx"},
		{"check bad cert", []string{"check", notXLSX, "--cert", notXLSX}, "no usable certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMappingArgs(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.errHas) {
				t.Errorf("exit %d stderr %q, want 2 mentioning %q", code, stderr, tc.errHas)
			}
		})
	}
}

// TestMappingBuildRejectsBadCertID checks that build refuses an ID that is not a CAS
// certificate ID (a positive whole number), names it, and writes no file, with or
// without a template.
func TestMappingBuildRejectsBadCertID(t *testing.T) {
	dir := t.TempDir()
	tpl := excelize.NewFile()
	defer tpl.Close()
	if err := tpl.SetSheetRow("Sheet1", "A1", &[]any{"domain", "certificate_id", "cert_type"}); err != nil {
		t.Fatal(err)
	}
	tplPath := filepath.Join(dir, "template.xlsx")
	if err := tpl.SaveAs(tplPath); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		template bool
		errHas   string
	}{
		{"letters", "abc", false, `certificate ID "abc" is not a CAS certificate ID`},
		{"negative", "-5", false, `certificate ID "-5" is not a CAS certificate ID`},
		{"zero", "0", false, `certificate ID "0" is zero`},
		{"letters into template", "abc", true, `certificate ID "abc" is not a CAS certificate ID`},
		{"negative into template", "-5", true, `certificate ID "-5" is not a CAS certificate ID`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "certificate_info.xlsx")
			args := []string{"build", "--cert-id", tc.id, "--cert-type", "RSA", "--domain", "rec.example.com", "-o", out}
			if tc.template {
				args = append(args, "--template", tplPath)
			}
			code, _, stderr := runMappingArgs(t, args...)
			if code != exitUsage || !strings.Contains(stderr, "bad_certificate_id") || !strings.Contains(stderr, tc.errHas) {
				t.Errorf("exit %d stderr %q, want 2 with bad_certificate_id mentioning %q", code, stderr, tc.errHas)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s was written (stat: %v)", out, err)
			}
		})
	}
}

// TestMappingCheckBadCertID checks that check calls a mapping with a non-numeric or
// zero certificate_id invalid and names the row, column and cell.
func TestMappingCheckBadCertID(t *testing.T) {
	dir := t.TempDir()
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{
		{"domain", "certificate_id", "cert_type"},
		{"rec.example.com", "12345678", "RSA"},
		{"api.example.com", "abc", "RSA"},
		{"img.example.com", "0", "RSA"},
	}
	for i := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	bad := filepath.Join(dir, "bad-id.xlsx")
	if err := f.SaveAs(bad); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runMappingArgs(t, "check", bad)
	for _, want := range []string{
		"2 errors, 0 warnings: INVALID",
		`bad_certificate_id row 3 column certificate_id: row 3: certificate_id "abc" in B3 is not a CAS certificate ID`,
		`bad_certificate_id row 4 column certificate_id: row 4: certificate_id "0" in B4 is zero`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != exitFinding {
		t.Errorf("exit %d, want %d", code, exitFinding)
	}
}

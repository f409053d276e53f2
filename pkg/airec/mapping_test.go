package airec

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// names is a Coverer for tests: exact names plus one-label wildcards.
type names []string

func (n names) Names() []string { return n }
func (n names) Covers(name string) bool {
	for _, s := range n {
		if s == name {
			return true
		}
		if rest, ok := strings.CutPrefix(s, "*."); ok {
			if i := strings.IndexByte(name, '.'); i > 0 && name[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

func hdrRow(cells ...string) []handCell {
	out := make([]handCell, len(cells))
	for i, c := range cells {
		out[i] = is(c)
	}
	return out
}

func read(t *testing.T, xlsx []byte, c Coverer) *Mapping {
	t.Helper()
	m, err := ReadMapping(bytes.NewReader(xlsx), c)
	if err != nil {
		t.Fatalf("ReadMapping: %v", err)
	}
	return m
}

func codes(m *Mapping) []string {
	var out []string
	for _, f := range m.Findings {
		out = append(out, f.Severity+":"+f.Code)
	}
	return out
}

func finding(t *testing.T, m *Mapping, code string) Finding {
	t.Helper()
	for _, f := range m.Findings {
		if f.Code == code {
			return f
		}
	}
	t.Fatalf("no %s finding; findings: %v", code, m.Findings)
	return Finding{}
}

func TestBuildMapping(t *testing.T) {
	var buf bytes.Buffer
	if err := BuildMapping(&buf, "12345678901234567890", "ecc", []string{"API.Example.com.", "rec.example.com", "bücher.example.com"}); err != nil {
		t.Fatalf("BuildMapping: %v", err)
	}
	sheet := zipPart(t, buf.Bytes(), "xl/worksheets/sheet1.xml")
	// IDs are text cells, never numbers.
	if !regexp.MustCompile(`<c r="B2" s="\d+" t="inlineStr"><is><t>12345678901234567890</t></is></c>`).MatchString(sheet) {
		t.Errorf("B2 is not a text cell holding the full ID:\n%s", sheet)
	}
	m := read(t, buf.Bytes(), names{"api.example.com", "*.example.com", "xn--bcher-kva.example.com"})
	if !m.Valid() || len(m.Findings) != 0 {
		t.Fatalf("built mapping has findings: %v", m.Findings)
	}
	want := []Row{
		{2, "api.example.com", "12345678901234567890", "ECC"},
		{3, "rec.example.com", "12345678901234567890", "ECC"},
		{4, "xn--bcher-kva.example.com", "12345678901234567890", "ECC"},
	}
	if !slices.Equal(m.Rows, want) || m.Sheet != DefaultSheet {
		t.Errorf("rows = %+v sheet %q, want %+v on %q", m.Rows, m.Sheet, want, DefaultSheet)
	}
	// The ID column carries the text number format "@".
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.GetCellStyle(DefaultSheet, "B3")
	style, err := f.GetStyle(st)
	if err != nil || style.NumFmt != 49 {
		t.Errorf("B3 style = %+v (%v), want number format 49 (text)", style, err)
	}
}

func TestBuildMappingRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, id, typ string
		domains       []string
		code, detail  string
	}{
		{"empty id", " ", "RSA", []string{"a.example.com"}, CodeBadCertificateID, "empty"},
		{"letters id", "abc", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `certificate ID "abc" is not a CAS certificate ID`},
		{"negative id", "-5", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `certificate ID "-5" is not a CAS certificate ID`},
		{"plus id", "+5", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `"+5"`},
		{"zero id", "0", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `certificate ID "0" is zero`},
		{"zeros id", "000", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `certificate ID "000" is zero`},
		{"leading zero id", "0123", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `"0123" has leading zeros`},
		{"fraction id", "12.5", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `"12.5"`},
		{"exponent id", "1.2E+17", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `"1.2E+17"`},
		{"identifier with region", "12345678-cn-hangzhou", "RSA", []string{"a.example.com"}, CodeBadCertificateID, `"12345678-cn-hangzhou"`},
		{"inner space id", "12 34", "RSA", []string{"a.example.com"}, CodeBadCertificateID, "white space"},
		{"bad type", "1", "DSA", []string{"a.example.com"}, CodeBadCertType, `"DSA"`},
		{"no domains", "1", "RSA", nil, CodeNoRows, "no domains"},
		{"duplicate", "1", "RSA", []string{"a.example.com", "A.example.com."}, CodeDuplicateDomain, "entries 1 and 2"},
		{"url", "1", "RSA", []string{"https://a.example.com/"}, CodeBadDomain, "scheme"},
		{"wildcard", "1", "RSA", []string{"*.example.com"}, CodeBadDomain, "wildcard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := BuildMapping(&buf, tc.id, tc.typ, tc.domains)
			var me *MappingError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *MappingError", err)
			}
			if me.Findings[0].Code != tc.code || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %v (code %s), want code %s mentioning %q", err, me.Findings[0].Code, tc.code, tc.detail)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes on bad input", buf.Len())
			}
		})
	}
}

// TestReadMappingNumericIDs is case C13: IDs stored as numbers by Excel and LibreOffice, and
// the text other readers leave behind.
func TestReadMappingNumericIDs(t *testing.T) {
	tests := []struct {
		name   string
		cell   handCell
		wantID string
		code   string // "" = valid without findings
	}{
		{"excel 14 digits", num("12345678901234"), "12345678901234", ""},
		{"libreoffice t=n 14 digits", numN("12345678901234"), "12345678901234", ""},
		{"short id", num("8888"), "8888", ""},
		{"trailing .0 number", num("12345678901234.0"), "12345678901234", ""},
		{"exponent number within 15 digits", num("1.2345678901234E+13"), "12345678901234", ""},
		{"18 digits as exponent", num("1.23456789012346E+17"), "123456789012346000", CodeNumericIDRounded},
		{"18 digits excel 17-digit form", numN("1.2345678901234568E+17"), "123456789012345680", CodeNumericIDRounded},
		{"18 digits plain", num("123456789012345678"), "123456789012345678", CodeNumericIDRounded},
		{"16 digits", numN("1234567890123456"), "1234567890123456", CodeNumericIDRounded},
		{"fraction", num("1234.5"), "1234.5", CodeBadCertificateID},
		{"negative", num("-5"), "-5", CodeBadCertificateID},
		{"18 digits as text is exact", is("123456789012345678"), "123456789012345678", ""},
		{"text in exponent form", is("1.23456789012346E+17"), "1.23456789012346E+17", CodeNumericIDRounded},
		{"text with .0", is("12345678901234.0"), "12345678901234", CodeIDNormalised},
		{"formula text", handCell{"str", "12345678"}, "12345678", ""},
		{"bool", handCell{"b", "1"}, "1", CodeBadCertificateID},
		{"zero number", num("0"), "0", CodeBadCertificateID},
		{"negative fraction", numN("-5.5"), "-5.5", CodeBadCertificateID},
		{"text with leading zeros", is("0012345678"), "12345678", CodeIDNormalised},
		// A CAS certificate ID is a positive whole number: any other text is an error that
		// names the value, not an ID passed on to AIRec.
		{"text letters", is("abc"), "abc", CodeBadCertificateID},
		{"text identifier with letters", is("cert-8a9b2c"), "cert-8a9b2c", CodeBadCertificateID},
		{"text cas identifier with region", is("12345678-cn-hangzhou"), "12345678-cn-hangzhou", CodeBadCertificateID},
		{"text negative", is("-5"), "-5", CodeBadCertificateID},
		{"text plus sign", is("+5"), "+5", CodeBadCertificateID},
		{"text zero", is("0"), "0", CodeBadCertificateID},
		{"text zero with .0", is("0.0"), "0.0", CodeBadCertificateID},
		{"text fraction", is("1234.5"), "1234.5", CodeBadCertificateID},
		{"text inner space", is("1234 5678"), "1234 5678", CodeBadCertificateID},
		{"formula text letters", handCell{"str", "N/A"}, "N/A", CodeBadCertificateID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xlsx := handBook{sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{
				hdrRow("domain", "certificate_id", "cert_type"),
				{is("api.example.com"), tc.cell, is("RSA")},
			}}}}.bytes(t)
			m := read(t, xlsx, nil)
			if len(m.Rows) != 1 || m.Rows[0].CertificateID != tc.wantID {
				t.Fatalf("rows = %+v, want one row with ID %q (findings %v)", m.Rows, tc.wantID, m.Findings)
			}
			if tc.code == "" {
				if len(m.Findings) != 0 {
					t.Fatalf("findings = %v, want none", m.Findings)
				}
				return
			}
			f := finding(t, m, tc.code)
			if f.Row != 2 || f.Column != ColumnCertificateID || !strings.Contains(f.Message, "B2") {
				t.Errorf("finding %+v does not name row 2, certificate_id and B2", f)
			}
			if tc.code == CodeNumericIDRounded && !strings.Contains(f.Message, "store") {
				t.Errorf("message %q does not say to store it as text", f.Message)
			}
			if tc.code == CodeBadCertificateID && !strings.Contains(f.Message, tc.cell.v) {
				t.Errorf("message %q does not name the value %q", f.Message, tc.cell.v)
			}
			if len(m.Findings) != 1 {
				t.Errorf("findings = %v, want only %s", m.Findings, tc.code)
			}
			if (tc.code == CodeIDNormalised) == !m.Valid() {
				t.Errorf("Valid() = %v with %s", m.Valid(), tc.code)
			}
		})
	}
}

// TestReadMappingHeaders is case C14.
func TestReadMappingHeaders(t *testing.T) {
	tests := []struct {
		name     string
		header   []string
		valid    bool
		wantCode string
		detail   []string
	}{
		{"canonical", []string{"domain", "certificate_id", "cert_type"}, true, "", nil},
		{"bom trailing space and space", []string{"\uFEFFDomain", "Certificate_ID ", "Cert Type"}, true, CodeHeaderSpelling, []string{`"Cert Type"`}},
		{"upper and hyphen", []string{"DOMAIN", "certificate-id", "CERT_TYPE"}, true, CodeHeaderSpelling, nil},
		{"no certificate_id", []string{"domain", "cert id", "cert_type"}, false, CodeMissingColumn, []string{"certificate_id", `"cert id"`, `"domain"`}},
		{"no domain", []string{"host", "certificate_id", "cert_type"}, false, CodeMissingColumn, []string{"no domain column", `"host"`}},
		{"two domain columns", []string{"domain", "Domain ", "certificate_id", "cert_type"}, false, CodeDuplicateColumn, []string{"two domain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := []handCell{is("api.example.com"), is("12345678"), is("RSA")}
			if len(tc.header) == 4 {
				row = []handCell{is("api.example.com"), is("b.example.com"), is("12345678"), is("RSA")}
			}
			xlsx := handBook{sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{hdrRow(tc.header...), row}}}}.bytes(t)
			m := read(t, xlsx, nil)
			if m.Valid() != tc.valid {
				t.Fatalf("Valid() = %v, want %v; findings %v", m.Valid(), tc.valid, m.Findings)
			}
			if tc.valid {
				if len(m.Rows) != 1 || m.Rows[0] != (Row{2, "api.example.com", "12345678", "RSA"}) {
					t.Errorf("rows = %+v", m.Rows)
				}
			} else if len(m.Rows) != 0 {
				t.Errorf("rows read despite a header problem: %+v", m.Rows)
			}
			if tc.wantCode == "" {
				if len(m.Findings) != 0 {
					t.Errorf("findings = %v, want none", m.Findings)
				}
				return
			}
			finding(t, m, tc.wantCode)
			var msgs []string
			for _, f := range m.Findings {
				if f.Code == tc.wantCode {
					msgs = append(msgs, f.Message)
				}
			}
			for _, d := range tc.detail {
				if !strings.Contains(strings.Join(msgs, "\n"), d) {
					t.Errorf("%s messages %q lack %q", tc.wantCode, msgs, d)
				}
			}
		})
	}
}

// TestReadMappingWriters is case C15 and the other writers: the same mapping as Excel,
// LibreOffice and streaming writers store it.
func TestReadMappingWriters(t *testing.T) {
	rows := func(id handCell) [][]handCell {
		return [][]handCell{
			hdrRow("domain", "certificate_id", "cert_type"),
			{is("api.example.com"), id, is("RSA")},
			{is("rec.example.com"), id, is("RSA")},
		}
	}
	tests := []struct {
		name string
		book handBook
	}{
		{"inline strings, no sharedStrings, no styles", handBook{sheets: []handSheet{{name: "Sheet1", rows: rows(is("12345678901234"))}}}},
		{"inline strings without r attributes", handBook{noRowR: true, sheets: []handSheet{{name: "Sheet1", rows: rows(is("12345678901234"))}}}},
		{"excel: shared strings, untyped number, styles", handBook{
			shared: []string{"domain", "certificate_id", "cert_type", "api.example.com", "rec.example.com", "RSA"},
			styles: true,
			sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{
				{{"s", "0"}, {"s", "1"}, {"s", "2"}},
				{{"s", "3"}, num("12345678901234"), {"s", "5"}},
				{{"s", "4"}, num("12345678901234"), {"s", "5"}},
			}}},
		}},
		{"libreoffice: shared strings, t=n numbers, text style", handBook{
			shared:  []string{"domain", "certificate_id", "cert_type", "api.example.com", "rec.example.com", "RSA"},
			styles:  true,
			textFmt: true,
			sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{
				{{"s", "0"}, {"s", "1"}, {"s", "2"}},
				{{"s", "3"}, numN("12345678901234"), {"s", "5"}},
				{{"s", "4"}, numN("12345678901234"), {"s", "5"}},
			}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xlsx := tc.book.bytes(t)
			if tc.book.shared == nil && (hasPart(t, xlsx, "xl/sharedStrings.xml") || hasPart(t, xlsx, "xl/styles.xml")) {
				t.Fatal("test book unexpectedly has sharedStrings.xml or styles.xml")
			}
			m := read(t, xlsx, names{"*.example.com"})
			want := []Row{{2, "api.example.com", "12345678901234", "RSA"}, {3, "rec.example.com", "12345678901234", "RSA"}}
			if !m.Valid() || len(m.Findings) != 0 || !slices.Equal(m.Rows, want) {
				t.Errorf("got rows %+v findings %v, want %+v and no findings", m.Rows, m.Findings, want)
			}
		})
	}
}

func TestReadMappingSheets(t *testing.T) {
	good := [][]handCell{hdrRow("domain", "certificate_id", "cert_type"), {is("api.example.com"), is("1"), is("RSA")}}
	notes := [][]handCell{hdrRow("How to fill this file"), hdrRow("one row per domain")}
	lists := [][]handCell{hdrRow("cert_type"), hdrRow("RSA"), hdrRow("ECC")}
	titled := append([][]handCell{hdrRow("AIRec certificate mapping"), {}}, good...)
	tests := []struct {
		name      string
		sheets    []handSheet
		sheet     string
		code      string
		valid     bool
		detail    string
		headerRow int
	}{
		{"renamed tab after a notes sheet", []handSheet{{name: "说明", rows: notes}, {name: "证书映射", rows: good}}, "证书映射", "", true, "", 1},
		{"hidden mapping sheet", []handSheet{{name: "Readme", rows: notes}, {name: "data", state: "hidden", rows: good}}, "data", CodeHiddenSheetChosen, true, `"data"`, 1},
		{"hidden lists sheet loses to the full header", []handSheet{{name: "lists", state: "veryHidden", rows: lists}, {name: "Mapping", rows: good}}, "Mapping", "", true, "", 1},
		{"header under a title", []handSheet{{name: "Sheet1", rows: titled}}, "Sheet1", "", true, "", 3},
		{"two mapping sheets", []handSheet{{name: "old", state: "hidden", rows: good}, {name: "new", rows: good}}, "", CodeAmbiguousSheet, false, `"old" (hidden), "new"`, 0},
		{"no mapping sheet", []handSheet{{name: "Readme", rows: notes}, {name: "secret", state: "hidden", rows: notes}}, "", CodeNoMatchingSheet, false, `"Readme", "secret" (hidden)`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := read(t, handBook{sheets: tc.sheets}.bytes(t), nil)
			if m.Sheet != tc.sheet || m.Valid() != tc.valid {
				t.Fatalf("sheet %q valid %v, want %q %v; findings %v", m.Sheet, m.Valid(), tc.sheet, tc.valid, m.Findings)
			}
			if tc.valid && (len(m.Rows) != 1 || m.Rows[0].Row != tc.headerRow+1) {
				t.Errorf("rows = %+v, want one on row %d", m.Rows, tc.headerRow+1)
			}
			if tc.code == "" {
				if len(m.Findings) != 0 {
					t.Errorf("findings = %v", m.Findings)
				}
				return
			}
			if f := finding(t, m, tc.code); !strings.Contains(f.Message, tc.detail) {
				t.Errorf("message %q lacks %q", f.Message, tc.detail)
			}
		})
	}
}

func TestReadMappingRows(t *testing.T) {
	xlsx := handBook{sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{
		hdrRow("domain", "certificate_id", "cert_type", "note"),
		{is("api.example.com"), is("1"), is("RSA"), is("ok")},
		{},                                       // 3 blank
		{is(""), is(" "), is(""), is("n/a")},     // 4 blank in the mapping columns
		{is(""), is("1"), is("RSA")},             // 5 id without domain
		{is("b.example.com"), is(""), is("RSA")}, // 6 domain without id
		{is("API.example.com"), is("1"), is("RSA")},       // 7 duplicate of row 2
		{is("c.example.com"), is("1"), is("DSA")},         // 8 bad type
		{is("d.example.com"), is("1"), is("")},            // 9 empty type
		{is("other.test"), is("1"), is("ecc")},            // 10 not covered, type folded
		{is("https://e.example.com"), is("1"), is("RSA")}, // 11 not a host
	}}}}.bytes(t)
	m := read(t, xlsx, names{"*.example.com", "example.com"})
	want := map[string]Finding{
		"5":  {SeverityError, CodeRowIncomplete, 5, ColumnDomain, "row 5 has certificate_id \"1\" but no domain"},
		"6":  {SeverityError, CodeRowIncomplete, 6, ColumnCertificateID, "row 6 has domain \"b.example.com\" but no certificate_id (B6 is empty)"},
		"7":  {SeverityError, CodeDuplicateDomain, 7, ColumnDomain, "row 7: domain api.example.com is already mapped on row 2"},
		"8":  {SeverityError, CodeBadCertType, 8, ColumnCertType, "row 8: cert_type \"DSA\" in C8: want RSA or ECC"},
		"9":  {SeverityError, CodeBadCertType, 9, ColumnCertType, "row 9: cert_type in C9 is empty: want RSA or ECC"},
		"10": {SeverityError, CodeDomainNotCovered, 10, ColumnDomain, "row 10: domain other.test is not covered by the certificate (names: *.example.com, example.com)"},
	}
	got := map[string]Finding{}
	for _, f := range m.Findings {
		got[fmt.Sprint(f.Row)] = f
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("row %s finding = %+v, want %+v", k, got[k], w)
		}
	}
	if f := got["11"]; f.Code != CodeBadDomain || !strings.Contains(f.Message, "A11") {
		t.Errorf("row 11 finding = %+v, want bad_domain naming A11", f)
	}
	if len(m.Findings) != 7 {
		t.Errorf("findings = %d, want 7: %v", len(m.Findings), codes(m))
	}
	var rowNums []int
	for _, r := range m.Rows {
		rowNums = append(rowNums, r.Row)
	}
	if !slices.Equal(rowNums, []int{2, 7, 8, 9, 10, 11}) || m.Rows[4].CertType != "ECC" {
		t.Errorf("rows = %+v", m.Rows)
	}
}

func TestReadMappingUnreadable(t *testing.T) {
	for name, data := range map[string][]byte{
		"not a zip": []byte("domain,certificate_id,cert_type\na.example.com,1,RSA\n"),
		"empty":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			if m, err := ReadMapping(bytes.NewReader(data), nil); err == nil {
				t.Fatalf("ReadMapping = %+v, want an error", m)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		big := bytes.Repeat([]byte{'P'}, MaxMappingBytes+1)
		if _, err := ReadMapping(bytes.NewReader(big), nil); err == nil || !strings.Contains(err.Error(), "larger than 32 MiB") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFillTemplate(t *testing.T) {
	tpl := excelize.NewFile()
	defer tpl.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tpl.SetSheetName("Sheet1", "说明"))
	must(tpl.SetCellStr("说明", "A1", "Fill one row per domain."))
	_, err := tpl.NewSheet("certificate_info")
	must(err)
	_, err = tpl.NewSheet("lists")
	must(err)
	must(tpl.SetCellStr("lists", "A1", "RSA"))
	must(tpl.SetSheetVisible("lists", false))
	bold, err := tpl.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
	must(err)
	for i, h := range []string{"Domain", "Certificate ID", "Cert Type", "Owner"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		must(tpl.SetCellStr("certificate_info", cell, h))
	}
	must(tpl.SetCellStyle("certificate_info", "A1", "D1", bold))
	must(tpl.SetColWidth("certificate_info", "A", "A", 55))
	for r, ex := range [][]string{{"example.com", "123", "RSA", "team-a"}, {"www.example.com", "123", "RSA", "team-b"}, {"old.example.com", "9", "ECC", ""}} {
		for c, v := range ex {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+2)
			must(tpl.SetCellStr("certificate_info", cell, v))
		}
	}
	var tplBuf, out bytes.Buffer
	must(tpl.Write(&tplBuf))

	if err := FillTemplate(bytes.NewReader(tplBuf.Bytes()), &out, "123456789012345678", "RSA", []string{"api.example.com", "rec.example.com"}); err != nil {
		t.Fatalf("FillTemplate: %v", err)
	}
	m := read(t, out.Bytes(), names{"*.example.com"})
	want := []Row{{2, "api.example.com", "123456789012345678", "RSA"}, {3, "rec.example.com", "123456789012345678", "RSA"}}
	if m.Sheet != "certificate_info" || !slices.Equal(m.Rows, want) || !m.Valid() {
		t.Fatalf("filled mapping: sheet %q rows %+v findings %v", m.Sheet, m.Rows, m.Findings)
	}
	f, err := excelize.OpenReader(bytes.NewReader(out.Bytes()))
	must(err)
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"说明", "certificate_info", "lists"}) {
		t.Errorf("sheets = %v", got)
	}
	if v, _ := f.GetCellValue("说明", "A1"); v != "Fill one row per domain." {
		t.Errorf("notes sheet A1 = %q", v)
	}
	if vis, _ := f.GetSheetVisible("lists"); vis {
		t.Error("hidden sheet became visible")
	}
	if st, _ := f.GetCellStyle("certificate_info", "B1"); st != bold {
		t.Errorf("header style = %d, want %d", st, bold)
	}
	if w, _ := f.GetColWidth("certificate_info", "A"); w != 55 {
		t.Errorf("column A width = %v, want 55", w)
	}
	for cell, wantV := range map[string]string{"D2": "team-a", "D3": "team-b", "A4": "", "B4": "", "C4": ""} {
		if v, _ := f.GetCellValue("certificate_info", cell); v != wantV {
			t.Errorf("%s = %q, want %q", cell, v, wantV)
		}
	}
	if typ, _ := f.GetCellType("certificate_info", "B2"); typ != excelize.CellTypeSharedString {
		t.Errorf("B2 type = %v, want a text cell", typ)
	}
}

func TestFillTemplateRejectsTemplateWithoutColumns(t *testing.T) {
	xlsx := handBook{sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{hdrRow("domain", "cert_type")}}}}.bytes(t)
	var out bytes.Buffer
	err := FillTemplate(bytes.NewReader(xlsx), &out, "1", "RSA", []string{"a.example.com"})
	var me *MappingError
	if !errors.As(err, &me) || me.Findings[0].Code != CodeMissingColumn || !strings.Contains(err.Error(), "certificate_id") {
		t.Fatalf("err = %v, want a missing_column error naming certificate_id", err)
	}
}

// TestFillTemplateRejectsBadID checks that a usable template is not filled with an ID that
// is not a CAS certificate ID, and that nothing is written.
func TestFillTemplateRejectsBadID(t *testing.T) {
	tpl := handBook{sheets: []handSheet{{name: "Sheet1", rows: [][]handCell{hdrRow("domain", "certificate_id", "cert_type")}}}}.bytes(t)
	for _, id := range []string{"abc", "-5", "0"} {
		t.Run(id, func(t *testing.T) {
			var out bytes.Buffer
			err := FillTemplate(bytes.NewReader(tpl), &out, id, "RSA", []string{"a.example.com"})
			var me *MappingError
			if !errors.As(err, &me) || me.Findings[0].Code != CodeBadCertificateID || !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
				t.Fatalf("err = %v, want a bad_certificate_id error naming %q", err, id)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %d bytes", out.Len())
			}
		})
	}
}

func BenchmarkBuildAndRead10k(b *testing.B) {
	domains := make([]string, 10000)
	for i := range domains {
		domains[i] = fmt.Sprintf("host-%05d.example.com", i)
	}
	cov := names{"*.example.com"}
	for b.Loop() {
		var buf bytes.Buffer
		if err := BuildMapping(&buf, "123456789012345678", "RSA", domains); err != nil {
			b.Fatal(err)
		}
		m, err := ReadMapping(bytes.NewReader(buf.Bytes()), cov)
		if err != nil || !m.Valid() || len(m.Rows) != len(domains) {
			b.Fatalf("read: %v, %d rows, findings %v", err, len(m.Rows), m.Findings)
		}
	}
}

func FuzzReadMapping(f *testing.F) {
	var buf bytes.Buffer
	if err := BuildMapping(&buf, "1", "RSA", []string{"a.example.com"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMapping(bytes.NewReader(data), names{"a.example.com"})
		if err == nil && m == nil {
			t.Fatal("nil mapping without an error")
		}
	})
}

package airec

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"strings"
	"testing"
)

// This file builds xlsx packages part by part, the way writers other than excelize do:
// inline strings with no sharedStrings.xml and no styles.xml (streaming writers), shared
// strings with numbers lacking a type (Excel), numbers with t="n" (LibreOffice), hidden sheets.

type handSheet struct {
	name  string
	state string // "", "hidden", "veryHidden"
	rows  [][]handCell
}

// handCell is one cell; kind is "is" (inline string), "s" (shared string index), "n"
// (number with t="n"), "" (number without a type, as Excel writes), "str" (formula string).
type handCell struct {
	kind, v string
}

func is(v string) handCell  { return handCell{"is", v} }
func num(v string) handCell { return handCell{"", v} }
func numN(v string) handCell {
	return handCell{"n", v}
}

type handBook struct {
	sheets  []handSheet
	shared  []string // written as xl/sharedStrings.xml when not nil
	styles  bool     // write a minimal xl/styles.xml
	noRowR  bool     // omit r attributes on rows and cells, as some writers do
	textFmt bool     // give cells s="1" (text format), needs styles
}

func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

func (b handBook) bytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	put := func(name, body string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatalf("zip create %s: %v", name, err)
		}
		if _, err := w.Write([]byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + body)); err != nil {
			t.Fatalf("zip write %s: %v", name, err)
		}
	}
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	var ct, wbRels, sheets strings.Builder
	ct.WriteString(`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`)
	wbRels.WriteString(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i, s := range b.sheets {
		n := i + 1
		fmt.Fprintf(&ct, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, n)
		fmt.Fprintf(&wbRels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, n, n)
		state := ""
		if s.state != "" {
			state = ` state="` + s.state + `"`
		}
		fmt.Fprintf(&sheets, `<sheet name="%s" sheetId="%d"%s r:id="rId%d"/>`, html.EscapeString(s.name), n, state, n)
		var sd strings.Builder
		for r, row := range s.rows {
			if b.noRowR {
				sd.WriteString(`<row>`)
			} else {
				fmt.Fprintf(&sd, `<row r="%d">`, r+1)
			}
			for c, cell := range row {
				ref := ""
				if !b.noRowR {
					ref = fmt.Sprintf(` r="%s%d"`, colName(c), r+1)
				}
				style := ""
				if b.textFmt {
					style = ` s="1"`
				}
				switch cell.kind {
				case "is":
					fmt.Fprintf(&sd, `<c%s%s t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>`, ref, style, html.EscapeString(cell.v))
				case "s":
					fmt.Fprintf(&sd, `<c%s%s t="s"><v>%s</v></c>`, ref, style, cell.v)
				case "n":
					fmt.Fprintf(&sd, `<c%s%s t="n"><v>%s</v></c>`, ref, style, cell.v)
				case "b":
					fmt.Fprintf(&sd, `<c%s%s t="b"><v>%s</v></c>`, ref, style, cell.v)
				case "str":
					fmt.Fprintf(&sd, `<c%s%s t="str"><f>"x"</f><v>%s</v></c>`, ref, style, html.EscapeString(cell.v))
				case "skip":
				default:
					fmt.Fprintf(&sd, `<c%s%s><v>%s</v></c>`, ref, style, cell.v)
				}
			}
			sd.WriteString(`</row>`)
		}
		put(fmt.Sprintf("xl/worksheets/sheet%d.xml", n), `<worksheet `+ns+`><sheetData>`+sd.String()+`</sheetData></worksheet>`)
	}
	next := len(b.sheets) + 1
	if b.shared != nil {
		ct.WriteString(`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>`)
		fmt.Fprintf(&wbRels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>`, next)
		next++
		var ss strings.Builder
		fmt.Fprintf(&ss, `<sst %s count="%d" uniqueCount="%d">`, ns, len(b.shared), len(b.shared))
		for _, s := range b.shared {
			fmt.Fprintf(&ss, `<si><t xml:space="preserve">%s</t></si>`, html.EscapeString(s))
		}
		ss.WriteString(`</sst>`)
		put("xl/sharedStrings.xml", ss.String())
	}
	if b.styles {
		ct.WriteString(`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`)
		fmt.Fprintf(&wbRels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>`, next)
		put("xl/styles.xml", `<styleSheet `+ns+`><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>`+
			`<fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>`+
			`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>`+
			`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>`)
	}
	ct.WriteString(`</Types>`)
	wbRels.WriteString(`</Relationships>`)
	put("[Content_Types].xml", ct.String())
	put("_rels/.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	put("xl/workbook.xml", `<workbook `+ns+` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`+sheets.String()+`</sheets></workbook>`)
	put("xl/_rels/workbook.xml.rels", wbRels.String())
	if err := zw.Close(); err != nil {
		t.Fatalf("zip close: %v", err)
	}
	return buf.Bytes()
}

// zipPart returns one part of an xlsx, for asserting on what was written.
func zipPart(t *testing.T, xlsx []byte, name string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			if err != nil {
				t.Fatalf("open %s: %v", name, err)
			}
			defer rc.Close()
			var b bytes.Buffer
			if _, err := b.ReadFrom(rc); err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			return b.String()
		}
	}
	t.Fatalf("xlsx has no part %s", name)
	return ""
}

func hasPart(t *testing.T, xlsx []byte, name string) bool {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			return true
		}
	}
	return false
}

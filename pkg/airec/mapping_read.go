package airec

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// headerScanRows is how far down a sheet the header row is looked for: templates may carry a
// title or instructions above it.
const headerScanRows = 10

// maxExactDigits is what a spreadsheet keeps of a number: an integer ID with more digits
// than this, stored as a number, has been rounded.
const maxExactDigits = 15

// header is a sheet's mapping header: where it is and which column holds what.
type header struct {
	sheet  string
	hidden bool
	row    int            // 1-based
	col    map[string]int // canonical name → 0-based column
	found  []string       // the header cells as written
	dups   []string       // canonical names seen twice
	odd    map[string]string
}

// ReadMapping reads and validates a certificate_info.xlsx. It picks the sheet whose header row
// holds the mapping columns (hidden sheets and renamed tabs included), matches header names
// after trimming, dropping a BOM, folding case and treating space, underscore and hyphen alike,
// and reads raw cell values, so long numeric IDs are checked rather than silently rounded.
// Every problem is a Finding; the error is non-nil only when the file cannot be read as xlsx at
// all. When c is not nil, each domain must be covered by it. A mapping missing the domain or
// certificate_id column has no Rows: its rows are never read as rows with empty values.
func ReadMapping(r io.Reader, c Coverer) (*Mapping, error) {
	f, err := openBounded(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := &Mapping{Rows: []Row{}, Findings: []Finding{}}
	hdr, findings := findMappingSheet(f)
	m.Findings = append(m.Findings, findings...)
	if hdr == nil {
		return m, nil
	}
	m.Sheet = hdr.sheet
	_, hasDomain := hdr.col[ColumnDomain]
	_, hasID := hdr.col[ColumnCertificateID]
	if !hasDomain || !hasID || len(hdr.dups) > 0 {
		return m, nil
	}
	all, err := f.GetRows(hdr.sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		m.add(SeverityError, CodeUnreadable, 0, "", "sheet %q: cannot read cells: %v", hdr.sheet, err)
		return m, nil
	}
	readRows(f, hdr, all, c, m)
	return m, nil
}

// Limits for reading a mapping. A 10,000-domain mapping is about 0.2 MB zipped and 1 MB
// unzipped; the limits leave room for big templates while keeping a hostile file (a zip whose
// headers claim gigabytes) from allocating them: excelize sizes its buffers from those headers,
// and by default spills worksheets over 16 MB into temp files.
const (
	MaxMappingBytes   = 32 << 20 // the xlsx itself
	maxUnzippedBytes  = 128 << 20
	maxUnzippedXMLLen = 128 << 20
)

func openBounded(r io.Reader) (*excelize.File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMappingBytes+1))
	if err != nil {
		return nil, fmt.Errorf("airec mapping: read: %w", err)
	}
	if len(data) > MaxMappingBytes {
		return nil, fmt.Errorf("airec mapping: file is larger than %d MiB", MaxMappingBytes>>20)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: maxUnzippedBytes, UnzipXMLSizeLimit: maxUnzippedXMLLen})
	if err != nil {
		return nil, fmt.Errorf("airec mapping: open xlsx: %w", err)
	}
	return f, nil
}

func (m *Mapping) add(sev, code string, row int, col, format string, args ...any) {
	m.Findings = append(m.Findings, Finding{Severity: sev, Code: code, Row: row, Column: col, Message: fmt.Sprintf(format, args...)})
}

// readRows turns the data rows under the header into Rows and findings.
func readRows(f *excelize.File, hdr *header, all [][]string, c Coverer, m *Mapping) {
	cell := func(row []string, name string) (string, int, bool) {
		i, ok := hdr.col[name]
		if !ok {
			return "", -1, false
		}
		if i < len(row) {
			return row[i], i, true
		}
		return "", i, true
	}
	firstRow := make(map[string]int)
	for n := hdr.row + 1; n <= len(all); n++ {
		row := all[n-1]
		rawDomain, _, _ := cell(row, ColumnDomain)
		rawID, idCol, _ := cell(row, ColumnCertificateID)
		rawType, _, hasType := cell(row, ColumnCertType)
		domain, id, ctype := strings.TrimSpace(rawDomain), strings.TrimSpace(rawID), strings.TrimSpace(rawType)
		if domain == "" && id == "" && ctype == "" {
			continue // blank row (other columns may hold notes)
		}
		idRef, _ := excelize.CoordinatesToCellName(idCol+1, n)
		switch {
		case domain == "" && id == "":
			m.add(SeverityError, CodeRowIncomplete, n, ColumnDomain, "row %d has a cert_type but neither a domain nor a certificate_id", n)
			continue
		case domain == "":
			m.add(SeverityError, CodeRowIncomplete, n, ColumnDomain, "row %d has certificate_id %q but no domain", n, id)
			continue
		case id == "":
			m.add(SeverityError, CodeRowIncomplete, n, ColumnCertificateID, "row %d has domain %q but no certificate_id (%s is empty)", n, domain, idRef)
			continue
		}
		out := Row{Row: n, Domain: domain, CertificateID: id}
		// Domain.
		if name, err := NormaliseDomain(domain); err != nil {
			ref, _ := excelize.CoordinatesToCellName(hdr.col[ColumnDomain]+1, n)
			m.add(SeverityError, CodeBadDomain, n, ColumnDomain, "row %d: domain %q in %s: %v", n, domain, ref, err)
		} else {
			out.Domain = name
			if first, dup := firstRow[name]; dup {
				m.add(SeverityError, CodeDuplicateDomain, n, ColumnDomain, "row %d: domain %s is already mapped on row %d", n, name, first)
			} else {
				firstRow[name] = n
			}
			if c != nil && !c.Covers(name) {
				m.add(SeverityError, CodeDomainNotCovered, n, ColumnDomain, "row %d: domain %s is not covered by the certificate (names: %s)", n, name, strings.Join(c.Names(), ", "))
			}
		}
		// Certificate ID: numbers are read raw and must survive a spreadsheet exactly.
		typ, err := f.GetCellType(hdr.sheet, idRef)
		if err != nil {
			m.add(SeverityError, CodeUnreadable, n, ColumnCertificateID, "row %d: cannot read the type of %s: %v", n, idRef, err)
		} else {
			out.CertificateID = checkID(m, n, idRef, id, typ)
		}
		// Cert type.
		if hasType {
			ct := strings.ToUpper(ctype)
			if ct != CertTypeRSA && ct != CertTypeECC {
				ref, _ := excelize.CoordinatesToCellName(hdr.col[ColumnCertType]+1, n)
				if ctype == "" {
					m.add(SeverityError, CodeBadCertType, n, ColumnCertType, "row %d: cert_type in %s is empty: want RSA or ECC", n, ref)
				} else {
					m.add(SeverityError, CodeBadCertType, n, ColumnCertType, "row %d: cert_type %q in %s: want RSA or ECC", n, ctype, ref)
				}
			}
			out.CertType = ct
		}
		m.Rows = append(m.Rows, out)
	}
	if len(m.Rows) == 0 && !hasErrors(m.Findings) {
		m.add(SeverityError, CodeNoRows, 0, "", "sheet %q has a header on row %d but no mapping rows below it", hdr.sheet, hdr.row)
	}
}

var (
	sciNotation = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+$`)
	zeroTail    = regexp.MustCompile(`^([0-9]+)\.0+$`)
	digitsOnly  = regexp.MustCompile(`^[0-9]+$`)
)

// checkID validates a certificate_id cell and returns the ID as it should be used. A CAS
// certificate ID is a positive whole number: a number cell must hold one exactly (at most 15
// significant digits, C13), a text cell must be plain digits, not zero.
func checkID(m *Mapping, n int, ref, raw string, typ excelize.CellType) string {
	switch typ {
	case excelize.CellTypeUnset, excelize.CellTypeNumber:
		digits, ok := integralDigits(raw)
		if !ok {
			m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id in %s is the number %s, not a positive whole number; store the CAS certificate ID as text", n, ref, raw)
			return raw
		}
		if digits == "0" {
			m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id in %s is the number %s: zero is not a CAS certificate ID", n, ref, raw)
			return digits
		}
		if len(strings.TrimLeft(digits, "0")) > maxExactDigits {
			m.add(SeverityError, CodeNumericIDRounded, n, ColumnCertificateID,
				"row %d: certificate_id in %s is stored as the number %s (%d digits); spreadsheets keep only %d significant digits, so it has been rounded: store it as text",
				n, ref, raw, len(digits), maxExactDigits)
		}
		return digits
	case excelize.CellTypeBool, excelize.CellTypeError, excelize.CellTypeDate:
		m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id in %s is %q, not an identifier", n, ref, raw)
		return raw
	}
	// Text: exact, except for artefacts other tools left behind.
	if sciNotation.MatchString(raw) {
		m.add(SeverityError, CodeNumericIDRounded, n, ColumnCertificateID,
			"row %d: certificate_id in %s is the text %q, a number in scientific notation: a tool rounded the ID before it was stored; store the full ID as text", n, ref, raw)
		return raw
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id %q in %s contains white space", n, raw, ref)
		return raw
	}
	digits := raw
	if z := zeroTail.FindStringSubmatch(raw); z != nil {
		digits = z[1]
	}
	if !digitsOnly.MatchString(digits) {
		m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id %q in %s is not a CAS certificate ID: want a positive whole number", n, raw, ref)
		return raw
	}
	id := strings.TrimLeft(digits, "0")
	if id == "" {
		m.add(SeverityError, CodeBadCertificateID, n, ColumnCertificateID, "row %d: certificate_id %q in %s is zero: a CAS certificate ID is a positive whole number", n, raw, ref)
		return raw
	}
	if id != raw {
		m.add(SeverityWarning, CodeIDNormalised, n, ColumnCertificateID, "row %d: certificate_id in %s is %q; read as %s", n, ref, raw, id)
	}
	return id
}

// integralDigits turns the raw text of a numeric cell into plain digits when it is a
// non-negative whole number: "12345678901234", "12345678901234.0" and "1.2345678901234E+13"
// all give "12345678901234".
func integralDigits(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if digitsOnly.MatchString(raw) {
		if t := strings.TrimLeft(raw, "0"); t != "" {
			return t, true
		}
		return "0", true
	}
	if m := zeroTail.FindStringSubmatch(raw); m != nil {
		return integralDigits(m[1])
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || v < 0 || v != math.Trunc(v) || math.IsInf(v, 0) || v >= 1e30 {
		return "", false
	}
	return strconv.FormatFloat(v, 'f', 0, 64), true
}

// normaliseHeader folds a header cell for matching: BOM and zero-width characters dropped,
// trimmed, lower case, runs of space, underscore and hyphen as one underscore.
func normaliseHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\uFEFF', '\u200B', '\u200C', '\u200D', '\u2060':
			return -1
		}
		return r
	}, s)
	s = strings.ToLower(strings.TrimSpace(s))
	var b strings.Builder
	sep := false
	for _, r := range s {
		if r == ' ' || r == '_' || r == '-' || r == '\u00A0' || r == '\t' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('_')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}

var canonical = []string{ColumnDomain, ColumnCertificateID, ColumnCertType}

// matchHeader reads one candidate header row.
func matchHeader(sheet string, hidden bool, rowNum int, cells []string) *header {
	h := &header{sheet: sheet, hidden: hidden, row: rowNum, col: map[string]int{}, odd: map[string]string{}}
	for i, c := range cells {
		if strings.TrimSpace(c) == "" {
			continue
		}
		h.found = append(h.found, c)
		n := normaliseHeader(c)
		for _, want := range canonical {
			if n != want {
				continue
			}
			if _, dup := h.col[want]; dup {
				h.dups = append(h.dups, want)
				continue
			}
			h.col[want] = i
			if c != want {
				h.odd[want] = c
			}
		}
	}
	return h
}

// findMappingSheet picks the sheet with the best mapping header and reports header problems.
// It returns nil when no sheet has any mapping column or when the choice is ambiguous.
func findMappingSheet(f *excelize.File) (*header, []Finding) {
	var findings []Finding
	add := func(sev, code, col, format string, args ...any) {
		findings = append(findings, Finding{Severity: sev, Code: code, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	sheets := f.GetSheetList()
	var best []*header
	score := 0
	for _, name := range sheets {
		visible, _ := f.GetSheetVisible(name)
		h := sheetHeader(f, name, !visible)
		if h == nil {
			continue
		}
		switch s := len(h.col); {
		case s > score:
			best, score = []*header{h}, s
		case s == score:
			best = append(best, h)
		}
	}
	if len(best) == 0 {
		add(SeverityError, CodeNoMatchingSheet, "", "no sheet has a header row with domain, certificate_id and cert_type in its first %d rows (sheets: %s)", headerScanRows, describeSheets(f, sheets))
		return nil, findings
	}
	if len(best) > 1 {
		names := make([]string, len(best))
		for i, h := range best {
			names[i] = quoteSheet(h.sheet, h.hidden)
		}
		add(SeverityError, CodeAmbiguousSheet, "", "several sheets have an equally good mapping header (%s): keep one mapping sheet", strings.Join(names, ", "))
		return nil, findings
	}
	h := best[0]
	found := make([]string, len(h.found))
	for i, s := range h.found {
		found[i] = strconv.Quote(s)
	}
	for _, want := range canonical {
		if _, ok := h.col[want]; !ok {
			add(SeverityError, CodeMissingColumn, want, "sheet %q row %d has no %s column (headers found: %s)", h.sheet, h.row, want, strings.Join(found, ", "))
		}
	}
	for _, d := range h.dups {
		add(SeverityError, CodeDuplicateColumn, d, "sheet %q row %d has two %s columns (headers found: %s)", h.sheet, h.row, d, strings.Join(found, ", "))
	}
	for _, want := range canonical {
		if odd, ok := h.odd[want]; ok {
			add(SeverityWarning, CodeHeaderSpelling, want, "sheet %q row %d: header %q read as %s; write it exactly as %s", h.sheet, h.row, odd, want, want)
		}
	}
	if h.hidden {
		add(SeverityWarning, CodeHiddenSheetChosen, "", "the mapping is on the hidden sheet %q", h.sheet)
	}
	return h, findings
}

// sheetHeader returns the first row among the first few that names any mapping column.
func sheetHeader(f *excelize.File, sheet string, hidden bool) *header {
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil
	}
	defer rows.Close()
	for n := 1; n <= headerScanRows && rows.Next(); n++ {
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil
		}
		if h := matchHeader(sheet, hidden, n, cells); len(h.col) > 0 {
			return h
		}
	}
	return nil
}

func describeSheets(f *excelize.File, sheets []string) string {
	if len(sheets) == 0 {
		return "none"
	}
	out := make([]string, len(sheets))
	for i, s := range sheets {
		visible, _ := f.GetSheetVisible(s)
		out[i] = quoteSheet(s, !visible)
	}
	return strings.Join(out, ", ")
}

func quoteSheet(name string, hidden bool) string {
	if hidden {
		return strconv.Quote(name) + " (hidden)"
	}
	return strconv.Quote(name)
}

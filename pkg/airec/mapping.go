package airec

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
	"golang.org/x/net/idna"
)

// The three columns of certificate_info.xlsx, in canonical spelling and order.
const (
	ColumnDomain        = "domain"
	ColumnCertificateID = "certificate_id"
	ColumnCertType      = "cert_type"
)

// Certificate types AIRec accepts in the cert_type column.
const (
	CertTypeRSA = "RSA"
	CertTypeECC = "ECC"
)

// Finding severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Finding codes. Errors make a mapping invalid; warnings do not.
const (
	CodeUnreadable        = "unreadable"          // error: the sheet's cells cannot be read
	CodeNoMatchingSheet   = "no_matching_sheet"   // error: no sheet has a mapping header
	CodeAmbiguousSheet    = "ambiguous_sheet"     // error: several sheets have an equally good header
	CodeMissingColumn     = "missing_column"      // error: domain, certificate_id or cert_type absent
	CodeDuplicateColumn   = "duplicate_column"    // error: two headers name the same column
	CodeHeaderSpelling    = "header_spelling"     // warning: header matched only after normalising
	CodeNumericIDRounded  = "numeric_id_rounded"  // error: the ID is a number Excel cannot hold exactly
	CodeIDNormalised      = "id_normalised"       // warning: a reader artefact such as "123.0" was cleaned
	CodeBadCertificateID  = "bad_certificate_id"  // error: the ID is not a positive whole number, as CAS IDs are
	CodeRowIncomplete     = "row_incomplete"      // error: an ID without a domain or the reverse
	CodeDuplicateDomain   = "duplicate_domain"    // error: the same domain on two rows
	CodeBadDomain         = "bad_domain"          // error: not a host name
	CodeDomainNotCovered  = "domain_not_covered"  // error: the certificate does not cover the domain
	CodeBadCertType       = "bad_cert_type"       // error: cert_type is not RSA or ECC
	CodeNoRows            = "no_rows"             // error: the header has no data rows below it
	CodeHiddenSheetChosen = "hidden_sheet_chosen" // warning: the mapping is on a hidden sheet
)

// DefaultSheet is the sheet name BuildMapping writes.
const DefaultSheet = "Sheet1"

// Row is one data row of a mapping. Row is the 1-based spreadsheet row number.
type Row struct {
	Row           int    `json:"row"`
	Domain        string `json:"domain"`
	CertificateID string `json:"certificate_id"`
	CertType      string `json:"cert_type"`
}

// Finding is one problem found in a mapping. Column is the canonical column name
// (domain, certificate_id, cert_type) the finding is about, when there is one; the message
// also names the cell (e.g. B7).
type Finding struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Row      int    `json:"row,omitempty"`
	Column   string `json:"column,omitempty"`
	Message  string `json:"message"`
}

// String formats a finding for people: "error row 7 certificate_id: numeric_id_rounded: …".
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Severity)
	if f.Row > 0 {
		fmt.Fprintf(&b, " row %d", f.Row)
	}
	if f.Column != "" {
		b.WriteString(" " + f.Column)
	}
	b.WriteString(": " + f.Code + ": " + f.Message)
	return b.String()
}

// Mapping is what ReadMapping found: the sheet it chose, the complete rows, and every finding.
type Mapping struct {
	Sheet    string    `json:"sheet"`
	Rows     []Row     `json:"rows"`
	Findings []Finding `json:"findings"`
}

// Valid reports whether the mapping has no error findings.
func (m *Mapping) Valid() bool {
	for _, f := range m.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}

// Errors returns the error findings only.
func (m *Mapping) Errors() []Finding {
	var out []Finding
	for _, f := range m.Findings {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// Domains lists the domains of the rows, in row order.
func (m *Mapping) Domains() []string {
	out := make([]string, 0, len(m.Rows))
	for _, r := range m.Rows {
		out = append(out, r.Domain)
	}
	return out
}

// Coverer is the part of a certificate bundle the mapping needs: whether it covers a name,
// and its names for messages. *certs.Bundle satisfies it.
type Coverer interface {
	Covers(name string) bool
	Names() []string
}

// MappingError is returned by BuildMapping and FillTemplate when their input or template is
// unusable; Findings says why, row by row where that applies.
type MappingError struct {
	Op       string // "build" or "fill template"
	Findings []Finding
}

func (e *MappingError) Error() string {
	msgs := make([]string, 0, len(e.Findings))
	for _, f := range e.Findings {
		if f.Severity == SeverityError {
			msgs = append(msgs, f.String())
		}
	}
	return "airec mapping " + e.Op + ": " + strings.Join(msgs, "; ")
}

// BuildMapping writes a new certificate_info.xlsx to w: one sheet (DefaultSheet) with the
// header row domain, certificate_id, cert_type and one row per domain. The certificate ID is
// written as a text cell with the text number format "@", so neither Excel nor a reader turns
// a long numeric ID into a rounded number. Domains are normalised (lower case, A-labels, no
// trailing dot). It uses excelize's StreamWriter, so large mappings build fast. Bad input
// (an ID that is not a CAS certificate ID — a positive whole number in plain digits —, unknown
// cert type, bad or duplicate domain) is a *MappingError and nothing is written.
func BuildMapping(w io.Writer, certID string, certType string, domains []string) error {
	rows, err := mappingRows("build", certID, certType, domains)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // 49 = "@", text
	if err != nil {
		return fmt.Errorf("airec mapping build: text style: %w", err)
	}
	sw, err := f.NewStreamWriter(DefaultSheet)
	if err != nil {
		return fmt.Errorf("airec mapping build: %w", err)
	}
	if err := sw.SetColWidth(1, 1, 40); err != nil {
		return fmt.Errorf("airec mapping build: %w", err)
	}
	if err := sw.SetColWidth(2, 3, 22); err != nil {
		return fmt.Errorf("airec mapping build: %w", err)
	}
	if err := sw.SetRow("A1", []any{ColumnDomain, ColumnCertificateID, ColumnCertType}); err != nil {
		return fmt.Errorf("airec mapping build: header: %w", err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		vals := []any{
			excelize.Cell{StyleID: text, Value: r.Domain},
			excelize.Cell{StyleID: text, Value: r.CertificateID},
			excelize.Cell{StyleID: text, Value: r.CertType},
		}
		if err := sw.SetRow(cell, vals); err != nil {
			return fmt.Errorf("airec mapping build: row %d: %w", i+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("airec mapping build: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("airec mapping build: write: %w", err)
	}
	return nil
}

// FillTemplate copies the xlsx template to w with its mapping sheet filled: the sheet whose
// header matches (as ReadMapping chooses it) gets one row per domain under the header, in the
// template's own columns; old values in those three columns are cleared first. Every other
// sheet, column, cell and style is kept. A template without a usable mapping header is a
// *MappingError naming the problem (missing column, no or ambiguous sheet); bad input is
// refused as by BuildMapping.
func FillTemplate(template io.Reader, w io.Writer, certID, certType string, domains []string) error {
	rows, err := mappingRows("fill template", certID, certType, domains)
	if err != nil {
		return err
	}
	f, err := openBounded(template)
	if err != nil {
		return fmt.Errorf("airec mapping fill template: %w", err)
	}
	defer f.Close()
	hdr, findings := findMappingSheet(f)
	if hdr == nil || hasErrors(findings) {
		return &MappingError{Op: "fill template", Findings: findings}
	}
	// Clear what the template had below the header in the mapping columns.
	all, err := f.GetRows(hdr.sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		return fmt.Errorf("airec mapping fill template: sheet %q: %w", hdr.sheet, err)
	}
	cols := []int{hdr.col[ColumnDomain], hdr.col[ColumnCertificateID], hdr.col[ColumnCertType]}
	for r := hdr.row + 1; r <= len(all); r++ {
		for _, c := range cols {
			if c < len(all[r-1]) && all[r-1][c] != "" {
				cell, _ := excelize.CoordinatesToCellName(c+1, r)
				if err := f.SetCellValue(hdr.sheet, cell, nil); err != nil {
					return fmt.Errorf("airec mapping fill template: clear %s: %w", cell, err)
				}
			}
		}
	}
	// The ID column gets the text format unless the template already styles it.
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return fmt.Errorf("airec mapping fill template: text style: %w", err)
	}
	for i, r := range rows {
		rowNum := hdr.row + 1 + i
		for j, v := range []string{r.Domain, r.CertificateID, r.CertType} {
			cell, _ := excelize.CoordinatesToCellName(cols[j]+1, rowNum)
			if err := f.SetCellStr(hdr.sheet, cell, v); err != nil {
				return fmt.Errorf("airec mapping fill template: %s: %w", cell, err)
			}
			if j == 1 {
				if st, _ := f.GetCellStyle(hdr.sheet, cell); st == 0 {
					if err := f.SetCellStyle(hdr.sheet, cell, cell, text); err != nil {
						return fmt.Errorf("airec mapping fill template: %s: %w", cell, err)
					}
				}
			}
		}
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("airec mapping fill template: write: %w", err)
	}
	return nil
}

// mappingRows validates the builder's input and returns the rows to write.
func mappingRows(op, certID, certType string, domains []string) ([]Row, error) {
	var findings []Finding
	bad := func(code, col, format string, args ...any) {
		findings = append(findings, Finding{Severity: SeverityError, Code: code, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	certID = strings.TrimSpace(certID)
	if msg := certIDProblem(certID); msg != "" {
		bad(CodeBadCertificateID, ColumnCertificateID, "%s", msg)
	}
	ct := strings.ToUpper(strings.TrimSpace(certType))
	if ct != CertTypeRSA && ct != CertTypeECC {
		bad(CodeBadCertType, ColumnCertType, "cert type %q: want RSA or ECC", certType)
	}
	if len(domains) == 0 {
		bad(CodeNoRows, ColumnDomain, "no domains given")
	}
	seen := make(map[string]int, len(domains))
	rows := make([]Row, 0, len(domains))
	for i, d := range domains {
		name, err := NormaliseDomain(d)
		if err != nil {
			bad(CodeBadDomain, ColumnDomain, "domain %d %q: %v", i+1, d, err)
			continue
		}
		if j, dup := seen[name]; dup {
			bad(CodeDuplicateDomain, ColumnDomain, "domain %q given twice (entries %d and %d)", name, j+1, i+1)
			continue
		}
		seen[name] = i
		rows = append(rows, Row{Row: len(rows) + 2, Domain: name, CertificateID: certID, CertType: ct})
	}
	if len(findings) > 0 {
		return nil, &MappingError{Op: op, Findings: findings}
	}
	return rows, nil
}

// certIDProblem says what keeps a trimmed builder input from being a CAS certificate ID,
// or "" when it is one. CAS IDs are positive whole numbers; they are kept as digit strings,
// never parsed, so IDs longer than a spreadsheet number (C13) stay exact.
func certIDProblem(id string) string {
	switch {
	case id == "":
		return "certificate ID is empty"
	case strings.ContainsAny(id, " \t\r\n"):
		return fmt.Sprintf("certificate ID %q contains white space", id)
	case !digitsOnly.MatchString(id):
		return fmt.Sprintf("certificate ID %q is not a CAS certificate ID: want a positive whole number such as 12345678", id)
	case strings.TrimLeft(id, "0") == "":
		return fmt.Sprintf("certificate ID %q is zero: a CAS certificate ID is a positive whole number", id)
	case id[0] == '0':
		return fmt.Sprintf("certificate ID %q has leading zeros: write it as CAS shows it (%s)", id, strings.TrimLeft(id, "0"))
	}
	return ""
}

// errNotHost is wrapped by NormaliseDomain for names that cannot be a custom domain.
var errNotHost = errors.New("not a host name")

// NormaliseDomain returns the canonical form of a custom domain: trimmed, lower case,
// IDN as A-labels, trailing dot removed. Wildcards, schemes, ports, paths and empty labels are
// rejected: an AIRec custom domain is one host name.
func NormaliseDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	switch {
	case d == "":
		return "", fmt.Errorf("empty: %w", errNotHost)
	case strings.Contains(d, "://"), strings.ContainsAny(d, "/:?#@ "):
		return "", fmt.Errorf("has a scheme, port, path or space: %w", errNotHost)
	case strings.Contains(d, "*"):
		return "", fmt.Errorf("wildcard: a custom domain is one host name: %w", errNotHost)
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNotHost, err)
	}
	if !strings.Contains(a, ".") || len(a) > 253 {
		return "", fmt.Errorf("needs at least two labels and at most 253 characters: %w", errNotHost)
	}
	return a, nil
}

func hasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

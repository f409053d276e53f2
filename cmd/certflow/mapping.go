package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/certs"
)

const mappingUsage = `usage:
  certflow mapping build --cert-id ID --cert-type RSA|ECC --domain D [--domain D...] [--template FILE] -o FILE
  certflow mapping check FILE [--cert FILE] [--json]

build writes an AIRec certificate_info.xlsx (header domain, certificate_id, cert_type; IDs as
text cells), or fills the mapping sheet of --template keeping its other sheets and styles.
--cert-id is the CAS certificate ID, a positive whole number (e.g. 12345678); anything else is
refused. -o - writes to stdout. --domain may repeat or hold a comma-separated list.

check reads any certificate_info.xlsx the way the binder does and prints every finding with its
row and column (a certificate_id that is not a positive whole number is an error);
--cert FILE (PEM) also requires each domain to be covered by that certificate.
Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.
`

// parseInterleaved parses flags that may come before or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runMapping(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, mappingUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "build":
		return runMappingBuild(args[1:], stdout, stderr)
	case "check":
		return runMappingCheck(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "certflow mapping: unknown subcommand %q\n\n%s", args[0], mappingUsage)
	return exitUsage
}

func runMappingBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("certflow mapping build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mappingUsage) }
	var domains listFlag
	certID := fs.String("cert-id", "", "CAS certificate ID (a positive whole number) for the certificate_id column")
	certType := fs.String("cert-type", "", "RSA or ECC")
	template := fs.String("template", "", "xlsx template from the AIRec console to fill")
	out := fs.String("o", "", "output file (- for stdout)")
	fs.Var(&domains, "domain", "custom domain (repeatable, or comma-separated)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) > 0:
		fmt.Fprintf(stderr, "certflow mapping build: unexpected argument %q\n", pos[0])
		return exitUsage
	case *out == "":
		fmt.Fprintln(stderr, "certflow mapping build: -o FILE is required")
		return exitUsage
	}
	var buf bytes.Buffer
	if *template != "" {
		tpl, err := os.ReadFile(*template)
		if err != nil {
			fmt.Fprintf(stderr, "certflow mapping build: template: %v\n", err)
			return exitUsage
		}
		err = airec.FillTemplate(bytes.NewReader(tpl), &buf, *certID, *certType, domains)
		if err != nil {
			fmt.Fprintf(stderr, "certflow mapping build: %s: %v\n", *template, err)
			return exitUsage
		}
	} else if err := airec.BuildMapping(&buf, *certID, *certType, domains); err != nil {
		fmt.Fprintf(stderr, "certflow mapping build: %v\n", err)
		return exitUsage
	}
	if *out == "-" {
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			fmt.Fprintf(stderr, "certflow mapping build: write: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "certflow mapping build: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "wrote %s: %d domains\n", *out, len(domains))
	return exitOK
}

// mappingReport is the --json output of mapping check.
type mappingReport struct {
	Valid    bool            `json:"valid"`
	Sheet    string          `json:"sheet"`
	Rows     []airec.Row     `json:"rows"`
	Findings []airec.Finding `json:"findings"`
}

func runMappingCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("certflow mapping check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mappingUsage) }
	certFile := fs.String("cert", "", "PEM certificate (chain) whose names must cover every domain")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "certflow mapping check: want exactly one FILE")
		return exitUsage
	}
	file := pos[0]
	var cov airec.Coverer
	if *certFile != "" {
		pemData, err := os.ReadFile(*certFile)
		if err != nil {
			fmt.Fprintf(stderr, "certflow mapping check: --cert: %v\n", err)
			return exitUsage
		}
		b, findings := certs.Parse(pemData, nil, certs.Options{CertSource: *certFile})
		if b == nil {
			for _, f := range findings {
				fmt.Fprintf(stderr, "certflow mapping check: %s\n", f)
			}
			fmt.Fprintf(stderr, "certflow mapping check: %s holds no usable certificate\n", *certFile)
			return exitUsage
		}
		cov = b
	}
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "certflow mapping check: %v\n", err)
		return exitUsage
	}
	m, err := airec.ReadMapping(bytes.NewReader(data), cov)
	if err != nil {
		fmt.Fprintf(stderr, "certflow mapping check: %s: %v\n", file, err)
		return exitUsage
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(mappingReport{Valid: m.Valid(), Sheet: m.Sheet, Rows: m.Rows, Findings: m.Findings}); err != nil {
			fmt.Fprintf(stderr, "certflow mapping check: write json: %v\n", err)
			return exitUsage
		}
	} else {
		writeMappingText(stdout, file, m)
	}
	if !m.Valid() {
		return exitFinding
	}
	return exitOK
}

func writeMappingText(w io.Writer, file string, m *airec.Mapping) {
	verdict := "valid"
	if !m.Valid() {
		verdict = "INVALID"
	}
	errs := len(m.Errors())
	sheet := "no mapping sheet"
	if m.Sheet != "" {
		sheet = fmt.Sprintf("sheet %q", m.Sheet)
	}
	fmt.Fprintf(w, "%s: %s, %d rows, %d errors, %d warnings: %s\n", file, sheet, len(m.Rows), errs, len(m.Findings)-errs, verdict)
	for _, f := range m.Findings {
		where := ""
		if f.Row > 0 {
			where += fmt.Sprintf(" row %d", f.Row)
		}
		if f.Column != "" {
			where += " column " + f.Column
		}
		fmt.Fprintf(w, "  %-7s %s%s: %s\n", f.Severity, f.Code, where, f.Message)
	}
}

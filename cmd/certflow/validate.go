package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/certs"
)

const validateUsage = `usage: certflow validate (--cert FILE [--key FILE] | --pfx FILE [--password-env VAR])
                        [--roots FILE] [--name DOMAIN]... [--warn-days N] [--passphrase-env VAR] [--json]

Checks a certificate bundle offline before it is deployed: PEM repairs (CRLF, BOM, indentation,
literal \n, flattened text), key encodings and encryption, key ↔ leaf match, chain order and
completeness against the system roots (plus --roots), SANs and the names that must be covered,
validity and key strength. Secrets come from environment variables, never from flags.
Exit status: 0 deployable (warnings allowed), 1 error findings, 2 usage or I/O error.

flags:
`

type validateOptions struct {
	bundle bundleInput
	certs  certs.Options
	json   bool
}

// parseValidate parses and checks the command line. Errors wrap errUsage; flag.ErrHelp is
// returned as is. Reading --roots happens here too, so a bad roots file is an I/O error.
func parseValidate(args []string, stderr io.Writer) (validateOptions, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o validateOptions
	var names listFlag
	o.bundle.register(fs, "PEM `file` with the private key (PKCS#8, PKCS#1 or SEC1)")
	roots := fs.String("roots", "", "PEM `file` of extra trusted roots, added to the system roots")
	fs.Var(&names, "name", "`domain` the certificate must cover; repeatable")
	warnDays := fs.Int("warn-days", 30, "warn when the leaf expires within `N` days (0 = never)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, validateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := o.bundle.check(); err != nil {
		return o, err
	}
	if *warnDays < 0 {
		return o, fmt.Errorf("%w: --warn-days %d must be 0 or more", errUsage, *warnDays)
	}
	pool, err := certs.LoadRoots(*roots)
	if err != nil {
		return o, fmt.Errorf("--roots: %w", err)
	}
	o.certs.Roots = pool
	o.certs.Names = names
	o.certs.WarnDays = *warnDays
	if *warnDays == 0 {
		o.certs.WarnDays = -1 // 0 on the command line means "never warn", not "default"
	}
	return o, nil
}

type validateResult struct {
	Valid    bool               `json:"valid"`
	Findings []certs.Finding    `json:"findings"`
	Leaf     *certs.Summary     `json:"leaf"`
	Chain    []certs.ChainEntry `json:"chain"`
}

// runValidate is `certflow validate`.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseValidate(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow validate: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}

	bundle, findings, err := o.bundle.load(o.certs)
	if err != nil {
		fmt.Fprintf(stderr, "certflow validate: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}

	res := validateResult{Valid: bundle != nil && !certs.HasErrors(findings), Findings: findings, Chain: []certs.ChainEntry{}}
	if res.Findings == nil {
		res.Findings = []certs.Finding{}
	}
	if bundle != nil {
		s := bundle.Summary()
		res.Leaf = &s
		res.Chain = bundle.Chain()
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "certflow validate: write json: %v\n", err)
			return exitUsage
		}
	} else {
		writeValidateText(stdout, res, bundle, o.bundle.hasKey())
	}
	if !res.Valid {
		return exitFinding
	}
	return exitOK
}

func writeValidateText(w io.Writer, res validateResult, b *certs.Bundle, keyGiven bool) {
	var errs, warns int
	for _, f := range res.Findings {
		if f.Severity == certs.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	if res.Valid {
		fmt.Fprintf(w, "VALID: deployable%s\n", validatePlural(warns, "warning", " (", ")"))
	} else {
		fmt.Fprintf(w, "INVALID: %s%s\n", validatePlural(errs, "error", "", ""), validatePlural(warns, "warning", ", ", ""))
	}
	if b != nil {
		s := res.Leaf
		fmt.Fprintf(w, "  subject  %s\n", s.Subject)
		fmt.Fprintf(w, "  names    %s\n", validateOrNone(strings.Join(s.SANs, ", ")))
		fmt.Fprintf(w, "  issuer   %s\n", s.Issuer)
		left := int(time.Until(s.NotAfter).Hours() / 24)
		fmt.Fprintf(w, "  valid    %s → %s (%d days left)\n", s.NotBefore.Format("2006-01-02"), s.NotAfter.Format("2006-01-02"), left)
		key := "not given"
		switch {
		case b.Key != nil:
			key = certs.KeyDescription(b.Key) + ", matches the leaf"
		case keyGiven:
			key = "not usable (see findings)"
		}
		fmt.Fprintf(w, "  key      %s\n", key)
		fmt.Fprintf(w, "  chain    leaf%s\n", validatePlural(len(b.Intermediates), "intermediate", " + ", ""))
		fmt.Fprintf(w, "  sha256   %s\n", s.SHA256)
	}
	if len(res.Findings) > 0 {
		fmt.Fprintln(w, "findings:")
		for _, f := range res.Findings {
			fmt.Fprintf(w, "  %-7s  %s: %s\n", f.Severity, f.Code, f.Message)
		}
	}
}

// plural renders "2 errors" framed by pre/post, or "" for zero.
func validatePlural(n int, word, pre, post string) string {
	if n == 0 {
		return ""
	}
	if n != 1 {
		word += "s"
	}
	return fmt.Sprintf("%s%d %s%s", pre, n, word, post)
}

func validateOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

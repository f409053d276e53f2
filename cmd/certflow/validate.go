package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

// maxBundleFile bounds what validate reads: certificate bundles are a few KB; anything
// near this size is the wrong file.
const maxBundleFile = 1 << 20

type validateOptions struct {
	cert, key, pfx string
	pfxPassword    string
	certs          certs.Options
	json           bool
}

// nameFlag collects repeated --name values.
type nameFlag []string

func (n *nameFlag) String() string { return strings.Join(*n, ",") }

func (n *nameFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty name")
	}
	*n = append(*n, v)
	return nil
}

// parseValidate parses and checks the command line. Errors wrap errUsage; flag.ErrHelp is
// returned as is. Reading --roots happens here too, so a bad roots file is an I/O error.
func parseValidate(args []string, stderr io.Writer) (validateOptions, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o validateOptions
	var names nameFlag
	fs.StringVar(&o.cert, "cert", "", "PEM `file` with the certificate chain (any order; may also hold the key)")
	fs.StringVar(&o.key, "key", "", "PEM `file` with the private key (PKCS#8, PKCS#1 or SEC1)")
	fs.StringVar(&o.pfx, "pfx", "", "PFX/PKCS#12 `file` with certificate, chain and key")
	passwordEnv := fs.String("password-env", "", "environment `variable` holding the PFX password")
	passphraseEnv := fs.String("passphrase-env", "", "environment `variable` holding the passphrase of an encrypted PEM key")
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
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case o.cert == "" && o.pfx == "":
		return o, fmt.Errorf("%w: give --cert FILE (with --key FILE) or --pfx FILE", errUsage)
	case o.cert != "" && o.pfx != "":
		return o, fmt.Errorf("%w: --cert and --pfx exclude each other", errUsage)
	case o.key != "" && o.pfx != "":
		return o, fmt.Errorf("%w: --key goes with --cert; a PFX carries its own key", errUsage)
	case *passwordEnv != "" && o.pfx == "":
		return o, fmt.Errorf("%w: --password-env is for --pfx; use --passphrase-env for an encrypted PEM key", errUsage)
	case *warnDays < 0:
		return o, fmt.Errorf("%w: --warn-days %d must be 0 or more", errUsage, *warnDays)
	}
	if *passwordEnv != "" {
		v, ok := os.LookupEnv(*passwordEnv)
		if !ok {
			return o, fmt.Errorf("%w: environment variable %s (from --password-env) is not set", errUsage, *passwordEnv)
		}
		o.pfxPassword = v
	}
	if *passphraseEnv != "" {
		v, ok := os.LookupEnv(*passphraseEnv)
		if !ok {
			return o, fmt.Errorf("%w: environment variable %s (from --passphrase-env) is not set", errUsage, *passphraseEnv)
		}
		o.certs.Passphrase = []byte(v)
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

// readBundleFile reads a small input file; the error names the flag and the file.
func readBundleFile(flagName, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBundleFile+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: read %s: %w", flagName, path, err)
	}
	if len(data) > maxBundleFile {
		return nil, fmt.Errorf("--%s: %s is larger than %d bytes; that is not a certificate bundle", flagName, path, maxBundleFile)
	}
	return data, nil
}

// validateResult is the JSON output of `certflow validate`.
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

	var (
		bundle   *certs.Bundle
		findings []certs.Finding
	)
	if o.pfx != "" {
		data, err := readBundleFile("pfx", o.pfx)
		if err != nil {
			fmt.Fprintf(stderr, "certflow validate: %v\n", err)
			return exitUsage
		}
		o.certs.CertSource = o.pfx
		bundle, findings = certs.ParsePFX(data, o.pfxPassword, o.certs)
	} else {
		certPEM, err := readBundleFile("cert", o.cert)
		if err != nil {
			fmt.Fprintf(stderr, "certflow validate: %v\n", err)
			return exitUsage
		}
		var keyPEM []byte
		if o.key != "" {
			if keyPEM, err = readBundleFile("key", o.key); err != nil {
				fmt.Fprintf(stderr, "certflow validate: %v\n", err)
				return exitUsage
			}
			if keyPEM == nil {
				keyPEM = []byte{} // an empty key file is a key input without a key: key_missing
			}
		}
		o.certs.CertSource, o.certs.KeySource = o.cert, o.key
		bundle, findings = certs.Parse(certPEM, keyPEM, o.certs)
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
		writeValidateText(stdout, res, bundle, o.key != "" || o.pfx != "")
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

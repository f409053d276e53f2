package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/certs"
)

// listFlag collects a repeatable flag; each value may be a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// bundleInput is a certificate bundle named on the command line: --cert (with an optional
// --key) as PEM, or --pfx. Passwords and passphrases come only from environment variables,
// never from the command line (which other users can read in the process list).
type bundleInput struct {
	cert, key, pfx             string
	passwordEnv, passphraseEnv string
}

func (b *bundleInput) register(fs *flag.FlagSet, keyHelp string) {
	fs.StringVar(&b.cert, "cert", "", "PEM `file` with the certificate chain (any order; may also hold the key)")
	fs.StringVar(&b.key, "key", "", keyHelp)
	fs.StringVar(&b.pfx, "pfx", "", "PFX/PKCS#12 `file` with certificate, chain and key")
	fs.StringVar(&b.passwordEnv, "password-env", "", "environment `variable` holding the PFX password")
	fs.StringVar(&b.passphraseEnv, "passphrase-env", "", "environment `variable` holding the passphrase of an encrypted PEM key")
}

// check reports a bad combination of flags; errors wrap errUsage.
func (b *bundleInput) check() error {
	switch {
	case b.cert == "" && b.pfx == "":
		return fmt.Errorf("%w: give --cert FILE (with --key FILE) or --pfx FILE", errUsage)
	case b.cert != "" && b.pfx != "":
		return fmt.Errorf("%w: --cert and --pfx exclude each other", errUsage)
	case b.key != "" && b.pfx != "":
		return fmt.Errorf("%w: --key goes with --cert; a PFX carries its own key", errUsage)
	case b.passwordEnv != "" && b.pfx == "":
		return fmt.Errorf("%w: --password-env is for --pfx; use --passphrase-env for an encrypted PEM key", errUsage)
	}
	return nil
}

// hasKey reports whether a private key was given (a PFX always carries one).
func (b *bundleInput) hasKey() bool { return b.key != "" || b.pfx != "" }

// load reads and parses the bundle with opts (its Passphrase and sources are filled in
// here). Errors — a missing variable, an unreadable file — name the flag and the file;
// problems with the certificate itself are findings.
func (b *bundleInput) load(opts certs.Options) (*certs.Bundle, []certs.Finding, error) {
	if b.passphraseEnv != "" {
		v, err := lookupSecret("passphrase-env", b.passphraseEnv)
		if err != nil {
			return nil, nil, err
		}
		opts.Passphrase = []byte(v)
	}
	if b.pfx != "" {
		password := ""
		if b.passwordEnv != "" {
			var err error
			if password, err = lookupSecret("password-env", b.passwordEnv); err != nil {
				return nil, nil, err
			}
		}
		data, err := readBundleFile("pfx", b.pfx)
		if err != nil {
			return nil, nil, err
		}
		opts.CertSource = b.pfx
		bundle, findings := certs.ParsePFX(data, password, opts)
		return bundle, findings, nil
	}
	certPEM, err := readBundleFile("cert", b.cert)
	if err != nil {
		return nil, nil, err
	}
	var keyPEM []byte
	if b.key != "" {
		if keyPEM, err = readBundleFile("key", b.key); err != nil {
			return nil, nil, err
		}
		if keyPEM == nil {
			keyPEM = []byte{} // an empty key file is a key input without a key: key_missing
		}
	}
	opts.CertSource, opts.KeySource = b.cert, b.key
	bundle, findings := certs.Parse(certPEM, keyPEM, opts)
	return bundle, findings, nil
}

func lookupSecret(flagName, env string) (string, error) {
	v, ok := os.LookupEnv(env)
	if !ok {
		return "", fmt.Errorf("%w: environment variable %s (from --%s) is not set", errUsage, env, flagName)
	}
	return v, nil
}

// maxBundleFile bounds what a bundle read takes: certificate bundles are a few KB; anything
// much larger is the wrong file, and reading it whole would only waste memory.
const maxBundleFile = 1 << 20

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

// loadCloudEnv is the set-up of the commands that call the cloud (deploy, bind): the targets
// file, extra trust roots, and credentials from the environment. Errors are the caller's
// to print; every one is a usage or set-up error (exit 2).
func loadCloudEnv(cfgPath, roots string) (*app.Env, error) {
	env, err := app.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if roots != "" {
		if env.Roots, err = app.Roots(env.Config.Roots, roots); err != nil {
			return nil, err
		}
	}
	if env.Creds.Get().IsZero() {
		return nil, fmt.Errorf("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	}
	return env, nil
}

// writeFileAtomic writes data to path through a temporary file in the same folder and a
// rename, so readers never see half a file. A destination that exists and is not a regular
// file (/dev/stdout, /dev/null, a pipe) is written in place instead: renaming over it would
// replace the device with a plain file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".certflow-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// cloudCommand holds the flags shared by the commands that act on one CAS certificate in
// the cloud (deploy, bind) and parses them.
type cloudCommand struct {
	name, usage string
	fs          *flag.FlagSet
	config      *string
	certID      *int64
	roots       *string
	timeout     *time.Duration
	json        *bool
}

func newCloudCommand(name, usage string, timeout time.Duration, stderr io.Writer) *cloudCommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return &cloudCommand{name: name, usage: usage, fs: fs,
		config:  fs.String("config", "", "targets file (YAML)"),
		certID:  fs.Int64("cert-id", 0, "CAS certificate ID"),
		roots:   fs.String("roots", "", "extra trust roots PEM (private CAs)"),
		timeout: fs.Duration("timeout", timeout, "deadline for the whole run"),
		json:    fs.Bool("json", false, "print the report as JSON"),
	}
}

// parse parses args and loads the cloud environment. It returns the exit code to stop with
// (exitOK after -h, exitUsage on a usage or set-up error) and ok=false, or the environment.
func (c *cloudCommand) parse(args []string, stderr io.Writer) (env *app.Env, code int, ok bool) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		return nil, exitUsage, false
	}
	var problem string
	switch {
	case *c.config == "":
		problem = "give --config FILE"
	case *c.certID <= 0:
		problem = "give --cert-id N (the CAS certificate ID, a positive number)"
	case c.fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q", c.fs.Arg(0))
	}
	if problem != "" {
		fmt.Fprintf(stderr, "certflow %s: %s\n\n%s", c.name, problem, c.usage)
		return nil, exitUsage, false
	}
	env, err := loadCloudEnv(*c.config, *c.roots)
	if err != nil {
		fmt.Fprintf(stderr, "certflow %s: %v\n", c.name, err)
		return nil, exitUsage, false
	}
	return env, exitOK, true
}

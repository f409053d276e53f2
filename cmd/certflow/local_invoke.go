package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/certflow/certflow/pkg/localfc"
	"github.com/certflow/certflow/pkg/sconfig"
)

// localInvoke is `certflow local invoke FUNCTION (--event-file FILE | --event JSON) [--s-yaml FILE]`:
// the local `s invoke`. It runs the compiled bin/<fn>/main exactly as FC would (pkg/localfc),
// with the function's s.yaml settings, and prints the log tail, the result and the error type.
// Exit 0 on success, 1 when the function failed, 2 on usage or setup errors.
func localInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("certflow local invoke", flag.ContinueOnError)
	flags.SetOutput(stderr)
	eventFile := flags.String("event-file", "", "file whose content is the event (sent verbatim, JSON compacted)")
	event := flags.String("event", "", "the event as a string (sent verbatim, JSON compacted)")
	syaml := flags.String("s-yaml", "s.yaml", "Serverless Devs file describing the functions")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: certflow local invoke FUNCTION (--event-file FILE | --event JSON) [--s-yaml FILE]")
		fmt.Fprintln(stderr, "\nFUNCTION is an s.yaml resource (deployer) or function name (certflow-deployer).")
		fmt.Fprintln(stderr, "The binary must be built first (make functions). CERTFLOW_ENDPOINT, CERTFLOW_MNS_ENDPOINT,")
		fmt.Fprintln(stderr, "CERTFLOW_ROOTS, CERTFLOW_TIMEOUT, CERTFLOW_TARGETS and ALIBABA_CLOUD_* credentials are handed to the function when set.")
		flags.PrintDefaults()
	}
	// The function name may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case name == "" && flags.NArg() == 1:
		name = flags.Arg(0)
	case name == "" || flags.NArg() > 0:
		flags.Usage()
		return exitUsage
	}
	payload, err := readEvent(*event, *eventFile)
	if err != nil {
		fmt.Fprintf(stderr, "certflow local invoke: %v\n", err)
		return exitUsage
	}

	account := os.Getenv("CERTFLOW_ACCOUNT_ID")
	if account == "" {
		account = "1234567890123456" // the local cloud's default account
	}
	proj, err := sconfig.Load(*syaml, sconfig.LoadOptions{Config: map[string]string{"AccountID": account}})
	if err != nil {
		fmt.Fprintf(stderr, "certflow local invoke: %v\n", err)
		return exitUsage
	}
	sfn, ok := proj.Function(name)
	if !ok {
		var names []string
		for _, f := range proj.Functions() {
			names = append(names, f.Name)
		}
		fmt.Fprintf(stderr, "certflow local invoke: %s: no function %q (have %s)\n", *syaml, name, strings.Join(names, ", "))
		return exitUsage
	}
	fn := localfc.FromSConfig(proj, sfn)
	if _, err := os.Stat(fn.Binary); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "certflow local invoke: %s: compiled function %s not found: run make functions\n",
				sfn.Name, relPath(fn.Binary))
		} else {
			fmt.Fprintf(stderr, "certflow local invoke: %s: %v\n", sfn.Name, err)
		}
		return exitUsage
	}
	for k, v := range localfc.PassThrough(os.LookupEnv) {
		if k == "CERTFLOW_TARGETS" || k == "CERTFLOW_ROOTS" {
			// The instance runs in its code folder: a relative path must not move with it.
			if abs, err := filepath.Abs(v); err == nil {
				v = abs
			}
		}
		fn.Env[k] = v
	}
	if creds, ok := localfc.CredentialsFrom(os.LookupEnv); ok {
		fn.Credentials = func() localfc.Credentials { return creds }
	}

	rt := localfc.New(localfc.Options{Region: sfn.Region, AccountID: account})
	defer rt.Close()
	if err := rt.Add(fn); err != nil {
		fmt.Fprintf(stderr, "certflow local invoke: %v\n", err)
		return exitUsage
	}
	res, err := rt.Invoke(ctx, fn.Name, payload)
	if err != nil {
		fmt.Fprintf(stderr, "certflow local invoke: %v\n", err)
		return exitUsage
	}
	localfc.WriteResult(stdout, fn, res)
	if res.Error != nil {
		return exitFinding
	}
	return exitOK
}

// readEvent returns the event bytes like `s local invoke`: the string or file verbatim, JSON
// compacted; neither gives an empty event.
func readEvent(event, file string) ([]byte, error) {
	if event != "" && file != "" {
		return nil, errors.New("give --event or --event-file, not both")
	}
	data := []byte(event)
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("event file: %w", err)
		}
	}
	if json.Valid(data) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err == nil {
			return buf.Bytes(), nil
		}
	}
	return data, nil
}

// relPath shows p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

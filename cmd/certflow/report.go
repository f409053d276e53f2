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

	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/report"
)

const reportUsage = `usage: certflow report --in FILE.json --html OUT.html [--title T] [--warn-days N]

Renders the JSON of a check run (certflow check --json, or the checker's report) as one
self-contained HTML page: endpoints and findings, and an expiry timeline. --in - reads stdin.

flags:
`

// runReport is `certflow report`.
func runReport(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "check run JSON `file` (- for stdin)")
	out := fs.String("html", "", "HTML `file` to write")
	title := fs.String("title", "", "page title")
	warnDays := fs.Int("warn-days", 0, "threshold line in `days` (default: the run's, else 30)")
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "certflow report: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *in == "" || *out == "" {
		return fail("--in and --html are both required")
	}
	if *warnDays < 0 {
		return fail("--warn-days %d must not be negative", *warnDays)
	}
	run, err := readRun(*in)
	if err != nil {
		return fail("%v", err)
	}
	var page bytes.Buffer
	if err := report.HTML(&page, run, report.Options{Title: *title, WarnDays: *warnDays}); err != nil {
		return fail("%v", err)
	}
	if err := writeFileAtomic(*out, page.Bytes(), 0o644); err != nil {
		return fail("%v", err)
	}
	s := run.Summary()
	fmt.Fprintf(stdout, "wrote %s: %d endpoint(s), %d ok, %d failing\n", *out, s.Total, s.OK, s.WithErrors)
	return exitOK
}

// readRun decodes a check run and insists on the "endpoints" array, so that some other JSON
// file passed by mistake is an error rather than an empty report.
func readRun(path string) (probe.Run, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
		path = "stdin"
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return probe.Run{}, fmt.Errorf("read %s: %w", path, err)
	}
	var shape struct {
		Endpoints *json.RawMessage `json:"endpoints"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		return probe.Run{}, fmt.Errorf("%s: not a check run: %w", path, err)
	}
	if shape.Endpoints == nil {
		return probe.Run{}, fmt.Errorf("%s: not a check run: no \"endpoints\" array", path)
	}
	var run probe.Run
	if err := json.Unmarshal(b, &run); err != nil {
		return probe.Run{}, fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range run.Endpoints {
		if e.Name == "" {
			return probe.Run{}, fmt.Errorf("%s: endpoints[%d]: no name", path, i)
		}
	}
	return run, nil
}

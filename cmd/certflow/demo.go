package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/certflow/certflow/pkg/demo"
)

// runDemo is `certflow demo [--bin DIR] [--s-yaml FILE] [--logs FILE] [--json FILE]`: the whole
// flow on the local cloud through the compiled functions (pkg/demo). It prints one line per
// stage and a verdict; exit 0 only when every endpoint serves the new certificate over verified
// TLS with enforcement on, 1 when the flow ran but did not get there, 2 when it could not run.
// Everything it starts is stopped before it exits, on SIGINT too.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("certflow demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	bin := flags.String("bin", "bin", "folder holding <function>/main (make functions)")
	syaml := flags.String("s-yaml", "s.yaml", "Serverless Devs file wiring the functions")
	logs := flags.String("logs", "", "write function output and trigger events to this file (default: discarded)")
	jsonOut := flags.String("json", "", "write the summary as JSON to this file")
	deliveries := flags.Int("deliveries", 2, "concurrent deliveries of the issued event (EventBridge delivers at least once)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "certflow demo: unexpected argument %q\n", flags.Arg(0))
		return exitUsage
	}
	opts := demo.Options{Bin: *bin, SYAML: *syaml, Out: stdout, Deliveries: *deliveries}
	if *logs != "" {
		f, err := os.Create(*logs)
		if err != nil {
			fmt.Fprintf(stderr, "certflow demo: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		opts.Logs = f
	}
	start := time.Now()
	sum, err := demo.Run(ctx, opts)
	fmt.Fprintf(stdout, "demo took %.1fs\n", time.Since(start).Seconds())
	if *jsonOut != "" && sum != nil {
		if b, jerr := json.MarshalIndent(sum, "", "  "); jerr == nil {
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintf(stderr, "certflow demo: %v\n", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow demo: %v\n", err)
		return exitUsage
	}
	if !sum.OK {
		return exitFinding
	}
	return exitOK
}

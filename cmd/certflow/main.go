// Command certflow is the command-line face of certflow: offline validation and planning,
// the local cloud, local function invocation, deploy/bind/check without Function Compute,
// and the benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0 // success: valid, deployable, clean
	exitFinding = 1 // the command ran, and what it checked has error findings
	exitUsage   = 2 // usage or I/O error
)

// command is one subcommand. run returns the process exit code; it writes results to
// stdout and diagnostics to stderr.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand; each lives in its own file in this folder.
var commands = map[string]command{
	// one line per subcommand, e.g. "validate": {"check a certificate bundle", runValidate},
	"check":    {"verify endpoints serve the right certificate over a trusted chain", runCheck},
	"report":   {"render a check run as a self-contained HTML page", runReport},
	"mapping":  {"build or check an AIRec certificate_info.xlsx", runMapping},
	"validate": {"check a certificate bundle (PEM or PFX) before deploying it", runValidate},
	"plan":     {"show which targets a certificate would be deployed to", runPlan},
	"local":    {"run the local cloud (local up) and local functions", runLocal},
	"deploy":   {"roll a CAS certificate out to every covered target", runDeploy},
	"demo":     {"run the whole flow on the local cloud", runDemo},
	"bind":     {"bind a certificate to AIRec without the queue", runBind},
	"bench":    {"run the benchmarks and write bench/results.{json,md}", runBench},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "certflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: certflow <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'certflow <command> -h' for a command's flags.")
}

// errUsage marks an error that is the caller's fault (exit code 2).
var errUsage = errors.New("usage")

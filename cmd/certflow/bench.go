package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/certflow/certflow/pkg/bench"
)

// benchOptions are the parsed flags of `certflow bench`.
type benchOptions struct {
	out        string
	sizes      []int
	ecs        int
	bin        string
	goBench    string
	coldRuns   int
	domains    int
	sequential bool
}

func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	fs := flag.NewFlagSet("certflow bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bench", "folder for results.json and results.md")
	sizes := fs.String("sizes", "100,1000", "estate sizes (targets) for the rollout and checker scenarios")
	ecs := fs.Int("ecs", 4, "ECS hosts per estate (each is a sandbox running a web server)")
	bin := fs.String("bin", "bin", "folder of the function binaries (<bin>/<function>/main, from make functions)")
	goBench := fs.String("gobench", "", "`go test -bench` output to fold into the results")
	coldRuns := fs.Int("cold-runs", 20, "cold starts per function binary")
	domains := fs.Int("domains", 10000, "domains in the mapping scenario")
	seq := fs.Bool("sequential", true, "also roll every estate out at concurrency 1")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: certflow bench [flags]\n\nRuns the benchmark scenarios on the local cloud and writes <out>/results.json and <out>/results.md.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return benchOptions{}, err
	}
	if fs.NArg() > 0 {
		return benchOptions{}, fmt.Errorf("usage: unexpected argument %q", fs.Arg(0))
	}
	o := benchOptions{out: *out, ecs: *ecs, bin: *bin, goBench: *goBench, coldRuns: *coldRuns, domains: *domains, sequential: *seq}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return benchOptions{}, fmt.Errorf("usage: --sizes: %q is not a positive number", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.ecs < 0 || o.coldRuns < 1 || o.domains < 1 {
		return benchOptions{}, fmt.Errorf("usage: --ecs must be >= 0, --cold-runs and --domains >= 1")
	}
	return o, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseBench(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow bench: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		os.Unsetenv(v) // everything is on 127.0.0.1
	}
	res := bench.Run(ctx, bench.Options{Sizes: o.sizes, ECS: o.ecs, BinDir: o.bin, ColdRuns: o.coldRuns,
		Domains: o.domains, GoBench: o.goBench, Sequential: o.sequential, Log: stderr})
	if err := writeBenchResults(o.out, res); err != nil {
		fmt.Fprintf(stderr, "certflow bench: %v\n", err)
		return exitUsage
	}
	res.WriteMarkdown(stdout)
	if len(res.Errors) > 0 {
		return exitFinding
	}
	return exitOK
}

func writeBenchResults(dir string, res *bench.Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"results.json": res.WriteJSON,
		"results.md":   func(w io.Writer) error { res.WriteMarkdown(w); return nil },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		werr := write(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", f.Name(), werr)
		}
	}
	return nil
}

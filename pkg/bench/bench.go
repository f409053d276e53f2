package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Options configure Run.
type Options struct {
	Sizes      []int    // rollout and checker estate sizes [100, 1000]
	ECS        int      // ECS hosts per estate [4]
	BinDir     string   // function binaries, <BinDir>/<fn>/main [bin]
	Functions  []string // [deployer binder checker]
	ColdRuns   int      // cold starts per binary [20]
	Domains    int      // mapping size [10000]
	GoBench    string   // `go test -bench` output to fold in; "" = none
	Sequential bool     // also run every size at concurrency 1 [set by the caller]
	Log        io.Writer
}

func (o *Options) defaults() {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{100, 1000}
	}
	if o.ECS == 0 {
		o.ECS = 4
	}
	if o.BinDir == "" {
		o.BinDir = "bin"
	}
	if len(o.Functions) == 0 {
		o.Functions = []string{"deployer", "binder", "checker"}
	}
	if o.ColdRuns == 0 {
		o.ColdRuns = 20
	}
	if o.Domains == 0 {
		o.Domains = 10000
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Run measures every scenario once, in order, and judges the figures. A scenario that
// fails is recorded in Results.Errors and the others still run.
func Run(ctx context.Context, o Options) *Results {
	o.defaults()
	r := &Results{Machine: ThisMachine(), StartedAt: time.Now()}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		r.Errors = append(r.Errors, msg)
		fmt.Fprintln(o.Log, "bench: error:", msg)
	}
	dir, err := os.MkdirTemp("", "certflow-bench-")
	if err != nil {
		fail("temp dir: %v", err)
		return r
	}
	defer os.RemoveAll(dir)
	sub := func(name string) string { return filepath.Join(dir, name) }
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "bench: "+format+"\n", args...) }

	for _, n := range o.Sizes {
		p := RolloutPair{Targets: n}
		modes := []int{0}
		if o.Sequential {
			modes = append(modes, 1)
		}
		for _, conc := range modes {
			logf("rollout %d targets, concurrency %d", n, conc)
			ro, err := RunRollout(ctx, RolloutOptions{Targets: n, ECS: o.ECS, Concurrency: conc, Dir: sub(fmt.Sprintf("rollout-%d-%d", n, conc))})
			if err != nil {
				fail("%v", err)
				continue
			}
			logf("  %.2f s, bound %.2f s (%s), efficiency %.3f", ro.WallSeconds, ro.Bound.Seconds, ro.Bound.Binding, ro.Efficiency)
			if conc == 1 {
				p.Sequential = &ro
			} else {
				p.Concurrent = &ro
			}
		}
		if p.Concurrent != nil && p.Sequential != nil {
			p.Speedup = p.Sequential.WallSeconds / p.Concurrent.WallSeconds
		}
		r.Rollouts = append(r.Rollouts, p)
	}

	largest := o.Sizes[len(o.Sizes)-1]
	logf("deployer binary, %d targets", largest)
	if d, err := RunDeployer(ctx, filepath.Join(o.BinDir, "deployer", "main"), largest, o.ECS, sub("deployer")); err != nil {
		fail("%v", err)
	} else {
		logf("  %.2f s, peak RSS %.1f MB", d.WallSeconds, d.PeakRSSMB)
		r.Deployer = &d
	}

	for _, n := range o.Sizes {
		logf("checker %d endpoints", n)
		c, err := RunChecker(ctx, n, o.ECS, sub(fmt.Sprintf("checker-%d", n)))
		if err != nil {
			fail("%v", err)
		}
		if c.Endpoints > 0 {
			logf("  %.3f s vs openssl %.2f s", c.WallSeconds, c.OpenSSLSecs)
			r.Checkers = append(r.Checkers, c)
		}
	}

	logf("footprint and cold start")
	bins, err := Footprint(ctx, o.BinDir, o.Functions, o.ColdRuns)
	if err != nil {
		fail("%v", err)
	}
	r.Binaries = bins

	logf("mapping %d domains", o.Domains)
	if m, err := RunMapping(o.Domains, 3); err != nil {
		fail("%v", err)
	} else {
		r.Mapping = &m
	}

	if o.GoBench != "" {
		if f, err := os.Open(o.GoBench); err != nil {
			fail("go benchmarks: %v", err)
		} else {
			gb, err := ParseGoBench(f)
			f.Close()
			if err != nil {
				fail("go benchmarks %s: %v", o.GoBench, err)
			}
			r.GoBenchmarks = gb
		}
	}
	r.DurationSeconds = time.Since(r.StartedAt).Seconds()
	r.Judge()
	return r
}

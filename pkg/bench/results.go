package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Results is everything one `certflow bench` run measured.
type Results struct {
	Machine         Machine       `json:"machine"`
	StartedAt       time.Time     `json:"startedAt"`
	DurationSeconds float64       `json:"durationSeconds"`
	Rollouts        []RolloutPair `json:"rollouts"`
	Deployer        *DeployerRun  `json:"deployer,omitempty"`
	Checkers        []Checker     `json:"checkers"`
	Binaries        []Binary      `json:"binaries"`
	Mapping         *Mapping      `json:"mapping,omitempty"`
	GoBenchmarks    []GoBench     `json:"goBenchmarks"`
	Verdicts        []Verdict     `json:"verdicts"`
	// Errors are scenarios that could not run; the others still ran.
	Errors []string `json:"errors,omitempty"`
}

// RolloutPair is the same estate rolled out by the engine at its default concurrency and
// at concurrency 1 (one target after another, as the peers do).
type RolloutPair struct {
	Targets    int      `json:"targets"`
	Concurrent *Rollout `json:"concurrent,omitempty"`
	Sequential *Rollout `json:"sequential,omitempty"`
	Speedup    float64  `json:"speedup"` // Sequential.WallSeconds / Concurrent.WallSeconds
}

// Verdict is one figure against its target.
type Verdict struct {
	Figure string  `json:"figure"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

// Judge fills r.Verdicts from the figures against the targets of issue 8.
func (r *Results) Judge() {
	r.Verdicts = nil
	add := func(fig string, v float64, target string, met bool) {
		r.Verdicts = append(r.Verdicts, Verdict{Figure: fig, Value: v, Target: target, Met: met})
	}
	for _, p := range r.Rollouts {
		if c := p.Concurrent; c != nil {
			add(fmt.Sprintf("rollout %d: efficiency (bound/wall)", p.Targets), c.Efficiency, ">= 0.9", c.Efficiency >= 0.9)
			add(fmt.Sprintf("rollout %d: throttles surfaced", p.Targets), float64(c.ThrottlesSurfaced), "= 0", c.ThrottlesSurfaced == 0)
			add(fmt.Sprintf("rollout %d: targets lost", p.Targets), float64(c.Lost), "= 0", c.Lost == 0)
		}
		if p.Concurrent != nil && p.Sequential != nil && p.Targets >= 1000 {
			add(fmt.Sprintf("rollout %d: speedup vs sequential", p.Targets), p.Speedup, ">= 10", p.Speedup >= 10)
		}
	}
	if d := r.Deployer; d != nil {
		add(fmt.Sprintf("deployer peak RSS at %d targets (MB)", d.Targets), d.PeakRSSMB, "<= 64", d.PeakRSSMB > 0 && d.PeakRSSMB <= 64)
	}
	for _, c := range r.Checkers {
		add(fmt.Sprintf("checker %d: speedup vs openssl loop", c.Endpoints), c.Speedup, ">= 50", c.Speedup >= 50)
	}
	for _, b := range r.Binaries {
		add(fmt.Sprintf("%s binary size (MB)", b.Function), b.MB, "<= 20", b.MB <= 20)
		add(fmt.Sprintf("%s cold start median (ms)", b.Function), b.ColdStartMedianMs, "<= 50", b.ColdStartMedianMs > 0 && b.ColdStartMedianMs <= 50)
	}
	if m := r.Mapping; m != nil {
		add(fmt.Sprintf("mapping %d domains build+validate (ms)", m.Domains), m.TotalMs, "<= 1000", m.Valid && m.TotalMs <= 1000)
	}
}

// WriteJSON writes r as indented JSON.
func (r *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the results tables.
func (r *Results) WriteMarkdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "# certflow benchmarks\n\n")
	fmt.Fprintf(w, "Measured in one run of `make bench` on %s: %s, %d cores, %s %s/%s; took %.0f s. ",
		r.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), m.CPU, m.Cores, m.GoVersion, m.OS, m.Arch, r.DurationSeconds)
	fmt.Fprintf(w, "See bench/README.md for what each figure means.\n\n")

	fmt.Fprintf(w, "## Targets\n\n| figure | value | target | met |\n|---|---:|---|---|\n")
	for _, v := range r.Verdicts {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v.Figure, num(v.Value), v.Target, yesNo(v.Met))
	}

	fmt.Fprintf(w, "\n## 1. Rollout (quotas on, %s injected latency per API call)\n\n", InjectedLatency)
	fmt.Fprintf(w, "| targets (CDN/CLB listeners/CLB SNI/ECS) | concurrency | wall s | bound s | binding quota | efficiency | calls | throttles seen | surfaced | lost | speedup |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range r.Rollouts {
		for _, ro := range []*Rollout{p.Concurrent, p.Sequential} {
			if ro == nil {
				continue
			}
			speed := ""
			if ro == p.Sequential && p.Speedup > 0 {
				speed = fmt.Sprintf("%.1f×", p.Speedup)
			}
			calls := 0
			for _, n := range ro.Calls {
				calls += n
			}
			fmt.Fprintf(w, "| %d (%d/%d/%d/%d) | %d | %.2f | %.2f | %s: %d calls at %s/s | %.3f | %d | %d | %d | %d | %s |\n",
				ro.Targets, ro.Mix.CDN, ro.Mix.CLBListeners, ro.Mix.CLBExtensions, ro.Mix.ECS, ro.Concurrency,
				ro.WallSeconds, ro.Bound.Seconds, ro.Bound.Binding, ro.Bound.BindingCalls, num(ro.Bound.BindingQPS),
				ro.Efficiency, calls, ro.ThrottlesSeen, ro.ThrottlesSurfaced, ro.Lost, speed)
		}
	}
	if d := r.Deployer; d != nil {
		fmt.Fprintf(w, "\nDeployer function binary through the local FC runtime, %d targets: %.2f s, %d deployed, %d failed, peak RSS (VmHWM) %.1f MB.",
			d.Targets, d.WallSeconds, d.Deployed, d.Failed, d.PeakRSSMB)
		if d.Error != "" {
			fmt.Fprintf(w, " Error: %s.", d.Error)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "\n## 2. Checker (verified TLS handshakes)\n\n")
	fmt.Fprintf(w, "| endpoints | checker wall s (ok) | openssl loop s (ok) | speedup | one probe ms | probes one after another s | wall / serial |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Checkers {
		fmt.Fprintf(w, "| %d | %.3f (%d) | %.2f (%d) | %.1f× | %.3f | %.2f | %.2f |\n", c.Endpoints, c.WallSeconds, c.OK,
			c.OpenSSLSecs, c.OpenSSLOK, c.Speedup, c.HandshakeNs/1e6, c.HandshakesSec, c.VsHandshakes)
	}
	if len(r.Checkers) > 0 {
		fmt.Fprintf(w, "\nopenssl: %s; checker concurrency %d.\n", r.Checkers[0].OpenSSL, r.Checkers[0].Concurrency)
	}

	fmt.Fprintf(w, "\n## 3. Footprint\n\n| function | size MB | cold start median ms (of %d) |\n|---|---:|---:|\n", coldRuns(r.Binaries))
	for _, b := range r.Binaries {
		fmt.Fprintf(w, "| %s | %.2f | %.1f |\n", b.Function, b.MB, b.ColdStartMedianMs)
	}

	if mp := r.Mapping; mp != nil {
		fmt.Fprintf(w, "\n## 4. Mapping\n\ncertificate_info.xlsx for %d domains (%d bytes): build %.0f ms + read and validate %.0f ms = %.0f ms (median of %d).\n",
			mp.Domains, mp.Bytes, mp.BuildMs, mp.ReadMs, mp.TotalMs, mp.Runs)
	}

	fmt.Fprintf(w, "\n## 5. Go benchmarks\n\n| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n")
	for _, b := range r.GoBenchmarks {
		var extra []string
		for k, v := range b.Metrics {
			extra = append(extra, fmt.Sprintf("%s %s", num(v), k))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(b.Package, "github.com/certflow/certflow/"), b.Name,
			num(b.NsPerOp), num(b.BytesPerOp), num(b.AllocsPerOp), strings.Join(extra, ", "))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\n## Scenarios that did not run\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

func coldRuns(bs []Binary) int {
	if len(bs) == 0 {
		return 0
	}
	return len(bs[0].ColdStartMs)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// num prints v compactly: integers without decimals, others with three significant places.
func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

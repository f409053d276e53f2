// Package report renders a check run (probe.Run) as one self-contained HTML page: a table of
// endpoints and their findings and an expiry timeline drawn as inline SVG. The page has no
// scripts and loads nothing, so it can be mailed, archived or opened offline. Every value from
// the run is escaped by html/template.
package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"

	"github.com/certflow/certflow/pkg/probe"
)

//go:embed report.html.tmpl
var pageTemplate string

// tmpl is parsed once; it is read-only after that, so sharing it is safe.
var tmpl = template.Must(template.New("report").Parse(pageTemplate))

// Options tune the page. The zero value is usable.
type Options struct {
	// Title heads the page ("certflow check" when empty).
	Title string
	// WarnDays draws the threshold line; 0 takes the run's WarnDays, then probe.DefaultWarnDays.
	WarnDays int
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 960.0
	labelWidth  = 280.0
	rightMargin = 60.0
	rowHeight   = 20.0
	topMargin   = 28.0
)

type page struct {
	Title     string
	CheckedAt string
	Summary   probe.Summary
	WarnDays  int
	Rows      []row
	Chart     chart
}

type row struct {
	probe.Result
	Verdict string // ok, warn, fail
}

type chart struct {
	Width, Height      float64
	ZeroX, ThresholdX  float64
	AxisTop, AxisBot   float64
	Bars               []bar
	Ticks              []tick
	ThresholdLabelText string
}

type bar struct {
	Y, TextY   float64
	X, W       float64
	Class      string
	Label      string
	Days       string
	DaysX      float64
	Tooltip    string
	NoCert     bool
	LabelWidth float64
}

type tick struct {
	X     float64
	Label string
}

// HTML writes the page for run to w. It returns w's write error, if any.
func HTML(w io.Writer, run probe.Run, opts Options) error {
	warn := opts.WarnDays
	if warn == 0 {
		warn = run.WarnDays
	}
	if warn == 0 {
		warn = probe.DefaultWarnDays
	}
	p := page{Title: opts.Title, Summary: run.Summary(), WarnDays: warn}
	if p.Title == "" {
		p.Title = "certflow check"
	}
	if !run.CheckedAt.IsZero() {
		p.CheckedAt = run.CheckedAt.UTC().Format(time.RFC3339)
	}
	for _, r := range run.Endpoints {
		v := "ok"
		switch {
		case !r.OK:
			v = "fail"
		case r.Warnings() > 0:
			v = "warn"
		}
		p.Rows = append(p.Rows, row{Result: r, Verdict: v})
	}
	p.Chart = buildChart(run.Endpoints, warn)
	if err := tmpl.Execute(w, p); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	return nil
}

// buildChart lays out one horizontal bar per endpoint, soonest expiry first, on a scale from
// min(0, most expired) to max(longest, 2×threshold) days; endpoints with no certificate go last.
func buildChart(eps []probe.Result, warn int) chart {
	sorted := append([]probe.Result(nil), eps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Served, sorted[j].Served
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		}
		return a.DaysLeft < b.DaysLeft
	})
	lo, hi := 0, 2*warn
	for _, r := range sorted {
		if r.Served == nil {
			continue
		}
		lo, hi = min(lo, r.Served.DaysLeft), max(hi, r.Served.DaysLeft)
	}
	if hi <= lo {
		hi = lo + 1
	}
	plotW := chartWidth - labelWidth - rightMargin
	x := func(d int) float64 { return labelWidth + float64(d-lo)/float64(hi-lo)*plotW }

	c := chart{
		Width:              chartWidth,
		Height:             topMargin + rowHeight*float64(len(sorted)) + 10,
		ZeroX:              x(0),
		ThresholdX:         x(warn),
		AxisTop:            topMargin - 6,
		AxisBot:            topMargin + rowHeight*float64(len(sorted)),
		ThresholdLabelText: fmt.Sprintf("%d days", warn),
	}
	for _, d := range ticks(lo, hi) {
		c.Ticks = append(c.Ticks, tick{X: x(d), Label: fmt.Sprintf("%d", d)})
	}
	for i, r := range sorted {
		y := topMargin + rowHeight*float64(i)
		b := bar{Y: y + 3, TextY: y + 14, Label: shorten(r.Name, 40), LabelWidth: labelWidth - 8}
		if r.Served == nil {
			b.NoCert, b.Days, b.DaysX = true, "no certificate served", x(0)+4
			c.Bars = append(c.Bars, b)
			continue
		}
		d := r.Served.DaysLeft
		x0, x1 := x(0), x(d)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		b.X, b.W = x0, max(x1-x0, 1)
		b.Days, b.DaysX = fmt.Sprintf("%d d", d), x1+4
		switch {
		case d < 0:
			b.Class = "expired"
		case d < warn:
			b.Class = "soon"
		default:
			b.Class = "fine"
		}
		b.Tooltip = fmt.Sprintf("%s: %d days left, not after %s", r.Name, d, r.Served.NotAfter.UTC().Format(time.RFC3339))
		c.Bars = append(c.Bars, b)
	}
	return c
}

// shorten keeps chart labels inside the label column; the table shows the full name.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ticks picks about six round day values across [lo, hi].
func ticks(lo, hi int) []int {
	span := hi - lo
	step := 1
	for _, s := range []int{1, 2, 5, 10, 15, 30, 60, 90, 180, 365, 730} {
		step = s
		if span/s <= 6 {
			break
		}
	}
	var out []int
	for d := (lo / step) * step; d <= hi; d += step {
		if d >= lo {
			out = append(out, d)
		}
	}
	return out
}

package probe

import (
	"context"
	"time"
)

// Run is one check run over many endpoints: the JSON that `certflow check --json` prints and
// `certflow report` reads. OK is true when no endpoint has an error finding.
type Run struct {
	OK        bool      `json:"ok"`
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	WarnDays  int       `json:"warnDays,omitempty"`
	Endpoints []Result  `json:"endpoints"`
}

// NewRun wraps results; OK is derived from them.
func NewRun(results []Result, checkedAt time.Time, warnDays int) Run {
	r := Run{OK: true, CheckedAt: checkedAt, WarnDays: warnDays, Endpoints: results}
	if r.Endpoints == nil {
		r.Endpoints = []Result{}
	}
	for _, e := range results {
		if !e.OK {
			r.OK = false
		}
	}
	return r
}

// Summary counts endpoints by outcome.
type Summary struct {
	Total, OK, WithErrors, WithWarnings int
}

// Summary counts the run's endpoints: WithWarnings counts endpoints that are OK but warned.
func (r Run) Summary() Summary {
	s := Summary{Total: len(r.Endpoints)}
	for _, e := range r.Endpoints {
		switch {
		case !e.OK:
			s.WithErrors++
		case e.Warnings() > 0:
			s.OK++
			s.WithWarnings++
		default:
			s.OK++
		}
	}
	return s
}

// Await probes ep (with ctx) until ok accepts the result or the time is past until,
// pausing every between tries, and returns the last result and whether ok accepted it.
// It always probes at least once. It is how a deployer waits out propagation: bounded in
// time, never by skipping verification.
func Await(ctx context.Context, ep Endpoint, opts Options, until time.Time, every time.Duration, ok func(Result) bool) (Result, bool) {
	for {
		res := Probe(ctx, ep, opts)
		if ok(res) {
			return res, true
		}
		if time.Now().Add(every).After(until) {
			return res, false
		}
		select {
		case <-ctx.Done():
			return res, false
		case <-time.After(every):
		}
	}
}

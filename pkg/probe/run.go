package probe

import "time"

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

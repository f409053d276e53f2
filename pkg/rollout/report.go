package rollout

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ErrorInfo is the last error of a failed target.
type ErrorInfo struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

// Result is the outcome of one target.
type Result struct {
	Target     string     `json:"target"`
	Status     Status     `json:"status"`
	Retryable  bool       `json:"retryable"`
	Attempts   int        `json:"attempts"`
	Error      *ErrorInfo `json:"error,omitempty"`
	DurationMs int64      `json:"durationMs"`
}

// Totals counts targets per status.
type Totals struct {
	Deployed   int `json:"deployed"`
	Unchanged  int `json:"unchanged"`
	NotCovered int `json:"not_covered"`
	Failed     int `json:"failed"`
	Planned    int `json:"planned,omitempty"` // dry runs only
}

// BindTaskInfo says whether the AIRec binding task was queued.
type BindTaskInfo struct {
	Queued bool   `json:"queued"`
	TaskID string `json:"taskId,omitempty"`
	Error  string `json:"error,omitempty"`  // the hand-off failed: the deployer retries it
	Reason string `json:"reason,omitempty"` // nothing to hand off (e.g. no AIRec domain covered)
}

// Finding is a certificate warning (or error) carried into the report.
type Finding struct {
	Severity string `json:"severity"` // "error" or "warning"
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// Report is the deployer's result: per target outcome and totals. It is
// the function's return value (JSON) and, through WriteTable, the CLI's
// summary.
type Report struct {
	CertID   int64         `json:"certId"`
	SHA256   string        `json:"sha256"`
	DryRun   bool          `json:"dryRun"`
	Targets  []Result      `json:"targets"`
	Totals   Totals        `json:"totals"`
	BindTask *BindTaskInfo `json:"bindTask,omitempty"`
	Findings []Finding     `json:"findings,omitempty"`
}

// NewReport builds a report with totals computed from results.
func NewReport(certID int64, sha string, dryRun bool, results []Result) Report {
	if results == nil {
		results = []Result{}
	}
	return Report{CertID: certID, SHA256: sha, DryRun: dryRun, Targets: results, Totals: CountTotals(results)}
}

// CountTotals counts results per status.
func CountTotals(results []Result) Totals {
	var t Totals
	for _, r := range results {
		switch r.Status {
		case StatusDeployed:
			t.Deployed++
		case StatusUnchanged:
			t.Unchanged++
		case StatusNotCovered:
			t.NotCovered++
		case StatusPlanned:
			t.Planned++
		default:
			t.Failed++
		}
	}
	return t
}

// Retryable lists the targets still failing retryably, in report order.
// The deployer fails its invocation (so the trigger retries) only while
// this is non-empty; a retry needs to touch only these targets.
func (r Report) Retryable() []string {
	var out []string
	for _, t := range r.Targets {
		if t.Status == StatusFailed && t.Retryable {
			out = append(out, t.Target)
		}
	}
	return out
}

// WriteTable writes a human summary: one row per target, then a totals line.
func (r Report) WriteTable(w io.Writer) {
	mode := ""
	if r.DryRun {
		mode = " (dry run)"
	}
	sha := r.SHA256
	if len(sha) > 16 {
		sha = sha[:16] + "…"
	}
	fmt.Fprintf(w, "certificate %d sha256 %s%s\n", r.CertID, sha, mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATUS\tATTEMPTS\tTIME\tDETAIL")
	for _, t := range r.Targets {
		status := string(t.Status)
		if t.Status == StatusFailed {
			if t.Retryable {
				status += " (retryable)"
			} else {
				status += " (permanent)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Target, status, t.Attempts, fmtMs(t.DurationMs), detail(t.Error))
	}
	tw.Flush()
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s: %s: %s\n", f.Severity, f.Code, f.Message)
	}
	if r.BindTask != nil {
		switch {
		case r.BindTask.Queued:
			fmt.Fprintf(w, "AIRec binding queued: task %s\n", r.BindTask.TaskID)
		case r.BindTask.Error != "":
			fmt.Fprintf(w, "AIRec binding NOT queued: %s\n", r.BindTask.Error)
		case r.BindTask.Reason != "":
			fmt.Fprintf(w, "AIRec binding not needed: %s\n", r.BindTask.Reason)
		}
	}
	t := r.Totals
	if r.DryRun {
		fmt.Fprintf(w, "dry run, %d targets: %d would be deployed, %d unchanged, %d not covered, %d failed\n",
			len(r.Targets), t.Planned, t.Unchanged, t.NotCovered, t.Failed)
		return
	}
	fmt.Fprintf(w, "%d targets: %d deployed, %d unchanged, %d not covered, %d failed (%d retryable)\n",
		len(r.Targets), t.Deployed, t.Unchanged, t.NotCovered, t.Failed, len(r.Retryable()))
}

func detail(e *ErrorInfo) string {
	if e == nil {
		return ""
	}
	msg := strings.Join(strings.Fields(e.Message), " ") // one line per row
	if len(msg) > 160 {
		msg = msg[:157] + "..."
	}
	s := e.Code
	if msg != "" {
		s += ": " + msg
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

func fmtMs(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

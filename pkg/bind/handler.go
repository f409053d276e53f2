package bind

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/events"
)

// Result is what the binder function returns for one trigger payload: a report per
// message, in payload order, and the messages that failed.
type Result struct {
	Reports []Report `json:"reports"`
	Errors  []string `json:"errors,omitempty"`
}

// Handle decodes an MNS trigger payload (events.DecodeQueue) and binds each message's
// BindTask, one message after another (AIRec accepts one bind per instance at a time, and
// a duplicate later in the batch then finds the work done). Each report is logged as one
// JSON line.
//
// Error policy (issue 9): any failed message — retryable or permanent, an undecodable body
// or a certificate CAS no longer has included — makes Handle return an error naming every
// failed message and why. The FC MNS trigger then delivers the batch again and, after the
// configured attempts (s.yaml), moves the poison message to the dead-letter queue with that
// report in the function's log. Its batch-mates are not re-bound on redelivery: a bound
// certificate is found bound and serving and nothing is uploaded (OutcomeUnchanged), and a
// bind still in progress is resumed.
func (b *Binder) Handle(ctx context.Context, payload []byte) (Result, error) {
	msgs, decodeErr := events.DecodeQueue(payload)
	var res Result
	var failed []string
	if decodeErr != nil {
		res.Errors = append(res.Errors, decodeErr.Error())
		failed = append(failed, "payload: "+decodeErr.Error())
		b.logf("certflow binder: %v", decodeErr)
	}
	done := map[string]Report{} // task ID → report of this batch's first delivery
	for _, m := range msgs {
		task, err := bindtask.Decode(m.MessageID, m.Body)
		var rep Report
		switch {
		case err != nil:
			err = permanent(err)
			rep = Report{MessageID: m.MessageID, Outcome: OutcomeFailed, Error: err.Error()}
		default:
			if prev, ok := done[task.TaskID]; ok && prev.Outcome != OutcomeFailed {
				// The same task twice in one batch: the first did the work.
				rep = Report{TaskID: task.TaskID, CertID: task.CertID, SHA256: task.SHA256, Instance: task.Instance,
					Outcome: OutcomeUnchanged, Domains: prev.Domains, HTTPS: prev.HTTPS}
			} else {
				rep, err = b.Run(ctx, task)
				done[task.TaskID] = rep
			}
			rep.MessageID = m.MessageID
		}
		res.Reports = append(res.Reports, rep)
		if line, jerr := json.Marshal(rep); jerr == nil {
			b.logf("certflow bind report %s", line)
		}
		if err != nil {
			class := "permanent"
			if errors.Is(err, ErrRetry) {
				class = "retryable"
			}
			res.Errors = append(res.Errors, fmt.Sprintf("message %s: %v", m.MessageID, err))
			failed = append(failed, fmt.Sprintf("message %s (%s): %v", m.MessageID, class, err))
		}
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("certflow binder: %d of %d messages failed: %s", len(failed), max(len(msgs), 1), strings.Join(failed, "; "))
	}
	return res, nil
}

// TaskFor builds the BindTask `certflow bind` runs: certificate certID from CAS, for the
// configured AIRec domains it covers. A certificate covering none is a permanent error.
func (b *Binder) TaskFor(ctx context.Context, certID int64) (bindtask.Task, Report, error) {
	rep := Report{CertID: certID, Outcome: OutcomeFailed}
	a := b.Config.AIRec
	if a == nil {
		err := permanent(errors.New("the targets file has no airec section"))
		rep.Error = err.Error()
		return bindtask.Task{}, rep, err
	}
	rep.Instance = a.InstanceID
	bundle, err := b.fetch(ctx, b.gate().NewCall(), certID, &rep)
	if err != nil {
		rep.Error, rep.Retryable = err.Error(), errors.Is(err, ErrRetry)
		return bindtask.Task{}, rep, err
	}
	rep.SHA256 = bundle.SHA256()
	var domains []string
	for _, d := range a.Domains {
		if bundle.Covers(d) {
			domains = append(domains, d)
		}
	}
	sort.Strings(domains)
	if len(domains) == 0 {
		err := permanent(fmt.Errorf("certificate %d (names %v) covers none of AIRec instance %s's domains %v", certID, bundle.Names(), a.InstanceID, a.Domains))
		rep.Error = err.Error()
		return bindtask.Task{}, rep, err
	}
	task := bindtask.New(a.InstanceID, certID, bundle.SHA256(), domains, "manual", b.now())
	return task, rep, nil
}

// WriteText prints a report for people: outcome, each domain, enforcement, findings, error.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "certificate %d → AIRec %s: %s", r.CertID, r.Instance, r.Outcome)
	if r.Uploaded {
		fmt.Fprintf(w, " (uploaded, AIRec task %s)", r.AIRecTask)
	} else if r.Resumed {
		fmt.Fprintf(w, " (resumed AIRec task %s)", r.AIRecTask)
	}
	fmt.Fprintln(w)
	for _, d := range r.Domains {
		mark := "ok"
		if !d.Listed || !d.Served {
			mark = "NOT BOUND"
		}
		fmt.Fprintf(w, "  %-40s listed=%-5v served=%-5v %s", d.Domain, d.Listed, d.Served, mark)
		if d.Detail != "" {
			fmt.Fprintf(w, " (%s)", d.Detail)
		}
		fmt.Fprintln(w)
	}
	if r.HTTPS != nil {
		fmt.Fprintf(w, "  https enforced: %v\n", *r.HTTPS)
	}
	for _, f := range r.Findings {
		if f.Severity == airec.SeverityError {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

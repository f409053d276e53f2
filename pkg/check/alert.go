package check

import (
	"context"
	"fmt"
	"strings"

	"github.com/certflow/certflow/pkg/alert"
	"github.com/certflow/certflow/pkg/probe"
)

// maxLines bounds each section of an alert: a robot message has a size limit, and the
// JSON data (generic webhooks) carries the whole report anyway.
const maxLines = 30

// AlertMessage renders the run for people: what still fails, what was fixed (and how),
// warnings, and what could not be done.
func AlertMessage(r Report) alert.Message {
	title := fmt.Sprintf("certflow: %d of %d endpoints failing", r.Summary.Failing, r.Summary.Endpoints)
	if r.Summary.Failing == 0 {
		title = fmt.Sprintf("certflow: all %d endpoints OK", r.Summary.Endpoints)
		if r.Summary.Fixed > 0 {
			title += fmt.Sprintf(" after fixing %d", r.Summary.Fixed)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", title)
	section := func(name string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "**%s**\n\n", name)
		for i, l := range lines {
			if i == maxLines {
				fmt.Fprintf(&b, "- … and %d more\n", len(lines)-maxLines)
				break
			}
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\n")
	}
	var failing, fixed, warnings []string
	for _, e := range r.Endpoints {
		for _, f := range e.Findings {
			l := fmt.Sprintf("%s (%s): %s: %s", e.Name, e.Target, f.Code, f.Message)
			if f.Severity == probe.SeverityError {
				failing = append(failing, l)
			} else {
				warnings = append(warnings, l)
			}
		}
		for _, f := range e.Fixed {
			fixed = append(fixed, fmt.Sprintf("%s (%s): %s", e.Name, e.Target, f.Code))
		}
	}
	var enforced []string
	for _, c := range r.Enforced {
		enforced = append(enforced, fmt.Sprintf("%s %s: %s → %s", c.Target, c.Setting, c.From, c.To))
	}
	var repaired []string
	for _, rp := range r.Repaired {
		for _, t := range rp.Targets {
			l := fmt.Sprintf("%s: certificate %d %s", t.Target, rp.CertID, t.Status)
			if t.Error != nil {
				l += fmt.Sprintf(" (%s: %s)", t.Error.Code, t.Error.Message)
			}
			repaired = append(repaired, l)
		}
		if rp.BindTask != nil {
			st := "queued"
			if !rp.BindTask.Queued {
				st = "not queued: " + rp.BindTask.Error
			}
			repaired = append(repaired, fmt.Sprintf("AIRec bind of certificate %d %s", rp.CertID, st))
		}
		if rp.Error != "" {
			repaired = append(repaired, fmt.Sprintf("certificate %d: %s", rp.CertID, rp.Error))
		}
	}
	section("Still failing", failing)
	section("Fixed", fixed)
	section("Enforced", enforced)
	section("Redeployed", repaired)
	section("Warnings", warnings)
	section("Not checked or not fixed", r.Problems)
	fmt.Fprintf(&b, "%s\n", r.SummaryLine())
	return alert.Message{Title: title, Text: b.String()}
}

// sendAlert posts the run's alert to the configured webhook; nil when none is configured.
func (s *Service) sendAlert(ctx context.Context, r Report) *AlertStatus {
	al := s.Config.Checker.Alert
	if al.Webhook == "" {
		return nil
	}
	msg := AlertMessage(r)
	r.Alert = &AlertStatus{Sent: true} // as the receiver will read it
	msg.Data = r
	sender := &alert.Sender{URL: al.Webhook, Format: al.Format, Secret: s.getenv(al.SecretEnv), HTTPClient: s.HTTPClient, Now: s.Now}
	if err := sender.Send(ctx, msg); err != nil {
		return &AlertStatus{Error: err.Error()}
	}
	return &AlertStatus{Sent: true}
}

// Package deploy is the deployer's work, shared by the FC function and `certflow deploy`:
// fetch a certificate from CAS, validate it, plan the targets it covers, roll it out to
// them concurrently within the quotas, prove each endpoint serves it, and hand the AIRec
// binding to the queue.
package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/casstore"
	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/plan"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/targets"
)

// Service rolls certificates out. One Service serves many invocations: its Gate keeps
// the account's quotas across them. Safe for concurrent use.
type Service struct {
	Clients *cloud.Clients
	Config  *config.Config
	Roots   *x509.CertPool // trust pool for chain checks and proofs; nil = system roots
	Gate    *rollout.Gate  // nil = NewGate(Quotas(Config))
	// Margin is kept before the deadline to report and return [5s].
	Margin time.Duration
	// ProofGrace bounds how long a deployed endpoint may take to serve the certificate [10s].
	ProofGrace time.Duration
	// Log receives one line per finished target with a running count; nil = discard.
	Log io.Writer
	// Now is the clock [time.Now].
	Now func() time.Time
	// PollInterval spaces Cloud Assistant status polls [1s].
	PollInterval time.Duration
}

func (s *Service) gate() *rollout.Gate {
	if s.Gate == nil {
		s.Gate = rollout.NewGate(s.Config.ActionQuotas(), rollout.GateOptions{})
	}
	return s.Gate
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

// ErrInvalidCertificate is returned (wrapped) when the certificate has error findings:
// nothing is deployed and retrying cannot help.
var ErrInvalidCertificate = errors.New("certificate is not deployable")

// Run rolls out req.CertID. The report is complete even when err is not nil: err is
// ErrInvalidCertificate, a CAS failure, or a plan failure; per-target failures are in
// the report (see Report.Retryable).
func (s *Service) Run(ctx context.Context, req events.Deploy) (rollout.Report, error) {
	if s.Gate == nil {
		s.gate()
	}
	rep := rollout.NewReport(req.CertID, "", req.DryRun, nil)
	casRegion := s.Config.CAS.Region
	store := &casstore.Store{Clients: s.Clients, Region: casRegion}
	detail, err := store.Get(ctx, s.Gate.NewCall(), req.CertID)
	if err != nil {
		return rep, err
	}
	bundle, findings := certs.Parse(detail.CertPEM, detail.KeyPEM, certs.Options{
		Roots: s.Roots, RequireKey: true, Now: s.now(),
		CertSource: fmt.Sprintf("CAS certificate %d (%s)", req.CertID, casRegion),
		KeySource:  fmt.Sprintf("key of CAS certificate %d", req.CertID),
	})
	for _, f := range findings {
		rep.Findings = append(rep.Findings, rollout.Finding{Severity: string(f.Severity), Code: f.Code, Message: f.Message})
	}
	if bundle == nil || certs.HasErrors(findings) {
		return rep, fmt.Errorf("certificate %d: %w: %s", req.CertID, ErrInvalidCertificate, strings.Join(certs.Codes(findings), ", "))
	}
	rep.SHA256 = bundle.SHA256()
	cert := &targets.Cert{CASID: req.CertID, CASRegion: casRegion, Name: detail.Name,
		ChainPEM: bundle.ChainPEM(), KeyPEM: bundle.KeyPEM(), SHA256: bundle.SHA256(), SHA1: bundle.SHA1()}

	// The AIRec hand-off does not wait for the infrastructure: independent layers.
	bindDone := make(chan *rollout.BindTaskInfo, 1)
	go func() { bindDone <- s.handOff(ctx, req, bundle) }()

	items, planErr := plan.Build(ctx, s.Config, bundle, req.Only, targets.CDNDomains(s.Clients, s.Gate))
	results := s.fanOut(ctx, req, items, cert)
	rep = s.finish(rep, results)
	rep.BindTask = <-bindDone
	return rep, planErr
}

func (s *Service) finish(rep rollout.Report, results []rollout.Result) rollout.Report {
	full := rollout.NewReport(rep.CertID, rep.SHA256, rep.DryRun, results)
	full.Findings = rep.Findings
	return full
}

// fanOut runs every planned target through the engine; not-covered and unexpanded items
// become results directly.
func (s *Service) fanOut(ctx context.Context, req events.Deploy, items []plan.Item, cert *targets.Cert) []rollout.Result {
	results := make([]rollout.Result, len(items))
	var tasks []rollout.Task
	var slots []int
	for i, it := range items {
		switch it.Action {
		case plan.ActionDeploy:
			tg, err := targets.New(s.Clients, it.Target)
			if err != nil {
				results[i] = failed(it.ID, "InvalidTarget", err.Error(), false)
				continue
			}
			if e, ok := tg.(*targets.ECS); ok && s.PollInterval > 0 {
				e.PollInterval = s.PollInterval
			}
			tasks = append(tasks, rollout.Task{Target: it.ID, Run: s.taskFor(tg, it.Target, cert, req.DryRun)})
			slots = append(slots, i)
		case plan.ActionNotCovered:
			results[i] = rollout.Result{Target: it.ID, Status: rollout.StatusNotCovered,
				Error: &rollout.ErrorInfo{Code: "NotCovered", Message: it.Reason}}
		default: // a pattern that could not be expanded now: the next delivery may
			results[i] = failed(it.ID, "NotExpanded", it.Reason, true)
		}
	}
	engine := &rollout.Engine{Concurrency: s.Config.Concurrency, Gate: s.Gate, Margin: s.margin()}
	done := len(items) - len(tasks)
	engine.Progress = func(n, total int, r rollout.Result) {
		s.logf("[%d/%d] %s %s%s", done+n, len(items), r.Target, r.Status, errSuffix(r))
	}
	for j, r := range engine.Run(ctx, tasks) {
		results[slots[j]] = r
	}
	return results
}

func errSuffix(r rollout.Result) string {
	if r.Error == nil || r.Status != rollout.StatusFailed {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", r.Error.Code, r.Error.Message)
}

func failed(target, code, msg string, retryable bool) rollout.Result {
	return rollout.Result{Target: target, Status: rollout.StatusFailed, Retryable: retryable,
		Error: &rollout.ErrorInfo{Code: code, Message: msg}}
}

func (s *Service) margin() time.Duration {
	if s.Margin > 0 {
		return s.Margin
	}
	return 5 * time.Second
}

// taskFor deploys to one target and proves the result on its endpoint.
func (s *Service) taskFor(tg targets.Target, t config.Target, cert *targets.Cert, dryRun bool) func(context.Context, *rollout.Call) (rollout.Status, error) {
	return func(ctx context.Context, call *rollout.Call) (rollout.Status, error) {
		if dryRun {
			serves, err := tg.Serves(ctx, call, cert)
			if err != nil {
				return "", err
			}
			if serves {
				return rollout.StatusUnchanged, nil
			}
			return rollout.StatusPlanned, nil
		}
		st, err := tg.Deploy(ctx, call, cert)
		if err != nil {
			return st, err
		}
		if err := s.prove(ctx, t, cert); err != nil {
			return "", err
		}
		return st, nil
	}
}

// prove waits (bounded) until the target's endpoint serves cert over a verified handshake.
func (s *Service) prove(ctx context.Context, t config.Target, cert *targets.Cert) error {
	if t.Endpoint == "" || len(t.ServedNames()) == 0 {
		return nil
	}
	grace := s.ProofGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	name := ProbeName(t.ServedNames())
	res, ok := probe.Await(ctx, probe.Endpoint{Name: name, Address: t.Endpoint},
		probe.Options{Roots: s.Roots, ExpectSHA256: cert.SHA256, WarnDays: -1, MinTLS: tls.VersionTLS10, Timeout: 5 * time.Second},
		time.Now().Add(grace), 200*time.Millisecond, func(r probe.Result) bool { return r.Served != nil && r.Served.SHA256 == cert.SHA256 })
	if ok {
		return nil
	}
	got := "nothing"
	if res.Served != nil {
		got = fmt.Sprintf("CN %q serial %s", res.Served.Subject, res.Served.Serial)
	}
	return rollout.Retryable(fmt.Errorf("served certificate is not the deployed one: %s at %s serves %s", name, t.Endpoint, got))
}

// ProbeName picks the name to send as SNI when proving a target: its first concrete name,
// or, when it serves only wildcards, a name the wildcard covers.
func ProbeName(names []string) string {
	for _, n := range names {
		if !strings.HasPrefix(n, "*.") {
			return n
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "certflow-probe" + strings.TrimPrefix(names[0], "*")
}

// handOff publishes the AIRec BindTask for the AIRec domains the certificate covers.
func (s *Service) handOff(ctx context.Context, req events.Deploy, b *certs.Bundle) *rollout.BindTaskInfo {
	a := s.Config.AIRec
	if a == nil {
		return nil
	}
	var domains []string
	for _, d := range a.Domains {
		if b.Covers(d) {
			domains = append(domains, d)
		}
	}
	sort.Strings(domains)
	if len(domains) == 0 {
		return &rollout.BindTaskInfo{Reason: fmt.Sprintf("certificate covers none of AIRec instance %s's domains %v", a.InstanceID, a.Domains)}
	}
	task := bindtask.New(a.InstanceID, req.CertID, b.SHA256(), domains, req.EventID, s.now())
	info := &rollout.BindTaskInfo{TaskID: task.TaskID}
	if req.DryRun {
		return info
	}
	q, err := s.Clients.MNSQueue(a.Queue)
	if err == nil {
		err = s.Gate.NewCall().Do(ctx, "SendMessage", func() error {
			_, err := bindtask.Publish(ctx, q, task)
			return err
		})
	}
	if err != nil {
		info.Error = fmt.Sprintf("queue %s: %v", a.Queue, err)
		return info
	}
	info.Queued = true
	return info
}

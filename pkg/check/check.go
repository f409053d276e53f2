// Package check is the checker's work, shared by the FC timer function and the CLI: list
// every HTTPS endpoint of the estate, learn from CAS which certificate each should
// serve, probe them all over real TLS, enforce the HTTPS settings the targets file asks
// for, redeploy the expected certificate where a stale one is served, probe what was
// fixed again, alert once per run with findings, and report.
package check

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certflow/certflow/pkg/casstore"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/targets"
)

// Defaults for zero Service fields.
const (
	DefaultConcurrency  = 32
	DefaultProbeTimeout = 10 * time.Second
)

// ErrRetry is returned (wrapped) by Run when something a later attempt may fix is left:
// CAS could not be read, or a redeploy failed retryably. Findings that persist after
// the fixes (an expired certificate, a target that cannot be enforced) are not
// retryable: the alert carries them and the next timer run checks again.
var ErrRetry = errors.New("retryable failures remain")

// Service runs checks. One Service may serve many runs (its Gate keeps the quotas across
// them); runs may not overlap. Fields other than Config and Clients are optional.
type Service struct {
	Clients *cloud.Clients
	Config  *config.Config
	Roots   *x509.CertPool // trust anchors; nil = system roots
	Gate    *rollout.Gate  // nil = rollout.NewGate(Config.ActionQuotas())
	// Log receives one line per endpoint and a summary line; nil = discard.
	Log io.Writer
	// Now is the clock [time.Now].
	Now func() time.Time
	// HTTPClient posts alerts [10 s timeout client].
	HTTPClient *http.Client
	// Getenv reads the alert secret and the AIRec token named in the config [os.Getenv].
	Getenv func(string) string
	// Concurrency bounds probes in flight [32]; ProbeTimeout bounds each probe step [10s].
	Concurrency  int
	ProbeTimeout time.Duration
	// Deployer tunes the redeploys (PollInterval, ProofGrace, Margin); its Clients,
	// Config, Roots, Gate and Log are always this Service's, and its AIRec hand-off is
	// off (the checker queues AIRec binds itself, only for stale AIRec domains).
	Deployer deploy.Service
}

// Report is one check run: the function's JSON return value.
type Report struct {
	OK        bool             `json:"ok"` // no endpoint has an error finding after the fixes
	CheckedAt time.Time        `json:"checkedAt"`
	Endpoints []EndpointResult `json:"endpoints"`
	Enforced  []targets.Change `json:"enforced"`
	Repaired  []Repair         `json:"repaired"`
	Problems  []string         `json:"problems"` // what could not be listed, enforced or repaired
	Alert     *AlertStatus     `json:"alert,omitempty"`
	Summary   Summary          `json:"summary"`
}

// EndpointResult is the final probe of one endpoint, with what the first probe found
// that the fixes removed.
type EndpointResult struct {
	probe.Result
	Kind     string          `json:"kind"`
	Target   string          `json:"target,omitempty"`
	Expected *Expected       `json:"expected,omitempty"`
	Fixed    []probe.Finding `json:"fixed,omitempty"`
}

// Repair is one redeploy of an expected certificate to the targets serving a stale one.
type Repair struct {
	CertID   int64                 `json:"certId"`
	Targets  []rollout.Result      `json:"targets,omitempty"`
	BindTask *rollout.BindTaskInfo `json:"bindTask,omitempty"` // AIRec domains: the bind queued for the binder
	Error    string                `json:"error,omitempty"`
}

// AlertStatus says whether the run's alert went out.
type AlertStatus struct {
	Sent  bool   `json:"sent"`
	Error string `json:"error,omitempty"`
}

// Summary counts the run.
type Summary struct {
	Endpoints    int `json:"endpoints"`
	OK           int `json:"ok"`
	Failing      int `json:"failing"`
	WithWarnings int `json:"withWarnings"`
	Fixed        int `json:"fixed"` // endpoints with errors at first and none after the fixes
	Enforced     int `json:"enforced"`
	Redeployed   int `json:"redeployed"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) getenv(k string) string {
	if k == "" {
		return ""
	}
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s *Service) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

// Run checks the whole estate once. The report is complete even when err is not nil;
// err wraps ErrRetry when a retry may help (see ErrRetry).
func (s *Service) Run(ctx context.Context) (Report, error) {
	if s.Config == nil || s.Clients == nil {
		return Report{}, errors.New("check: nil config or clients")
	}
	if s.Gate == nil {
		s.Gate = rollout.NewGate(s.Config.ActionQuotas(), rollout.GateOptions{})
	}
	rep := Report{CheckedAt: s.now().UTC(), Enforced: []targets.Change{}, Repaired: []Repair{}, Problems: []string{}}
	var retry []string

	store := &casstore.Store{Clients: s.Clients, Region: s.Config.CAS.Region}
	list, err := store.List(ctx, s.Gate.NewCall())
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("expected certificates unknown, stale certificates not detected: %v", err))
		retry = append(retry, "cas list")
	}
	inv, problems := s.inventory(ctx, list)
	rep.Problems = append(rep.Problems, problems...)
	known := s.knownIntermediates(ctx, store, inv)

	first := s.probeAll(ctx, inv, known)

	changes, errs, touched := s.enforce(ctx, inv)
	rep.Enforced = append(rep.Enforced, changes...)
	rep.Problems = append(rep.Problems, errs...)
	repairs, repaired, retryable := s.repair(ctx, inv, first)
	rep.Repaired = append(rep.Repaired, repairs...)
	retry = append(retry, retryable...)
	for id := range repaired {
		touched[id] = true
	}

	// Probe again what the fixes touched and what was failing there.
	final := slices.Clone(first)
	var again []int
	for i, e := range inv {
		if !first[i].OK && touched[e.Target] {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		sub := make([]Endpoint, len(again))
		for j, i := range again {
			sub[j] = inv[i]
		}
		for j, r := range s.probeAll(ctx, sub, known) {
			final[again[j]] = r
		}
	}

	for i, e := range inv {
		er := EndpointResult{Result: final[i], Kind: e.Kind, Target: e.Target, Expected: e.Expect}
		for _, f := range first[i].Findings {
			if !final[i].Has(f.Code) {
				er.Fixed = append(er.Fixed, f)
			}
		}
		rep.Endpoints = append(rep.Endpoints, er)
	}
	rep.summarise()
	for i, e := range rep.Endpoints {
		s.logf("[%d/%d] %s", i+1, len(rep.Endpoints), endpointLine(e))
	}

	if rep.hasNews() {
		rep.Alert = s.sendAlert(ctx, rep)
	}
	s.logf("%s", rep.SummaryLine())
	if len(retry) > 0 {
		return rep, fmt.Errorf("check: %w: %s", ErrRetry, strings.Join(retry, "; "))
	}
	return rep, nil
}

func (r *Report) summarise() {
	r.Summary = Summary{Endpoints: len(r.Endpoints), Enforced: len(r.Enforced)}
	r.OK = true
	for _, e := range r.Endpoints {
		switch {
		case !e.OK:
			r.Summary.Failing++
			r.OK = false
		case e.Warnings() > 0:
			r.Summary.OK++
			r.Summary.WithWarnings++
		default:
			r.Summary.OK++
		}
		if e.OK && hasError(e.Fixed) {
			r.Summary.Fixed++
		}
	}
	for _, rp := range r.Repaired {
		for _, t := range rp.Targets {
			if t.Status == rollout.StatusDeployed {
				r.Summary.Redeployed++
			}
		}
	}
}

func hasError(fs []probe.Finding) bool {
	for _, f := range fs {
		if f.Severity == probe.SeverityError {
			return true
		}
	}
	return false
}

// hasNews reports whether the run is worth an alert: any finding (before or after the
// fixes), anything enforced or redeployed, or anything that could not be checked.
func (r *Report) hasNews() bool {
	if len(r.Enforced) > 0 || len(r.Repaired) > 0 || len(r.Problems) > 0 {
		return true
	}
	for _, e := range r.Endpoints {
		if len(e.Findings) > 0 || len(e.Fixed) > 0 {
			return true
		}
	}
	return false
}

// SummaryLine is the run in one line for people.
func (r *Report) SummaryLine() string {
	alert := "no alert"
	if r.Alert != nil {
		alert = "alert sent"
		if !r.Alert.Sent {
			alert = "alert failed: " + r.Alert.Error
		}
	}
	return fmt.Sprintf("certflow check: %d endpoints, %d ok (%d with warnings), %d failing; fixed %d; enforced %d settings; redeployed %d targets; %d problems; %s",
		r.Summary.Endpoints, r.Summary.OK, r.Summary.WithWarnings, r.Summary.Failing, r.Summary.Fixed,
		r.Summary.Enforced, r.Summary.Redeployed, len(r.Problems), alert)
}

func endpointLine(e EndpointResult) string {
	verdict := "ok"
	if !e.OK {
		verdict = "FAIL"
	} else if e.Warnings() > 0 {
		verdict = "warn"
	}
	var codes []string
	for _, f := range e.Findings {
		codes = append(codes, f.Code)
	}
	line := fmt.Sprintf("%s %s at %s (%s)", verdict, e.Name, e.Address, e.Target)
	if len(codes) > 0 {
		line += " " + strings.Join(codes, ",")
	}
	if len(e.Fixed) > 0 {
		var fixed []string
		for _, f := range e.Fixed {
			fixed = append(fixed, f.Code)
		}
		line += " fixed: " + strings.Join(fixed, ",")
	}
	return line
}

// knownIntermediates collects the intermediates of every expected certificate's chain as CAS
// holds it, so an endpoint that omits one is reported incomplete_chain rather than
// untrusted (C07). A certificate CAS cannot return only makes that finding less precise.
func (s *Service) knownIntermediates(ctx context.Context, store *casstore.Store, inv []Endpoint) *x509.CertPool {
	pool := x509.NewCertPool()
	seen := map[int64]bool{}
	for _, e := range inv {
		if e.Expect == nil || seen[e.Expect.CertID] {
			continue
		}
		seen[e.Expect.CertID] = true
		d, err := store.Get(ctx, s.Gate.NewCall(), e.Expect.CertID)
		if err != nil {
			s.logf("check: intermediates of CAS certificate %d unknown: %v", e.Expect.CertID, err)
			continue
		}
		for rest := d.CertPEM; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if c, err := x509.ParseCertificate(block.Bytes); err == nil && c.IsCA {
				pool.AddCert(c)
			}
		}
	}
	return pool
}

// probeAll probes every endpoint with its own expectations (known: intermediates that tell
// incomplete_chain from untrusted), at most Concurrency at once,
// and drops the HTTP findings the endpoint's target does not ask for (the probe checks
// redirect and HSTS together).
func (s *Service) probeAll(ctx context.Context, eps []Endpoint, known *x509.CertPool) []probe.Result {
	out := make([]probe.Result, len(eps))
	conc := s.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	timeout := s.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	var g errgroup.Group
	g.SetLimit(conc)
	for i, e := range eps {
		g.Go(func() error {
			opts := probe.Options{Roots: s.Roots, Intermediates: known, MinTLS: tlsVersion(e.MinTLS), WarnDays: s.Config.Checker.WarnDays,
				CheckHTTP: e.Checks.Redirect || e.Checks.HSTS, HSTSMinAge: time.Duration(s.Config.Checker.HSTSMinAge) * time.Second,
				Timeout: timeout, Now: s.Now}
			if e.Expect != nil {
				opts.ExpectSHA256 = e.Expect.SHA256
			}
			out[i] = filter(probe.Probe(ctx, e.Endpoint, opts), e.Checks)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func filter(r probe.Result, c HTTPChecks) probe.Result {
	drop := map[string]bool{probe.CodeNoHTTPSRedirect: !c.Redirect, probe.CodeNoHSTS: !c.HSTS, probe.CodeHSTSShort: !c.HSTS}
	kept := r.Findings[:0:0]
	for _, f := range r.Findings {
		if !drop[f.Code] {
			kept = append(kept, f)
		}
	}
	if kept == nil {
		kept = []probe.Finding{}
	}
	r.Findings = kept
	r.OK = r.Errors() == 0
	return r
}

// lockedWriter serialises the deployer's progress lines with ours.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

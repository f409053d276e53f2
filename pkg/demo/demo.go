// Package demo runs the whole certflow flow on the local cloud, through the compiled function
// binaries and the local Function Compute runtime (pkg/localfc), exactly as `make demo` shows
// it: CAS issues a certificate, the EventBridge trigger runs the deployer, the MNS trigger runs
// the binder, the timer runs the checker; then a renewal, a target made stale on purpose and
// drift repair; finally every endpoint is probed independently over verified TLS.
//
// Nothing is simulated here: certificates are real (issued by the local CA), they enter CAS
// through the SDK, functions are the linux/amd64 binaries, and the verdict comes from TLS
// handshakes. A function whose binary is missing is reported as skipped and fails the verdict.
package demo

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	cas "github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	cdn "github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"

	"github.com/certflow/certflow/pkg/check"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localfc"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/sconfig"
)

// The s.yaml resources and triggers the flow drives.
const (
	ResDeployer = "deployer"
	ResBinder   = "binder"
	ResChecker  = "checker"
	// TriggerCASEvents is the deployer's EventBridge trigger for CAS service events.
	TriggerCASEvents = "cas-events"
)

// Options configure Run. Zero values: bin/ and s.yaml in the working directory, no output,
// one delivery per event, a temporary cloud directory.
type Options struct {
	Bin   string    // folder holding <resource>/main for each function (default "bin")
	SYAML string    // the Serverless Devs file wiring the functions (default "s.yaml")
	Out   io.Writer // one line per step, for people; nil = discard
	Logs  io.Writer // function output and trigger events; nil = discard
	Dir   string    // local cloud working directory; "" = temporary, removed at the end
	// Deliveries is how many times the "issued" event is delivered concurrently (EventBridge
	// delivers at least once); default 1.
	Deliveries int
	// BindWait bounds the wait for the bind queue to drain and AIRec to serve the certificate
	// (default 45 s).
	BindWait time.Duration
}

// Stage is one step of the flow and what happened.
type Stage struct {
	Name   string    `json:"name"`
	Status string    `json:"status"` // ok, failed or skipped
	Detail string    `json:"detail"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// Stage statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Summary is the outcome of Run.
type Summary struct {
	Stages []Stage `json:"stages"`
	// Issued and Renewed are the deployer's answers to each delivery of the two events.
	Issued  []deploy.Result `json:"issued"`
	Renewed []deploy.Result `json:"renewed"`
	// CertIDs and SHA256s are the two CAS certificates (issued, renewed).
	CertIDs [2]int64  `json:"certIds"`
	SHA256s [2]string `json:"sha256s"`
	// StaleTarget is the endpoint put back on the older certificate before the last check.
	StaleTarget string `json:"staleTarget"`
	// Endpoints are the final independent probes, with the enforcement each one needs.
	Endpoints []EndpointCheck `json:"endpoints"`
	// Calls is the local cloud's call log at the end.
	Calls []localcloud.Call `json:"-"`
	// Runs are the invocations triggers made (binder deliveries, timer runs).
	Runs    []localfc.TriggerRun `json:"-"`
	OK      bool                 `json:"ok"`
	Verdict string               `json:"verdict"`
}

// EndpointCheck is the final probe of one endpoint.
type EndpointCheck struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	ForceHTTPS bool         `json:"forceHttps"`
	HSTS       bool         `json:"hsts"`
	Result     probe.Result `json:"result"`
	OK         bool         `json:"ok"`
	Problems   []string     `json:"problems,omitempty"`
}

// Stage returns the named stage, if it ran.
func (s *Summary) Stage(name string) (Stage, bool) {
	for _, st := range s.Stages {
		if st.Name == name {
			return st, true
		}
	}
	return Stage{}, false
}

// run is one Run's state.
type run struct {
	opts    Options
	out     io.Writer
	sum     *Summary
	cloud   *localcloud.Cloud
	info    localcloud.Info
	cfg     *config.Config
	clients *cloud.Clients
	rt      *localfc.Runtime
	fnName  map[string]string // resource → function name, for the functions that are built
	missing map[string]string // resource → missing binary path

	mu   sync.Mutex
	runs []localfc.TriggerRun
}

// Run performs the whole flow and returns what happened. It returns an error only when the
// flow could not be set up or was cancelled; a flow that ran but did not end with every
// endpoint clean is a Summary with OK false. Everything it started is stopped before it
// returns: function instances, the runtime, the local cloud (and its nginx hosts).
func Run(ctx context.Context, opts Options) (sum *Summary, err error) {
	opts.Bin = cmp.Or(opts.Bin, "bin")
	opts.SYAML = cmp.Or(opts.SYAML, "s.yaml")
	opts.Deliveries = max(opts.Deliveries, 1)
	if opts.BindWait <= 0 {
		opts.BindWait = 45 * time.Second
	}
	r := &run{opts: opts, out: opts.Out, sum: &Summary{}, fnName: map[string]string{}, missing: map[string]string{}}
	if r.out == nil {
		r.out = io.Discard
	}
	defer r.shutdown()
	if err := r.setup(ctx); err != nil {
		return r.sum, err
	}
	steps := []func(context.Context) error{r.issue, r.renew, r.drift, r.verify}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.sum, err
		}
	}
	r.verdict()
	r.mu.Lock()
	r.sum.Runs = slices.Clone(r.runs)
	r.mu.Unlock()
	r.sum.Calls = r.cloud.Calls()
	return r.sum, nil
}

func (r *run) shutdown() {
	if r.rt != nil {
		_ = r.rt.Close()
	}
	if r.cloud != nil {
		_ = r.cloud.Close()
	}
}

func (r *run) stage(name string, start time.Time, status, format string, args ...any) {
	st := Stage{Name: name, Status: status, Detail: fmt.Sprintf(format, args...), Start: start, End: time.Now()}
	r.sum.Stages = append(r.sum.Stages, st)
	mark := map[string]string{StatusOK: "ok  ", StatusFailed: "FAIL", StatusSkipped: "SKIP"}[status]
	fmt.Fprintf(r.out, "%s %-22s %s  (%.1fs)\n", mark, name, st.Detail, st.End.Sub(start).Seconds())
}

func (r *run) note(format string, args ...any) {
	fmt.Fprintf(r.out, "     %-22s "+format+"\n", append([]any{""}, args...)...)
}

// setup starts the local cloud and the runtime with the s.yaml functions that are built.
func (r *run) setup(ctx context.Context) error {
	start := time.Now()
	c, err := localcloud.Start(ctx, localcloud.Options{Dir: r.opts.Dir})
	if err != nil {
		return fmt.Errorf("demo: start local cloud: %w", err)
	}
	r.cloud = c
	if r.info, err = c.Info(); err != nil {
		return fmt.Errorf("demo: local cloud info: %w", err)
	}
	r.cfg = c.TargetsConfig()
	est := c.Estate()
	ak, secret, token := c.IssueSTS(2 * time.Hour)
	creds := localfc.Credentials{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token}
	r.clients = cloud.New(cloud.Options{Endpoint: r.info.Endpoint, MNSEndpoint: r.info.MNSEndpoint,
		AccountID: r.info.AccountID, Region: r.info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token}))

	// s.yaml's ${env(...)} variables resolve to the local estate, as `s deploy` would with
	// these variables exported.
	vars := map[string]string{"CERTFLOW_REGION": r.info.Region, "CERTFLOW_CAS_REGION": r.cfg.CAS.Region}
	env := map[string]string{
		cloud.EnvEndpoint: r.info.Endpoint, cloud.EnvMNSEndpoint: r.info.MNSEndpoint, cloud.EnvRoots: r.info.Roots,
		cloud.EnvAccountID: r.info.AccountID, "CERTFLOW_TARGETS": r.info.Targets,
	}
	if r.cfg.AIRec != nil {
		vars["CERTFLOW_AIREC_INSTANCE"] = r.cfg.AIRec.InstanceID
		vars["CERTFLOW_BIND_QUEUE"] = r.cfg.AIRec.Queue
		env["CERTFLOW_AIREC_INSTANCE"] = r.cfg.AIRec.InstanceID
		env["CERTFLOW_BIND_QUEUE"] = r.cfg.AIRec.Queue
		if len(est.AIRec) > 0 && r.cfg.AIRec.TokenEnv != "" {
			env[r.cfg.AIRec.TokenEnv] = est.AIRec[0].Token
		}
	}
	for _, q := range est.Queues {
		if q.DeadLetter != "" {
			vars["CERTFLOW_BIND_DLQ"] = q.DeadLetter
		}
	}
	proj, err := sconfig.Load(r.opts.SYAML, sconfig.LoadOptions{
		Env:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Config: map[string]string{"AccountID": r.info.AccountID},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	queues, err := localfc.MNSFromEndpoint(r.info.MNSEndpoint, r.info.AccountID, func() localfc.Credentials { return creds })
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.rt = localfc.New(localfc.Options{
		Region: r.info.Region, AccountID: r.info.AccountID,
		LogOutput: r.opts.Logs, Events: r.opts.Logs, Queues: queues,
		// Redeliver quickly: the demo has two minutes, not FC's backoff schedule.
		RetryDelay:   func(int) time.Duration { return 500 * time.Millisecond },
		ManualTimers: true, // the checker runs when the flow says so, not at :00/:30
		OnTrigger: func(x localfc.TriggerRun) {
			r.mu.Lock()
			r.runs = append(r.runs, x)
			r.mu.Unlock()
		},
	})
	for _, res := range proj.Resources {
		if res.Component != "fc3" {
			continue
		}
		fn := localfc.FromSConfig(proj, &res.Function)
		fn.Binary = filepath.Join(r.opts.Bin, res.Key, res.Function.Handler)
		if _, err := os.Stat(fn.Binary); err != nil {
			r.missing[res.Key] = fn.Binary
			continue
		}
		for k, v := range env {
			fn.Env[k] = v
		}
		fn.Credentials = func() localfc.Credentials { return creds }
		if err := r.rt.Add(fn); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		r.fnName[res.Key] = fn.Name
	}
	if _, ok := r.fnName[ResDeployer]; !ok {
		return fmt.Errorf("demo: the deployer is not built (%s): run make functions", cmp.Or(r.missing[ResDeployer], "no deployer in "+r.opts.SYAML))
	}
	if err := r.rt.Start(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var built []string
	for _, k := range []string{ResDeployer, ResBinder, ResChecker} {
		if _, ok := r.fnName[k]; ok {
			built = append(built, k)
		}
	}
	initial := c.InitialCertificate().SHA256()
	r.stage("local cloud", start, StatusOK, "%s · %d endpoints serve the old certificate %s · functions: %s",
		r.info.Endpoint, len(c.Endpoints()), initial[:12], strings.Join(built, ", "))
	return nil
}

// names is every name the estate serves: what a certificate must cover to go everywhere.
func (r *run) names() []string {
	set := map[string]bool{}
	for _, t := range r.cfg.Targets {
		for _, n := range t.Names {
			set[strings.ToLower(n)] = true
		}
	}
	if r.cfg.AIRec != nil {
		for _, d := range r.cfg.AIRec.Domains {
			set[strings.ToLower(d)] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// issueCert issues a certificate from the local CA for every estate name and uploads it to
// CAS through the SDK, as CAS issuing it would leave it.
func (r *run) issueCert(name string) (int64, *localca.Cert, error) {
	leaf, err := r.cloud.CA().Issue(localca.Template{DNSNames: r.names(), NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	if err != nil {
		return 0, nil, fmt.Errorf("demo: issue certificate: %w", err)
	}
	cl, err := r.clients.CAS(r.cfg.CAS.Region)
	if err != nil {
		return 0, nil, fmt.Errorf("demo: CAS client: %w", err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = name, string(r.cloud.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		return 0, nil, fmt.Errorf("demo: CAS UploadUserCertificate %s: %w", name, err)
	}
	return resp.CertId, leaf, nil
}

// casEvent is the CAS service event EventBridge delivers (events/cas-certificate-*.json).
func (r *run) casEvent(kind string, id int64, leaf *localca.Cert) localfc.CloudEvent {
	data := map[string]any{
		"commonName": leaf.Cert.Subject.CommonName, "sans": strings.Join(leaf.Cert.DNSNames, ","),
		"issuer": leaf.Cert.Issuer.CommonName, "status": "ISSUED",
		"notBefore": leaf.Cert.NotBefore.UTC().Format(time.RFC3339), "notAfter": leaf.Cert.NotAfter.UTC().Format(time.RFC3339),
	}
	if kind == "Renewed" {
		data["certificateId"] = fmt.Sprint(id) // renewed events carry it as a string
		data["previousCertificateId"] = fmt.Sprint(r.sum.CertIDs[0])
	} else {
		data["certId"] = id
	}
	b, _ := json.Marshal(data)
	return localfc.CloudEvent{
		ID: fmt.Sprintf("demo-%s-%d", strings.ToLower(kind), id), Source: "acs.cas", SpecVersion: "1.0",
		Type:    "cas:Certificate:" + kind,
		Subject: fmt.Sprintf("acs:cas:%s:%s:certificate/%d", r.cfg.CAS.Region, r.info.AccountID, id),
		Time:    time.Now().UTC().Format(time.RFC3339), DataContentType: "application/json;charset=utf-8",
		Data: b,
	}
}

// rollout fires ev n times concurrently through the deployer's EventBridge trigger and prints
// each delivery's totals.
func (r *run) rollout(ctx context.Context, label string, ev localfc.CloudEvent, n int) ([]deploy.Result, bool) {
	start := time.Now()
	results := make([]deploy.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.rt.Fire(ctx, TriggerCASEvents, ev)
			switch {
			case err != nil:
				errs[i] = err
			case res.Error != nil:
				errs[i] = res.Error
			default:
				errs[i] = json.Unmarshal(res.Payload, &results[i])
			}
		}()
	}
	wg.Wait()
	ok := true
	var lines []string
	for i := range n {
		if errs[i] != nil {
			ok = false
			lines = append(lines, fmt.Sprintf("delivery %d: %v", i+1, errs[i]))
			continue
		}
		for _, e := range results[i].Errors {
			ok = false
			lines = append(lines, fmt.Sprintf("delivery %d: %s", i+1, e))
		}
		for _, rep := range results[i].Reports {
			t := rep.Totals
			bind := "bind task not queued"
			if rep.BindTask != nil && rep.BindTask.Queued {
				bind = "bind task queued"
			} else if rep.BindTask != nil && rep.BindTask.Error != "" {
				bind = "bind task: " + rep.BindTask.Error
			}
			lines = append(lines, fmt.Sprintf("delivery %d: deployed %d, unchanged %d, not covered %d, failed %d; %s",
				i+1, t.Deployed, t.Unchanged, t.NotCovered, t.Failed, bind))
			if t.Failed > 0 {
				ok = false
				for _, tr := range rep.Targets {
					if tr.Status == rollout.StatusFailed && tr.Error != nil {
						lines = append(lines, fmt.Sprintf("  %s: %s %s", tr.Target, tr.Error.Code, tr.Error.Message))
					}
				}
			}
		}
	}
	status := StatusOK
	if !ok {
		status = StatusFailed
	}
	r.stage(label, start, status, "%d deliver%s of %s through trigger %s", n, plural(n, "y", "ies"), ev.Type, TriggerCASEvents)
	for _, l := range lines {
		r.note("%s", l)
	}
	return results, ok
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// bind waits for the MNS trigger to run the binder until the bind queue is empty and every
// AIRec domain serves sha.
func (r *run) bind(ctx context.Context, sha string, before int) {
	start := time.Now()
	if r.cfg.AIRec == nil {
		r.stage("binder (MNS trigger)", start, StatusSkipped, "no AIRec section in the targets file")
		return
	}
	if _, ok := r.fnName[ResBinder]; !ok {
		r.stage("binder (MNS trigger)", start, StatusSkipped, "function not built (%s); %d bind task(s) left in queue %s",
			r.missing[ResBinder], len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)), r.cfg.AIRec.Queue)
		return
	}
	deadline := time.Now().Add(r.opts.BindWait)
	var pending, unbound []string
	for {
		pending = pending[:0]
		for _, m := range r.cloud.MNS().Messages(r.cfg.AIRec.Queue) {
			pending = append(pending, m.ID)
		}
		unbound = r.unboundAIRec(sha)
		if len(pending) == 0 && len(unbound) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	runs := r.runsOf(r.fnName[ResBinder])[before:]
	failed := 0
	for _, x := range runs {
		if x.Err != nil || x.Result.Error != nil {
			failed++
		}
	}
	dlq := 0
	for _, q := range r.cloud.Estate().Queues {
		if q.Name == r.cfg.AIRec.Queue && q.DeadLetter != "" {
			dlq = len(r.cloud.MNS().Messages(q.DeadLetter))
		}
	}
	enforced := r.cloud.AIRec().Enforced(r.cfg.AIRec.InstanceID)
	status := StatusOK
	if len(pending) > 0 || len(unbound) > 0 || (r.cfg.AIRec.EnforceHTTPS && !enforced) {
		status = StatusFailed
	}
	r.stage("binder (MNS trigger)", start, status,
		"%d invocation(s) (%d failed); queue %s: %d left, dead-letter %d; AIRec %s: %d/%d domains serve %s, HTTPS enforced %v",
		len(runs), failed, r.cfg.AIRec.Queue, len(pending), dlq, r.cfg.AIRec.InstanceID,
		len(r.cfg.AIRec.Domains)-len(unbound), len(r.cfg.AIRec.Domains), sha[:12], enforced)
	for _, x := range runs {
		if x.Result.Error != nil {
			r.note("binder error: %s: %s", x.Result.Error.Type, firstLine(x.Result.Error.Message))
		} else if x.Err != nil {
			r.note("binder error: %v", x.Err)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}

func (r *run) unboundAIRec(sha string) []string {
	var out []string
	for _, d := range r.cfg.AIRec.Domains {
		if got, ok := r.cloud.Deployed("airec:"+d, d); !ok || got != sha {
			out = append(out, d)
		}
	}
	return out
}

func (r *run) runCount(fn string) int { return len(r.runsOf(fn)) }

func (r *run) runsOf(fn string) []localfc.TriggerRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []localfc.TriggerRun
	for _, x := range r.runs {
		if x.Function == fn {
			out = append(out, x)
		}
	}
	return out
}

// check fires the checker's timer and prints what it reported.
func (r *run) check(ctx context.Context, label string) bool {
	start := time.Now()
	name, ok := r.fnName[ResChecker]
	if !ok {
		r.stage(label, start, StatusSkipped, "function not built (%s)", r.missing[ResChecker])
		return false
	}
	res, err := r.rt.FireTimer(ctx, name)
	switch {
	case err != nil:
		r.stage(label, start, StatusFailed, "%v", err)
		return false
	case res.Error != nil:
		r.stage(label, start, StatusFailed, "%s: %s", res.Error.Type, firstLine(res.Error.Message))
		return false
	}
	line, ok := checkLine(res.Payload)
	if !ok {
		r.stage(label, start, StatusFailed, "timer run: %s", line)
		return false
	}
	r.stage(label, start, StatusOK, "timer run: %s", line)
	return true
}

// checkLine reads the checker's report (pkg/check) into one line; ok is its verdict.
func checkLine(payload []byte) (line string, ok bool) {
	var rep check.Report
	if err := json.Unmarshal(payload, &rep); err != nil {
		return fmt.Sprintf("unreadable report (%d bytes): %v", len(payload), err), false
	}
	sm := rep.Summary
	line = fmt.Sprintf("%d endpoints: %d ok, %d failing, %d fixed; %d HTTPS setting(s) enforced, %d target(s) redeployed",
		sm.Endpoints, sm.OK, sm.Failing, sm.Fixed, sm.Enforced, sm.Redeployed)
	if len(rep.Problems) > 0 {
		line += "; problems: " + strings.Join(rep.Problems, "; ")
	}
	return line, rep.OK && sm.Endpoints > 0
}

// issue: CAS issues a certificate; the trigger runs the deployer; the binder and checker follow.
func (r *run) issue(ctx context.Context) error {
	start := time.Now()
	id, leaf, err := r.issueCert("certflow-demo-issued")
	if err != nil {
		return err
	}
	r.sum.CertIDs[0], r.sum.SHA256s[0] = id, leaf.SHA256()
	r.stage("CAS issued", start, StatusOK, "certificate %d (%s) for %d names, uploaded through the SDK",
		id, leaf.SHA256()[:12], len(leaf.Cert.DNSNames))
	binds := r.runCount(r.fnName[ResBinder]) // the queue trigger may run the binder before the deployer answers
	r.sum.Issued, _ = r.rollout(ctx, "deployer (issued)", r.casEvent("Issued", id, leaf), r.opts.Deliveries)
	if err := ctx.Err(); err != nil {
		return err
	}
	r.bind(ctx, leaf.SHA256(), binds)
	r.check(ctx, "checker (timer)")
	return ctx.Err()
}

// renew: a second certificate rolls out the same way.
func (r *run) renew(ctx context.Context) error {
	start := time.Now()
	id, leaf, err := r.issueCert("certflow-demo-renewed")
	if err != nil {
		return err
	}
	r.sum.CertIDs[1], r.sum.SHA256s[1] = id, leaf.SHA256()
	r.stage("CAS renewed", start, StatusOK, "certificate %d (%s) replaces %d", id, leaf.SHA256()[:12], r.sum.CertIDs[0])
	binds := r.runCount(r.fnName[ResBinder]) // the queue trigger may run the binder before the deployer answers
	r.sum.Renewed, _ = r.rollout(ctx, "deployer (renewed)", r.casEvent("Renewed", id, leaf), 1)
	if err := ctx.Err(); err != nil {
		return err
	}
	r.bind(ctx, leaf.SHA256(), binds)
	return ctx.Err()
}

// drift puts the previous certificate back on one CDN domain through the SDK, then lets the
// checker find and repair it.
func (r *run) drift(ctx context.Context) error {
	start := time.Now()
	var domain string
	for _, t := range r.cfg.Targets {
		if t.Kind == "cdn" && !strings.HasPrefix(t.Domain, ".") && !strings.HasPrefix(t.Domain, "*") {
			domain = t.Domain
			break
		}
	}
	if domain == "" {
		r.stage("drift", start, StatusSkipped, "no concrete CDN domain in the estate to make stale")
		return nil
	}
	id := "cdn:" + domain
	r.sum.StaleTarget = id
	cl, err := r.clients.CDN()
	if err != nil {
		return fmt.Errorf("demo: CDN client: %w", err)
	}
	req := cdn.CreateSetCdnDomainSSLCertificateRequest()
	req.DomainName, req.SSLProtocol, req.CertType = domain, "on", "cas"
	req.CertId, req.CertRegion = requests.NewInteger64(r.sum.CertIDs[0]), r.cfg.CAS.Region
	if _, err := cl.SetCdnDomainSSLCertificate(req); err != nil {
		r.stage("drift", start, StatusFailed, "put certificate %d back on %s: %v", r.sum.CertIDs[0], domain, err)
		return nil
	}
	got, _ := r.cloud.Deployed(id, domain)
	if got != r.sum.SHA256s[0] {
		r.stage("drift", start, StatusFailed, "%s serves %s after putting the old certificate back", id, short(got))
		return nil
	}
	r.stage("drift", start, StatusOK, "%s made stale on purpose: serves the previous certificate %s again", id, got[:12])
	if !r.check(ctx, "checker (drift repair)") {
		return ctx.Err()
	}
	start = time.Now()
	got, _ = r.cloud.Deployed(id, domain)
	if got == r.sum.SHA256s[1] {
		r.stage("drift repaired", start, StatusOK, "%s serves %s again", id, got[:12])
	} else {
		r.stage("drift repaired", start, StatusFailed, "%s still serves %s, want %s", id, short(got), r.sum.SHA256s[1][:12])
	}
	return ctx.Err()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return cmp.Or(sha, "nothing")
}

// verify probes every endpoint independently: SNI, a chain verified to the local root only,
// the expected leaf, and the redirect and HSTS each one is configured to enforce.
func (r *run) verify(ctx context.Context) error {
	start := time.Now()
	want := r.sum.SHA256s[1]
	byAddr := map[string]config.Target{}
	for _, t := range r.cfg.Targets {
		if t.Endpoint != "" {
			byAddr[t.Endpoint+"|"+strings.ToLower(firstName(t.Names))] = t
		}
	}
	roots := r.cloud.CA().Pool()
	var mu sync.Mutex
	var wg sync.WaitGroup
	checks := make([]EndpointCheck, 0)
	for _, ep := range r.cloud.Endpoints() {
		ec := EndpointCheck{ID: ep.ID, Name: ep.Name}
		if t, ok := r.targetFor(ep, byAddr); ok {
			ec.ForceHTTPS, ec.HSTS = t.ForceHTTPS, t.HSTS
		}
		if ep.Kind == "airec" && r.cfg.AIRec != nil {
			ec.ForceHTTPS = r.cfg.AIRec.EnforceHTTPS
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := probe.Options{Roots: roots, ExpectSHA256: want, MinTLS: tls.VersionTLS12, Timeout: 5 * time.Second,
				CheckHTTP: ec.ForceHTTPS && ep.HTTP != ""}
			ec.Result = probe.Probe(ctx, probe.Endpoint{Name: ep.Name, Address: ep.Address, HTTPAddress: ep.HTTP}, opts)
			for _, f := range ec.Result.Findings {
				if f.Severity != probe.SeverityError {
					continue
				}
				if !ec.HSTS && (f.Code == probe.CodeNoHSTS || f.Code == probe.CodeHSTSShort) {
					continue // HSTS is not configured for this endpoint
				}
				ec.Problems = append(ec.Problems, f.Code+": "+f.Message)
			}
			if ec.ForceHTTPS && ep.HTTP == "" {
				ec.Problems = append(ec.Problems, "forceHttps configured but the endpoint has no plain-HTTP address to check")
			}
			ec.OK = len(ec.Problems) == 0
			mu.Lock()
			checks = append(checks, ec)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(checks, func(i, j int) bool { return checks[i].ID+checks[i].Name < checks[j].ID+checks[j].Name })
	r.sum.Endpoints = checks
	clean, enforced := 0, 0
	for _, c := range checks {
		if c.OK {
			clean++
			if c.ForceHTTPS {
				enforced++
			}
		}
	}
	status := StatusOK
	if clean != len(checks) {
		status = StatusFailed
	}
	r.stage("independent probe", start, status, "%d/%d endpoints serve %s over TLS verified to the local root; %d with HTTP→HTTPS enforced",
		clean, len(checks), want[:12], enforced)
	for _, c := range checks {
		if !c.OK {
			r.note("%s (%s): %s", c.Name, c.ID, strings.Join(c.Problems, "; "))
		}
	}
	return ctx.Err()
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// targetFor finds the targets-file entry behind a local cloud endpoint.
func (r *run) targetFor(ep localcloud.Endpoint, byAddr map[string]config.Target) (config.Target, bool) {
	if t, ok := byAddr[ep.Address+"|"+strings.ToLower(ep.Name)]; ok {
		return t, true
	}
	for _, t := range r.cfg.Targets {
		if t.Endpoint == ep.Address {
			return t, true
		}
	}
	return config.Target{}, false
}

// verdict is OK only when every stage ran and succeeded and every endpoint is clean.
func (r *run) verdict() {
	var bad []string
	for _, st := range r.sum.Stages {
		if st.Status != StatusOK {
			bad = append(bad, st.Name+" "+st.Status)
		}
	}
	clean, need, enforced := 0, 0, 0
	for _, c := range r.sum.Endpoints {
		if c.OK {
			clean++
		}
		if c.ForceHTTPS {
			need++
			if c.OK {
				enforced++
			}
		}
	}
	sha := short(r.sum.SHA256s[1])
	airec := "AIRec bound"
	if r.cfg.AIRec != nil && len(r.unboundAIRec(r.sum.SHA256s[1])) > 0 {
		airec = "AIRec NOT bound"
	}
	r.sum.OK = len(bad) == 0 && clean == len(r.sum.Endpoints) && len(r.sum.Endpoints) > 0
	if r.sum.OK {
		r.sum.Verdict = fmt.Sprintf("VERDICT: OK — %d/%d endpoints serve %s over verified TLS, HTTPS enforced on %d/%d that require it, %s",
			clean, len(r.sum.Endpoints), sha, enforced, need, airec)
	} else {
		r.sum.Verdict = fmt.Sprintf("VERDICT: FAIL — %d/%d endpoints serve %s cleanly; %s; not ok: %s",
			clean, len(r.sum.Endpoints), sha, airec, cmp.Or(strings.Join(bad, ", "), "endpoints"))
	}
	fmt.Fprintln(r.out, r.sum.Verdict)
}

// ErrNotOK is returned by callers that turn a failed verdict into an error.
var ErrNotOK = errors.New("demo: the flow did not end with every endpoint clean")

// Package bind is the binder's work, shared by the FC function and `certflow bind`: bind a
// CAS certificate to the AIRec instance's custom domains, idempotently and within the
// invocation's deadline, and prove the result.
//
// One bind (Binder.Run) goes:
//
//  1. Read the AIRec status. A bind of this certificate still PENDING/VALIDATING is resumed
//     (polled), never uploaded again. When every domain is already listed as bound to this
//     certificate and really serves it over verified TLS, nothing is uploaded (C17: a second
//     delivery is a no-op) and only HTTPS enforcement is made sure of.
//  2. Fetch the certificate and key from CAS, validate the bundle (the fingerprint must be the
//     task's), build certificate_info.xlsx and read it back with airec.ReadMapping: a mapping
//     lacking its domain or certificate_id column (AIRec's silent failure) or naming other
//     domains or another ID is refused before upload.
//  3. Re-read the status (another binder may have started meanwhile), upload, and poll the
//     status with backoff until SUCCESS or FAILED. At the deadline the bind fails retryably;
//     the next delivery resumes polling.
//  4. After SUCCESS every domain must be listed as bound to this certificate and a TLS
//     handshake with SNI to each must serve it; otherwise the bind fails with "silent binding
//     failure: <domains> not bound". Never reported as success.
//  5. Switch HTTPS enforcement on when configured, and read it back.
//
// Failures are retryable (network, 5xx, throttling, a bind in progress, the deadline) or
// permanent (invalid certificate, a certificate CAS no longer has, bad mapping, rejected by
// AIRec, silent binding failure); see ErrRetry and ErrPermanent. Key material never
// appears in reports, logs or errors.
package bind

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/casstore"
	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
)

// Sentinels every failed bind wraps exactly one of.
var (
	// ErrRetry: trying again later may succeed (network, 5xx, throttling, a bind still in
	// progress, the deadline). The trigger should deliver the task again.
	ErrRetry = errors.New("retryable")
	// ErrPermanent: the same task cannot succeed by retrying as it is.
	ErrPermanent = errors.New("permanent")
	// ErrSilentBinding: AIRec reported SUCCESS but a domain is not bound to the certificate
	// or does not serve it (wrapped together with ErrPermanent).
	ErrSilentBinding = errors.New("silent binding failure")
)

// Outcomes of a bind.
const (
	OutcomeBound     = "bound"     // uploaded (or resumed) and proven
	OutcomeUnchanged = "unchanged" // already bound and served: nothing uploaded
	OutcomeFailed    = "failed"
	OutcomePlanned   = "planned" // dry run: what would be uploaded
)

// Binder binds certificates to the configured AIRec instance. One Binder serves many
// invocations; it holds no per-bind state and is safe for concurrent use (AIRec itself
// refuses a second bind while one is in progress, which Run turns into polling).
type Binder struct {
	Clients *cloud.Clients
	Config  *config.Config // its AIRec section is required
	Roots   *x509.CertPool // trust pool for the bundle check and the TLS proof; nil = system roots
	// Gate paces and retries CAS and AIRec calls [rollout.NewGate with AIRec's error classes].
	Gate *rollout.Gate
	// Log receives one line per step; nil = discard. Never key material.
	Log io.Writer
	// Getenv reads the Bearer token variable named by airec.tokenEnv [os.Getenv].
	Getenv func(string) string
	// HTTPClient carries Bearer requests [http.DefaultClient].
	HTTPClient *http.Client
	// PollInterval is the first gap between status polls, doubling up to PollMax [500ms, 5s].
	PollInterval, PollMax time.Duration
	// Margin is kept before the deadline to report and return [5s].
	Margin time.Duration
	// ProofGrace bounds how long a bound domain may take to serve the certificate [10s].
	ProofGrace time.Duration
	// Now is the clock [time.Now].
	Now func() time.Time
}

// Report is what one bind did. It never holds key material.
type Report struct {
	MessageID   string          `json:"messageId,omitempty"`
	TaskID      string          `json:"taskId,omitempty"`
	CertID      int64           `json:"certId"`
	SHA256      string          `json:"sha256,omitempty"`
	Instance    string          `json:"instance"`
	Outcome     string          `json:"outcome"`
	Uploaded    bool            `json:"uploaded"`
	Resumed     bool            `json:"resumed,omitempty"` // polled a bind an earlier delivery started
	AIRecTask   string          `json:"airecTaskId,omitempty"`
	Domains     []DomainResult  `json:"domains,omitempty"`
	HTTPS       *bool           `json:"httpsEnforced,omitempty"` // read back after binding; nil = not configured or not reached
	Findings    []airec.Finding `json:"findings,omitempty"`      // certificate and mapping problems
	Retryable   bool            `json:"retryable,omitempty"`
	Error       string          `json:"error,omitempty"`
	DurationMs  int64           `json:"durationMs"`
	MappingRows int             `json:"mappingRows,omitempty"`
}

// DomainResult is one custom domain after the bind.
type DomainResult struct {
	Domain string `json:"domain"`
	// Listed: AIRec's status lists the domain as bound to this certificate.
	Listed bool `json:"listed"`
	// Served: a verified TLS handshake with SNI served this certificate.
	Served bool   `json:"served"`
	Detail string `json:"detail,omitempty"`
}

func (b *Binder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Binder) logf(format string, args ...any) {
	if b.Log != nil {
		fmt.Fprintf(b.Log, format+"\n", args...)
	}
}

func (b *Binder) gate() *rollout.Gate {
	if b.Gate == nil {
		b.Gate = NewGate(nil, rollout.GateOptions{})
	}
	return b.Gate
}

// NewGate is rollout.NewGate with AIRec's errors classified too (see Classify).
func NewGate(quotas map[string]float64, opts rollout.GateOptions) *rollout.Gate {
	if opts.Classify == nil {
		opts.Classify = Classify
	}
	return rollout.NewGate(quotas, opts)
}

// ActionBind is the gate action name of the AIRec upload.
const ActionBind = "BindCertificate"

// Classify is cloud.Classify that also understands *airec.APIError: throttling and 5xx
// are retried by the gate; a bind conflict is handed straight back (Permanent to the gate)
// so Run can resume the bind in progress instead of uploading again.
func Classify(action string, err error) *cloud.APIError {
	var ae *airec.APIError
	if errors.As(err, &ae) {
		class := cloud.Permanent
		switch {
		case ae.Code == airec.ErrCodeBindInProgress:
			class = cloud.Permanent
		case strings.HasPrefix(ae.Code, "Throttling"):
			class = cloud.Throttled
		case ae.Retryable():
			class = cloud.Retryable
		}
		return &cloud.APIError{Class: class, Code: ae.Code, Message: ae.Message, RequestID: ae.RequestID,
			HTTPStatus: ae.HTTPStatus, Action: action, Err: err}
	}
	if airec.IsRetryable(err) && !errors.Is(err, context.DeadlineExceeded) {
		return &cloud.APIError{Class: cloud.Retryable, Code: "Transport", Message: err.Error(), Action: action, Err: err}
	}
	return cloud.Classify(action, err)
}

// retryable wraps err with ErrRetry, permanent with ErrPermanent.
func retryable(err error) error { return fmt.Errorf("%w: %w", ErrRetry, err) }
func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// classed marks a call failure by its class: temporary classes and deadlines retry.
func classed(err error) error {
	var ce *cloud.APIError
	if errors.As(err, &ce) && ce.Class.Temporary() {
		return retryable(err)
	}
	if errors.Is(err, context.DeadlineExceeded) || airec.IsRetryable(err) {
		return retryable(err)
	}
	return permanent(err)
}

// client builds the AIRec client for one bind (SDK clients are not shared between tasks).
func (b *Binder) client() (*airec.Client, string, error) {
	a := b.Config.AIRec
	opts := airec.ClientOptions{Endpoint: a.Endpoint, Region: a.Region, InstanceID: a.InstanceID, HTTPClient: b.HTTPClient}
	if opts.Endpoint == "" && b.Clients.Local() {
		opts.Endpoint = b.Clients.Options().Endpoint
	}
	getenv := b.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	auth := "roa"
	if a.TokenEnv != "" {
		opts.Token = strings.TrimSpace(getenv(a.TokenEnv))
	}
	if opts.Token != "" {
		auth = "bearer"
	} else {
		sc, err := b.Clients.ROA(airec.Product, a.Region)
		if err != nil {
			return nil, "", err
		}
		opts.SDK = sc
	}
	c, err := airec.New(opts)
	return c, auth, err
}

// Run binds task's certificate to task.Domains on the configured instance. The report is
// complete even when err is not nil; err wraps ErrRetry or ErrPermanent.
func (b *Binder) Run(ctx context.Context, task bindtask.Task) (rep Report, err error) {
	start := b.now()
	rep = Report{TaskID: task.TaskID, CertID: task.CertID, SHA256: task.SHA256, Instance: task.Instance}
	defer func() {
		rep.DurationMs = b.now().Sub(start).Milliseconds()
		if err != nil {
			rep.Outcome, rep.Error, rep.Retryable = OutcomeFailed, err.Error(), errors.Is(err, ErrRetry)
		}
	}()
	a := b.Config.AIRec
	if a == nil {
		return rep, permanent(errors.New("the targets file has no airec section"))
	}
	if err := task.Validate(); err != nil {
		return rep, permanent(err)
	}
	if task.Instance != a.InstanceID {
		return rep, permanent(fmt.Errorf("task %s is for AIRec instance %s; this binder serves %s", task.TaskID, task.Instance, a.InstanceID))
	}
	for _, d := range task.Domains {
		if !slices.Contains(a.Domains, d) {
			return rep, permanent(fmt.Errorf("task %s: domain %s is not one of instance %s's domains %v", task.TaskID, d, a.InstanceID, a.Domains))
		}
	}
	for _, d := range task.Domains {
		rep.Domains = append(rep.Domains, DomainResult{Domain: d})
	}

	// Work inside the deadline minus the margin, so there is time to report.
	work := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, dl.Add(-b.margin()))
		defer cancel()
	}
	cl, auth, err := b.client()
	if err != nil {
		return rep, permanent(fmt.Errorf("airec client: %w", err))
	}
	call := b.gate().NewCall()
	certID := strconv.FormatInt(task.CertID, 10)
	b.logf("bind %s: certificate %d (%s…) → %s %v (auth %s)", task.TaskID, task.CertID, task.SHA256[:12], a.InstanceID, task.Domains, auth)

	st, err := b.status(work, call, cl)
	if err != nil {
		return rep, err
	}
	switch {
	case inProgress(st, certID, task.Domains):
		rep.Resumed = true
		b.logf("bind %s: AIRec task %s is %s for this certificate: resuming, not uploading", task.TaskID, st.TaskID, st.Status)
	case listedAll(st, certID, task.SHA256, task.Domains):
		for i := range rep.Domains {
			rep.Domains[i].Listed = true
		}
		if b.proveAll(work, task, &rep, 0) {
			b.logf("bind %s: every domain already bound and serving the certificate: nothing to upload", task.TaskID)
			rep.Outcome = OutcomeUnchanged
			return rep, b.enforce(work, call, cl, &rep)
		}
		b.logf("bind %s: status lists the certificate but not every domain serves it: binding again", task.TaskID)
		fallthrough
	default:
		if err := b.upload(work, call, cl, task, certID, &rep); err != nil {
			return rep, err
		}
	}
	st, err = b.poll(work, call, cl, task)
	if err != nil {
		return rep, err
	}
	rep.AIRecTask = st.TaskID
	if st.Status == airec.StatusFailed {
		return rep, permanent(fmt.Errorf("airec rejected the bind (task %s): %s", st.TaskID, orDefault(st.Message, "no reason given")))
	}
	if err := b.verify(work, st, certID, task, &rep); err != nil {
		return rep, err
	}
	rep.Outcome = OutcomeBound
	return rep, b.enforce(work, call, cl, &rep)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (b *Binder) margin() time.Duration {
	if b.Margin > 0 {
		return b.Margin
	}
	return 5 * time.Second
}

func (b *Binder) status(ctx context.Context, call *rollout.Call, cl *airec.Client) (airec.Status, error) {
	var st airec.Status
	err := call.Do(ctx, "DescribeCertificateStatus", func() (err error) {
		st, err = cl.Status(ctx)
		return err
	})
	if err != nil {
		return st, classed(fmt.Errorf("airec status: %w", err))
	}
	return st, nil
}

// inProgress: a bind is PENDING/VALIDATING and maps this certificate to every task domain.
func inProgress(st airec.Status, certID string, domains []string) bool {
	if st.Status != airec.StatusPending && st.Status != airec.StatusValidating {
		return false
	}
	for _, d := range domains {
		ds, ok := st.Domain(d)
		if !ok || ds.CertificateID != certID {
			return false
		}
	}
	return true
}

// listedAll: every domain is listed SUCCESS with this certificate (ID, and fingerprint when
// the service reports one).
func listedAll(st airec.Status, certID, sha string, domains []string) bool {
	for _, d := range domains {
		if !listed(st, d, certID, sha) {
			return false
		}
	}
	return true
}

func listed(st airec.Status, d, certID, sha string) bool {
	ds, ok := st.Domain(d)
	return ok && ds.Status == airec.StatusSuccess && ds.CertificateID == certID &&
		(ds.SHA256 == "" || strings.EqualFold(ds.SHA256, sha))
}

// upload fetches the certificate, builds and checks the mapping, and sends the bind. A
// conflict with a bind of this certificate already in progress is not an error.
func (b *Binder) upload(ctx context.Context, call *rollout.Call, cl *airec.Client, task bindtask.Task, certID string, rep *Report) error {
	bundle, err := b.fetch(ctx, call, task.CertID, rep)
	if err != nil {
		return err
	}
	if bundle.SHA256() != task.SHA256 {
		return permanent(fmt.Errorf("CAS certificate %d has fingerprint %s, the task names %s", task.CertID, bundle.SHA256(), task.SHA256))
	}
	for _, d := range task.Domains {
		if !bundle.Covers(d) {
			return permanent(fmt.Errorf("certificate %d does not cover AIRec domain %s (names %v)", task.CertID, d, bundle.Names()))
		}
	}
	var buf bytes.Buffer
	if err := airec.BuildMapping(&buf, certID, bundle.KeyType(), task.Domains); err != nil {
		return permanent(fmt.Errorf("certificate_info.xlsx: %w", err))
	}
	m, err := CheckMapping(buf.Bytes(), bundle, certID, task.Domains)
	if m != nil {
		rep.Findings = append(rep.Findings, m.Findings...)
		rep.MappingRows = len(m.Rows)
	}
	if err != nil {
		return permanent(err)
	}
	// Another delivery may have uploaded while this one fetched: look again right before.
	st, err := b.status(ctx, call, cl)
	if err != nil {
		return err
	}
	if inProgress(st, certID, task.Domains) {
		rep.Resumed = true
		return nil
	}
	var res airec.BindResult
	err = call.Do(ctx, ActionBind, func() (err error) {
		res, err = cl.Bind(ctx, buf.Bytes(), bundle.ChainPEM(), bundle.KeyPEM())
		return err
	})
	var ae *airec.APIError
	if errors.As(err, &ae) && ae.Code == airec.ErrCodeBindInProgress {
		st, serr := b.status(ctx, call, cl)
		if serr != nil {
			return serr
		}
		if inProgress(st, certID, task.Domains) || listedAll(st, certID, task.SHA256, task.Domains) {
			b.logf("bind %s: another delivery is binding this certificate (AIRec task %s): polling it", task.TaskID, st.TaskID)
			rep.Resumed = true
			return nil
		}
		return retryable(fmt.Errorf("airec bind: another bind (task %s) is %s on instance %s", st.TaskID, st.Status, task.Instance))
	}
	if err != nil {
		return classed(fmt.Errorf("airec bind: %w", err))
	}
	rep.Uploaded, rep.AIRecTask = true, res.TaskID
	b.logf("bind %s: uploaded certificate_info.xlsx (%d rows), chain and key: AIRec task %s %s", task.TaskID, rep.MappingRows, res.TaskID, res.Status)
	return nil
}

// fetch reads the certificate and key from CAS and validates the bundle.
func (b *Binder) fetch(ctx context.Context, call *rollout.Call, id int64, rep *Report) (*certs.Bundle, error) {
	store := &casstore.Store{Clients: b.Clients, Region: b.Config.CAS.Region}
	detail, err := store.Get(ctx, call, id)
	if err != nil {
		return nil, classed(err)
	}
	bundle, findings := certs.Parse(detail.CertPEM, detail.KeyPEM, certs.Options{
		Roots: b.Roots, RequireKey: true, Now: b.now(),
		CertSource: fmt.Sprintf("CAS certificate %d (%s)", id, b.Config.CAS.Region),
		KeySource:  fmt.Sprintf("key of CAS certificate %d", id),
	})
	for _, f := range findings {
		rep.Findings = append(rep.Findings, airec.Finding{Severity: string(f.Severity), Code: f.Code, Message: f.Message})
	}
	if bundle == nil || certs.HasErrors(findings) {
		return nil, permanent(fmt.Errorf("certificate %d is not bindable: %s", id, strings.Join(certs.Codes(findings), ", ")))
	}
	return bundle, nil
}

// CheckMapping reads a certificate_info.xlsx back as AIRec would and refuses what would bind
// nothing or the wrong thing: any error finding (a missing domain or certificate_id column
// among them — the silent failure), a row for another certificate ID, or a domain set other
// than domains. c may be nil to skip the coverage check.
func CheckMapping(xlsx []byte, c airec.Coverer, certID string, domains []string) (*airec.Mapping, error) {
	m, err := airec.ReadMapping(bytes.NewReader(xlsx), c)
	if err != nil {
		return nil, fmt.Errorf("certificate_info.xlsx: %w", err)
	}
	if !m.Valid() {
		var msgs []string
		for _, f := range m.Errors() {
			msgs = append(msgs, f.String())
		}
		return m, fmt.Errorf("certificate_info.xlsx refused before upload: %s", strings.Join(msgs, "; "))
	}
	for _, r := range m.Rows {
		if r.CertificateID != certID {
			return m, fmt.Errorf("certificate_info.xlsx refused before upload: row %d maps %s to certificate %s, not %s", r.Row, r.Domain, r.CertificateID, certID)
		}
	}
	got := m.Domains()
	slices.Sort(got)
	want := slices.Clone(domains)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return m, fmt.Errorf("certificate_info.xlsx refused before upload: it maps %v, the task binds %v", got, want)
	}
	return m, nil
}

// poll reads the status with backoff until the bind settles or ctx ends.
func (b *Binder) poll(ctx context.Context, call *rollout.Call, cl *airec.Client, task bindtask.Task) (airec.Status, error) {
	gap, maxGap := b.PollInterval, b.PollMax
	if gap <= 0 {
		gap = 500 * time.Millisecond
	}
	if maxGap <= 0 {
		maxGap = 5 * time.Second
	}
	last := "unknown"
	stillAtDeadline := func(err error) error {
		msg := fmt.Sprintf("airec bind of certificate %d still %s at the deadline: the next delivery resumes polling", task.CertID, last)
		if err != nil {
			return retryable(fmt.Errorf("%s: %w", msg, err))
		}
		return retryable(errors.New(msg))
	}
	for {
		st, err := b.status(ctx, call, cl)
		switch {
		case err != nil && errors.Is(err, ErrRetry):
			// The gate gave up: throttled, failing, or no time left before the deadline.
			return st, stillAtDeadline(err)
		case err != nil:
			return st, err
		case st.Status == airec.StatusSuccess || st.Status == airec.StatusFailed || st.Status == airec.StatusNone:
			return st, nil
		}
		last = st.Status
		select {
		case <-ctx.Done():
			return st, stillAtDeadline(nil)
		case <-time.After(gap):
		}
		gap = min(2*gap, maxGap)
	}
}

// verify checks, after SUCCESS, that every domain is listed with this certificate and
// serves it over verified TLS.
func (b *Binder) verify(ctx context.Context, st airec.Status, certID string, task bindtask.Task, rep *Report) error {
	for i := range rep.Domains {
		d := &rep.Domains[i]
		d.Listed = listed(st, d.Domain, certID, task.SHA256)
		if !d.Listed {
			ds, _ := st.Domain(d.Domain)
			d.Detail = fmt.Sprintf("status lists %s bound to certificate %q", orDefault(ds.Status, "nothing"), ds.CertificateID)
		}
	}
	grace := b.ProofGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	b.proveAll(ctx, task, rep, grace)
	var bad []string
	for _, d := range rep.Domains {
		if !d.Listed || !d.Served {
			bad = append(bad, d.Domain)
		}
	}
	if len(bad) > 0 {
		var why []string
		for _, d := range rep.Domains {
			if d.Detail != "" {
				why = append(why, d.Domain+": "+d.Detail)
			}
		}
		return permanent(fmt.Errorf("%w: %s not bound (AIRec reported %s): %s", ErrSilentBinding, strings.Join(bad, ", "), st.Status, strings.Join(why, "; ")))
	}
	b.logf("bind %s: every domain listed and serving certificate %d over verified TLS", task.TaskID, task.CertID)
	return nil
}

// proveAll handshakes with every domain (SNI = domain, verified chain and host name) until
// each serves task's certificate or grace runs out; it fills Served and Detail and reports
// whether all serve it. A zero grace probes once.
func (b *Binder) proveAll(ctx context.Context, task bindtask.Task, rep *Report, grace time.Duration) bool {
	until := time.Now().Add(grace) // shared: later domains get what the earlier ones left
	a := b.Config.AIRec
	serves := func(r probe.Result) bool {
		return r.Served != nil && strings.EqualFold(r.Served.SHA256, task.SHA256) && r.Errors() == 0
	}
	all := true
	for i := range rep.Domains {
		d := &rep.Domains[i]
		if d.Served {
			continue
		}
		res, ok := probe.Await(ctx, probe.Endpoint{Name: d.Domain, Address: a.Address(d.Domain)},
			probe.Options{Roots: b.Roots, ExpectSHA256: task.SHA256, WarnDays: -1, MinTLS: tls.VersionTLS10, Timeout: 5 * time.Second},
			until, 200*time.Millisecond, serves)
		d.Served = ok
		if ok {
			d.Detail = ""
			continue
		}
		all = false
		switch {
		case res.Served != nil && !strings.EqualFold(res.Served.SHA256, task.SHA256):
			d.Detail = fmt.Sprintf("%s serves %q serial %s, not certificate %d", a.Address(d.Domain), res.Served.Subject, res.Served.Serial, task.CertID)
		case len(res.Findings) > 0:
			d.Detail = fmt.Sprintf("%s: %s", res.Findings[0].Code, res.Findings[0].Message)
		default:
			d.Detail = "no verified handshake"
		}
	}
	return all
}

// enforce switches HTTPS enforcement on when configured and reads it back.
func (b *Binder) enforce(ctx context.Context, call *rollout.Call, cl *airec.Client, rep *Report) error {
	if !b.Config.AIRec.EnforceHTTPS {
		return nil
	}
	var on bool
	read := func() error {
		return call.Do(ctx, "DescribeHttpsSetting", func() (err error) {
			on, err = cl.HTTPSEnforced(ctx)
			return err
		})
	}
	if err := read(); err != nil {
		return classed(fmt.Errorf("airec https get: %w", err))
	}
	if !on {
		if err := call.Do(ctx, "UpdateHttpsSetting", func() error { return cl.EnforceHTTPS(ctx, true) }); err != nil {
			return classed(fmt.Errorf("airec https set: %w", err))
		}
		if err := read(); err != nil {
			return classed(fmt.Errorf("airec https get: %w", err))
		}
		if !on {
			return retryable(errors.New("airec https: enforcement switched on but reads back off"))
		}
		b.logf("bind %s: HTTPS enforcement switched on", rep.TaskID)
	}
	rep.HTTPS = &on
	return nil
}

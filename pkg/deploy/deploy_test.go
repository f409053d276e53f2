package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

type env struct {
	lt      *localtest.Env
	cloud   *localcloud.Cloud
	clients *cloud.Clients
	cfg     *config.Config
	log     *localtest.Buffer
}

func newEnv(t *testing.T, estate []byte) *env {
	t.Helper()
	lt := localtest.Start(t, estate)
	return &env{lt: lt, cloud: lt.Cloud, clients: lt.Clients, cfg: lt.Cloud.TargetsConfig(), log: &localtest.Buffer{}}
}

func (e *env) service() *Service {
	return &Service{Clients: e.clients, Config: e.cfg, Roots: e.cloud.CA().Pool(), Log: e.log,
		PollInterval: 50 * time.Millisecond, Margin: time.Second,
		Gate: rollout.NewGate(e.cfg.ActionQuotas(), rollout.GateOptions{BaseDelay: 20 * time.Millisecond, BusyDelay: 100 * time.Millisecond, BusyMax: time.Second})}
}

// allNames is every name the estate's targets and AIRec domains serve.
func (e *env) allNames() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, t := range e.cfg.Targets {
		for _, n := range t.ServedNames() {
			add(n)
		}
	}
	if e.cfg.AIRec != nil {
		for _, d := range e.cfg.AIRec.Domains {
			add(d)
		}
	}
	return out
}

// upload issues a certificate for names from the local CA into CAS; returns its ID and leaf.
func (e *env) upload(t *testing.T, names ...string) (int64, *localca.Cert) {
	t.Helper()
	return e.lt.Upload(t, localca.RSA2048, names...)
}

func run(t *testing.T, s *Service, req events.Deploy) rollout.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	rep, err := s.Run(ctx, req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func writes(calls []localcloud.Call) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		for _, p := range []string{"Set", "Create", "Upload", "RunCommand"} {
			// RunCommand "certflow-read" only reads the host's certificate file.
			read := c.Action == "RunCommand" && c.Params["Name"] == "certflow-read"
			if strings.HasPrefix(c.Action, p) && c.Code == "" && c.Action != "CreateSecretParameter" && !read {
				out[c.Action]++
			}
		}
	}
	return out
}

func TestRolloutReachesEveryTargetThenUnchanged(t *testing.T) {
	e := newEnv(t, nil)
	id, leaf := e.upload(t, e.allNames()...)
	s := e.service()
	rep := run(t, s, events.Deploy{CertID: id, EventID: "ev-1"})
	if rep.Totals.Failed != 0 || rep.Totals.Deployed != len(rep.Targets) {
		t.Fatalf("first run totals %+v\n%s", rep.Totals, table(rep))
	}
	if rep.SHA256 != leaf.SHA256() {
		t.Errorf("report sha256 %s, want %s", rep.SHA256, leaf.SHA256())
	}
	for _, tg := range e.cfg.Targets {
		if tg.Endpoint == "" {
			continue
		}
		if got := e.lt.Served(t, tg.Endpoint, tg.ServedNames()[0]); got != leaf.SHA256() {
			t.Errorf("%s serves %s, want the new certificate", tg.ID(), got[:12])
		}
	}
	// Two listeners in cn-hangzhou deployed concurrently share one uploaded certificate (C02).
	perRegion := map[string]int{}
	for _, c := range localcloud.CallsOf(e.cloud.Calls(), "UploadServerCertificate") {
		perRegion[c.Region]++
	}
	if perRegion["cn-hangzhou"] != 1 || perRegion["cn-beijing"] != 1 {
		t.Errorf("server certificate uploads per region %v, want one each", perRegion)
	}
	if rep.BindTask == nil || !rep.BindTask.Queued || rep.BindTask.TaskID == "" {
		t.Errorf("bind task %+v, want queued", rep.BindTask)
	}
	if n := strings.Count(e.log.String(), "\n"); n != len(rep.Targets) {
		t.Errorf("%d progress lines, want %d:\n%s", n, len(rep.Targets), e.log.String())
	}
	if !strings.Contains(e.log.String(), "["+itoa(len(rep.Targets))+"/"+itoa(len(rep.Targets))+"]") {
		t.Errorf("progress has no final running count:\n%s", e.log.String())
	}

	// A second delivery writes nothing.
	before := len(e.cloud.Calls())
	rep2 := run(t, s, events.Deploy{CertID: id, EventID: "ev-1"})
	if rep2.Totals.Unchanged != len(rep2.Targets) {
		t.Fatalf("second run totals %+v\n%s", rep2.Totals, table(rep2))
	}
	if w := writes(e.cloud.Calls()[before:]); len(w) != 0 {
		t.Errorf("second delivery wrote: %v", w)
	}
	assertNoKey(t, leaf, e, rep, rep2)
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + jsonNumber(n)) }

func jsonNumber(n int) string { b, _ := json.Marshal(n); return string(b) }

func table(r rollout.Report) string {
	var b bytes.Buffer
	r.WriteTable(&b)
	return b.String()
}

// assertNoKey scans reports, logs, the call log and queue messages for key material.
func assertNoKey(t *testing.T, leaf *localca.Cert, e *env, reps ...rollout.Report) {
	t.Helper()
	lines := strings.Split(string(leaf.KeyPEM()), "\n")
	needles := []string{"PRIVATE KEY", lines[1], lines[len(lines)-3]}
	var hay []string
	for _, r := range reps {
		b, _ := json.Marshal(r)
		hay = append(hay, string(b))
	}
	hay = append(hay, e.log.String())
	calls, _ := json.Marshal(e.cloud.Calls())
	hay = append(hay, string(calls))
	for _, m := range e.cloud.MNS().Messages("certflow-bind") {
		hay = append(hay, string(m.Body))
	}
	for _, h := range hay {
		for _, n := range needles {
			if strings.Contains(h, n) {
				t.Errorf("key material %q found in %.80s…", n, h)
			}
		}
	}
}

// C05: one wildcard certificate, 40 CDN domains and 6 CLB listeners, the API throttling
// every 5th call: everything deployed, nothing lost, throttles never surfaced.
func TestThrottledEveryFifthCall(t *testing.T) {
	var b strings.Builder
	b.WriteString("accountId: \"1234567890123456\"\nregion: cn-hangzhou\naccessKeyId: LTAI5tCertflowLocal0001\naccessKeySecret: certflow-local-secret-not-for-production\nclbs:\n")
	for i := range 6 {
		b.WriteString("  - id: lb-bp1throttle" + itoa(i) + "\n    region: cn-hangzhou\n    listeners:\n      - port: 443\n        protocol: https\n        names: [lb" + itoa(i) + ".example.com]\n")
	}
	b.WriteString("cdn:\n")
	for i := range 40 {
		b.WriteString("  - domain: cdn" + itoa(i) + ".example.com\n")
	}
	e := newEnv(t, []byte(b.String()))
	e.cloud.SetFaults(localcloud.Faults{Seed: 5, Rules: map[string]localcloud.FaultRule{"*": {ThrottleEvery: 5}}})
	id, _ := e.upload(t, "*.example.com")
	e.cloud.SetFaults(localcloud.Faults{Seed: 5, Rules: map[string]localcloud.FaultRule{"*": {ThrottleEvery: 5}}})
	rep := run(t, e.service(), events.Deploy{CertID: id, EventID: "ev-throttle"})
	if rep.Totals.Deployed != 46 || rep.Totals.Failed != 0 {
		t.Fatalf("totals %+v, want 46 deployed\n%s", rep.Totals, table(rep))
	}
	throttled := 0
	for _, c := range e.cloud.Calls() {
		if strings.HasPrefix(c.Code, "Throttling") || c.Code == "FlowControlError" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("the fault never fired: the test proves nothing")
	}
	attempts := 0
	for _, r := range rep.Targets {
		attempts += r.Attempts
	}
	if attempts < 46*3 {
		t.Errorf("report counts %d attempts; too few for 46 targets", attempts)
	}
	t.Logf("46 targets, %d throttled calls absorbed, %d attempts", throttled, attempts)
}

// One permanently failing target is reported while the others deploy, and it is not
// retryable; the invocation would not be failed for it.
func TestPermanentFailureDoesNotStopOthers(t *testing.T) {
	e := newEnv(t, nil)
	// A CLB target that does not exist in the estate: LoadBalancer not found (permanent).
	e.cfg.Targets = append(e.cfg.Targets, config.Target{Kind: config.KindCLB, Region: "cn-hangzhou",
		LoadBalancerID: "lb-bp1doesnotexist", Port: 443, Names: []string{"www.example.com"}})
	id, _ := e.upload(t, e.allNames()...)
	rep := run(t, e.service(), events.Deploy{CertID: id, EventID: "ev-2"})
	if rep.Totals.Failed != 1 || rep.Totals.Deployed != len(rep.Targets)-1 {
		t.Fatalf("totals %+v\n%s", rep.Totals, table(rep))
	}
	last := rep.Targets[len(rep.Targets)-1]
	if last.Status != rollout.StatusFailed || last.Retryable || last.Error == nil || last.Error.Code == "" {
		t.Errorf("missing LB result %+v", last)
	}
	if len(rep.Retryable()) != 0 {
		t.Errorf("retryable %v, want none", rep.Retryable())
	}
}

// Names the certificate does not cover are not_covered with the missing names; a dry run
// writes nothing.
func TestNotCoveredAndDryRun(t *testing.T) {
	e := newEnv(t, nil)
	id, _ := e.upload(t, "www.example.com", "api.example.com")
	before := len(e.cloud.Calls())
	rep := run(t, e.service(), events.Deploy{CertID: id, DryRun: true, EventID: "manual"})
	if w := writes(e.cloud.Calls()[before:]); len(w) != 0 {
		t.Errorf("dry run wrote: %v", w)
	}
	var planned, notCovered int
	for _, r := range rep.Targets {
		switch r.Status {
		case rollout.StatusPlanned:
			planned++
		case rollout.StatusNotCovered:
			notCovered++
			if r.Error == nil || !strings.Contains(r.Error.Message, ".example.") {
				t.Errorf("%s: reason %+v should name the missing name", r.Target, r.Error)
			}
		}
	}
	if planned != 2 || notCovered == 0 {
		t.Errorf("planned %d, not covered %d\n%s", planned, notCovered, table(rep))
	}
	if len(e.cloud.MNS().Messages("certflow-bind")) != 0 {
		t.Error("dry run queued a bind task")
	}
}

// An invalid certificate stops the rollout with findings; nothing is written (C12: a
// CN-only certificate, which modern clients reject).
func TestInvalidCertificateStops(t *testing.T) {
	e := newEnv(t, nil)
	leaf, err := e.cloud.CA().Issue(localca.Template{DNSNames: []string{"www.example.com"}, NoSAN: true})
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := e.clients.CAS("cn-hangzhou")
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = "cn-only", string(e.cloud.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	before := len(e.cloud.Calls())
	rep, err := e.service().Run(t.Context(), events.Deploy{CertID: resp.CertId})
	if !errors.Is(err, ErrInvalidCertificate) || len(rep.Targets) != 0 {
		t.Fatalf("err %v, targets %d; want ErrInvalidCertificate and no targets", err, len(rep.Targets))
	}
	codes := map[string]bool{}
	for _, f := range rep.Findings {
		codes[f.Code] = true
	}
	if !codes["no_san"] {
		t.Errorf("findings %+v lack no_san", rep.Findings)
	}
	if w := writes(e.cloud.Calls()[before:]); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
	if len(e.cloud.MNS().Messages("certflow-bind")) != 0 {
		t.Error("an invalid certificate was handed to the binder")
	}
}

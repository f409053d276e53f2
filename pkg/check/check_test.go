package check

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
)

// hook is the alert webhook: it records every message it receives.
type hook struct {
	mu   sync.Mutex
	msgs []map[string]any
	srv  *httptest.Server
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("alert body is not JSON: %.200s", b)
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

func (h *hook) text(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, _ := h.msgs[i]["text"].(string)
	return s
}

type env struct {
	lt      *localtest.Env
	cloud   *localcloud.Cloud
	clients *cloud.Clients
	cfg     *config.Config
	hook    *hook
	log     *localtest.Buffer
	gate    *rollout.Gate
}

func newEnv(t *testing.T) *env {
	t.Helper()
	lt := localtest.Start(t, nil)
	c, cl := lt.Cloud, lt.Clients
	cfg := c.TargetsConfig()
	// Validate it the way the function loads it (defaults filled, names normalised).
	b, err := yamlOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Parse("targets.yaml", b); err != nil {
		t.Fatal(err)
	}
	// The estate certificate expires in 10 days: warn only under 5, so a fixed estate is clean.
	cfg.Checker.WarnDays = 5
	h := newHook(t)
	cfg.Checker.Alert = config.Alert{Webhook: h.srv.URL + "/hook", Format: config.AlertGeneric}
	gate := rollout.NewGate(cfg.ActionQuotas(), rollout.GateOptions{BaseDelay: 20 * time.Millisecond, BusyDelay: 100 * time.Millisecond, BusyMax: time.Second})
	return &env{lt: lt, cloud: c, clients: cl, cfg: cfg, hook: h, log: &localtest.Buffer{}, gate: gate}
}

func (e *env) service() *Service {
	return &Service{Clients: e.clients, Config: e.cfg, Roots: e.cloud.CA().Pool(), Gate: e.gate, Log: e.log,
		ProbeTimeout: 5 * time.Second,
		Getenv: func(k string) string {
			if k == "CERTFLOW_AIREC_TOKEN" {
				return "certflow-local-airec-token"
			}
			return ""
		},
		Deployer: deploy.Service{PollInterval: 50 * time.Millisecond, Margin: time.Second}}
}

func runCheck(t *testing.T, s *Service) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	rep, err := s.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, s.Log)
	}
	return rep
}

func (e *env) String() string { return e.log.String() }

func failing(r Report) []string {
	var out []string
	for _, ep := range r.Endpoints {
		for _, f := range ep.Findings {
			out = append(out, ep.Name+" "+f.Code+": "+f.Message)
		}
	}
	return out
}

func TestTimerRunEnforcesThenNextRunIsClean(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	timer := []byte(`{"triggerTime":"2026-01-05T02:00:00Z","triggerName":"certflow-checker-timer","payload":""}`)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	rep, err := s.Handle(ctx, timer)
	if err != nil {
		t.Fatalf("Handle: %v\n%s", err, e.log)
	}
	if !rep.OK || len(rep.Problems) > 0 {
		t.Fatalf("first run not OK after enforcement: problems %v, findings %v\n%s", rep.Problems, failing(rep), e.log)
	}
	settings := map[string]int{}
	for _, c := range rep.Enforced {
		settings[c.Setting]++
	}
	// Six CDN domains × three functions, one CLB HTTP listener, AIRec enforcement.
	want := map[string]int{"https_force": 6, "HSTS": 6, "https_tls_version": 6, "http_listener": 1, "enforceHttps": 1}
	for k, n := range want {
		if settings[k] != n {
			t.Errorf("enforced %s %d times, want %d (all: %v)", k, settings[k], n, settings)
		}
	}
	fixed := map[string][]string{}
	for _, ep := range rep.Endpoints {
		for _, f := range ep.Fixed {
			fixed[ep.Name] = append(fixed[ep.Name], f.Code)
		}
	}
	for _, name := range []string{"www.example.com", "api.example.com", "img1.example.com", "rec.example.com"} {
		if !strings.Contains(strings.Join(fixed[name], ","), probe.CodeNoHTTPSRedirect) {
			t.Errorf("%s: fixed %v, want no_https_redirect among them", name, fixed[name])
		}
	}
	if !strings.Contains(strings.Join(fixed["img1.example.com"], ","), probe.CodeNoHSTS) {
		t.Errorf("img1: fixed %v, want no_hsts", fixed["img1.example.com"])
	}
	if rep.Summary.Endpoints < 13 || rep.Summary.Fixed < 10 {
		t.Errorf("summary %+v", rep.Summary)
	}
	if e.hook.count() != 1 || rep.Alert == nil || !rep.Alert.Sent {
		t.Fatalf("alerts after first run: %d (status %+v), want 1", e.hook.count(), rep.Alert)
	}
	if txt := e.hook.text(0); !strings.Contains(txt, "**Fixed**") || !strings.Contains(txt, "no_https_redirect") || !strings.Contains(txt, "https_force") {
		t.Errorf("alert text lacks what was fixed:\n%s", txt)
	}
	lines := strings.Count(e.log.String(), "] ")
	if lines < rep.Summary.Endpoints || !strings.Contains(e.log.String(), "certflow check: ") {
		t.Errorf("log has %d endpoint lines for %d endpoints:\n%s", lines, rep.Summary.Endpoints, e.log)
	}

	t.Logf("first run log:\n%s", e.log)
	before := len(e.cloud.Calls())
	rep2 := runCheck(t, s)
	if !rep2.OK || len(rep2.Enforced) != 0 || len(rep2.Repaired) != 0 || len(rep2.Problems) != 0 || len(failing(rep2)) != 0 {
		t.Fatalf("second run not clean: enforced %v repaired %v problems %v findings %v", rep2.Enforced, rep2.Repaired, rep2.Problems, failing(rep2))
	}
	if rep2.Alert != nil || e.hook.count() != 1 {
		t.Errorf("clean run alerted: %+v, webhook got %d messages", rep2.Alert, e.hook.count())
	}
	for _, c := range e.cloud.Calls()[before:] {
		if strings.HasPrefix(c.Action, "Set") || strings.HasPrefix(c.Action, "BatchSet") || strings.HasPrefix(c.Action, "Create") || strings.HasPrefix(c.Action, "Delete") {
			t.Errorf("clean run wrote: %s", c.Action)
		}
	}
}

// upload issues a certificate for names from the local CA into CAS.
func (e *env) upload(t *testing.T, names ...string) (int64, *localca.Cert) {
	t.Helper()
	return e.lt.Upload(t, localca.ECDSAP256, names...)
}

func TestStaleTargetIsRedeployedAndCleanOnReprobe(t *testing.T) {
	e := newEnv(t)
	e.cfg.AIRec = nil // AIRec binds go through the binder; covered by its own tests
	names := []string{}
	var ids []string
	const stale = "clb:lb-2zelocalshop01:443"
	for _, tg := range e.cfg.Targets {
		names = append(names, tg.ServedNames()...)
		if tg.ID() != stale {
			ids = append(ids, tg.ID())
		}
	}
	certID, leaf := e.upload(t, names...)
	// The renewal reached every target but one.
	d := &deploy.Service{Clients: e.clients, Config: e.cfg, Roots: e.cloud.CA().Pool(), Gate: e.gate, PollInterval: 50 * time.Millisecond, Margin: time.Second}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	if rep, err := d.Run(ctx, events.Deploy{CertID: certID, Only: ids}); err != nil || rep.Totals.Failed > 0 {
		t.Fatalf("partial rollout: %v %+v", err, rep.Totals)
	}
	var shopAddr string
	for _, tg := range e.cfg.Targets {
		if tg.ID() == stale {
			shopAddr = tg.Endpoint
		}
	}
	if got := e.lt.Served(t, shopAddr, "shop.example.com"); got == leaf.SHA256() {
		t.Fatal("setup: the stale target already serves the renewal")
	}

	s := e.service()
	rep := runCheck(t, s)
	if !rep.OK {
		t.Fatalf("not OK after repair: %v\nproblems %v\n%s", failing(rep), rep.Problems, e.log)
	}
	if len(rep.Repaired) != 1 || rep.Repaired[0].CertID != certID || len(rep.Repaired[0].Targets) != 1 ||
		rep.Repaired[0].Targets[0].Target != stale || rep.Repaired[0].Targets[0].Status != rollout.StatusDeployed {
		t.Fatalf("repaired %+v, want %s deployed with certificate %d", rep.Repaired, stale, certID)
	}
	var shop *EndpointResult
	for i := range rep.Endpoints {
		if rep.Endpoints[i].Name == "shop.example.com" {
			shop = &rep.Endpoints[i]
		}
	}
	if shop == nil || shop.Served == nil || shop.Served.SHA256 != leaf.SHA256() || shop.Expected == nil || shop.Expected.CertID != certID ||
		len(shop.Fixed) != 1 || shop.Fixed[0].Code != probe.CodeStaleCertificate {
		t.Fatalf("shop endpoint after repair: %+v", shop)
	}
	if got := e.lt.Served(t, shopAddr, "shop.example.com"); got != leaf.SHA256() {
		t.Errorf("shop serves %s, want the renewal %s", got, leaf.SHA256())
	}
	if rep.Summary.Redeployed != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
	if e.hook.count() != 1 || !strings.Contains(e.hook.text(0), "stale_certificate") || !strings.Contains(e.hook.text(0), stale+": certificate") {
		t.Fatalf("alerts %d, first:\n%s", e.hook.count(), e.hook.text(0))
	}
	rep2 := runCheck(t, s)
	if !rep2.OK || len(rep2.Repaired) != 0 || len(rep2.Enforced) != 0 || len(failing(rep2)) != 0 || e.hook.count() != 1 {
		t.Fatalf("second run: repaired %v enforced %v findings %v alerts %d", rep2.Repaired, rep2.Enforced, failing(rep2), e.hook.count())
	}
	if strings.Contains(e.log.String(), "PRIVATE KEY") {
		t.Error("log contains key material")
	}
}

func TestFilterDropsUnconfiguredHTTPChecks(t *testing.T) {
	all := probe.Result{Findings: []probe.Finding{
		{Severity: "error", Code: probe.CodeNoHTTPSRedirect}, {Severity: "error", Code: probe.CodeNoHSTS},
		{Severity: "error", Code: probe.CodeHSTSShort}, {Severity: "warning", Code: probe.CodeExpiringSoon},
	}}
	tests := []struct {
		name   string
		checks HTTPChecks
		want   string
		ok     bool
	}{
		{"redirect only", HTTPChecks{Redirect: true}, "no_https_redirect,expiring_soon", false},
		{"hsts only", HTTPChecks{HSTS: true}, "no_hsts,hsts_short,expiring_soon", false},
		{"both", HTTPChecks{Redirect: true, HSTS: true}, "no_https_redirect,no_hsts,hsts_short,expiring_soon", false},
		{"neither", HTTPChecks{}, "expiring_soon", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := filter(all, tc.checks)
			var codes []string
			for _, f := range r.Findings {
				codes = append(codes, f.Code)
			}
			if strings.Join(codes, ",") != tc.want || r.OK != tc.ok {
				t.Errorf("got %v ok=%v, want %s ok=%v", codes, r.OK, tc.want, tc.ok)
			}
		})
	}
	if len(all.Findings) != 4 {
		t.Error("filter modified its input")
	}
}

func TestHandleRejectsNonTimerPayload(t *testing.T) {
	s := &Service{Clients: &cloud.Clients{}, Config: &config.Config{}}
	_, err := s.Handle(t.Context(), []byte(`{"certId": 5}`))
	if err == nil || !strings.Contains(err.Error(), "certflow checker: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestWhatCannotBeFixedStillFailsAndAlertsEachRun(t *testing.T) {
	e := newEnv(t)
	for i := range e.cfg.Targets {
		if e.cfg.Targets[i].ID() == "clb:lb-bp1localweb01:443" {
			e.cfg.Targets[i].HSTS = true // CLB listeners cannot send HSTS
		}
	}
	s := e.service()
	for run := 1; run <= 2; run++ {
		rep := runCheck(t, s)
		var www *EndpointResult
		for i := range rep.Endpoints {
			if rep.Endpoints[i].Name == "www.example.com" {
				www = &rep.Endpoints[i]
			}
		}
		if rep.OK || www == nil || www.OK || !www.Has(probe.CodeNoHSTS) || rep.Summary.Failing != 1 {
			t.Fatalf("run %d: ok=%v www=%+v summary %+v", run, rep.OK, www, rep.Summary)
		}
		if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "clb:lb-bp1localweb01:443: hsts: a CLB listener cannot") {
			t.Errorf("run %d problems %v", run, rep.Problems)
		}
		if e.hook.count() != run {
			t.Fatalf("run %d: webhook got %d messages, want %d", run, e.hook.count(), run)
		}
		txt := e.hook.text(run - 1)
		if !strings.Contains(txt, "**Still failing**") || !strings.Contains(txt, "www.example.com (clb:lb-bp1localweb01:443): no_hsts") {
			t.Errorf("run %d alert:\n%s", run, txt)
		}
	}
}

func TestCASUnreadableIsRetryableAndStillChecks(t *testing.T) {
	e := newEnv(t)
	e.cloud.SetFaults(localcloud.Faults{Rules: map[string]localcloud.FaultRule{"ListUserCertificateOrder": {ErrorRate: 1}}})
	s := e.service()
	s.Gate = rollout.NewGate(e.cfg.ActionQuotas(), rollout.GateOptions{BaseDelay: 10 * time.Millisecond, MaxAttempts: 2})
	rep, err := s.Run(t.Context())
	if !errors.Is(err, ErrRetry) {
		t.Fatalf("err = %v, want ErrRetry", err)
	}
	if len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "expected certificates unknown") {
		t.Errorf("problems %v", rep.Problems)
	}
	// Everything else still ran: endpoints probed (without expectations) and enforcement done.
	if rep.Summary.Endpoints != 13 || len(rep.Enforced) == 0 || e.hook.count() != 1 {
		t.Errorf("summary %+v, enforced %d, alerts %d", rep.Summary, len(rep.Enforced), e.hook.count())
	}
	for _, ep := range rep.Endpoints {
		if ep.Expected != nil {
			t.Errorf("%s has an expectation without CAS", ep.Name)
		}
	}
}

package targets

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

func testCall(t *testing.T) (context.Context, *rollout.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	// Unlimited pacing: the tests count calls, they do not measure the quota.
	gate := rollout.NewGate(map[string]float64{"BatchSetCdnDomainConfig": 0}, rollout.GateOptions{BaseDelay: 10 * time.Millisecond, BusyDelay: 50 * time.Millisecond})
	return ctx, gate.NewCall()
}

func cdnPolicies(cfg *config.Config, maxAge int) []CDNPolicy {
	var ps []CDNPolicy
	for _, ct := range cfg.Targets {
		if ct.Kind == config.KindCDN && !config.IsPattern(ct.Domain) {
			ps = append(ps, CDNPolicy{Domain: ct.Domain, Policy: PolicyOf(ct, maxAge)})
		}
	}
	return ps
}

func TestEnforceCDNThenNothingToDo(t *testing.T) {
	e := newEnv(t)
	ps := cdnPolicies(e.cfg, 31536000)
	if len(ps) != 6 {
		t.Fatalf("default estate has %d CDN targets, want 6", len(ps))
	}
	ctx, call := testCall(t)
	for i, r := range EnforceCDN(ctx, call, e.clients, ps) {
		if r.Err != nil {
			t.Fatalf("%s: %v", ps[i].Domain, r.Err)
		}
		got := map[string]bool{}
		for _, ch := range r.Changes {
			got[ch.Setting] = true
		}
		if !got["https_force"] || !got["HSTS"] || !got["https_tls_version"] || len(r.Changes) != 3 {
			t.Errorf("%s: changes %+v, want https_force, HSTS, https_tls_version", ps[i].Domain, r.Changes)
		}
	}
	// Six domains needing the same functions share one call.
	if n := len(localcloud.CallsOf(e.cloud.Calls(), "BatchSetCdnDomainConfig")); n != 1 {
		t.Errorf("BatchSetCdnDomainConfig called %d times, want 1", n)
	}
	for _, p := range ps {
		pol := e.cloud.Policy("cdn:" + p.Domain)
		if !pol.ForceHTTPS || pol.HSTSMaxAge != 365*24*time.Hour || pol.MinTLS != tls.VersionTLS12 {
			t.Errorf("%s serves policy %+v, want redirect, HSTS 1y, TLS 1.2 floor", p.Domain, pol)
		}
	}
	before := len(e.cloud.Calls())
	for i, r := range EnforceCDN(ctx, call, e.clients, ps) {
		if r.Err != nil || len(r.Changes) != 0 {
			t.Errorf("second run %s: changes %+v err %v, want none", ps[i].Domain, r.Changes, r.Err)
		}
	}
	if n := len(localcloud.CallsOf(e.cloud.Calls()[before:], "BatchSetCdnDomainConfig")); n != 0 {
		t.Errorf("second run wrote %d times, want 0", n)
	}
}

func TestEnforceCDNRaisesShortHSTSAndUpdatesInPlace(t *testing.T) {
	e := newEnv(t)
	ctx, call := testCall(t)
	p := []CDNPolicy{{Domain: "img1.example.com", Policy: HTTPSPolicy{HSTS: true, HSTSMaxAge: 600}}}
	if r := EnforceCDN(ctx, call, e.clients, p)[0]; r.Err != nil || len(r.Changes) != 1 {
		t.Fatalf("first: %+v", r)
	}
	p[0].Policy.HSTSMaxAge = 86400
	r := EnforceCDN(ctx, call, e.clients, p)[0]
	if r.Err != nil || len(r.Changes) != 1 || !strings.Contains(r.Changes[0].From, "max-age=600") || !strings.Contains(r.Changes[0].To, "https_hsts_max_age=86400") {
		t.Fatalf("second: %+v", r)
	}
	sets := localcloud.CallsOf(e.cloud.Calls(), "BatchSetCdnDomainConfig")
	if !strings.Contains(sets[1].Params["Functions"], `"configId":`) {
		t.Errorf("update did not name the existing config: %s", sets[1].Params["Functions"])
	}
	if got := e.cloud.Policy("cdn:img1.example.com").HSTSMaxAge; got != 24*time.Hour {
		t.Errorf("HSTS max-age %v, want 24h", got)
	}
}

func TestEnforceCDNBatchesAtMostFifty(t *testing.T) {
	var b strings.Builder
	b.WriteString("accountId: \"1234567890123456\"\nregion: cn-hangzhou\naccessKeyId: LTAI5tCertflowLocal0001\naccessKeySecret: s\ncdn:\n")
	for i := range 120 {
		fmt.Fprintf(&b, "  - domain: d%03d.example.com\n", i)
	}
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "")
	}
	c, err := localcloud.Start(t.Context(), localcloud.Options{Dir: t.TempDir(), Estate: []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	cl := cloud.New(cloud.Options{Endpoint: info.Endpoint, AccountID: info.AccountID, Region: info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret}))
	ps := cdnPolicies(c.TargetsConfig(), 15552000)
	ctx, call := testCall(t)
	changed := 0
	for _, r := range EnforceCDN(ctx, call, cl, ps) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		changed += min(len(r.Changes), 1)
	}
	sets := localcloud.CallsOf(c.Calls(), "BatchSetCdnDomainConfig")
	if changed != 120 || len(sets) != 3 {
		t.Fatalf("changed %d domains in %d calls, want 120 in 3", changed, len(sets))
	}
	for _, s := range sets {
		if n := len(strings.Split(s.Params["DomainNames"], ",")); n > 50 || s.Code != "" {
			t.Errorf("call with %d domains, code %q", n, s.Code)
		}
	}
}

func TestEnforceCLBRedirect(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, id, wantFrom string
	}{
		{"plain http listener is replaced", "clb:lb-bp1localweb01:443", "port 80: forward off, running"},
		{"missing http listener is created", "clb:lb-2zelocalshop01:443", "port 80: no listener"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, ok := endpointOf(e.cfg, tc.id)
			if !ok {
				t.Fatalf("no target %s", tc.id)
			}
			ct.ForceHTTPS, ct.HTTPPort = true, 80
			tg, err := New(e.clients, ct)
			if err != nil {
				t.Fatal(err)
			}
			ctx, call := testCall(t)
			changes, err := tg.(*CLB).EnforceHTTPS(ctx, call, PolicyOf(ct, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0].From != tc.wantFrom || changes[0].To != "port 80: forward to 443, running" {
				t.Fatalf("changes %+v", changes)
			}
			if !e.cloud.Policy(strings.Join(strings.Split(tc.id, ":")[:3], ":")).ForceHTTPS {
				t.Error("endpoint does not redirect after enforcement")
			}
			changes, err = tg.(*CLB).EnforceHTTPS(ctx, call, PolicyOf(ct, 0))
			if err != nil || len(changes) != 0 {
				t.Errorf("second run: %+v %v, want nothing to do", changes, err)
			}
		})
	}
}

func TestEnforceCLBHSTSIsAnError(t *testing.T) {
	e := newEnv(t)
	ct, _ := endpointOf(e.cfg, "clb:lb-bp1localweb01:443")
	tg, err := New(e.clients, ct)
	if err != nil {
		t.Fatal(err)
	}
	ctx, call := testCall(t)
	_, err = tg.(*CLB).EnforceHTTPS(ctx, call, HTTPSPolicy{HSTS: true})
	if err == nil || !strings.Contains(err.Error(), "clb:lb-bp1localweb01:443: hsts: a CLB listener cannot") {
		t.Fatalf("err = %v", err)
	}
}

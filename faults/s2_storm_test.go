package faults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	cdn "github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	slb "github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// estate returns the default estate grown by extra CDN domains and CLBs (one HTTPS
// listener each), all serving names under example.com so one certificate covers them.
func estate(t *testing.T, cdnN, clbN int) []byte {
	t.Helper()
	e, err := localcloud.ParseEstate(localcloud.DefaultEstate())
	if err != nil {
		t.Fatal(err)
	}
	for i := range cdnN {
		e.CDN = append(e.CDN, localcloud.EstateCDN{Domain: fmt.Sprintf("cdn%03d.example.com", i)})
	}
	for i := range clbN {
		e.CLBs = append(e.CLBs, localcloud.EstateCLB{ID: fmt.Sprintf("lb-bp1faults%04d", i), Region: "cn-hangzhou",
			Listeners: []localcloud.EstateListener{{Port: 443, Protocol: "https", Bandwidth: -1,
				Names: []string{fmt.Sprintf("lb%03d.example.com", i)}}}})
	}
	b, err := yaml.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	// AccessKeySecret and tokens are json:"-" only; yaml keeps them.
	return b
}

// since returns the calls made at or after t.
func since(calls []localcloud.Call, t time.Time) []localcloud.Call {
	var out []localcloud.Call
	for _, c := range calls {
		if !c.Time.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// kindOf maps a call's product to the target kind whose tasks make it.
func kindOf(c localcloud.Call) string {
	switch c.Product {
	case "Slb":
		return config.KindCLB
	case "Cdn":
		return config.KindCDN
	case "Ecs", "Oos":
		return config.KindECS
	}
	return ""
}

// attemptsMatch compares the report's attempt counts, per target kind, with the calls the
// local cloud saw for that kind; it returns the two tallies.
func attemptsMatch(rep []rollout.Report, calls []localcloud.Call) (reported, logged map[string]int) {
	reported, logged = map[string]int{}, map[string]int{}
	for _, r := range rep {
		for _, tr := range r.Targets {
			kind, _, _ := strings.Cut(tr.Target, ":")
			reported[kind] += tr.Attempts
		}
	}
	for _, c := range calls {
		if k := kindOf(c); k != "" {
			logged[k]++
		}
	}
	return reported, logged
}

func codes(calls []localcloud.Call) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if c.Code != "" {
			out[c.Code]++
		}
	}
	return out
}

func fmtCodes(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Scenario 2: throttle storm — every 3rd call of every action is Throttling.User (CDN:
// FlowControlError) and 5% more fail ServiceUnavailable/InternalError. All targets deploy in
// the first invocation, inside its deadline; the report's attempts match the call log.
func TestS2ThrottleStorm(t *testing.T) {
	ctx := t.Context()
	cdnN, clbN := 0, 0
	if *full {
		cdnN, clbN = 34, 4 // C05: 40 CDN domains and 6 CLB listeners
	}
	r := newRig(t, rigOptions{Estate: estate(t, cdnN, clbN), NoStart: true})
	id, leaf := r.issue("faults-storm")
	start := time.Now()
	r.cloud.SetFaults(localcloud.Faults{Seed: 2, Rules: map[string]localcloud.FaultRule{
		"*": {ThrottleEvery: 3, ErrorRate: 0.05},
	}})
	res := r.fire(ctx, r.event(id, "faults-storm"))
	out := deployResult(t, res)
	if n := len(r.runsOf("deployer")); n != 1 {
		t.Errorf("deployer ran %d times, want 1 (no trigger retry needed)", n)
	}
	if len(out.Reports) != 1 {
		t.Fatalf("%d reports, want 1: %v", len(out.Reports), out.Errors)
	}
	rep := out.Reports[0]
	if rep.Totals.Deployed != len(r.cfg.Targets) || rep.Totals.Failed != 0 {
		t.Errorf("totals %+v, want all %d deployed", rep.Totals, len(r.cfg.Targets))
	}
	calls := since(r.cloud.Calls(), start)
	c := codes(calls)
	if c["Throttling.User"] == 0 || c["FlowControlError"] == 0 || c["ServiceUnavailable"]+c["InternalError"] == 0 {
		t.Errorf("the storm did not happen: error codes %v", c)
	}
	reported, logged := attemptsMatch(out.Reports, calls)
	for _, k := range []string{config.KindCLB, config.KindCDN, config.KindECS} {
		if reported[k] != logged[k] {
			t.Errorf("%s: report counts %d attempts, the local cloud saw %d calls", k, reported[k], logged[k])
		}
	}
	retried := 0
	for _, tr := range rep.Targets {
		if tr.Attempts > 1 {
			retried++
		}
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 0 {
		t.Errorf("not serving the certificate: %v", lost)
	}
	dups, keys := duplicated(writes(calls))
	if dups != 0 {
		t.Errorf("duplicated writes: %v", keys)
	}
	timeout := 600 * time.Second
	if res.Duration >= timeout {
		t.Errorf("took %s, over the function timeout %s", res.Duration, timeout)
	}
	total := reported[config.KindCLB] + reported[config.KindCDN] + reported[config.KindECS]
	figure(t, 2, row{Scenario: "2 throttle storm",
		Load:    fmt.Sprintf("%d targets (%d CDN)", len(r.cfg.Targets), 6+cdnN),
		Faults:  "every 3rd call throttled + 5% 5xx: " + fmtCodes(c),
		Outcome: fmt.Sprintf("all deployed in 1 invocation, %.1fs; %d attempts reported = %d calls logged; %d targets retried", res.Duration.Seconds(), total, len(calls)-countProducts(calls, "cas", "Mns", "Airec", ""), retried),
		Lost:    len(lost), Duplicated: dups})
}

func countProducts(calls []localcloud.Call, products ...string) int {
	n := 0
	for _, c := range calls {
		for _, p := range products {
			if c.Product == p {
				n++
			}
		}
	}
	return n
}

// Scenario 3: busy targets. Every CDN domain and CLB listener stays "configuring" for a
// while after each change (the suite changes them just before the rollout, and the rollout's
// own certificate change makes the HTTPS enforcement that follows wait too). The deployer
// waits it out and never reports a target deployed while its change was being rejected.
func TestS3BusyTargets(t *testing.T) {
	ctx := t.Context()
	window := 1500 * time.Millisecond
	if *full {
		window = 4 * time.Second
	}
	r := newRig(t, rigOptions{NoStart: true})
	id, leaf := r.issue("faults-busy")
	busy := localcloud.FaultRule{Configuring: window}
	r.cloud.SetFaults(localcloud.Faults{Seed: 3, Rules: map[string]localcloud.FaultRule{
		"SetCdnDomainSSLCertificate": busy, "BatchSetCdnDomainConfig": busy,
		"SetLoadBalancerHTTPSListenerAttribute": busy, "SetDomainExtensionAttribute": busy,
	}})
	// Someone else just changed every CLB HTTPS listener: rewrite each with its own settings.
	for _, tg := range r.cfg.Targets {
		if tg.Kind != config.KindCLB || tg.SNIDomain != "" {
			continue
		}
		cl, err := r.clients.SLB(tg.Region)
		if err != nil {
			t.Fatal(err)
		}
		d := slb.CreateDescribeLoadBalancerHTTPSListenerAttributeRequest()
		d.RegionId, d.LoadBalancerId, d.ListenerPort = tg.Region, tg.LoadBalancerID, requests.NewInteger(tg.Port)
		cur, err := cl.DescribeLoadBalancerHTTPSListenerAttribute(d)
		if err != nil {
			t.Fatal(err)
		}
		s := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		s.RegionId, s.LoadBalancerId, s.ListenerPort = tg.Region, tg.LoadBalancerID, requests.NewInteger(tg.Port)
		s.ServerCertificateId, s.Bandwidth = cur.ServerCertificateId, requests.NewInteger(-1)
		if _, err := cl.SetLoadBalancerHTTPSListenerAttribute(s); err != nil {
			t.Fatalf("pre-change %s: %v", tg.ID(), err)
		}
	}
	// … and every CDN domain (an HTTP/2 switch, harmless to the rollout).
	var domains []string
	for _, tg := range r.cfg.Targets {
		if tg.Kind == config.KindCDN {
			domains = append(domains, tg.Domain)
		}
	}
	cdnCl, err := r.clients.CDN()
	if err != nil {
		t.Fatal(err)
	}
	b := cdn.CreateBatchSetCdnDomainConfigRequest()
	b.DomainNames = strings.Join(domains, ",")
	b.Functions = `[{"functionName":"https_option","functionArgs":[{"argName":"http2","argValue":"on"}]}]`
	if _, err := cdnCl.BatchSetCdnDomainConfig(b); err != nil {
		t.Fatalf("pre-change CDN domains: %v", err)
	}
	start := time.Now()
	res := r.fire(ctx, r.event(id, "faults-busy"))
	out := deployResult(t, res)
	if len(out.Reports) != 1 {
		t.Fatalf("%d reports: %v", len(out.Reports), out.Errors)
	}
	rep := out.Reports[0]
	calls := since(r.cloud.Calls(), start)
	rejected := map[string]int{}
	lastWrite := map[string]localcloud.Call{}
	for _, c := range calls {
		if c.Code == "ServiceIsConfiguring" {
			rejected[c.Action]++
		}
		switch c.Action {
		case "SetCdnDomainSSLCertificate":
			lastWrite["cdn:"+c.Params["DomainName"]] = c
		case "SetLoadBalancerHTTPSListenerAttribute":
			lastWrite[fmt.Sprintf("clb:%s:%s", c.Params["LoadBalancerId"], c.Params["ListenerPort"])] = c
		}
	}
	if rejected["SetLoadBalancerHTTPSListenerAttribute"] == 0 || rejected["SetCdnDomainSSLCertificate"] == 0 {
		t.Errorf("targets were never busy: rejections %v", rejected)
	}
	for _, tr := range rep.Targets {
		if tr.Status != rollout.StatusDeployed {
			t.Errorf("%s: %s %+v, want deployed after waiting", tr.Target, tr.Status, tr.Error)
			continue
		}
		if c, ok := lastWrite[tr.Target]; ok && c.Code != "" {
			t.Errorf("%s reported deployed but its last write was rejected with %s", tr.Target, c.Code)
		}
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 0 {
		t.Errorf("not serving: %v", lost)
	}
	dups, keys := duplicated(writes(calls))
	if dups != 0 {
		t.Errorf("duplicated writes: %v", keys)
	}
	total := 0
	for _, n := range rejected {
		total += n
	}
	figure(t, 3, row{Scenario: "3 busy targets",
		Load:    fmt.Sprintf("%d targets", len(r.cfg.Targets)),
		Faults:  fmt.Sprintf("CDN + CLB configuring %s after each change", window),
		Outcome: fmt.Sprintf("%d ServiceIsConfiguring rejections waited out; %d/%d deployed, none while rejected; %.1fs", total, rep.Totals.Deployed, len(r.cfg.Targets), res.Duration.Seconds()),
		Lost:    len(lost), Duplicated: dups})
}

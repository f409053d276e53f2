package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localcloud"
)

func TestMixFor(t *testing.T) {
	tests := []struct {
		name    string
		n, ecs  int
		want    Mix
		wantErr bool
	}{
		{"100", 100, 4, Mix{Total: 100, CDN: 88, CLBListeners: 4, CLBExtensions: 4, ECS: 4}, false},
		{"1000", 1000, 4, Mix{Total: 1000, CDN: 916, CLBListeners: 40, CLBExtensions: 40, ECS: 4}, false},
		{"too small for the ECS hosts", 4, 4, Mix{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MixFor(tc.n, tc.ecs)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("MixFor(%d, %d) = %+v, %v; want %+v, error %v", tc.n, tc.ecs, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEstateParsesWithEveryTarget(t *testing.T) {
	m, err := MixFor(100, 3)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Estate(m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := localcloud.ParseEstate(y)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.CDN) != m.CDN || len(e.CLBs) != m.CLBListeners || len(e.ECS) != 3 {
		t.Errorf("estate has %d CDN, %d CLB, %d ECS; want %d, %d, 3", len(e.CDN), len(e.CLBs), len(e.ECS), m.CDN, m.CLBListeners)
	}
	for _, d := range e.CDN {
		if !strings.HasSuffix(d.Domain, "."+BenchDomain) {
			t.Errorf("CDN domain %s is outside %s", d.Domain, BenchDomain)
		}
	}
}

func TestComputeBound(t *testing.T) {
	mix := Mix{Total: 102, CDN: 91, CLBListeners: 5, CLBExtensions: 5, ECS: 1}
	calls := map[string]int{
		"GetUserCertificateDetail":              1,
		"DescribeDomainCertificateInfo":         182, // 100/s
		"SetCdnDomainSSLCertificate":            91,  // 30/s: (91-1)/30 = 3 s
		"SetLoadBalancerHTTPSListenerAttribute": 5,   // 1.5/s: 4/1.5 = 2.67 s
		"RunCommand":                            10,
		"DescribeInvocationResults":             7, // counts once per host in the chain
	}
	b := ComputeBound(calls, mix, nil, 50*time.Millisecond)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if b.Binding != "SetCdnDomainSSLCertificate" || !near(b.Rate, 3.05) || !near(b.Prefix, 0.05) {
		t.Errorf("bound = %+v; want binding SetCdnDomainSSLCertificate, rate 3.05 s, prefix 0.05 s", b)
	}
	if !near(b.Chain, 0.55) { // ECS: 10 RunCommand + 1 poll = 11 calls × 50 ms
		t.Errorf("chain = %v, want 0.55", b.Chain)
	}
	if !near(b.Seconds, 3.1) {
		t.Errorf("seconds = %v, want 3.1", b.Seconds)
	}
	// A quota override moves the binding action.
	b = ComputeBound(calls, mix, map[string]float64{"SetLoadBalancerHTTPSListenerAttribute": 0.5}, 50*time.Millisecond)
	if b.Binding != "SetLoadBalancerHTTPSListenerAttribute" || !near(b.Rate, 8.05) {
		t.Errorf("with override: %+v; want SetLoadBalancerHTTPSListenerAttribute at 8.05 s", b)
	}
}

func TestSuccessfulCallsSkipsThrottled(t *testing.T) {
	calls := []localcloud.Call{{Action: "A"}, {Action: "A", Code: "Throttling.User"}, {Action: "B"}}
	got := SuccessfulCalls(calls)
	if got["A"] != 1 || got["B"] != 1 || len(got) != 2 {
		t.Errorf("SuccessfulCalls = %v, want A:1 B:1", got)
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/certflow/certflow/pkg/certs
BenchmarkParse-2   	    1234	    956789 ns/op	   12345 B/op	     210 allocs/op
PASS
pkg: github.com/certflow/certflow/pkg/rollout
BenchmarkEngineQuotaBound-2 	       3	 401234567 ns/op	         0.98 efficiency
BenchmarkBroken-2 oops
ok  	github.com/certflow/certflow/pkg/rollout	3.1s
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("parsed %d benchmarks, want 2: %+v", len(got), got)
	}
	if g := got[0]; g.Package != "github.com/certflow/certflow/pkg/certs" || g.Name != "BenchmarkParse" || g.Iterations != 1234 ||
		g.NsPerOp != 956789 || g.BytesPerOp != 12345 || g.AllocsPerOp != 210 {
		t.Errorf("first = %+v", g)
	}
	if g := got[1]; g.Name != "BenchmarkEngineQuotaBound" || g.Metrics["efficiency"] != 0.98 {
		t.Errorf("second = %+v", g)
	}
}

func TestJudgeAndMarkdown(t *testing.T) {
	r := &Results{Machine: Machine{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26.8"},
		Rollouts: []RolloutPair{{Targets: 1000, Speedup: 12,
			Concurrent: &Rollout{Targets: 1000, Efficiency: 0.95, WallSeconds: 32, Bound: Bound{Seconds: 30.4}},
			Sequential: &Rollout{Targets: 1000, Efficiency: 0.08, WallSeconds: 384}}},
		Checkers: []Checker{{Endpoints: 100, Speedup: 9}},
		Binaries: []Binary{{Function: "deployer", MB: 41, ColdStartMedianMs: 8}},
		Mapping:  &Mapping{Domains: 10000, TotalMs: 400, Valid: true}}
	r.Judge()
	met := map[string]bool{}
	for _, v := range r.Verdicts {
		met[v.Figure] = v.Met
	}
	want := map[string]bool{
		"rollout 1000: efficiency (bound/wall)":     true,
		"rollout 1000: speedup vs sequential":       true,
		"checker 100: speedup vs openssl loop":      false,
		"deployer binary size (MB)":                 false,
		"deployer cold start median (ms)":           true,
		"mapping 10000 domains build+validate (ms)": true,
		"rollout 1000: targets lost":                true,
	}
	for fig, w := range want {
		if got, ok := met[fig]; !ok || got != w {
			t.Errorf("verdict %q = %v (present %v), want %v", fig, got, ok, w)
		}
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	for _, s := range []string{"Test CPU, 2 cores, go1.26.8", "| deployer binary size (MB) | 41 | <= 20 | **no** |", "12.0×"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRunRolloutDeploysEveryTargetWithinTheBound(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "")
	}
	r, err := RunRollout(t.Context(), RolloutOptions{Targets: 12, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Deployed != 12 || r.Lost != 0 || r.ThrottlesSurfaced != 0 {
		t.Errorf("deployed %d, lost %d, throttles surfaced %d; want 12, 0, 0", r.Deployed, r.Lost, r.ThrottlesSurfaced)
	}
	if r.Calls["SetCdnDomainSSLCertificate"] != 12 {
		t.Errorf("SetCdnDomainSSLCertificate calls = %d, want 12", r.Calls["SetCdnDomainSSLCertificate"])
	}
	// The bound is a lower limit: no run can beat it.
	if r.Bound.Seconds <= 0 || r.Efficiency <= 0 || r.Efficiency > 1 {
		t.Errorf("bound %.3f s, wall %.3f s, efficiency %.3f; want 0 < efficiency <= 1", r.Bound.Seconds, r.WallSeconds, r.Efficiency)
	}
}

func TestRunMappingValidates(t *testing.T) {
	m, err := RunMapping(200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Valid || m.Domains != 200 || m.Bytes == 0 || m.TotalMs <= 0 {
		t.Errorf("mapping = %+v", m)
	}
}

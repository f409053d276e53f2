package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// InjectedLatency is the API latency every emulated action gets in the rollout scenario.
const InjectedLatency = 50 * time.Millisecond

// RolloutFaults is the emulator configuration of the rollout scenario: the documented
// quotas enforced with the real throttling codes, and InjectedLatency on every action.
func RolloutFaults() []byte {
	return []byte(fmt.Sprintf("quotas: true\nactions:\n  \"*\":\n    latency: %s\n", InjectedLatency))
}

// Rollout is one measured rollout.
type Rollout struct {
	Targets     int            `json:"targets"`
	Mix         Mix            `json:"mix"`
	Concurrency int            `json:"concurrency"`
	WallSeconds float64        `json:"wallSeconds"`
	Bound       Bound          `json:"bound"`
	Efficiency  float64        `json:"efficiency"` // Bound.Seconds / WallSeconds
	Calls       map[string]int `json:"calls"`      // successful calls per action (call log)
	Deployed    int            `json:"deployed"`
	Unchanged   int            `json:"unchanged"`
	Failed      int            `json:"failed"`
	// Lost are planned targets that ended neither deployed nor unchanged.
	Lost int `json:"lost"`
	// ThrottlesSeen are throttled attempts the engine saw (its Gate's count), and
	// ThrottlesInLog the throttled responses the emulator logged; they agree when the
	// engine is the only client.
	ThrottlesSeen  int64 `json:"throttlesSeen"`
	ThrottlesInLog int   `json:"throttlesInLog"`
	// ThrottlesSurfaced are targets whose reported error is a throttling error.
	ThrottlesSurfaced int   `json:"throttlesSurfaced"`
	Retries           int64 `json:"retries"`
}

// RolloutOptions configure RunRollout.
type RolloutOptions struct {
	Targets     int
	ECS         int       // ECS hosts in the estate
	Concurrency int       // engine bound; 1 = sequential
	Dir         string    // working directory for the local cloud ("" = temp)
	Log         io.Writer // per-target progress lines; nil = none
}

// RunRollout starts a local cloud with a generated estate, quotas and injected latency,
// uploads a wildcard certificate covering every target to CAS, and times deploy.Service.Run
// (the deployer's engine) rolling it out.
func RunRollout(ctx context.Context, o RolloutOptions) (Rollout, error) {
	mix, err := MixFor(o.Targets, o.ECS)
	if err != nil {
		return Rollout{}, err
	}
	estate, err := Estate(mix)
	if err != nil {
		return Rollout{}, err
	}
	lc, err := localcloud.Start(ctx, localcloud.Options{Estate: estate, Faults: RolloutFaults(), Dir: o.Dir})
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %d: start local cloud: %w", o.Targets, err)
	}
	defer lc.Close()
	env, err := NewCloudEnv(lc)
	if err != nil {
		return Rollout{}, err
	}
	certID, err := env.UploadWildcard()
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %d: %w", o.Targets, err)
	}
	cfg := lc.TargetsConfig()
	cfg.Concurrency = o.Concurrency
	svc := &deploy.Service{Clients: env.Clients, Config: cfg, Roots: lc.CA().Pool(), Log: o.Log}
	before := len(lc.Calls())
	start := time.Now()
	rep, err := svc.Run(ctx, events.Deploy{CertID: certID})
	wall := time.Since(start)
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %d at concurrency %d: %w", o.Targets, o.Concurrency, err)
	}
	calls := lc.Calls()[before:]
	stats := svc.Gate.Stats()
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = rollout.DefaultConcurrency // what the engine uses when the targets file sets none
	}
	r := Rollout{Targets: o.Targets, Mix: mix, Concurrency: conc, WallSeconds: wall.Seconds(),
		Calls: SuccessfulCalls(calls), ThrottlesSeen: stats.Throttles, Retries: stats.Retries,
		Deployed: rep.Totals.Deployed, Unchanged: rep.Totals.Unchanged, Failed: rep.Totals.Failed}
	for _, c := range calls {
		if isThrottle(c.Code) {
			r.ThrottlesInLog++
		}
	}
	for _, t := range rep.Targets {
		if t.Status != rollout.StatusDeployed && t.Status != rollout.StatusUnchanged {
			r.Lost++
		}
		if t.Error != nil && isThrottle(t.Error.Code) {
			r.ThrottlesSurfaced++
		}
	}
	r.Lost += o.Targets - len(rep.Targets)
	r.Bound = ComputeBound(r.Calls, mix, cfg.ActionQuotas(), InjectedLatency)
	r.Efficiency = r.Bound.Seconds / r.WallSeconds
	return r, nil
}

func isThrottle(code string) bool {
	return strings.HasPrefix(code, "Throttling") || code == "FlowControlError"
}

// SuccessfulCalls counts the calls of the log that succeeded, per action: the work a
// rollout cannot do without (throttled or failed attempts are retries, not work).
func SuccessfulCalls(calls []localcloud.Call) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if c.Code == "" {
			out[c.Action]++
		}
	}
	return out
}

// Bound is the physical lower limit of a rollout's wall time: nothing can finish before
// the busiest action's quota lets its calls through, nor before the longest chain of
// dependent calls has paid its latency.
type Bound struct {
	Seconds float64 `json:"seconds"`
	// Prefix is the dependent calls made before the fan-out can start (reading the
	// certificate from CAS), each paying the injected latency.
	Prefix float64 `json:"prefixSeconds"`
	// Rate is max over actions of (calls−1)/quota plus one latency (the last call's).
	Rate float64 `json:"rateSeconds"`
	// Binding is the action that sets Rate, with its calls and quota.
	Binding      string  `json:"binding"`
	BindingCalls int     `json:"bindingCalls"`
	BindingQPS   float64 `json:"bindingQps"`
	// Chain is the longest per-target chain of dependent calls times the latency.
	Chain float64 `json:"chainSeconds"`
}

// prefixActions run once, before any target's task can start.
var prefixActions = []string{"GetUserCertificateDetail", "DescribeUserDomains"}

// kindActions are the calls each kind's task makes one after another.
var kindActions = map[string][]string{
	"cdn": {"DescribeDomainCertificateInfo", "SetCdnDomainSSLCertificate"},
	"clb": {"DescribeLoadBalancerHTTPSListenerAttribute", "DescribeServerCertificates", "UploadServerCertificate",
		"SetLoadBalancerHTTPSListenerAttribute", "SetDomainExtensionAttribute", "CreateDomainExtension", "DescribeDomainExtensions"},
	"ecs": {"CreateSecretParameter", "RunCommand", "DescribeInvocationResults", "DeleteSecretParameter"},
}

// ComputeBound derives the Bound from the successful calls per action, the estate mix,
// the per-action quotas (the Gate's table: rollout.DefaultQuotas overlaid with
// overrides; actions missing from it count at the Gate's default 10/s) and the latency.
// ECS chains count one status poll per host: how often a poller asks is not physics.
func ComputeBound(calls map[string]int, mix Mix, overrides map[string]float64, latency time.Duration) Bound {
	quotas := rollout.DefaultQuotas()
	for k, v := range overrides {
		quotas[k] = v
	}
	lat := latency.Seconds()
	var b Bound
	for _, a := range prefixActions {
		b.Prefix += float64(calls[a]) * lat
	}
	names := make([]string, 0, len(calls))
	for a := range calls {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		if isPrefix(a) || calls[a] == 0 {
			continue
		}
		q := quotas[a]
		if q <= 0 {
			q = 10
		}
		if t := float64(calls[a]-1)/q + lat; t > b.Rate {
			b.Rate, b.Binding, b.BindingCalls, b.BindingQPS = t, a, calls[a], q
		}
	}
	per := map[string]int{"cdn": mix.CDN, "clb": mix.CLBListeners + mix.CLBExtensions, "ecs": mix.ECS}
	for kind, actions := range kindActions {
		if per[kind] == 0 {
			continue
		}
		n := 0
		for _, a := range actions {
			c := calls[a]
			if a == "DescribeInvocationResults" {
				c = min(c, per[kind])
			}
			n += c
		}
		chain := math.Floor(float64(n)/float64(per[kind])) * lat
		b.Chain = max(b.Chain, chain)
	}
	b.Seconds = b.Prefix + max(b.Rate, b.Chain)
	return b
}

func isPrefix(a string) bool {
	for _, p := range prefixActions {
		if p == a {
			return true
		}
	}
	return false
}

// CloudEnv is an SDK client set pointed at a running local cloud.
type CloudEnv struct {
	Cloud   *localcloud.Cloud
	Info    localcloud.Info
	Clients *cloud.Clients
}

// NewCloudEnv builds clients for lc with its root access key.
func NewCloudEnv(lc *localcloud.Cloud) (*CloudEnv, error) {
	info, err := lc.Info()
	if err != nil {
		return nil, fmt.Errorf("local cloud info: %w", err)
	}
	cl := cloud.New(cloud.Options{Endpoint: info.Endpoint, MNSEndpoint: info.MNSEndpoint, AccountID: info.AccountID, Region: info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret}))
	return &CloudEnv{Cloud: lc, Info: info, Clients: cl}, nil
}

// UploadWildcard issues *.BenchDomain from the local CA and uploads it to CAS (the
// certificate a rollout deploys); it returns the CAS certificate ID.
func (e *CloudEnv) UploadWildcard() (int64, error) {
	leaf, err := e.Cloud.CA().Issue(localca.Template{DNSNames: []string{"*." + BenchDomain}, KeyType: localca.RSA2048})
	if err != nil {
		return 0, fmt.Errorf("issue certificate: %w", err)
	}
	cl, err := e.Clients.CAS(e.Info.Region)
	if err != nil {
		return 0, fmt.Errorf("cas client: %w", err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name = "bench-" + leaf.SHA256()[:12]
	req.Cert = string(e.Cloud.CA().ChainPEM(leaf))
	req.Key = string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		return 0, fmt.Errorf("upload certificate to cas: %w", err)
	}
	return resp.CertId, nil
}

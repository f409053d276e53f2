package localcloud

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"gopkg.in/yaml.v3"
)

// Faults configures injected failures. Per-action rules are keyed by action name; the
// rule "*" applies to every action that has no rule of its own. Random choices come from
// one RNG seeded with Seed, so a run with the same calls in the same order is reproducible.
type Faults struct {
	Seed int64 `yaml:"seed" json:"seed"`
	// Quotas turns on the documented per-account QPS limits (facts §5.6).
	Quotas bool                 `yaml:"quotas" json:"quotas"`
	Rules  map[string]FaultRule `yaml:"actions" json:"actions"`
	// ExpireTokens makes every STS token count as expired.
	ExpireTokens bool `yaml:"expireTokens" json:"expireTokens"`
	// AIRecSilentFailure makes AIRec binds report SUCCESS while binding nothing.
	AIRecSilentFailure bool `yaml:"airecSilentFailure" json:"airecSilentFailure"`
}

// FaultRule is what happens to one action.
type FaultRule struct {
	Latency       time.Duration `yaml:"latency" json:"latency"`
	QPS           float64       `yaml:"qps" json:"qps"`                     // throttle above this rate (0 = documented or none)
	ThrottleEvery int           `yaml:"throttleEvery" json:"throttleEvery"` // every Nth call is throttled
	ErrorRate     float64       `yaml:"errorRate" json:"errorRate"`         // share of calls failing 503/500
	// Configuring is how long a changed resource stays "configuring"; changes in that
	// window fail with ServiceIsConfiguring.
	Configuring time.Duration `yaml:"configuring" json:"configuring"`
}

// documentedQPS is the per-account limit each action has in the API metadata.
var documentedQPS = map[string]float64{
	"GetUserCertificateDetail": 100, "UploadUserCertificate": 100, "ListUserCertificateOrder": 10,
	"SetCdnDomainSSLCertificate": 30, "DescribeDomainCertificateInfo": 100,
	"DescribeCdnDomainConfigs": 100, "BatchSetCdnDomainConfig": 3,
}

// ParseFaults decodes a faults YAML file.
func ParseFaults(b []byte) (Faults, error) {
	var f Faults
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Faults{}, fmt.Errorf("faults: %w", err)
	}
	for name, r := range f.Rules {
		if r.ErrorRate < 0 || r.ErrorRate > 1 || r.QPS < 0 || r.ThrottleEvery < 0 {
			return Faults{}, fmt.Errorf("faults: actions.%s: errorRate must be 0..1, qps and throttleEvery >= 0", name)
		}
	}
	return f, nil
}

// faultEngine applies Faults; safe for concurrent use.
type faultEngine struct {
	mu       sync.Mutex
	cfg      Faults
	rng      *rand.Rand
	counts   map[string]int
	limiters map[string]*rate.Limiter
	changed  map[string]time.Time // resource -> when it last changed
}

func newFaultEngine(f Faults) *faultEngine {
	e := &faultEngine{}
	e.set(f)
	return e
}

func (e *faultEngine) set(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
	e.counts = map[string]int{}
	e.limiters = map[string]*rate.Limiter{}
	if e.changed == nil {
		e.changed = map[string]time.Time{}
	}
}

func (e *faultEngine) rule(action string) (FaultRule, bool) {
	if r, ok := e.cfg.Rules[action]; ok {
		return r, true
	}
	r, ok := e.cfg.Rules["*"]
	return r, ok
}

// before decides, for one call, the latency to add and an injected error (or nil).
func (e *faultEngine) before(product, action string, now time.Time) (time.Duration, *APIError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, _ := e.rule(action)
	e.counts[action]++
	qps := r.QPS
	if qps == 0 && e.cfg.Quotas {
		qps = documentedQPS[action]
	}
	throttled := r.ThrottleEvery > 0 && e.counts[action]%r.ThrottleEvery == 0
	if qps > 0 {
		l := e.limiters[action]
		if l == nil {
			l = rate.NewLimiter(rate.Limit(qps), max(1, int(qps)))
			e.limiters[action] = l
		}
		if !l.AllowN(now, 1) {
			throttled = true
		}
	}
	if throttled {
		if product == "Cdn" {
			return r.Latency, badRequest("FlowControlError", "Request was denied due to flow control.")
		}
		return r.Latency, badRequest("Throttling.User", "Request was denied due to user flow control.")
	}
	if r.ErrorRate > 0 && e.rng.Float64() < r.ErrorRate {
		if e.rng.IntN(2) == 0 {
			return r.Latency, apiErr(http.StatusServiceUnavailable, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
		}
		return r.Latency, apiErr(http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
	}
	return r.Latency, nil
}

// configuring reports whether resource is inside a configuring window for action.
func (e *faultEngine) configuring(action, resource string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, _ := e.rule(action)
	t, ok := e.changed[resource]
	return ok && r.Configuring > 0 && now.Sub(t) < r.Configuring
}

// window is the configuring duration for action (0 = none).
func (e *faultEngine) window(action string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, _ := e.rule(action)
	return r.Configuring
}

func (e *faultEngine) markChanged(resource string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.changed[resource] = now
}

func (e *faultEngine) airecSilent() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.AIRecSilentFailure
}

func (e *faultEngine) tokensExpired() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.ExpireTokens
}

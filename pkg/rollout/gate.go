// Package rollout is the fan-out engine of a certificate rollout: it runs one
// task per target concurrently within a bound, paces every cloud API call
// through a token bucket per action (the documented quotas), retries
// throttled, transient and busy failures with exponential backoff and full
// jitter inside the function's deadline, and collects a report.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/certflow/certflow/pkg/cloud"
)

// DefaultQuotas returns the per-action call rates (calls per second, per
// account) the Gate paces to unless told otherwise. Sources: facts
// wire-pop.md §5.6 and anchors.md §8 (Alibaba Cloud API and quota pages);
// "not stated" entries are conservative guesses.
func DefaultQuotas() map[string]float64 {
	return map[string]float64{
		// CAS 2020-04-07: API pages say 100/s per user (the quota table says 10/s).
		"GetUserCertificateDetail": 100,
		"UploadUserCertificate":    100,
		"ListUserCertificateOrder": 10,
		"ListCloudResources":       10,
		// CDN 2018-05-10.
		"SetCdnDomainSSLCertificate":         30,
		"DescribeDomainCertificateInfo":      100,
		"DescribeCdnDomainConfigs":           100,
		"BatchSetCdnDomainConfig":            3, // current doc page; metadata says 30
		"BatchSetCdnDomainServerCertificate": 10,
		"DescribeCdnCertificateDetail":       20,
		"DescribeUserDomains":                20, // not stated
		// CLB (SLB 2014-05-15) quota page: per 60 s.
		"SetLoadBalancerHTTPSListenerAttribute":      90.0 / 60,
		"DeleteServerCertificate":                    90.0 / 60,
		"SetDomainExtensionAttribute":                400.0 / 60,
		"DescribeServerCertificates":                 3000.0 / 60,
		"DescribeDomainExtensions":                   3000.0 / 60,
		"DescribeLoadBalancerHTTPSListenerAttribute": 3000.0 / 60,
		"DescribeLoadBalancerHTTPListenerAttribute":  3000.0 / 60,
		"UploadServerCertificate":                    90.0 / 60, // not stated; treated like listener updates
		"CreateDomainExtension":                      400.0 / 60,
		"CreateLoadBalancerHTTPListener":             90.0 / 60,
		"StartLoadBalancerListener":                  90.0 / 60,
		// ECS Cloud Assistant: not stated; vendor guidance is to poll every 1-2 s.
		"RunCommand":                10,
		"DescribeInvocationResults": 20,
		"DescribeInvocations":       20,
		// OOS secret parameters: not stated.
		"CreateSecretParameter": 10,
		"DeleteSecretParameter": 10,
		// MNS and AIRec: not stated.
		"SendMessage": 100,
	}
}

// GateOptions tunes a Gate. Zero fields take the defaults in brackets.
type GateOptions struct {
	DefaultQPS  float64       // rate of actions missing from the quota table [10]
	Burst       int           // token bucket size; 1 spaces calls evenly [1]
	BaseDelay   time.Duration // first backoff cap for throttled/retryable errors [200ms]
	MaxDelay    time.Duration // backoff cap [10s]
	BusyDelay   time.Duration // first backoff cap for busy resources [1s]
	BusyMax     time.Duration // backoff cap for busy resources [20s]
	MaxAttempts int           // attempts per Do; 0 = until the context deadline
	// Classify maps an error to its class [cloud.Classify].
	Classify func(action string, err error) *cloud.APIError
}

// Gate paces and retries cloud API calls. One Gate is shared by every task
// of a rollout (the quotas are per account) and is safe for concurrent use.
type Gate struct {
	opts   GateOptions
	quotas map[string]float64

	mu      sync.Mutex
	actions map[string]*action

	calls     atomic.Int64
	throttles atomic.Int64
	retries   atomic.Int64
}

// action is the bucket and counters of one API action. After a throttle
// the rate drops (x0.7, not below 20% of the quota) and creeps back on
// success, so a quota shared with other callers is found without hammering.
type action struct {
	lim   *rate.Limiter
	quota float64

	calls, throttles, retries atomic.Int64
}

// NewGate returns a Gate whose per-action rates are DefaultQuotas overlaid
// with quotas (calls per second; <= 0 means unlimited).
func NewGate(quotas map[string]float64, opts GateOptions) *Gate {
	if opts.DefaultQPS <= 0 {
		opts.DefaultQPS = 10
	}
	if opts.Burst <= 0 {
		opts.Burst = 1
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 200 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 10 * time.Second
	}
	if opts.BusyDelay <= 0 {
		opts.BusyDelay = time.Second
	}
	if opts.BusyMax <= 0 {
		opts.BusyMax = 20 * time.Second
	}
	if opts.Classify == nil {
		opts.Classify = cloud.Classify
	}
	q := DefaultQuotas()
	for k, v := range quotas {
		q[k] = v
	}
	return &Gate{opts: opts, quotas: q, actions: map[string]*action{}}
}

func (g *Gate) action(name string) *action {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.actions[name]
	if !ok {
		qps, known := g.quotas[name]
		if !known {
			qps = g.opts.DefaultQPS
		}
		limit := rate.Inf
		if qps > 0 {
			limit = rate.Limit(qps)
		}
		a = &action{lim: rate.NewLimiter(limit, g.opts.Burst), quota: qps}
		g.actions[name] = a
	}
	return a
}

func (a *action) slowDown() {
	if a.quota <= 0 {
		return
	}
	cur := float64(a.lim.Limit())
	a.lim.SetLimit(rate.Limit(math.Max(cur*0.7, a.quota*0.2)))
}

func (a *action) speedUp() {
	if a.quota <= 0 {
		return
	}
	if cur := float64(a.lim.Limit()); cur < a.quota {
		a.lim.SetLimit(rate.Limit(math.Min(cur+a.quota*0.05, a.quota)))
	}
}

// Do calls fn for action: it waits for the action's token, calls fn,
// classifies a failure, and retries throttled, retryable and busy failures
// with exponential backoff and full jitter for as long as ctx's deadline
// allows. It returns nil on success, or the last failure as a
// *cloud.APIError: at once for a permanent one, or when no time (or no
// attempt) is left for a temporary one.
func (g *Gate) Do(ctx context.Context, action string, fn func() error) error {
	return g.do(ctx, action, fn, nil)
}

func (g *Gate) do(ctx context.Context, name string, fn func() error, c *Call) error {
	a := g.action(name)
	var last *cloud.APIError
	for n := 0; ; n++ {
		if err := a.lim.Wait(ctx); err != nil {
			return g.outOfTime(name, last)
		}
		g.calls.Add(1)
		a.calls.Add(1)
		if c != nil {
			c.attempts.Add(1)
		}
		err := fn()
		if err == nil {
			a.speedUp()
			return nil
		}
		last = g.opts.Classify(name, err)
		if last == nil { // a classifier that does not know the error
			last = &cloud.APIError{Class: cloud.Permanent, Code: "Unknown", Message: err.Error(), Action: name, Err: err}
		}
		if !last.Class.Temporary() {
			return last
		}
		if last.Class == cloud.Throttled {
			g.throttles.Add(1)
			a.throttles.Add(1)
			if c != nil {
				c.throttles.Add(1)
			}
			a.slowDown()
		}
		if g.opts.MaxAttempts > 0 && n+1 >= g.opts.MaxAttempts {
			return last
		}
		delay := g.backoff(n, last.Class)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return last
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
		g.retries.Add(1)
		a.retries.Add(1)
	}
}

// outOfTime is the error when the context ends before a call could start.
func (g *Gate) outOfTime(name string, last *cloud.APIError) error {
	if last != nil {
		return last
	}
	return &cloud.APIError{Class: cloud.Retryable, Code: "DeadlineExceeded",
		Message: "no time left before the deadline to call " + name, Action: name, Err: context.DeadlineExceeded}
}

// backoff is "full jitter": uniform in [0, min(cap, base*2^n)]. Busy
// resources wait longer and at least half the window, since a configuring
// listener or domain needs seconds, not milliseconds.
func (g *Gate) backoff(n int, class cloud.Class) time.Duration {
	base, ceiling := g.opts.BaseDelay, g.opts.MaxDelay
	if class == cloud.Busy {
		base, ceiling = g.opts.BusyDelay, g.opts.BusyMax
	}
	window := ceiling
	if n < 30 {
		if w := base << n; w > 0 && w < ceiling {
			window = w
		}
	}
	if class == cloud.Busy {
		return window/2 + rand.N(window/2+1)
	}
	return rand.N(window + 1)
}

// Stats counts what a Gate did.
type Stats struct {
	Calls     int64 `json:"calls"`     // attempts made (fn invocations)
	Throttles int64 `json:"throttles"` // attempts that came back throttled
	Retries   int64 `json:"retries"`   // attempts that followed a backoff
}

// Stats returns the totals over all actions.
func (g *Gate) Stats() Stats {
	return Stats{Calls: g.calls.Load(), Throttles: g.throttles.Load(), Retries: g.retries.Load()}
}

// ActionStats returns the counters of every action called so far.
func (g *Gate) ActionStats() map[string]Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]Stats, len(g.actions))
	for name, a := range g.actions {
		out[name] = Stats{Calls: a.calls.Load(), Throttles: a.throttles.Load(), Retries: a.retries.Load()}
	}
	return out
}

// Call is one task's view of the Gate: the same pacing and retries, with
// the task's own attempt and throttle counts. Safe for concurrent use.
type Call struct {
	g                   *Gate
	attempts, throttles atomic.Int64
}

// NewCall returns a per-task view of g.
func (g *Gate) NewCall() *Call { return &Call{g: g} }

// Do is Gate.Do, counted for this task.
func (c *Call) Do(ctx context.Context, action string, fn func() error) error {
	return c.g.do(ctx, action, fn, c)
}

// Attempts is how many calls this task has made, retries included.
func (c *Call) Attempts() int { return int(c.attempts.Load()) }

// Throttles is how many of this task's calls came back throttled.
func (c *Call) Throttles() int { return int(c.throttles.Load()) }

// retryableError marks a task error as worth retrying later.
type retryableError struct{ err error }

func (r retryableError) Error() string { return r.err.Error() }
func (r retryableError) Unwrap() error { return r.err }

// Retryable marks err (a task's own finding, e.g. "served certificate is not
// the deployed one yet") as retryable, so the report keeps the target for
// the next delivery. Errors from Gate.Do are classified already.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryableError{err}
}

// IsRetryable reports whether err is worth another delivery: a temporary cloud failure,
// an expired STS token, an error marked with Retryable, or a deadline. The same rule the
// engine applies to task errors, for callers outside a task.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	_, retry := errorInfo(err)
	return retry
}

// credentialsExpired reports whether code says the call's STS token expired. Retrying
// inside the invocation cannot help (its credentials are fixed, so the Gate stops at once),
// but the next invocation brings fresh ones from its context: the target stays retryable.
func credentialsExpired(code string) bool {
	return strings.Contains(code, "SecurityToken") && strings.Contains(code, "Expire")
}

// errorInfo turns a task error into the report's fields.
func errorInfo(err error) (info *ErrorInfo, retryable bool) {
	var ae *cloud.APIError
	if errors.As(err, &ae) && ae != nil {
		var re retryableError
		msg := ae.Message
		if err != error(ae) { // keep the task's context ("upload: ...")
			msg = err.Error()
		}
		return &ErrorInfo{Code: ae.Code, Message: msg, RequestID: ae.RequestID},
			ae.Class.Temporary() || errors.As(err, &re) || credentialsExpired(ae.Code)
	}
	var re retryableError
	retry := errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded)
	code := "TaskError"
	if errors.Is(err, context.DeadlineExceeded) {
		code = "DeadlineExceeded"
	}
	return &ErrorInfo{Code: code, Message: err.Error()}, retry
}

// panicInfo describes a task that panicked.
func panicInfo(v any) *ErrorInfo {
	return &ErrorInfo{Code: "Panic", Message: fmt.Sprintf("task panicked: %v", v)}
}

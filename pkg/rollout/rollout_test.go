package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/certflow/certflow/pkg/cloud"
)

// fastGate has short backoffs so retry tests take milliseconds.
func fastGate(quotas map[string]float64) *Gate {
	return NewGate(quotas, GateOptions{
		DefaultQPS: 0, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		BusyDelay: 20 * time.Millisecond, BusyMax: 40 * time.Millisecond,
	})
}

// serverErr is what the SDK returns for an error response.
func serverErr(status int, code string) error {
	body := fmt.Sprintf(`{"RequestId":"req-%s","Code":%q,"Message":"msg for %s"}`, code, code, code)
	return sdkerrors.NewServerError(status, body, "")
}

// failFirst returns fn that fails with err on its first n calls.
func failFirst(n int, err error) func() error {
	var calls atomic.Int64
	return func() error {
		if calls.Add(1) <= int64(n) {
			return err
		}
		return nil
	}
}

func oneCallTask(target, action string, fn func() error) Task {
	return Task{Target: target, Run: func(ctx context.Context, c *Call) (Status, error) {
		if err := c.Do(ctx, action, fn); err != nil {
			return StatusFailed, err
		}
		return StatusDeployed, nil
	}}
}

func TestEngineBoundsConcurrency(t *testing.T) {
	var inFlight, maxSeen atomic.Int64
	tasks := make([]Task, 120)
	for i := range tasks {
		tasks[i] = Task{Target: fmt.Sprint("t", i), Run: func(ctx context.Context, c *Call) (Status, error) {
			n := inFlight.Add(1)
			for {
				m := maxSeen.Load()
				if n <= m || maxSeen.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inFlight.Add(-1)
			return StatusUnchanged, nil
		}}
	}
	e := &Engine{Concurrency: 7, Gate: fastGate(nil)}
	res := e.Run(t.Context(), tasks)
	if got := maxSeen.Load(); got != 7 {
		t.Errorf("max in flight = %d, want 7", got)
	}
	if tot := CountTotals(res); tot.Unchanged != 120 {
		t.Errorf("totals = %+v", tot)
	}
}

func TestGateRetries(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		failures      int
		wantStatus    Status
		wantRetryable bool
		wantAttempts  int
		wantCode      string
		minElapsed    time.Duration
	}{
		{"throttled then ok", serverErr(400, "Throttling.User"), 3, StatusDeployed, false, 4, "", 0},
		{"cdn flow control then ok", serverErr(400, "FlowControlError"), 2, StatusDeployed, false, 3, "", 0},
		{"5xx then ok", serverErr(503, "ServiceUnavailable"), 2, StatusDeployed, false, 3, "", 0},
		// Busy waits at least half of each window: 10ms + 20ms.
		{"busy waited out", serverErr(400, "ServiceIsConfiguring"), 2, StatusDeployed, false, 3, "", 30 * time.Millisecond},
		{"permanent not retried", serverErr(400, "InvalidParameter"), 100, StatusFailed, false, 1, "InvalidParameter", 0},
		{"not found not retried", serverErr(404, "ServerCertificateId.NotFound"), 100, StatusFailed, false, 1, "ServerCertificateId.NotFound", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := fastGate(nil)
			e := &Engine{Gate: g}
			start := time.Now()
			res := e.Run(t.Context(), []Task{oneCallTask("cdn:www.example.com", "SetCdnDomainSSLCertificate", failFirst(tc.failures, tc.err))})
			el := time.Since(start)
			r := res[0]
			if r.Status != tc.wantStatus || r.Retryable != tc.wantRetryable || r.Attempts != tc.wantAttempts {
				t.Fatalf("result = %+v", r)
			}
			if tc.wantCode != "" {
				if r.Error == nil || r.Error.Code != tc.wantCode || r.Error.RequestID != "req-"+tc.wantCode {
					t.Errorf("error = %+v", r.Error)
				}
			} else if r.Error != nil {
				t.Errorf("retried error surfaced: %+v", r.Error)
			}
			if el < tc.minElapsed {
				t.Errorf("took %v, want at least %v of busy waiting", el, tc.minElapsed)
			}
			if st := g.Stats(); st.Calls != int64(tc.wantAttempts) {
				t.Errorf("gate stats = %+v", st)
			}
		})
	}
}

func TestThrottlesCounted(t *testing.T) {
	g := fastGate(map[string]float64{"X": 0})
	tasks := make([]Task, 10)
	for i := range tasks {
		tasks[i] = oneCallTask(fmt.Sprint("t", i), "X", failFirst(2, serverErr(400, "Throttling.User")))
	}
	res := (&Engine{Gate: g}).Run(t.Context(), tasks)
	for _, r := range res {
		if r.Status != StatusDeployed || r.Attempts != 3 {
			t.Errorf("%s: %+v", r.Target, r)
		}
	}
	if st := g.Stats(); st.Throttles != 20 || st.Retries != 20 || st.Calls != 30 {
		t.Errorf("stats = %+v, want 30 calls, 20 throttles, 20 retries", st)
	}
	if as := g.ActionStats()["X"]; as.Throttles != 20 {
		t.Errorf("action stats = %+v", as)
	}
}

func TestDeadlineLeavesRetryableRemainder(t *testing.T) {
	tasks := make([]Task, 20)
	for i := range tasks {
		tasks[i] = Task{Target: fmt.Sprint("t", i), Run: func(ctx context.Context, c *Call) (Status, error) {
			err := c.Do(ctx, "X", func() error {
				select {
				case <-time.After(40 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				return StatusFailed, err
			}
			return StatusDeployed, nil
		}}
	}
	// One task ignores its context entirely (like an SDK call in flight).
	tasks[1].Run = func(ctx context.Context, c *Call) (Status, error) {
		time.Sleep(2 * time.Second)
		return StatusDeployed, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	e := &Engine{Concurrency: 2, Gate: fastGate(map[string]float64{"X": 0}), Margin: 100 * time.Millisecond}
	start := time.Now()
	res := e.Run(ctx, tasks)
	el := time.Since(start)
	if el > 500*time.Millisecond { // generous for loaded CI; the stuck task alone would take 2s
		t.Errorf("Run took %v; the deadline minus margin was 150ms", el)
	}
	rep := NewReport(1, "ab", false, res)
	if rep.Totals.Deployed == 0 || rep.Totals.Failed == 0 || rep.Totals.Deployed+rep.Totals.Failed != 20 {
		t.Fatalf("totals = %+v", rep.Totals)
	}
	if got := len(rep.Retryable()); got != rep.Totals.Failed {
		t.Errorf("%d retryable of %d failed: %+v", got, rep.Totals.Failed, res)
	}
	if res[1].Status != StatusFailed || !res[1].Retryable || res[1].Error.Code != "DeadlineExceeded" {
		t.Errorf("stuck task = %+v", res[1])
	}
	if r := res[19]; r.Status != StatusFailed || !r.Retryable || r.Attempts != 0 {
		t.Errorf("never-started task = %+v", r)
	}
}

func TestThrottledUntilDeadlineIsRetryable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Millisecond)
	defer cancel()
	e := &Engine{Gate: fastGate(map[string]float64{"SetLoadBalancerHTTPSListenerAttribute": 1000})}
	res := e.Run(ctx, []Task{oneCallTask("clb:lb-1:443", "SetLoadBalancerHTTPSListenerAttribute", func() error {
		return serverErr(400, "Throttling.User")
	})})
	r := res[0]
	// Depending on scheduling, the last word is the throttle or the engine's deadline.
	if r.Status != StatusFailed || !r.Retryable || r.Error == nil || (r.Error.Code != "Throttling.User" && r.Error.Code != "DeadlineExceeded") || r.Attempts < 2 {
		t.Errorf("result = %+v (%+v)", r, r.Error)
	}
}

func TestProgressOrderAndPanics(t *testing.T) {
	const n = 50
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{Target: fmt.Sprint("target-", i), Run: func(ctx context.Context, c *Call) (Status, error) {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			if i == 13 {
				panic("boom")
			}
			return StatusDeployed, nil
		}}
	}
	var (
		mu    sync.Mutex
		dones []int
		seen  = map[string]int{}
	)
	e := &Engine{Concurrency: 8, Gate: fastGate(nil), Progress: func(done, total int, r Result) {
		mu.Lock()
		defer mu.Unlock()
		if total != n {
			t.Errorf("total = %d", total)
		}
		dones = append(dones, done)
		seen[r.Target]++
	}}
	res := e.Run(t.Context(), tasks)
	for i, r := range res {
		if r.Target != tasks[i].Target {
			t.Fatalf("result %d is %s: order not preserved", i, r.Target)
		}
		if i == 13 {
			if r.Status != StatusFailed || r.Retryable || r.Error.Code != "Panic" || !strings.Contains(r.Error.Message, "boom") {
				t.Errorf("panicking task = %+v", r)
			}
		} else if r.Status != StatusDeployed {
			t.Errorf("task %d = %+v", i, r)
		}
	}
	if len(dones) != n || len(seen) != n {
		t.Fatalf("progress called %d times for %d targets", len(dones), len(seen))
	}
	for i, d := range dones {
		if d != i+1 {
			t.Fatalf("progress counts = %v", dones)
		}
	}
}

func TestTaskErrorKinds(t *testing.T) {
	apiErr := &cloud.APIError{Class: cloud.Retryable, Code: "ServiceUnavailable", Message: "down", RequestID: "r1"}
	tests := []struct {
		name          string
		status        Status
		err           error
		wantStatus    Status
		wantRetryable bool
		wantCode      string
	}{
		{"marked retryable", StatusFailed, Retryable(errors.New("served certificate is not the deployed one")), StatusFailed, true, "TaskError"},
		{"plain error is permanent", StatusFailed, errors.New("bad target"), StatusFailed, false, "TaskError"},
		{"wrapped api error keeps class", StatusFailed, fmt.Errorf("clb lb-1:443: upload: %w", apiErr), StatusFailed, true, "ServiceUnavailable"},
		{"expired STS token: permanent now, retryable next invocation", StatusFailed,
			fmt.Errorf("cdn a.example.com: %w", &cloud.APIError{Class: cloud.Permanent, Code: "InvalidSecurityToken.Expired", Message: "Specified SecurityToken is expired."}),
			StatusFailed, true, "InvalidSecurityToken.Expired"},
		{"other permanent api error", StatusFailed, &cloud.APIError{Class: cloud.Permanent, Code: "InvalidParameter", Message: "bad"}, StatusFailed, false, "InvalidParameter"},
		{"error wins over status", StatusDeployed, errors.New("readback mismatch"), StatusFailed, false, "TaskError"},
		{"failed without error", StatusFailed, nil, StatusFailed, false, "TaskError"},
		{"unknown status", Status("done"), nil, StatusFailed, false, "TaskError"},
		{"not covered", StatusNotCovered, nil, StatusNotCovered, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := (&Engine{}).Run(t.Context(), []Task{{Target: "x", Run: func(context.Context, *Call) (Status, error) {
				return tc.status, tc.err
			}}})
			r := res[0]
			if r.Status != tc.wantStatus || r.Retryable != tc.wantRetryable {
				t.Fatalf("result = %+v", r)
			}
			if tc.wantCode == "" {
				if r.Error != nil {
					t.Errorf("error = %+v", r.Error)
				}
				return
			}
			if r.Error == nil || r.Error.Code != tc.wantCode {
				t.Errorf("error = %+v", r.Error)
			}
		})
	}
	res := (&Engine{}).Run(t.Context(), []Task{{Target: "wrapped", Run: func(context.Context, *Call) (Status, error) {
		return StatusFailed, fmt.Errorf("clb lb-1:443: upload: %w", apiErr)
	}}})
	if e := res[0].Error; !strings.Contains(e.Message, "clb lb-1:443: upload") || e.RequestID != "r1" {
		t.Errorf("wrapped error info = %+v", e)
	}
}

func TestTokenBucketPacesCalls(t *testing.T) {
	const (
		qps = 200.0
		n   = 100
	)
	g := NewGate(map[string]float64{"Paced": qps}, GateOptions{})
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range n / 10 {
				if err := g.Do(t.Context(), "Paced", func() error { return nil }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	ideal := time.Duration(float64(n-1) / qps * float64(time.Second)) // first token is free
	if el < ideal*8/10 || el > ideal*3 {
		t.Errorf("%d calls at %.0f QPS took %v, want about %v", n, qps, el, ideal)
	}
}

func TestQuotaNotEngineIsTheLimit(t *testing.T) {
	// 300 targets, one 50 ms call each, quota 300/s, 64 in flight: the
	// engine could do 1280 calls/s, so the quota must set the pace (~1 s).
	const n, qps = 300, 300.0
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = oneCallTask(fmt.Sprint("cdn:d", i), "SetCdnDomainSSLCertificate", func() error {
			time.Sleep(50 * time.Millisecond)
			return nil
		})
	}
	e := &Engine{Concurrency: 64, Gate: NewGate(map[string]float64{"SetCdnDomainSSLCertificate": qps}, GateOptions{})}
	start := time.Now()
	res := e.Run(t.Context(), tasks)
	el := time.Since(start)
	if tot := CountTotals(res); tot.Deployed != n {
		t.Fatalf("totals = %+v", tot)
	}
	ideal := time.Duration(float64(n) / qps * float64(time.Second))
	if el < ideal*9/10 || el > ideal*2 {
		t.Errorf("took %v, want about %v (calls/QPS)", el, ideal)
	}
}

func TestBackoffFullJitterBounds(t *testing.T) {
	g := NewGate(nil, GateOptions{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, BusyDelay: time.Second, BusyMax: 4 * time.Second})
	for n := range 8 {
		window := min(100*time.Millisecond<<n, time.Second)
		busyWindow := min(time.Second<<n, 4*time.Second)
		var sawLow bool
		for range 200 {
			d := g.backoff(n, cloud.Throttled)
			if d < 0 || d > window {
				t.Fatalf("n=%d throttled backoff %v outside [0,%v]", n, d, window)
			}
			sawLow = sawLow || d < window/4
			b := g.backoff(n, cloud.Busy)
			if b < busyWindow/2 || b > busyWindow {
				t.Fatalf("n=%d busy backoff %v outside [%v,%v]", n, b, busyWindow/2, busyWindow)
			}
		}
		if !sawLow {
			t.Errorf("n=%d: no draw in the lowest quarter: jitter is not full", n)
		}
	}
}

func TestThrottleSlowsBucket(t *testing.T) {
	g := fastGate(map[string]float64{"Q": 100})
	_ = g.Do(t.Context(), "Q", failFirst(3, serverErr(400, "Throttling.User")))
	a := g.action("Q")
	if lim := float64(a.lim.Limit()); lim >= 100 || lim < 20 {
		t.Errorf("limit after throttles = %v, want reduced but >= 20%% of quota", lim)
	}
}

func TestReport(t *testing.T) {
	res := []Result{
		{Target: "clb:lb-1:443", Status: StatusDeployed, Attempts: 3, DurationMs: 1200},
		{Target: "cdn:www.example.com", Status: StatusUnchanged, Attempts: 1, DurationMs: 40},
		{Target: "cdn:img.other.org", Status: StatusNotCovered, Error: &ErrorInfo{Code: "NotCovered", Message: "img.other.org"}},
		{Target: "ecs:i-1", Status: StatusFailed, Retryable: true, Attempts: 5, Error: &ErrorInfo{Code: "Throttling.User", Message: "flow control", RequestID: "R1"}},
		{Target: "ecs:i-2", Status: StatusFailed, Attempts: 1, Error: &ErrorInfo{Code: "InvalidInstanceId.NotFound", Message: "no such instance"}},
	}
	rep := NewReport(12345678, "8407aa00bb11cc22dd33", false, res)
	if rep.Totals != (Totals{Deployed: 1, Unchanged: 1, NotCovered: 1, Failed: 2}) {
		t.Errorf("totals = %+v", rep.Totals)
	}
	if got := rep.Retryable(); len(got) != 1 || got[0] != "ecs:i-1" {
		t.Errorf("Retryable() = %v", got)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		t.Fatal(err)
	}
	totals := generic["totals"].(map[string]any)
	for _, k := range []string{"deployed", "unchanged", "not_covered", "failed"} {
		if _, ok := totals[k]; !ok {
			t.Errorf("totals lacks %q: %s", k, js)
		}
	}
	if _, ok := generic["bindTask"]; ok {
		t.Error("nil bindTask was marshalled")
	}
	first := generic["targets"].([]any)[3].(map[string]any)
	for _, k := range []string{"target", "status", "retryable", "attempts", "error", "durationMs"} {
		if _, ok := first[k]; !ok {
			t.Errorf("target lacks %q", k)
		}
	}
	if first["error"].(map[string]any)["requestId"] != "R1" {
		t.Errorf("requestId missing: %s", js)
	}

	rep.BindTask = &BindTaskInfo{Queued: true, TaskID: "bt-1"}
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	out := buf.String()
	for _, want := range []string{"TARGET", "clb:lb-1:443", "deployed", "failed (retryable)", "failed (permanent)",
		"Throttling.User: flow control [request R1]", "1.2s", "task bt-1",
		"5 targets: 1 deployed, 1 unchanged, 1 not covered, 2 failed (1 retryable)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if empty := NewReport(1, "", true, nil); empty.Targets == nil || len(empty.Retryable()) != 0 {
		t.Error("empty report")
	}
}

func BenchmarkEngine(b *testing.B) {
	tasks := make([]Task, 1000)
	for i := range tasks {
		tasks[i] = oneCallTask(fmt.Sprint("t", i), "Free", func() error { return nil })
	}
	e := &Engine{Gate: NewGate(map[string]float64{"Free": 0}, GateOptions{})}
	b.ResetTimer()
	for b.Loop() {
		res := e.Run(b.Context(), tasks)
		if CountTotals(res).Deployed != len(tasks) {
			b.Fatal("not all deployed")
		}
	}
}

// BenchmarkEngineQuotaBound: 1,000 targets, one 50 ms call each, quota
// 1,000/s. Reports wall time over the ideal calls/QPS (1 s).
func BenchmarkEngineQuotaBound(b *testing.B) {
	const n, qps = 1000, 1000.0
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = oneCallTask(fmt.Sprint("t", i), "Slow", func() error {
			time.Sleep(50 * time.Millisecond)
			return nil
		})
	}
	var total time.Duration
	for b.Loop() {
		e := &Engine{Concurrency: 128, Gate: NewGate(map[string]float64{"Slow": qps}, GateOptions{})}
		start := time.Now()
		e.Run(b.Context(), tasks)
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N)/(n/qps), "wall/ideal")
}

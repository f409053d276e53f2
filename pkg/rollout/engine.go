package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/pkg/cloud"
)

// Status is the outcome of one target.
type Status string

const (
	StatusDeployed   Status = "deployed"    // the certificate was written and confirmed
	StatusUnchanged  Status = "unchanged"   // already serving this certificate; nothing written
	StatusNotCovered Status = "not_covered" // the certificate does not cover every name the target serves
	StatusFailed     Status = "failed"      // see Result.Retryable and Result.Error
	StatusPlanned    Status = "planned"     // dry run: the target would be written
)

// DefaultConcurrency bounds the tasks in flight when Engine.Concurrency is 0.
const DefaultConcurrency = 64

// Task is the work for one target. Run makes every cloud call through
// call.Do (so quotas, retries and attempt counts apply) and returns the
// target's status, or an error: a *cloud.APIError from call.Do keeps its
// class, an error wrapped with Retryable is retryable, anything else is
// permanent. Run must honour ctx.
type Task struct {
	Target string
	Run    func(ctx context.Context, call *Call) (Status, error)
}

// Engine runs tasks concurrently. The zero value is usable: 64 tasks at a
// time, a Gate with the default quotas, no margin, no progress callback.
// An Engine may run several batches, one at a time or concurrently.
type Engine struct {
	// Concurrency bounds the tasks in flight [DefaultConcurrency].
	Concurrency int
	// Gate paces and retries every call; share it between engines that
	// share an account [NewGate(nil, GateOptions{})].
	Gate *Gate
	// Margin is kept free before ctx's deadline to report and return: tasks
	// get the deadline minus Margin, and a task still running then is
	// reported failed and retryable.
	Margin time.Duration
	// Progress, if set, is called once per finished task, one call at a
	// time, with the running count.
	Progress func(done, total int, r Result)

	once sync.Once
}

func (e *Engine) gate() *Gate {
	e.once.Do(func() {
		if e.Gate == nil {
			e.Gate = NewGate(nil, GateOptions{})
		}
	})
	return e.Gate
}

// Run runs every task and returns their results in input order. One task's
// failure never stops another; a panic in a task fails only that task. When
// ctx's deadline minus Margin arrives, tasks not yet started and tasks still
// running are reported failed with retryable=true and Run returns; a task
// still blocked in an SDK call (the SDK takes no context) finishes in the
// background within the client timeout and its outcome is discarded.
func (e *Engine) Run(ctx context.Context, tasks []Task) []Result {
	g := e.gate()
	limit := e.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	runCtx, cancel := context.WithCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		runCtx, cancel = context.WithDeadline(ctx, dl.Add(-e.Margin))
	}
	defer cancel()

	results := make([]Result, len(tasks))
	var (
		mu   sync.Mutex
		done int
	)
	finish := func(i int, r Result) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = r
		done++
		if e.Progress != nil {
			e.Progress(done, len(tasks), r)
		}
	}

	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, i := range dispatchOrder(tasks) {
		t := tasks[i]
		select {
		case sem <- struct{}{}:
		case <-runCtx.Done():
			finish(i, deadlineResult(t.Target, 0, 0))
			continue
		}
		if runCtx.Err() != nil { // both cases were ready; don't start late work
			<-sem
			finish(i, deadlineResult(t.Target, 0, 0))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			finish(i, runOne(runCtx, g, t))
		})
	}
	wg.Wait()
	return results
}

// dispatchOrder is the order tasks start in: round-robin over target kinds (the ID's
// prefix before the first ':'), each kind in input order. Kinds have separate quotas; in
// input order, a run of targets whose quota is slow (CLB: 1.5 listener updates/s) would
// fill every slot waiting for tokens while the kinds with fast quotas sat idle.
func dispatchOrder(tasks []Task) []int {
	var kinds []string
	byKind := map[string][]int{}
	for i, t := range tasks {
		k, _, _ := strings.Cut(t.Target, ":")
		if _, ok := byKind[k]; !ok {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], i)
	}
	order := make([]int, 0, len(tasks))
	for len(order) < len(tasks) {
		for _, k := range kinds {
			if q := byKind[k]; len(q) > 0 {
				order = append(order, q[0])
				byKind[k] = q[1:]
			}
		}
	}
	return order
}

// runOne runs one task, giving up on it when ctx ends.
func runOne(ctx context.Context, g *Gate, t Task) Result {
	start := time.Now()
	call := g.NewCall()
	type outcome struct {
		status Status
		err    error
		panic  any
		ok     bool
	}
	ch := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				o = outcome{panic: p}
			}
			ch <- o
		}()
		if t.Run == nil {
			o = outcome{panic: "task has no Run function"}
			return
		}
		st, err := t.Run(ctx, call)
		o = outcome{status: st, err: err, ok: true}
	}()

	var o outcome
	select {
	case o = <-ch:
	case <-ctx.Done():
		// The task may have finished in the same instant: prefer its outcome.
		select {
		case o = <-ch:
		default:
			return deadlineResult(t.Target, call.Attempts(), time.Since(start))
		}
	}
	r := Result{Target: t.Target, Attempts: call.Attempts(), DurationMs: time.Since(start).Milliseconds()}
	switch {
	case o.panic != nil:
		r.Status, r.Error = StatusFailed, panicInfo(o.panic)
	case o.err != nil:
		r.Status = StatusFailed
		r.Error, r.Retryable = errorInfo(o.err)
		if ctx.Err() != nil && !r.Retryable {
			// Cut short by the deadline rather than refused by the cloud.
			if ae, ok := asAPIError(o.err); !ok || ae.Class.Temporary() || ae.Code == "Canceled" {
				r.Retryable = true
			}
		}
	case o.status == StatusFailed:
		r.Status, r.Error = StatusFailed, &ErrorInfo{Code: "TaskError", Message: "task reported failure without an error"}
	case o.status == StatusDeployed || o.status == StatusUnchanged || o.status == StatusNotCovered || o.status == StatusPlanned:
		r.Status = o.status
	default:
		r.Status, r.Error = StatusFailed, &ErrorInfo{Code: "TaskError", Message: "task returned unknown status " + string(o.status)}
	}
	return r
}

func asAPIError(err error) (*cloud.APIError, bool) {
	var ae *cloud.APIError
	ok := errors.As(err, &ae) && ae != nil
	return ae, ok
}

func deadlineResult(target string, attempts int, d time.Duration) Result {
	return Result{
		Target: target, Status: StatusFailed, Retryable: true, Attempts: attempts,
		Error:      &ErrorInfo{Code: "DeadlineExceeded", Message: "not finished before the function deadline"},
		DurationMs: d.Milliseconds(),
	}
}

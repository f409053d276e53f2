// Package localfc is a local Function Compute 3.0 runtime for go1 functions.
//
// It builds nothing: it execs compiled function binaries (linux/amd64, CGO_ENABLED=0, built with
// fc.Start from github.com/aliyun/fc-runtime-go-sdk) with the environment FC gives an instance
// and serves the runtime API they poll (`next`, `/response`, `/error`), one invocation at a time
// per instance. Instances are reused while healthy, killed on timeout and replaced after a
// crash, like FC does. Triggers (EventBridge, MNS queue through EventBridge, timer) are read
// from s.yaml so the local wiring is the deployed wiring; see triggers.go.
package localfc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/pkg/sconfig"
)

// Credentials are STS-style credentials handed to a function: as ALIBABA_CLOUD_* env vars at
// instance start and as x-fc-access-key-* headers on every invocation.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Function is one function the runtime can run.
type Function struct {
	Name   string // FC function name, e.g. certflow-deployer
	Binary string // path of the compiled binary (the handler); its folder is the code dir
	// Env holds the function's own environment variables (s.yaml environmentVariables).
	// Names starting with FC_ are reserved, as in FC.
	Env                map[string]string
	Timeout            time.Duration // default 3 s, as FC
	MemoryMB           int           // default 512, as FC
	Initializer        string        // initializer handler; empty = none
	InitializerTimeout time.Duration // default = Timeout
	PreStop            string        // preStop handler; empty = none
	PreStopTimeout     time.Duration // default 3 s
	// Credentials returns the role's credentials for an instance or invocation; nil = none.
	Credentials func() Credentials
	// Triggers are the function's s.yaml triggers, wired by Runtime.Start.
	Triggers []sconfig.Trigger
	// MaxAsyncRetryAttempts is asyncInvokeConfig.maxAsyncRetryAttempts for timer runs (default 3).
	MaxAsyncRetryAttempts *int
	// ReservedConcurrency is concurrencyConfig.reservedConcurrency: the most instances of this
	// function that run at once (FC 3.0 go1 instances take one invocation each, so also the most
	// concurrent invocations); invocations beyond it wait. 0 = Options.MaxInstances.
	ReservedConcurrency int
}

func (f *Function) handler() string { return filepath.Base(f.Binary) }

func (f *Function) timeout() time.Duration {
	if f.Timeout <= 0 {
		return 3 * time.Second
	}
	return f.Timeout
}

func (f *Function) initTimeout() time.Duration {
	if f.InitializerTimeout <= 0 {
		return f.timeout()
	}
	return f.InitializerTimeout
}

func (f *Function) preStopTimeout() time.Duration {
	if f.PreStopTimeout <= 0 {
		return 3 * time.Second
	}
	return f.PreStopTimeout
}

func (f *Function) memoryMB() int {
	if f.MemoryMB <= 0 {
		return 512
	}
	return f.MemoryMB
}

func (f *Function) creds() Credentials {
	if f.Credentials == nil {
		return Credentials{}
	}
	return f.Credentials()
}

// Error kinds, as FC reports them in the X-Fc-Error-Type response header.
const (
	ErrorKindUnhandled      = "UnhandledInvocationError"
	ErrorKindInitialization = "InitializationError"
)

// Error types the runtime itself reports (the function reports its own Go type names).
const (
	ErrorTypeTimeout       = "FunctionTimeout"
	ErrorTypeProcessExited = "ProcessExited"
	ErrorTypeStartFailed   = "InstanceStartFailed"
)

// StackFrame is one frame of a panic's stack trace, as the SDK reports it.
type StackFrame struct {
	Path  string `json:"path"`
	Line  int    `json:"line"`
	Label string `json:"label"`
}

// FunctionError is a failed invocation as FC surfaces it: Kind is the X-Fc-Error-Type header,
// Type/Message/StackTrace the errorType/errorMessage/stackTrace of the body.
type FunctionError struct {
	Kind       string       `json:"-"`
	Type       string       `json:"errorType,omitempty"`
	Message    string       `json:"errorMessage"`
	StackTrace []StackFrame `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Kind, e.Type, e.Message)
}

// Result is one invocation's outcome. A function error is a Result with Error set, not a Go
// error: Invoke returns a Go error only when the runtime itself could not run the function.
type Result struct {
	RequestID  string
	Payload    []byte         // the /response body as posted (JSON), nil on error
	Error      *FunctionError // nil on success
	Logs       []byte         // stdout+stderr of the instance during this invocation
	Duration   time.Duration  // from hand-over to answer
	InstanceID string
	PID        int
	ColdStart  time.Duration // exec to first `next`, when this invocation started an instance; else 0
}

// Options configure a Runtime. The zero value works: region cn-hangzhou, a made-up account.
type Options struct {
	Region    string    // FC_REGION and x-fc-region; default cn-hangzhou
	AccountID string    // FC_ACCOUNT_ID and x-fc-account-id; default 1234567890123456
	LogOutput io.Writer // mirror of every instance's output, prefixed "[function] "; nil = none
	// Events receives one line per trigger action (delivery, retry, dead letter); nil = none.
	Events io.Writer
	// MaxInstances caps concurrent instances per function (default 4); invocations beyond it wait.
	MaxInstances int
	// Queues opens MNS queues for MNS-source triggers; required only when such a trigger exists.
	Queues QueueOpener
	// RetryDelay overrides the delay before redelivery attempt n (1-based) of a failed event
	// stream batch; nil = the trigger's retry strategy at real speed.
	RetryDelay func(attempt int) time.Duration
	// OnTrigger, when set, is called after every invocation a trigger makes (Fire, FireTimer,
	// timer schedules, MNS deliveries), from the trigger's goroutine.
	OnTrigger func(TriggerRun)
	// ManualTimers leaves timer triggers to FireTimer: Start does not schedule them, so a demo
	// or test knows exactly when the checker runs.
	ManualTimers bool
	// Now is the clock for timer payloads; nil = time.Now.
	Now func() time.Time
}

// Runtime runs functions. It is safe for concurrent use. Close it to stop every instance.
type Runtime struct {
	opts Options

	mu      sync.Mutex
	fns     map[string]*pool
	closed  bool
	stopTrg context.CancelFunc
	trgWG   sync.WaitGroup
}

// pool holds one function's instances.
type pool struct {
	fn   Function
	sem  chan struct{} // one slot per instance allowed to exist
	mu   sync.Mutex
	idle []*instance
	all  map[*instance]struct{}
}

// New returns a Runtime with opts' defaults filled in.
func New(opts Options) *Runtime {
	if opts.Region == "" {
		opts.Region = "cn-hangzhou"
	}
	if opts.AccountID == "" {
		opts.AccountID = "1234567890123456"
	}
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runtime{opts: opts, fns: map[string]*pool{}}
}

// Add registers fn. It checks the definition, not the binary's contents.
func (r *Runtime) Add(fn Function) error {
	if fn.Name == "" {
		return errors.New("localfc: function name is empty")
	}
	if fn.Binary == "" {
		return fmt.Errorf("localfc: function %s: binary path is empty", fn.Name)
	}
	abs, err := filepath.Abs(fn.Binary)
	if err != nil {
		return fmt.Errorf("localfc: function %s: binary %s: %w", fn.Name, fn.Binary, err)
	}
	fn.Binary = abs
	for k := range fn.Env {
		if strings.HasPrefix(strings.ToUpper(k), "FC_") {
			return fmt.Errorf("localfc: function %s: environment variable %s: names starting with FC_ are reserved by Function Compute", fn.Name, k)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("localfc: runtime is closed")
	}
	if _, dup := r.fns[fn.Name]; dup {
		return fmt.Errorf("localfc: function %s: already added", fn.Name)
	}
	if fn.ReservedConcurrency < 0 {
		return fmt.Errorf("localfc: function %s: reserved concurrency %d is negative", fn.Name, fn.ReservedConcurrency)
	}
	slots := r.opts.MaxInstances
	if fn.ReservedConcurrency > 0 {
		slots = fn.ReservedConcurrency
	}
	r.fns[fn.Name] = &pool{fn: fn, sem: make(chan struct{}, slots), all: map[*instance]struct{}{}}
	return nil
}

// ErrNoFunction is returned by Invoke and the trigger calls for an unknown function or trigger.
var ErrNoFunction = errors.New("no such function")

func (r *Runtime) pool(name string) (*pool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("localfc: runtime is closed")
	}
	p, ok := r.fns[name]
	if !ok {
		return nil, fmt.Errorf("localfc: function %s: %w", name, ErrNoFunction)
	}
	return p, nil
}

// Invoke runs one synchronous invocation of function name with payload, like `s invoke`.
// It blocks until the function answers, times out (the instance is then killed and the result
// carries a FunctionTimeout error) or ctx ends. A function error is reported in Result.Error.
func (r *Runtime) Invoke(ctx context.Context, name string, payload []byte) (Result, error) {
	return r.invoke(ctx, name, payload, 0)
}

func (r *Runtime) invoke(ctx context.Context, name string, payload []byte, retry int) (res Result, err error) {
	p, err := r.pool(name)
	if err != nil {
		return Result{}, err
	}
	inst, cold, err := r.acquire(ctx, p)
	if err != nil {
		return Result{}, err
	}
	res = Result{RequestID: newRequestID(), InstanceID: inst.id, PID: inst.cmd.Process.Pid}
	fn := &p.fn
	logStart := inst.logs.mark()
	healthy := true
	defer func() { r.release(p, inst, healthy) }()
	defer func() {
		if !cold {
			return
		}
		select {
		case <-inst.firstNext:
			res.ColdStart = inst.firstAt.Sub(inst.startedAt)
		default:
		}
	}()

	if fn.Initializer != "" && !inst.initDone {
		o, err := inst.run(ctx, r.newTask(fn, typeInitializer, nil, fn.initTimeout(), 0))
		switch {
		case err != nil && !errors.Is(err, errTaskTimeout) && !errors.Is(err, errInstanceExited):
			healthy = false
			return Result{}, fmt.Errorf("localfc: function %s: initializer: %w", name, err)
		case err != nil || o.errBody != nil:
			healthy = false
			fe := &FunctionError{Kind: ErrorKindInitialization, Type: ErrorTypeTimeout,
				Message: fmt.Sprintf("Function initialization time out after %d seconds", seconds(fn.initTimeout()))}
			if errors.Is(err, errInstanceExited) {
				fe.Type, fe.Message = ErrorTypeProcessExited, "Process exited unexpectedly during initialization: "+inst.exitReason()
			} else if o.errBody != nil {
				fe = decodeFunctionError(o.errBody)
				fe.Kind = ErrorKindInitialization
			}
			res.Error = fe
			res.Logs = inst.logs.since(logStart, "", 0)
			return res, nil
		}
		inst.initDone = true
	}

	t := r.newTask(fn, typeHandler, payload, fn.timeout(), retry)
	t.id = res.RequestID
	start := time.Now()
	o, err := inst.run(ctx, t)
	res.Duration = time.Since(start)
	switch {
	case errors.Is(err, errTaskTimeout):
		healthy = false
		res.Error = &FunctionError{Kind: ErrorKindUnhandled, Type: ErrorTypeTimeout,
			Message: fmt.Sprintf("Function time out after %d seconds", seconds(fn.timeout()))}
	case errors.Is(err, errInstanceExited):
		healthy = false
		res.Error = &FunctionError{Kind: ErrorKindUnhandled, Type: ErrorTypeProcessExited,
			Message: "Process exited unexpectedly before completing request: " + inst.exitReason()}
	case err != nil:
		healthy = false // the instance may still be working on it: never hand it a second task
		return Result{}, fmt.Errorf("localfc: function %s: invoke: %w", name, err)
	case o.errBody != nil:
		res.Error = decodeFunctionError(o.errBody)
	default:
		res.Payload = o.payload
	}
	marker := ""
	if healthy {
		marker = "FC Invoke End RequestId: " + t.id
	}
	res.Logs = inst.logs.since(logStart, marker, 200*time.Millisecond)
	return res, nil
}

func (r *Runtime) newTask(fn *Function, kind int, payload []byte, timeout time.Duration, retry int) *task {
	now := time.Now()
	return &task{
		id: newRequestID(), payload: payload, kind: kind, timeout: timeout,
		deadline: now.Add(timeout), creds: fn.creds(), retry: retry, done: make(chan outcome, 1),
	}
}

// acquire takes an idle healthy instance or starts one. cold reports a new instance.
func (r *Runtime) acquire(ctx context.Context, p *pool) (*instance, bool, error) {
	for {
		p.mu.Lock()
		for len(p.idle) > 0 {
			inst := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if inst.alive() {
				p.mu.Unlock()
				return inst, false, nil
			}
			r.discard(p, inst) // crashed while idle
		}
		p.mu.Unlock()
		select {
		case p.sem <- struct{}{}:
			inst, err := r.startInstance(&p.fn)
			if err != nil {
				<-p.sem
				return nil, false, err
			}
			p.mu.Lock()
			p.all[inst] = struct{}{}
			p.mu.Unlock()
			return inst, true, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// An instance may have become idle; look again.
		}
	}
}

// release returns a healthy instance to the pool; an unhealthy one is killed, freeing its slot.
func (r *Runtime) release(p *pool, inst *instance, healthy bool) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if healthy && !closed && inst.alive() {
		p.idle = append(p.idle, inst)
		return
	}
	r.discard(p, inst)
}

// discard kills inst and frees its slot; p.mu must be held.
func (r *Runtime) discard(p *pool, inst *instance) {
	if _, ok := p.all[inst]; !ok {
		return
	}
	delete(p.all, inst)
	inst.kill()
	<-p.sem
}

// Close stops triggers, runs preStop hooks on idle instances where configured, kills every
// instance and only then closes its runtime API server. It waits for all of it.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	stop := r.stopTrg
	pools := make([]*pool, 0, len(r.fns))
	for _, p := range r.fns {
		pools = append(pools, p)
	}
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
	r.trgWG.Wait()

	var wg sync.WaitGroup
	for _, p := range pools {
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		busy := make([]*instance, 0, len(p.all))
		for inst := range p.all {
			busy = append(busy, inst)
		}
		p.mu.Unlock()
		for _, inst := range idle {
			if p.fn.PreStop != "" && inst.alive() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), p.fn.preStopTimeout()+time.Second)
					defer cancel()
					_, _ = inst.run(ctx, r.newTask(&p.fn, typePreStop, nil, p.fn.preStopTimeout(), 0))
				}()
			}
		}
		wg.Wait()
		p.mu.Lock()
		for _, inst := range busy {
			r.discard(p, inst)
		}
		p.mu.Unlock()
	}
	return nil
}

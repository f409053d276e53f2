package localfc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Function types carried in x-fc-function-type (fc-runtime-go-sdk fc/function.go).
const (
	typeHandler     = 0
	typeInitializer = 1
	typePreStop     = 2
)

// apiPrefix is the runtime API base the SDK polls (fc/runtime_api_client.go).
const apiPrefix = "/2020-11-11/runtime/invocation/"

// task is one request handed to the instance through `next`.
type task struct {
	id       string
	payload  []byte
	kind     int
	timeout  time.Duration
	deadline time.Time
	creds    Credentials
	retry    int
	done     chan outcome // buffered 1
}

// outcome is what the instance posted for a task.
type outcome struct {
	payload []byte
	errBody []byte // body of /error, nil on success
}

// instance is one running function process and the runtime API server it polls.
type instance struct {
	fn        *Function
	rt        *Runtime
	id        string
	cmd       *exec.Cmd
	srv       *http.Server
	ln        net.Listener
	logs      *logBuffer
	tasks     chan *task    // unbuffered: a send completes only when `next` takes it
	exited    chan struct{} // closed when the process has exited
	exitErr   error
	startedAt time.Time
	firstNext chan struct{} // closed at the first `next` request
	firstAt   time.Time
	once      sync.Once

	mu       sync.Mutex
	inflight map[string]*task
	initDone bool
}

// startInstance execs the function binary with a fresh runtime API server.
func (r *Runtime) startInstance(fn *Function) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("function %s: listen for runtime api: %w", fn.Name, err)
	}
	inst := &instance{
		fn: fn, rt: r, id: "c-" + randHex(12), ln: ln,
		logs:      newLogBuffer(r.opts.LogOutput, fn.Name),
		tasks:     make(chan *task),
		exited:    make(chan struct{}),
		firstNext: make(chan struct{}),
		inflight:  map[string]*task{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"next", inst.serveNext)
	mux.HandleFunc("POST "+apiPrefix+"{id}/response", inst.servePost(false))
	mux.HandleFunc("POST "+apiPrefix+"{id}/error", inst.servePost(true))
	mux.HandleFunc("POST /2020-11-11/runtime/init/error", inst.serveInitError)
	inst.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.srv.Serve(ln) }()

	cmd := exec.Command(fn.Binary)
	cmd.Dir = filepath.Dir(fn.Binary)
	cmd.Env = r.instanceEnv(fn, inst.id, ln.Addr().String())
	cmd.Stdout = inst.logs
	cmd.Stderr = inst.logs
	// A process group of its own, so a kill takes anything the function spawned too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	inst.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		_ = inst.srv.Close()
		return nil, fmt.Errorf("function %s: start %s: %w", fn.Name, fn.Binary, err)
	}
	inst.cmd = cmd
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.exited)
	}()
	return inst, nil
}

// instanceEnv is the environment FC 3.0 gives a go1 instance (facts §1.1) plus the user's variables.
func (r *Runtime) instanceEnv(fn *Function, instanceID, api string) []string {
	env := map[string]string{
		"PATH":                    "/usr/local/bin:/usr/bin:/bin",
		"HOME":                    "/tmp",
		"FC_RUNTIME_API":          api,
		"FC_FUNC_CODE_PATH":       filepath.Dir(fn.Binary),
		"FC_FUNCTION_NAME":        fn.Name,
		"FC_FUNCTION_HANDLER":     fn.handler(),
		"FC_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.memoryMB()),
		"FC_FUNCTION_VERSION":     "LATEST",
		"FC_REGION":               r.opts.Region,
		"FC_ACCOUNT_ID":           r.opts.AccountID,
		"FC_INSTANCE_ID":          instanceID,
		"FC_CUSTOM_LISTEN_PORT":   "9000",
		"FC_RUNTIME":              "go1",
		"FC_TIMEOUT":              strconv.Itoa(seconds(fn.timeout())),
	}
	if fn.Initializer != "" {
		env["FC_INITIALIZER_HANDLER"] = fn.Initializer
		env["FC_INITIALIZATION_TIMEOUT"] = strconv.Itoa(seconds(fn.initTimeout()))
	}
	for k, v := range fn.Env {
		env[k] = v
	}
	if c := fn.creds(); c.AccessKeyID != "" {
		env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = c.AccessKeyID
		env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = c.AccessKeySecret
		env["ALIBABA_CLOUD_SECURITY_TOKEN"] = c.SecurityToken
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// serveNext is the long poll: it answers only when a task is handed over, the process has
// gone, or the server closes.
func (inst *instance) serveNext(w http.ResponseWriter, req *http.Request) {
	inst.once.Do(func() { inst.firstAt = time.Now(); close(inst.firstNext) })
	select {
	case t := <-inst.tasks:
		inst.mu.Lock()
		inst.inflight[t.id] = t
		inst.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("x-fc-request-id", t.id)
		h.Set("x-fc-function-deadline", strconv.FormatInt(t.deadline.UnixMilli(), 10))
		h.Set("x-fc-function-timeout", strconv.Itoa(seconds(t.timeout)))
		h.Set("x-fc-function-type", strconv.Itoa(t.kind))
		h.Set("x-fc-function-name", inst.fn.Name)
		h.Set("x-fc-function-handler", inst.fn.handler())
		h.Set("x-fc-function-memory", strconv.Itoa(inst.fn.memoryMB()))
		h.Set("x-fc-region", inst.rt.opts.Region)
		h.Set("x-fc-account-id", inst.rt.opts.AccountID)
		h.Set("x-fc-qualifier", "LATEST")
		h.Set("x-fc-version-id", "LATEST")
		h.Set("x-fc-retry-count", strconv.Itoa(t.retry))
		if t.creds.AccessKeyID != "" {
			h.Set("x-fc-access-key-id", t.creds.AccessKeyID)
			h.Set("x-fc-access-key-secret", t.creds.AccessKeySecret)
			h.Set("x-fc-security-token", t.creds.SecurityToken)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(t.payload)
	case <-req.Context().Done():
	case <-inst.exited:
		http.Error(w, "instance stopping", http.StatusGone)
	}
}

// servePost accepts /response and /error for the in-flight task named in the path.
func (inst *instance) servePost(isErr bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		inst.mu.Lock()
		t := inst.inflight[id]
		delete(inst.inflight, id)
		inst.mu.Unlock()
		if t == nil {
			http.Error(w, "unknown request id "+id, http.StatusNotFound)
			return
		}
		o := outcome{payload: body}
		if isErr {
			o = outcome{errBody: body}
			if len(bytes.TrimSpace(body)) == 0 {
				o.errBody = []byte(`{"errorMessage":"unknown error","errorType":"Unknown"}`)
			}
		}
		t.done <- o
		w.WriteHeader(http.StatusOK)
	}
}

// serveInitError accepts the shared runtime API's init error call (unused by the Go SDK): the
// instance is marked failed by failing every in-flight task.
func (inst *instance) serveInitError(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	inst.mu.Lock()
	for id, t := range inst.inflight {
		t.done <- outcome{errBody: body}
		delete(inst.inflight, id)
	}
	inst.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// errInstanceExited and errTaskTimeout say why run ended without an answer from the function.
var (
	errInstanceExited = errors.New("instance exited")
	errTaskTimeout    = errors.New("timed out")
)

// run hands t to the process and waits for its answer, the deadline, the process's exit or ctx.
// Only one run is active per instance at a time (the Runtime guarantees it).
func (inst *instance) run(ctx context.Context, t *task) (outcome, error) {
	timer := time.NewTimer(time.Until(t.deadline))
	defer timer.Stop()
	select {
	case inst.tasks <- t:
	case <-inst.exited:
		return outcome{}, errInstanceExited
	case <-timer.C:
		return outcome{}, errTaskTimeout
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	select {
	case o := <-t.done:
		return o, nil
	case <-inst.exited:
		// The process may have posted its answer just before exiting.
		select {
		case o := <-t.done:
			return o, nil
		default:
		}
		return outcome{}, errInstanceExited
	case <-timer.C:
		return outcome{}, errTaskTimeout
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// kill stops the process (the whole group), waits for it, then closes the runtime API server:
// in that order, because the SDK spins on `next` without backoff once the server is gone.
func (inst *instance) kill() {
	if inst.cmd != nil && inst.cmd.Process != nil {
		select {
		case <-inst.exited:
		default:
			_ = syscall.Kill(-inst.cmd.Process.Pid, syscall.SIGKILL)
			_ = inst.cmd.Process.Kill()
		}
		<-inst.exited
	}
	_ = inst.srv.Close()
}

// alive reports whether the process is still running.
func (inst *instance) alive() bool {
	select {
	case <-inst.exited:
		return false
	default:
		return true
	}
}

// exitReason describes how the process ended, for error messages.
func (inst *instance) exitReason() string {
	if inst.exitErr == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(inst.exitErr, &ee) {
		return ee.ProcessState.String()
	}
	return inst.exitErr.Error()
}

// logBuffer collects an instance's stdout and stderr and lets a caller take the slice written
// during one invocation. Writes are mirrored to an optional sink.
type logBuffer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	sink   io.Writer
	prefix string
}

func newLogBuffer(sink io.Writer, name string) *logBuffer {
	b := &logBuffer{sink: sink, prefix: "[" + name + "] "}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// maxInstanceLog bounds what one instance keeps; older output is dropped first.
const maxInstanceLog = 4 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	b.mu.Unlock()
	if b.sink != nil {
		for _, line := range strings.SplitAfter(string(p), "\n") {
			if line != "" {
				_, _ = io.WriteString(b.sink, b.prefix+line)
			}
		}
	}
	return len(p), nil
}

// mark returns the current end offset.
func (b *logBuffer) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

// since returns what was written after offset, waiting up to wait for marker to appear (the SDK
// prints its end-of-invocation line before posting the result, but the pipe may lag behind).
func (b *logBuffer) since(offset int, marker string, wait time.Duration) []byte {
	deadline := time.Now().Add(wait)
	b.mu.Lock()
	defer b.mu.Unlock()
	if marker != "" {
		stop := time.AfterFunc(wait, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
		defer stop.Stop()
		for offset <= len(b.buf) && !bytes.Contains(b.buf[offset:], []byte(marker)) && time.Now().Before(deadline) {
			b.cond.Wait()
		}
	}
	if offset > len(b.buf) {
		return nil
	}
	out := append([]byte(nil), b.buf[offset:]...)
	if len(b.buf) > maxInstanceLog {
		// Compact between invocations; the caller's next mark starts after this.
		b.buf = b.buf[:0]
	}
	return out
}

// randHex returns n random bytes as hex.
func randHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// newRequestID returns an ID shaped like FC 3.0's (1-<time>-<rand>-<rand>).
func newRequestID() string {
	return fmt.Sprintf("1-%08x-%s-%s", time.Now().Unix(), randHex(4), randHex(6))
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// decodeFunctionError reads an /error body as the SDK writes it.
func decodeFunctionError(body []byte) *FunctionError {
	var e struct {
		Message    string       `json:"errorMessage"`
		Type       string       `json:"errorType"`
		StackTrace []StackFrame `json:"stackTrace"`
	}
	if err := json.Unmarshal(body, &e); err != nil || (e.Message == "" && e.Type == "") {
		return &FunctionError{Kind: ErrorKindUnhandled, Type: "Unknown", Message: string(body)}
	}
	return &FunctionError{Kind: ErrorKindUnhandled, Type: e.Type, Message: e.Message, StackTrace: e.StackTrace}
}

package localfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoBin is the compiled testdata/echofn, built once per test binary.
var (
	echoOnce sync.Once
	echoPath string
	echoErr  error
	echoDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if echoDir != "" {
		_ = os.RemoveAll(echoDir)
	}
	os.Exit(code)
}

// echoBinary builds testdata/echofn like FC needs it (linux/amd64, CGO_ENABLED=0) and copies it
// into a fresh code folder under t.TempDir(), named main like the go1 handler.
func echoBinary(t testing.TB) string {
	t.Helper()
	echoOnce.Do(func() {
		echoDir, echoErr = os.MkdirTemp("", "echofn-")
		if echoErr != nil {
			return
		}
		echoPath = filepath.Join(echoDir, "main")
		cmd := exec.Command("go", "build", "-o", echoPath, "./testdata/echofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = errors.New("go build echofn: " + err.Error() + "\n" + string(out))
		}
	})
	if echoErr != nil {
		t.Fatal(echoErr)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(echoPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "main")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// echoReply mirrors echofn's reply.
type echoReply struct {
	PID           int               `json:"pid"`
	Data          json.RawMessage   `json:"data"`
	RequestID     string            `json:"requestId"`
	DeadlineMS    int64             `json:"deadlineMs"`
	Timeout       int               `json:"timeout"`
	FunctionName  string            `json:"functionName"`
	Handler       string            `json:"handler"`
	Memory        string            `json:"memory"`
	Region        string            `json:"region"`
	AccountID     string            `json:"accountId"`
	AccessKeyID   string            `json:"accessKeyId"`
	AccessSecret  string            `json:"accessKeySecret"`
	SecurityToken string            `json:"securityToken"`
	Qualifier     string            `json:"qualifier"`
	RetryCount    int               `json:"retryCount"`
	Initialized   int64             `json:"initialized"`
	Env           map[string]string `json:"env"`
	Event         json.RawMessage   `json:"event"`
	Bodies        []string          `json:"bodies"`
}

var testCreds = Credentials{AccessKeyID: "STS.testkey", AccessKeySecret: "test-secret", SecurityToken: "CAIS-test-token"}

func newRuntime(t *testing.T, fns ...Function) *Runtime {
	t.Helper()
	r := New(Options{Region: "cn-shanghai", AccountID: "1111222233334444"})
	for _, fn := range fns {
		if err := r.Add(fn); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func echoFunction(t *testing.T) Function {
	return Function{
		Name: "echo", Binary: echoBinary(t), Timeout: 5 * time.Second, MemoryMB: 256,
		Env:         map[string]string{"CERTFLOW_TARGETS": "targets.yaml"},
		Credentials: func() Credentials { return testCreds },
	}
}

func invoke(t *testing.T, r *Runtime, name, payload string) (Result, echoReply) {
	t.Helper()
	res, err := r.Invoke(t.Context(), name, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var rep echoReply
	if res.Error == nil {
		if err := json.Unmarshal(res.Payload, &rep); err != nil {
			t.Fatalf("payload %q: %v", res.Payload, err)
		}
	}
	return res, rep
}

func processGone(pid int) bool {
	// Zombies cannot exist: the runtime waits for its children.
	return syscall.Kill(pid, 0) != nil
}

func TestInvokePayloadContextAndLogs(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	before := time.Now()
	res, rep := invoke(t, r, "echo", `{"op":"echo","data":{"certId":12345678}}`)
	if res.Error != nil {
		t.Fatalf("unexpected error %v", res.Error)
	}
	checks := []struct{ name, got, want string }{
		{"data", string(rep.Data), `{"certId":12345678}`},
		{"request id", rep.RequestID, res.RequestID},
		{"function name", rep.FunctionName, "echo"},
		{"handler", rep.Handler, "main"},
		{"memory", rep.Memory, "256"},
		{"region", rep.Region, "cn-shanghai"},
		{"account", rep.AccountID, "1111222233334444"},
		{"access key", rep.AccessKeyID, testCreds.AccessKeyID},
		{"secret", rep.AccessSecret, testCreds.AccessKeySecret},
		{"token", rep.SecurityToken, testCreds.SecurityToken},
		{"qualifier", rep.Qualifier, "LATEST"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if rep.Timeout != 5 {
		t.Errorf("timeout: got %d, want 5", rep.Timeout)
	}
	dl := time.UnixMilli(rep.DeadlineMS)
	if dl.Before(before.Add(4*time.Second)) || dl.After(time.Now().Add(5*time.Second)) {
		t.Errorf("deadline %v not about now+5s", dl)
	}
	if !strings.HasPrefix(res.RequestID, "1-") || res.PID != rep.PID {
		t.Errorf("result request id %q pid %d (function saw pid %d)", res.RequestID, res.PID, rep.PID)
	}
	for _, want := range []string{"FC Invoke Start RequestId: " + res.RequestID, "echofn op=echo", "echofn stderr op=echo", "FC Invoke End RequestId: " + res.RequestID} {
		if !bytes.Contains(res.Logs, []byte(want)) {
			t.Errorf("logs lack %q:\n%s", want, res.Logs)
		}
	}
	if res.ColdStart <= 0 {
		t.Errorf("first invocation: cold start %v", res.ColdStart)
	}
	// A second invocation's logs hold only its own lines.
	res2, _ := invoke(t, r, "echo", `{"op":"echo"}`)
	if bytes.Contains(res2.Logs, []byte(res.RequestID)) || !bytes.Contains(res2.Logs, []byte(res2.RequestID)) {
		t.Errorf("second invocation's logs:\n%s", res2.Logs)
	}
	if res2.ColdStart != 0 {
		t.Errorf("warm invocation reports cold start %v", res2.ColdStart)
	}
}

func TestInstanceEnvironment(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	keys := []string{"FC_RUNTIME_API", "FC_FUNCTION_NAME", "FC_FUNCTION_HANDLER", "FC_FUNCTION_MEMORY_SIZE", "FC_REGION",
		"FC_ACCOUNT_ID", "FC_INSTANCE_ID", "FC_FUNC_CODE_PATH", "FC_TIMEOUT", "FC_RUNTIME", "CERTFLOW_TARGETS",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN", "GOFLAGS"}
	payload, _ := json.Marshal(map[string]any{"op": "env", "env": keys})
	res, rep := invoke(t, r, "echo", string(payload))
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	want := map[string]string{
		"FC_FUNCTION_NAME": "echo", "FC_FUNCTION_HANDLER": "main", "FC_FUNCTION_MEMORY_SIZE": "256",
		"FC_REGION": "cn-shanghai", "FC_ACCOUNT_ID": "1111222233334444", "FC_INSTANCE_ID": res.InstanceID,
		"FC_TIMEOUT": "5", "FC_RUNTIME": "go1", "CERTFLOW_TARGETS": "targets.yaml",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": testCreds.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": testCreds.AccessKeySecret,
		"ALIBABA_CLOUD_SECURITY_TOKEN": testCreds.SecurityToken,
	}
	for k, v := range want {
		if rep.Env[k] != v {
			t.Errorf("%s: got %q, want %q", k, rep.Env[k], v)
		}
	}
	if !strings.HasPrefix(rep.Env["FC_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("FC_RUNTIME_API %q", rep.Env["FC_RUNTIME_API"])
	}
	if _, leaked := rep.Env["GOFLAGS"]; leaked {
		t.Error("the caller's environment leaked into the instance")
	}
}

func TestFunctionErrors(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	for _, tc := range []struct {
		name, payload, typ, msg string
		stack                   bool
	}{
		{"returned error", `{"op":"error","message":"cert 123 not found"}`, "errorString", "cert 123 not found", false},
		{"panic", `{"op":"panic","message":"boom"}`, "string", "boom", true},
		{"bad json", `{"op":`, "SyntaxError", "unexpected end of JSON input", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Invoke(t.Context(), "echo", []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			e := res.Error
			if e == nil {
				t.Fatalf("no error; payload %s", res.Payload)
			}
			if e.Kind != ErrorKindUnhandled || e.Type != tc.typ || e.Message != tc.msg {
				t.Errorf("got %+v, want %s/%s/%q", e, ErrorKindUnhandled, tc.typ, tc.msg)
			}
			if (len(e.StackTrace) > 0) != tc.stack {
				t.Errorf("stack trace: %v", e.StackTrace)
			}
			if res.Payload != nil {
				t.Errorf("payload on error: %s", res.Payload)
			}
		})
	}
	// The SDK keeps the process after a panic: the same instance serves on.
	a, repA := invoke(t, r, "echo", `{"op":"echo"}`)
	b, repB := invoke(t, r, "echo", `{"op":"echo"}`)
	if a.Error != nil || b.Error != nil || repA.PID != repB.PID {
		t.Errorf("after errors: %v %v pids %d %d", a.Error, b.Error, repA.PID, repB.PID)
	}
}

func TestWarmReuse(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	a, repA := invoke(t, r, "echo", `{"op":"echo"}`)
	b, repB := invoke(t, r, "echo", `{"op":"echo"}`)
	if repA.PID == 0 || repA.PID != repB.PID || a.InstanceID != b.InstanceID {
		t.Errorf("not reused: pids %d %d instances %s %s", repA.PID, repB.PID, a.InstanceID, b.InstanceID)
	}
}

func TestTimeoutKillsInstance(t *testing.T) {
	fn := echoFunction(t)
	fn.Timeout = time.Second
	r := newRuntime(t, fn)
	_, first := invoke(t, r, "echo", `{"op":"echo"}`)
	start := time.Now()
	res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"sleep","sleep":"10s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("timeout took %v", el)
	}
	if res.Error == nil || res.Error.Type != ErrorTypeTimeout || res.Error.Kind != ErrorKindUnhandled ||
		res.Error.Message != "Function time out after 1 seconds" {
		t.Fatalf("got %+v", res.Error)
	}
	if !processGone(first.PID) {
		t.Errorf("timed-out instance pid %d still running", first.PID)
	}
	_, next := invoke(t, r, "echo", `{"op":"echo"}`)
	if next.PID == first.PID || next.PID == 0 {
		t.Errorf("next invocation pid %d, timed-out pid %d", next.PID, first.PID)
	}
}

func TestCrashIsErrorAndInstanceRestarts(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	_, first := invoke(t, r, "echo", `{"op":"echo"}`)
	res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"exit"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Type != ErrorTypeProcessExited || !strings.Contains(res.Error.Message, "exit status 3") {
		t.Fatalf("got %+v", res.Error)
	}
	if !bytes.Contains(res.Logs, []byte("echofn op=exit")) {
		t.Errorf("crash logs:\n%s", res.Logs)
	}
	_, next := invoke(t, r, "echo", `{"op":"echo"}`)
	if next.PID == first.PID || next.PID == 0 {
		t.Errorf("after crash: pid %d, crashed %d", next.PID, first.PID)
	}
}

func TestInitializer(t *testing.T) {
	t.Run("runs once per instance", func(t *testing.T) {
		fn := echoFunction(t)
		fn.Initializer = "true"
		fn.InitializerTimeout = 2 * time.Second
		fn.Env["ECHOFN_INITIALIZER"] = "1"
		r := newRuntime(t, fn)
		a, repA := invoke(t, r, "echo", `{"op":"echo"}`)
		_, repB := invoke(t, r, "echo", `{"op":"echo"}`)
		if repA.Initialized != 1 || repB.Initialized != 1 || repA.PID != repB.PID {
			t.Errorf("initialized %d then %d (pids %d %d)", repA.Initialized, repB.Initialized, repA.PID, repB.PID)
		}
		if !bytes.Contains(a.Logs, []byte("echofn initializer ran")) {
			t.Errorf("first invocation's logs lack the initializer:\n%s", a.Logs)
		}
	})
	t.Run("failure is InitializationError", func(t *testing.T) {
		fn := echoFunction(t)
		fn.Initializer = "true"
		fn.Env["ECHOFN_INITIALIZER"] = "panic"
		r := newRuntime(t, fn)
		res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"echo"}`))
		if err != nil {
			t.Fatal(err)
		}
		if res.Error == nil || res.Error.Kind != ErrorKindInitialization || res.Error.Message != "initializer failed" {
			t.Fatalf("got %+v", res.Error)
		}
		if !processGone(res.PID) {
			t.Error("instance with a failed initializer still running")
		}
	})
	t.Run("absent hook fails like FC", func(t *testing.T) {
		fn := echoFunction(t)
		fn.Initializer = "true" // configured, but the binary registers none
		r := newRuntime(t, fn)
		res, _ := r.Invoke(t.Context(), "echo", []byte(`{"op":"echo"}`))
		if res.Error == nil || res.Error.Kind != ErrorKindInitialization || !strings.Contains(res.Error.Message, "no initializer handler registered") {
			t.Fatalf("got %+v", res.Error)
		}
	})
}

func TestCloseKillsEverythingAndRunsPreStop(t *testing.T) {
	fn := echoFunction(t)
	marker := filepath.Join(t.TempDir(), "prestop")
	fn.Env["ECHOFN_PRESTOP_FILE"] = marker
	fn.PreStop = "true"
	slow := echoFunction(t)
	slow.Name = "slow"
	r := New(Options{})
	for _, f := range []Function{fn, slow} {
		if err := r.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	_, idle := invoke(t, r, "echo", `{"op":"echo"}`)
	// One instance busy at Close time.
	busy := make(chan Result, 1)
	go func() {
		res, _ := r.Invoke(t.Context(), "slow", []byte(`{"op":"sleep","sleep":"30s"}`))
		busy <- res
	}()
	time.Sleep(500 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	res := <-busy
	if res.Error == nil || res.Error.Type != ErrorTypeProcessExited {
		t.Errorf("busy invocation at Close: %+v", res.Error)
	}
	if !processGone(idle.PID) || (res.PID != 0 && !processGone(res.PID)) {
		t.Errorf("processes left after Close: %d %d", idle.PID, res.PID)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "stopped" {
		t.Errorf("preStop did not run: %v", err)
	}
	if _, err := r.Invoke(t.Context(), "echo", []byte(`{}`)); err == nil {
		t.Error("invoke after Close succeeded")
	}
}

func TestAddRejects(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		name string
		fn   Function
		want string
	}{
		{"reserved env", Function{Name: "f", Binary: "/x/main", Env: map[string]string{"FC_REGION": "x"}}, "FC_REGION"},
		{"no binary", Function{Name: "f"}, "binary path is empty"},
		{"no name", Function{Binary: "/x/main"}, "name is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Add(tc.fn); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := r.Invoke(t.Context(), "nope", nil); !errors.Is(err, ErrNoFunction) {
		t.Errorf("unknown function: %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	r := newRuntime(t, Function{Name: "f", Binary: filepath.Join(t.TempDir(), "main")})
	if _, err := r.Invoke(t.Context(), "f", nil); err == nil || !strings.Contains(err.Error(), "main") {
		t.Errorf("got %v", err)
	}
}

// TestConcurrentInvocationsUseSeparateInstances shows one invocation at a time per instance.
func TestConcurrentInvocationsUseSeparateInstances(t *testing.T) {
	r := newRuntime(t, echoFunction(t))
	var wg sync.WaitGroup
	pids := make([]int, 3)
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"sleep","sleep":"700ms"}`))
			if err == nil && res.Error == nil {
				var rep echoReply
				_ = json.Unmarshal(res.Payload, &rep)
				pids[i] = rep.PID
			}
		}()
	}
	wg.Wait()
	sort.Ints(pids)
	if pids[0] == 0 || pids[0] == pids[1] || pids[1] == pids[2] {
		t.Errorf("concurrent invocations shared an instance: %v", pids)
	}
}

// BenchmarkColdStart measures exec → first `next` request of a fresh instance and reports the
// median of the runs.
func BenchmarkColdStart(b *testing.B) {
	bin := echoBinary(b)
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		r := New(Options{})
		if err := r.Add(Function{Name: "echo", Binary: bin, Timeout: 5 * time.Second}); err != nil {
			b.Fatal(err)
		}
		res, err := r.Invoke(b.Context(), "echo", []byte(`{"op":"echo"}`))
		if err != nil || res.Error != nil {
			b.Fatal(err, res.Error)
		}
		samples = append(samples, res.ColdStart)
		_ = r.Close()
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-coldstart-median")
}

// TestColdStartMedian logs the median cold start of 20 fresh instances.
func TestColdStartMedian(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	bin := echoBinary(t)
	var samples []time.Duration
	for range 20 {
		r := New(Options{})
		if err := r.Add(Function{Name: "echo", Binary: bin, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"echo"}`))
		if err != nil || res.Error != nil {
			t.Fatal(err, res.Error)
		}
		samples = append(samples, res.ColdStart)
		_ = r.Close()
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	if samples[0] <= 0 {
		t.Fatalf("cold start not measured: %v", samples)
	}
	t.Logf("cold start (exec to first next) over 20 instances: median %v, min %v, max %v", samples[10], samples[0], samples[19])
}

// TestReservedConcurrencyCapsInstances proves concurrencyConfig.reservedConcurrency: with 1,
// concurrent invocations run one after the other on one instance; s.yaml's deployer has it.
func TestReservedConcurrencyCapsInstances(t *testing.T) {
	fn := echoFunction(t)
	fn.ReservedConcurrency = 1
	r := newRuntime(t, fn)
	const n = 3
	var wg sync.WaitGroup
	pids := make([]int, n)
	start := time.Now()
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Invoke(t.Context(), "echo", []byte(`{"op":"sleep","sleep":"300ms"}`))
			if err == nil && res.Error == nil {
				var rep echoReply
				_ = json.Unmarshal(res.Payload, &rep)
				pids[i] = rep.PID
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el < n*300*time.Millisecond {
		t.Errorf("%d invocations of 300ms took %v: they overlapped", n, el)
	}
	for _, pid := range pids {
		if pid == 0 || pid != pids[0] {
			t.Fatalf("want one instance serving all invocations, got pids %v", pids)
		}
	}

	bad := echoFunction(t)
	bad.Name, bad.ReservedConcurrency = "neg", -1
	if err := New(Options{}).Add(bad); err == nil || !strings.Contains(err.Error(), "reserved concurrency") {
		t.Errorf("negative reserved concurrency: err = %v", err)
	}

	fns := repoFunctions(t)
	if got := fns["certflow-deployer"].ReservedConcurrency; got != 1 {
		t.Errorf("s.yaml deployer reservedConcurrency = %d, want 1", got)
	}
}

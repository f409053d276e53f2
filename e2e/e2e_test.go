// Package e2e runs certflow end to end: it compiles the function binaries exactly as FC needs
// them (linux/amd64, CGO_ENABLED=0) and the certflow CLI, starts the local cloud, and drives
// the functions through the local Function Compute runtime (pkg/localfc) — never by calling
// handlers in-process. Assertions are on real TLS endpoints and on the emulator's call log.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cas "github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/demo"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localfc"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/sconfig"
)

// repo is the repository root, seen from this package's folder.
const repo = ".."

// functions are the s.yaml resources, each built from functions/<name>.
var functions = []string{demo.ResDeployer, demo.ResBinder, demo.ResChecker}

var (
	buildOnce sync.Once
	binDir    string
	cliPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// build compiles every function that has a main.go into <tmp>/<name>/main and the CLI into
// <tmp>/certflow, once per test binary. A function folder without main.go is left out; the
// flow then reports its stage as skipped, which fails the tests that need it.
func build(t *testing.T) (bin string, missing []string) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the go1 function binaries are linux/amd64; this host is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "certflow-e2e-")
		if buildErr != nil {
			return
		}
		goBuild := func(out, pkg string, fc bool) error {
			cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
			cmd.Dir = repo
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if fc {
				cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH=amd64")
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
			return nil
		}
		for _, fn := range functions {
			if _, err := os.Stat(filepath.Join(repo, "functions", fn, "main.go")); err != nil {
				continue
			}
			if buildErr = goBuild(filepath.Join(binDir, fn, "main"), "./functions/"+fn, true); buildErr != nil {
				return
			}
		}
		cliPath = filepath.Join(binDir, "certflow")
		buildErr = goBuild(cliPath, "./cmd/certflow", false)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	for _, fn := range functions {
		if _, err := os.Stat(filepath.Join(binDir, fn, "main")); err != nil {
			missing = append(missing, fn)
		}
	}
	return binDir, missing
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writes counts the certificate writes per target in calls made between from and to.
func writes(calls []localcloud.Call, from, to time.Time) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if c.Code != "" || c.Time.Before(from) || c.Time.After(to) {
			continue
		}
		p := c.Params
		switch c.Action {
		case "SetLoadBalancerHTTPSListenerAttribute":
			out["clb:"+p["LoadBalancerId"]+":"+p["ListenerPort"]]++
		case "SetDomainExtensionAttribute":
			out["clb-ext:"+p["DomainExtensionId"]]++
		case "SetCdnDomainSSLCertificate":
			out["cdn:"+p["DomainName"]]++
		case "RunCommand":
			// Reads run certflow-read; only certflow-deploy-<sha12> writes the host's files.
			if strings.HasPrefix(p["Name"], "certflow-deploy-") {
				out["ecs:"+p["InstanceId.1"]+p["InstanceId"]]++
			}
		}
	}
	return out
}

// airecBinds counts accepted AIRec bind uploads between from and to.
func airecBinds(calls []localcloud.Call, from, to time.Time) int {
	n := 0
	for _, c := range calls {
		if c.Product == "Airec" && c.Code == "" && strings.HasSuffix(c.Action, "/certificates/bind") &&
			!c.Time.Before(from) && !c.Time.After(to) {
			n++
		}
	}
	return n
}

// TestFlow is `make demo` as a test: five concurrent deliveries of the "issued" event write
// each target once and bind AIRec once, the renewal rolls out, a stale target is repaired by
// the checker, and every endpoint ends serving the renewed certificate over verified TLS.
func TestFlow(t *testing.T) {
	t.Parallel() // each test has its own local cloud and runtime
	bin, missing := build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	const deliveries = 5
	start := time.Now()
	sum, err := demo.Run(ctx, demo.Options{Bin: bin, SYAML: filepath.Join(repo, "s.yaml"), Out: testWriter{t}, Deliveries: deliveries})
	if err != nil {
		t.Fatalf("demo.Run: %v", err)
	}
	t.Logf("flow took %v", time.Since(start))

	t.Run("deployer: at-least-once deliveries write each target once", func(t *testing.T) {
		st, ok := sum.Stage("deployer (issued)")
		if !ok || st.Status != demo.StatusOK {
			t.Fatalf("stage = %+v", st)
		}
		if len(sum.Issued) != deliveries {
			t.Fatalf("%d deliveries answered, want %d", len(sum.Issued), deliveries)
		}
		var first, dup int
		targets := 0
		for i, res := range sum.Issued {
			if len(res.Reports) != 1 || len(res.Errors) > 0 {
				t.Fatalf("delivery %d: %+v", i, res)
			}
			tot := res.Reports[0].Totals
			targets = len(res.Reports[0].Targets)
			switch {
			case tot.Failed > 0 || tot.NotCovered > 0:
				t.Errorf("delivery %d: totals %+v", i, tot)
			case tot.Deployed == targets && tot.Unchanged == 0:
				first++
			case tot.Unchanged == targets && tot.Deployed == 0:
				dup++
			default:
				t.Errorf("delivery %d mixed deployed/unchanged: %+v", i, tot)
			}
		}
		if targets < 10 || first != 1 || dup != deliveries-1 {
			t.Errorf("%d targets; %d deliveries deployed, %d unchanged; want 1 and %d", targets, first, dup, deliveries-1)
		}
		w := writes(sum.Calls, st.Start, st.End)
		if len(w) == 0 {
			t.Fatal("no certificate writes in the call log")
		}
		total := 0
		for target, n := range w {
			total += n
			if n != 1 {
				t.Errorf("%s written %d times, want once", target, n)
			}
		}
		if total != targets {
			t.Errorf("%d writes for %d targets", total, targets)
		}
		for _, res := range sum.Issued {
			for _, tr := range res.Reports[0].Targets {
				if tr.Status != rollout.StatusDeployed && tr.Status != rollout.StatusUnchanged {
					t.Errorf("%s: %s", tr.Target, tr.Status)
				}
			}
		}
	})

	t.Run("binder: the queued task binds AIRec once", func(t *testing.T) {
		if hasMissing(missing, demo.ResBinder) {
			t.Fatal("functions/binder is not built (no main.go): the MNS-triggered bind cannot run")
		}
		st, _ := sum.Stage("binder (MNS trigger)")
		if st.Status != demo.StatusOK {
			t.Fatalf("stage = %+v", st)
		}
		issued, _ := sum.Stage("deployer (issued)")
		if n := airecBinds(sum.Calls, issued.Start, st.End); n != 1 {
			t.Errorf("AIRec bind uploads after %d deliveries = %d, want 1", deliveries, n)
		}
	})

	t.Run("renewal rolls out again", func(t *testing.T) {
		st, _ := sum.Stage("deployer (renewed)")
		if st.Status != demo.StatusOK || len(sum.Renewed) != 1 || len(sum.Renewed[0].Reports) != 1 {
			t.Fatalf("stage %+v, results %+v", st, sum.Renewed)
		}
		tot := sum.Renewed[0].Reports[0].Totals
		if tot.Deployed != len(sum.Renewed[0].Reports[0].Targets) || tot.Failed != 0 {
			t.Errorf("renewal totals %+v", tot)
		}
		if sum.SHA256s[0] == sum.SHA256s[1] || sum.CertIDs[0] == sum.CertIDs[1] {
			t.Errorf("renewal reused the certificate: %v %v", sum.CertIDs, sum.SHA256s)
		}
	})

	t.Run("checker repairs the stale target", func(t *testing.T) {
		if hasMissing(missing, demo.ResChecker) {
			t.Fatal("functions/checker is not built (no main.go): the timer-driven check cannot run")
		}
		drift, _ := sum.Stage("drift")
		fixed, _ := sum.Stage("drift repaired")
		if drift.Status != demo.StatusOK || fixed.Status != demo.StatusOK {
			t.Fatalf("drift %+v, repaired %+v", drift, fixed)
		}
		w := writes(sum.Calls, drift.End, fixed.End)
		if w[sum.StaleTarget] != 1 || len(w) != 1 {
			t.Errorf("checker writes %v, want exactly one to %s", w, sum.StaleTarget)
		}
	})

	t.Run("every endpoint serves the renewed certificate over verified TLS", func(t *testing.T) {
		if len(sum.Endpoints) < 13 {
			t.Fatalf("%d endpoints probed, want the estate's 13", len(sum.Endpoints))
		}
		for _, ep := range sum.Endpoints {
			if !ep.OK {
				t.Errorf("%s (%s): %v", ep.Name, ep.ID, ep.Problems)
			}
			if ep.Result.Served == nil {
				t.Errorf("%s: no served certificate recorded", ep.Name)
			}
		}
		if !sum.OK || !strings.HasPrefix(sum.Verdict, "VERDICT: OK") {
			t.Errorf("verdict %q", sum.Verdict)
		}
	})
}

func hasMissing(missing []string, fn string) bool {
	for _, m := range missing {
		if m == fn {
			return true
		}
	}
	return false
}

// TestLocalInvokeDryRun runs `certflow local invoke deployer --event-file …` (the local
// `s invoke`) against a local cloud: the compiled deployer plans a CAS certificate's rollout,
// and a dry run writes nothing.
func TestLocalInvokeDryRun(t *testing.T) {
	t.Parallel() // each test has its own local cloud and runtime
	bin, _ := build(t)
	c, err := localcloud.Start(t.Context(), localcloud.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	ak, secret, token := c.IssueSTS(time.Hour)
	clients := cloud.New(cloud.Options{Endpoint: info.Endpoint, AccountID: info.AccountID, Region: info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token}))
	leaf, err := c.CA().Issue(localca.Template{DNSNames: []string{"*.example.com", "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clients.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = "e2e-dry-run", string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	up, err := cl.UploadUserCertificate(req)
	if err != nil {
		t.Fatal(err)
	}

	// events/manual-dry-run.json with this cloud's certificate and targets.
	var ev map[string]any
	sample, err := os.ReadFile(filepath.Join(repo, "events", "manual-dry-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sample, &ev); err != nil {
		t.Fatal(err)
	}
	ev["certId"] = up.CertId
	ev["only"] = []string{"clb:lb-bp1localweb01:443", "cdn:img1.example.com", "ecs:i-bp1localnginx01"}
	evFile := filepath.Join(t.TempDir(), "dry-run.json")
	b, _ := json.Marshal(ev)
	if err := os.WriteFile(evFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The CLI resolves the s.yaml code folder (bin/deployer): lay it out as s.yaml's
	// pre-deploy action does, the binary built for this test beside the targets file.
	work := t.TempDir()
	code := filepath.Join(work, "bin", demo.ResDeployer)
	if err := os.MkdirAll(code, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{
		{filepath.Join(repo, "s.yaml"), filepath.Join(work, "s.yaml")},
		{filepath.Join(bin, demo.ResDeployer, "main"), filepath.Join(code, "main")},
		{info.Targets, filepath.Join(code, "targets.yaml")},
	} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.to, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	from := time.Now()
	cmd := exec.CommandContext(t.Context(), cliPath, "local", "invoke", "deployer", "--event-file", evFile)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"CERTFLOW_ENDPOINT="+info.Endpoint, "CERTFLOW_MNS_ENDPOINT="+info.MNSEndpoint, "CERTFLOW_ROOTS="+info.Roots,
		"CERTFLOW_ACCOUNT_ID="+info.AccountID,
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+ak, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret, "ALIBABA_CLOUD_SECURITY_TOKEN="+token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("certflow local invoke: %v\n%s", err, out.String())
	}
	text := out.String()
	if strings.Contains(text, secret) || strings.Contains(text, token) {
		t.Fatal("credentials appear in the output")
	}
	start := strings.Index(text, `{"reports"`)
	if start < 0 {
		t.Fatalf("no deployer result in output:\n%s", text)
	}
	var res struct {
		Reports []rollout.Report `json:"reports"`
	}
	if err := json.NewDecoder(strings.NewReader(text[start:])).Decode(&res); err != nil {
		t.Fatalf("result: %v\n%s", err, text)
	}
	if len(res.Reports) != 1 || !res.Reports[0].DryRun || res.Reports[0].CertID != up.CertId {
		t.Fatalf("reports %+v", res.Reports)
	}
	if got := res.Reports[0].Totals.Planned; got != 3 {
		t.Errorf("planned %d targets, want the 3 named in only: %+v", got, res.Reports[0].Targets)
	}
	if w := writes(c.Calls(), from, time.Now()); len(w) != 0 {
		t.Errorf("dry run wrote %v", w)
	}
	if len(localcloud.CallsOf(c.Calls(), "GetUserCertificateDetail")) == 0 {
		t.Error("the deployer never read the certificate from CAS")
	}
}

// TestFlowReportsMissingFunctions runs the flow with only the deployer built: the binder and
// checker stages say "skipped: function not built" and the verdict fails — nothing is faked.
func TestFlowReportsMissingFunctions(t *testing.T) {
	t.Parallel() // each test has its own local cloud and runtime
	bin, _ := build(t)
	only := t.TempDir()
	data, err := os.ReadFile(filepath.Join(bin, demo.ResDeployer, "main"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(only, demo.ResDeployer), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(only, demo.ResDeployer, "main"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := demo.Run(t.Context(), demo.Options{Bin: only, SYAML: filepath.Join(repo, "s.yaml"), Out: &out, BindWait: 2 * time.Second})
	if err != nil {
		t.Fatalf("demo.Run: %v", err)
	}
	if sum.OK || !strings.HasPrefix(sum.Verdict, "VERDICT: FAIL") {
		t.Errorf("verdict %q with binder and checker missing", sum.Verdict)
	}
	for _, name := range []string{"binder (MNS trigger)", "checker (timer)", "checker (drift repair)"} {
		st, ok := sum.Stage(name)
		if !ok || st.Status != demo.StatusSkipped || !strings.Contains(st.Detail, "function not built") {
			t.Errorf("stage %s = %+v", name, st)
		}
	}
	if st, _ := sum.Stage("deployer (issued)"); st.Status != demo.StatusOK {
		t.Errorf("deployer stage %+v", st)
	}
	// The stale CDN domain stays stale without the checker: the independent probe says so.
	var stale bool
	for _, ep := range sum.Endpoints {
		if ep.ID == sum.StaleTarget && !ep.OK && ep.Result.Has("stale_certificate") {
			stale = true
		}
	}
	if !stale {
		t.Errorf("probe did not report %s stale:\n%s", sum.StaleTarget, out.String())
	}
}

// TestPoisonBindTaskDeadLettered sends a bind message the binder cannot accept to the real
// queue: the s.yaml MNS trigger redelivers it under its retry strategy and then moves it to
// the dead-letter queue named in s.yaml, leaving the bind queue empty and AIRec untouched.
func TestPoisonBindTaskDeadLettered(t *testing.T) {
	t.Parallel() // each test has its own local cloud and runtime
	bin, missing := build(t)
	if hasMissing(missing, demo.ResBinder) {
		t.Fatal("functions/binder is not built (no main.go)")
	}
	c, err := localcloud.Start(t.Context(), localcloud.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.TargetsConfig()
	ak, secret, token := c.IssueSTS(time.Hour)
	creds := localfc.Credentials{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token}
	vars := map[string]string{"CERTFLOW_AIREC_INSTANCE": cfg.AIRec.InstanceID, "CERTFLOW_BIND_QUEUE": cfg.AIRec.Queue,
		"CERTFLOW_BIND_DLQ": "certflow-bind-dlq", "CERTFLOW_REGION": info.Region}
	proj, err := sconfig.Load(filepath.Join(repo, "s.yaml"), sconfig.LoadOptions{
		Env:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Config: map[string]string{"AccountID": info.AccountID},
	})
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := proj.Function("binder")
	if !ok {
		t.Fatal("s.yaml has no binder")
	}
	fn := localfc.FromSConfig(proj, sf)
	fn.Binary = filepath.Join(bin, demo.ResBinder, "main")
	for k, v := range map[string]string{"CERTFLOW_ENDPOINT": info.Endpoint, "CERTFLOW_MNS_ENDPOINT": info.MNSEndpoint,
		"CERTFLOW_ROOTS": info.Roots, "CERTFLOW_ACCOUNT_ID": info.AccountID, "CERTFLOW_TARGETS": info.Targets,
		cfg.AIRec.TokenEnv: c.Estate().AIRec[0].Token} {
		fn.Env[k] = v
	}
	fn.Credentials = func() localfc.Credentials { return creds }
	queues, err := localfc.MNSFromEndpoint(info.MNSEndpoint, info.AccountID, func() localfc.Credentials { return creds })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var runs []localfc.TriggerRun
	rt := localfc.New(localfc.Options{Region: info.Region, AccountID: info.AccountID, Queues: queues,
		RetryDelay: func(int) time.Duration { return 200 * time.Millisecond }, ManualTimers: true,
		OnTrigger: func(x localfc.TriggerRun) { mu.Lock(); runs = append(runs, x); mu.Unlock() }})
	defer rt.Close()
	if err := rt.Add(fn); err != nil {
		t.Fatal(err)
	}
	q, err := queues.OpenQueue(info.Region, cfg.AIRec.Queue)
	if err != nil {
		t.Fatal(err)
	}
	// A BindTask of an unknown version: valid JSON, refused by the binder every time.
	if err := q.Send(t.Context(), `{"v":99,"taskId":"poison","certId":1}`); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(c.MNS().Messages("certflow-bind-dlq")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	dl := c.MNS().Messages("certflow-bind-dlq")
	if len(dl) != 1 || !strings.Contains(dl[0].Body, "poison") {
		t.Fatalf("dead-letter queue holds %d messages: %+v", len(dl), dl)
	}
	if left := c.MNS().Messages(cfg.AIRec.Queue); len(left) != 0 {
		t.Errorf("bind queue still holds %d messages", len(left))
	}
	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, x := range runs {
		if x.Result.Error != nil {
			failed++
		}
	}
	if failed != 4 || len(runs) != 4 { // BACKOFF_RETRY: the first delivery and three retries
		t.Errorf("binder runs %d (%d failed), want 4 failed", len(runs), failed)
	}
	if n := airecBinds(c.Calls(), time.Time{}, time.Now()); n != 0 {
		t.Errorf("AIRec bind uploads = %d for a poisoned task", n)
	}
}

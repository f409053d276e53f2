package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cas "github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localfc"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/sconfig"
)

// full selects the long form (`make faults`): larger estates and more load. The short form
// is what `go test ./...` (and so `make test`) runs.
var full = flag.Bool("full", false, "run the full fault suite (larger estates, more load)")

// binDir holds the function binaries built once by TestMain, exactly as `make functions`
// builds them (linux/amd64, static), so the suite never runs stale binaries.
var binDir string

// repoRoot is the module root (s.yaml lives there).
var repoRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		fmt.Fprintln(os.Stderr, "faults: the local FC runtime runs linux/amd64 binaries; skipping on", runtime.GOOS+"/"+runtime.GOARCH)
		return 0
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "certflow-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	for _, fn := range []string{"deployer", "binder", "checker", "../cmd/certflow"} {
		pkg, out := "./functions/"+fn, filepath.Join(dir, fn, "main")
		if strings.HasPrefix(fn, "../") {
			pkg, out = "./cmd/certflow", filepath.Join(dir, "certflow")
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "faults: build %s: %v\n%s", pkg, err, b)
			return 1
		}
	}
	code := m.Run()
	if code != 0 {
		return code
	}
	// Scenario 9: everything every scenario heard, scanned for key material and credentials.
	hits, scanned := scan()
	secrets.mu.Lock()
	nNeedles, nKeys := len(secrets.needles), secrets.keyCount
	secrets.mu.Unlock()
	corpus.Lock()
	nParts := len(corpus.parts)
	corpus.Unlock()
	line := row{order: 9, Scenario: "9 secrets scan", Load: fmt.Sprintf("%d sources, %.1f MB", nParts, float64(scanned)/1e6),
		Faults:  fmt.Sprintf("%d private keys, %d needles (PEM, DER base64/hex, AK secrets, STS tokens)", nKeys, nNeedles),
		Outcome: fmt.Sprintf("%d secret hits", len(hits))}
	fmt.Printf("FIGURE %s | load %s | faults %s | %s | lost 0 | duplicated 0\n", line.Scenario, line.Load, line.Faults, line.Outcome)
	if len(hits) > 0 || nKeys == 0 || scanned == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: secrets scan: %d hits over %d bytes (keys registered: %d):\n  %s\n", len(hits), scanned, nKeys, strings.Join(hits, "\n  "))
		return 1
	}
	table.Lock()
	table.rows = append(table.rows, line)
	table.Unlock()
	if err := writeTable(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	return 0
}

// syncBuffer collects output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}

// rigOptions shape one scenario's local cloud and runtime.
type rigOptions struct {
	Estate []byte // nil = the default estate
	// Timeout overrides a function's s.yaml timeout, by resource key (deployer, binder, checker).
	Timeout map[string]time.Duration
	// Config edits the targets file before the functions start (e.g. quota overrides).
	Config func(*config.Config)
	// Env is added to every function's environment.
	Env map[string]string
	// NoStart leaves the MNS and timer triggers unwired.
	NoStart bool
}

// rig is one scenario's system: the local cloud, the local FC runtime running the compiled
// binaries from s.yaml, and everything they said (instance output, trigger events, results).
type rig struct {
	t       *testing.T
	cloud   *localcloud.Cloud
	info    localcloud.Info
	cfg     *config.Config
	clients *cloud.Clients
	rt      *localfc.Runtime
	fn      map[string]string // resource key → FC function name

	credMu sync.Mutex
	creds  localfc.Credentials

	logs   syncBuffer // every instance's output
	events syncBuffer // trigger deliveries, retries, dead letters

	mu   sync.Mutex
	runs []localfc.TriggerRun
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx := t.Context()
	c, err := localcloud.Start(ctx, localcloud.Options{Estate: o.Estate, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	r := &rig{t: t, cloud: c, fn: map[string]string{}}
	est := c.Estate()
	secrets.add(est.AccessKeySecret)
	for _, a := range est.AIRec {
		secrets.add(a.Token)
	}
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() { defer close(sampled); snapshotQueues(r, stop) }()
	t.Cleanup(func() {
		if r.rt != nil {
			_ = r.rt.Close()
		}
		close(stop)
		<-sampled
		if b, err := c.Dump(); err == nil {
			heard(t.Name()+" state dump", b)
		}
		record(t, r)
		_ = c.Close()
	})
	if r.info, err = c.Info(); err != nil {
		t.Fatalf("local cloud info: %v", err)
	}
	r.cfg = c.TargetsConfig()
	targets := r.info.Targets
	if o.Config != nil {
		o.Config(r.cfg)
		b, err := yaml.Marshal(r.cfg)
		if err != nil {
			t.Fatalf("marshal targets: %v", err)
		}
		targets = filepath.Join(t.TempDir(), "targets.yaml")
		if err := os.WriteFile(targets, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(targets); err != nil {
			t.Fatalf("edited targets file does not load: %v", err)
		}
	}
	r.rotate(2 * time.Hour)
	r.clients = cloud.New(cloud.Options{Endpoint: r.info.Endpoint, MNSEndpoint: r.info.MNSEndpoint,
		AccountID: r.info.AccountID, Region: r.info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: r.info.AccessKeyID, AccessKeySecret: r.info.AccessKeySecret}))

	vars := map[string]string{"CERTFLOW_REGION": r.info.Region, "CERTFLOW_CAS_REGION": r.cfg.CAS.Region}
	env := map[string]string{
		cloud.EnvEndpoint: r.info.Endpoint, cloud.EnvMNSEndpoint: r.info.MNSEndpoint, cloud.EnvRoots: r.info.Roots,
		cloud.EnvAccountID: r.info.AccountID, "CERTFLOW_TARGETS": targets,
	}
	if r.cfg.AIRec != nil {
		vars["CERTFLOW_AIREC_INSTANCE"], env["CERTFLOW_AIREC_INSTANCE"] = r.cfg.AIRec.InstanceID, r.cfg.AIRec.InstanceID
		vars["CERTFLOW_BIND_QUEUE"], env["CERTFLOW_BIND_QUEUE"] = r.cfg.AIRec.Queue, r.cfg.AIRec.Queue
		if len(est.AIRec) > 0 && r.cfg.AIRec.TokenEnv != "" {
			env[r.cfg.AIRec.TokenEnv] = est.AIRec[0].Token
		}
	}
	for _, q := range est.Queues {
		if q.DeadLetter != "" {
			vars["CERTFLOW_BIND_DLQ"] = q.DeadLetter
		}
	}
	for k, v := range o.Env {
		env[k] = v
	}
	proj, err := sconfig.Load(filepath.Join(repoRoot, "s.yaml"), sconfig.LoadOptions{
		Env:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Config: map[string]string{"AccountID": r.info.AccountID},
	})
	if err != nil {
		t.Fatalf("s.yaml: %v", err)
	}
	queues, err := localfc.MNSFromEndpoint(r.info.MNSEndpoint, r.info.AccountID, r.credentials)
	if err != nil {
		t.Fatal(err)
	}
	r.rt = localfc.New(localfc.Options{
		Region: r.info.Region, AccountID: r.info.AccountID,
		LogOutput: &r.logs, Events: &r.events, Queues: queues,
		RetryDelay:   func(int) time.Duration { return 300 * time.Millisecond },
		ManualTimers: true,
		OnTrigger: func(x localfc.TriggerRun) {
			r.mu.Lock()
			r.runs = append(r.runs, x)
			r.mu.Unlock()
		},
	})
	for _, res := range proj.Resources {
		if res.Component != "fc3" {
			continue
		}
		fn := localfc.FromSConfig(proj, &res.Function)
		fn.Binary = filepath.Join(binDir, res.Key, res.Function.Handler)
		for k, v := range env {
			fn.Env[k] = v
		}
		if d, ok := o.Timeout[res.Key]; ok {
			fn.Timeout = d
		}
		fn.Credentials = r.credentials
		if err := r.rt.Add(fn); err != nil {
			t.Fatalf("add %s: %v", res.Key, err)
		}
		r.fn[res.Key] = fn.Name
	}
	if !o.NoStart {
		if err := r.rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// credentials are the role's current STS credentials, handed to every instance and
// invocation as FC does.
func (r *rig) credentials() localfc.Credentials {
	r.credMu.Lock()
	defer r.credMu.Unlock()
	return r.creds
}

// rotate issues fresh STS credentials valid for ttl; later invocations carry them.
func (r *rig) rotate(ttl time.Duration) localfc.Credentials {
	ak, secret, token := r.cloud.IssueSTS(ttl)
	c := localfc.Credentials{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token}
	r.credMu.Lock()
	r.creds = c
	r.credMu.Unlock()
	secrets.add(secret, token)
	return c
}

// names is every name the estate's targets and AIRec serve.
func (r *rig) names() []string {
	set := map[string]bool{}
	for _, t := range r.cfg.Targets {
		for _, n := range t.Names {
			set[strings.ToLower(n)] = true
		}
	}
	if r.cfg.AIRec != nil {
		for _, d := range r.cfg.AIRec.Domains {
			set[strings.ToLower(d)] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// issue issues a certificate for every estate name and uploads it to CAS through the SDK.
func (r *rig) issue(name string) (int64, *localca.Cert) {
	r.t.Helper()
	leaf, err := r.cloud.CA().Issue(localca.Template{DNSNames: r.names(), NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	if err != nil {
		r.t.Fatalf("issue: %v", err)
	}
	secrets.addKey(leaf)
	cl, err := r.clients.CAS(r.cfg.CAS.Region)
	if err != nil {
		r.t.Fatal(err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = name, string(r.cloud.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		r.t.Fatalf("CAS UploadUserCertificate: %v", err)
	}
	return resp.CertId, leaf
}

// event is the CAS "issued" service event EventBridge delivers for certificate id.
func (r *rig) event(id int64, evID string) localfc.CloudEvent {
	b, _ := json.Marshal(map[string]any{"certId": id, "status": "ISSUED"})
	return localfc.CloudEvent{
		ID: evID, Source: "acs.cas", SpecVersion: "1.0", Type: "cas:Certificate:Issued",
		Subject: fmt.Sprintf("acs:cas:%s:%s:certificate/%d", r.cfg.CAS.Region, r.info.AccountID, id),
		Time:    time.Now().UTC().Format(time.RFC3339), DataContentType: "application/json;charset=utf-8",
		Data: b,
	}
}

// fire delivers ev through the deployer's CAS trigger and returns the final result.
func (r *rig) fire(ctx context.Context, ev localfc.CloudEvent) localfc.Result {
	r.t.Helper()
	res, err := r.rt.Fire(ctx, "cas-events", ev)
	if err != nil {
		r.t.Fatalf("fire %s: %v", ev.ID, err)
	}
	collect(res)
	return res
}

// deployRuns returns every deployer invocation a trigger made, in order.
func (r *rig) runsOf(key string) []localfc.TriggerRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []localfc.TriggerRun
	for _, x := range r.runs {
		if x.Function == r.fn[key] {
			out = append(out, x)
		}
	}
	return out
}

// reports parses every rollout report the deployer logged (one JSON line per report, also
// when the invocation failed and the trigger got no payload).
func reports(logs []byte) []rollout.Report {
	var out []rollout.Report
	for _, line := range bytes.Split(logs, []byte("\n")) {
		i := bytes.IndexByte(line, '{')
		if i < 0 || !bytes.Contains(line, []byte(`"targets"`)) || !bytes.Contains(line, []byte(`"totals"`)) {
			continue
		}
		var rep rollout.Report
		if json.Unmarshal(line[i:], &rep) == nil && rep.CertID != 0 {
			out = append(out, rep)
		}
	}
	return out
}

// result decodes a successful deployer payload.
func deployResult(t *testing.T, res localfc.Result) deploy.Result {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("deployer failed: %s: %s\nlogs:\n%s", res.Error.Type, res.Error.Message, tail(res.Logs, 4000))
	}
	var out deploy.Result
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("deployer payload: %v", err)
	}
	return out
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

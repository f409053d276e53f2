package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localfc"
)

// Binary is one function binary's size and cold start.
type Binary struct {
	Function string  `json:"function"`
	Path     string  `json:"path"`
	Bytes    int64   `json:"bytes"`
	MB       float64 `json:"mb"`
	// ColdStartMs are exec → first `next` request on the local FC runtime, one per run;
	// ColdStartMedianMs is their median.
	ColdStartMs       []float64 `json:"coldStartMs"`
	ColdStartMedianMs float64   `json:"coldStartMedianMs"`
}

// Footprint measures each function binary under binDir (binDir/<fn>/main): its size and
// the median cold start over runs fresh instances.
func Footprint(ctx context.Context, binDir string, functions []string, runs int) ([]Binary, error) {
	var out []Binary
	for _, fn := range functions {
		path := absPath(filepath.Join(binDir, fn, "main"))
		st, err := os.Stat(path)
		if err != nil {
			return out, fmt.Errorf("footprint %s: %w (run make functions)", fn, err)
		}
		b := Binary{Function: fn, Path: path, Bytes: st.Size(), MB: float64(st.Size()) / (1 << 20)}
		for range runs {
			d, err := coldStart(ctx, fn, path)
			if err != nil {
				return out, fmt.Errorf("footprint %s: cold start: %w", fn, err)
			}
			b.ColdStartMs = append(b.ColdStartMs, float64(d.Microseconds())/1000)
		}
		b.ColdStartMedianMs = median(b.ColdStartMs)
		out = append(out, b)
	}
	return out, nil
}

// coldStart starts one fresh instance of the binary and returns the runtime's own
// exec → first `next` measurement. The invocation itself may fail (no configuration):
// only the start is measured.
func coldStart(ctx context.Context, fn, path string) (time.Duration, error) {
	rt := localfc.New(localfc.Options{})
	defer rt.Close()
	dir, err := os.MkdirTemp("", "certflow-coldstart-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := rt.Add(localfc.Function{Name: "certflow-" + fn, Binary: path, Timeout: 10 * time.Second,
		Env: map[string]string{"CERTFLOW_TARGETS": filepath.Join(dir, "missing-targets.yaml")}}); err != nil {
		return 0, err
	}
	res, err := rt.Invoke(ctx, "certflow-"+fn, []byte(`{}`))
	if err != nil {
		return 0, err
	}
	if res.ColdStart <= 0 {
		return 0, fmt.Errorf("the runtime reported no cold start")
	}
	return res.ColdStart, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// DeployerRun is the deployer function binary rolling out to a whole estate through the
// local FC runtime, with its peak memory.
type DeployerRun struct {
	Targets     int     `json:"targets"`
	WallSeconds float64 `json:"wallSeconds"` // the invocation, hand-over to answer
	PeakRSSMB   float64 `json:"peakRssMb"`   // VmHWM of the instance process after the run
	Deployed    int     `json:"deployed"`
	Failed      int     `json:"failed"`
	Error       string  `json:"error,omitempty"`
}

// RunDeployer starts a local cloud of n targets (quotas and latency on, as RunRollout),
// uploads the wildcard certificate and invokes the deployer binary with {"certId": …}
// through pkg/localfc, then reads the instance's VmHWM from /proc.
func RunDeployer(ctx context.Context, binary string, n, ecs int, dir string) (DeployerRun, error) {
	mix, err := MixFor(n, ecs)
	if err != nil {
		return DeployerRun{}, err
	}
	estate, err := Estate(mix)
	if err != nil {
		return DeployerRun{}, err
	}
	lc, err := localcloud.Start(ctx, localcloud.Options{Estate: estate, Faults: RolloutFaults(), Dir: dir})
	if err != nil {
		return DeployerRun{}, fmt.Errorf("deployer %d: start local cloud: %w", n, err)
	}
	defer lc.Close()
	env, err := NewCloudEnv(lc)
	if err != nil {
		return DeployerRun{}, err
	}
	certID, err := env.UploadWildcard()
	if err != nil {
		return DeployerRun{}, fmt.Errorf("deployer %d: %w", n, err)
	}
	rt := localfc.New(localfc.Options{AccountID: env.Info.AccountID, Region: env.Info.Region})
	defer rt.Close()
	creds := localfc.Credentials{AccessKeyID: env.Info.AccessKeyID, AccessKeySecret: env.Info.AccessKeySecret}
	fn := localfc.Function{Name: "certflow-deployer", Binary: absPath(binary), Timeout: 15 * time.Minute, MemoryMB: 512,
		Env: map[string]string{
			"CERTFLOW_TARGETS": env.Info.Targets, "CERTFLOW_ENDPOINT": env.Info.Endpoint,
			"CERTFLOW_MNS_ENDPOINT": env.Info.MNSEndpoint, "CERTFLOW_ROOTS": lc.Roots(),
			"CERTFLOW_ACCOUNT_ID": env.Info.AccountID,
		},
		Credentials: func() localfc.Credentials { return creds }}
	if err := rt.Add(fn); err != nil {
		return DeployerRun{}, err
	}
	res, err := rt.Invoke(ctx, fn.Name, []byte(fmt.Sprintf(`{"certId": %d}`, certID)))
	if err != nil {
		return DeployerRun{}, fmt.Errorf("deployer %d: invoke: %w", n, err)
	}
	d := DeployerRun{Targets: n, WallSeconds: res.Duration.Seconds()}
	hwm, herr := vmHWM(res.PID)
	if herr != nil {
		return d, fmt.Errorf("deployer %d: %w", n, herr)
	}
	d.PeakRSSMB = float64(hwm) / 1024
	if res.Error != nil {
		d.Error = res.Error.Type + ": " + res.Error.Message
		return d, nil
	}
	var out deploy.Result
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		return d, fmt.Errorf("deployer %d: decode result: %w", n, err)
	}
	for _, r := range out.Reports {
		d.Deployed += r.Totals.Deployed
		d.Failed += r.Totals.Failed
	}
	return d, nil
}

// vmHWM reads the peak resident set (kB) of pid from /proc/<pid>/status.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak rss of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss of pid %d: %q: %w", pid, v, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("peak rss of pid %d: no VmHWM line", pid)
}

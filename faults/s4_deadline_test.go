package faults

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// Scenario 4: a rollout larger than one invocation can finish (short function timeout, CDN
// writes slowed and paced). The first invocation reports the retryable remainder and fails,
// so the trigger retries; the retries write only the remainder, each target exactly once.
func TestS4Deadline(t *testing.T) {
	ctx := t.Context()
	extra, timeout := 14, 9*time.Second
	if *full {
		extra, timeout = 40, 10*time.Second
	}
	r := newRig(t, rigOptions{Estate: estate(t, extra, 0), NoStart: true,
		Timeout: map[string]time.Duration{"deployer": timeout},
		Config: func(c *config.Config) {
			c.Quotas = map[string]float64{"cdn:SetCdnDomainSSLCertificate": 3}
		}})
	id, leaf := r.issue("faults-deadline")
	r.cloud.SetFaults(localcloud.Faults{Seed: 4, Rules: map[string]localcloud.FaultRule{
		"SetCdnDomainSSLCertificate": {Latency: 300 * time.Millisecond},
	}})
	start := time.Now()
	final := r.fire(ctx, r.event(id, "faults-deadline"))
	runs := r.runsOf("deployer")
	if len(runs) < 2 {
		t.Fatalf("deployer ran %d time(s); the rollout was meant not to fit one invocation", len(runs))
	}
	if final.Error != nil {
		t.Fatalf("last of %d attempts still failed: %s: %s", len(runs), final.Error.Type, final.Error.Message)
	}
	// Each invocation's report, from its log (a failed invocation returns no payload).
	var reps []rollout.Report
	for i, x := range runs {
		rs := reports(x.Result.Logs)
		if len(rs) != 1 {
			t.Fatalf("invocation %d logged %d reports, want 1:\n%s", i+1, len(rs), tail(x.Result.Logs, 3000))
		}
		reps = append(reps, rs[0])
		if i < len(runs)-1 {
			if x.Result.Error == nil {
				t.Errorf("invocation %d succeeded although it left work", i+1)
			} else if x.Result.Error.Type == "FunctionTimeout" {
				t.Errorf("invocation %d was killed at the timeout instead of reporting its remainder", i+1)
			}
		}
	}
	first := reps[0]
	remainder := first.Retryable()
	if len(remainder) == 0 || first.Totals.Deployed == 0 {
		t.Fatalf("first invocation: deployed %d, retryable remainder %d; want both > 0", first.Totals.Deployed, len(remainder))
	}
	for i := 1; i < len(reps); i++ {
		prev := reps[i-1].Retryable()
		for _, tr := range reps[i].Targets {
			if tr.Status == rollout.StatusDeployed && !slices.Contains(prev, tr.Target) {
				t.Errorf("invocation %d deployed %s, which was not in the previous remainder", i+1, tr.Target)
			}
		}
	}
	calls := since(r.cloud.Calls(), start)
	dups, keys := duplicated(writes(calls))
	if dups != 0 {
		t.Errorf("duplicated writes across retries: %v", keys)
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 0 {
		t.Errorf("not serving after the retries: %v", lost)
	}
	var per []string
	for _, rp := range reps {
		per = append(per, fmt.Sprint(rp.Totals.Deployed))
	}
	figure(t, 4, row{Scenario: "4 deadline",
		Load:    fmt.Sprintf("%d targets (%d CDN at 3/s + 300 ms)", len(r.cfg.Targets), 6+extra),
		Faults:  fmt.Sprintf("function timeout %s", timeout),
		Outcome: fmt.Sprintf("%d invocations deployed %s; first left %d retryable; retries wrote only the remainder; %.1fs", len(runs), strings.Join(per, "+"), len(remainder), time.Since(start).Seconds()),
		Lost:    len(lost), Duplicated: dups})
}

// binderPIDs lists the running binder instance processes of this rig (scenarios run in
// parallel: an instance belongs to the rig whose local cloud endpoint is in its environment).
func (r *rig) binderPIDs() []int {
	want := filepath.Join(binDir, "binder", "main")
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || exe != want {
			continue
		}
		if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil && bytes.Contains(env, []byte("="+r.info.Endpoint+"\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// Scenario 5: the binder's instance is SIGKILLed in the middle of a bind: the message is
// redelivered and bound once. Poison messages — undecodable, and a task for a certificate CAS
// no longer has — reach the dead-letter queue after the configured receives, and the
// binder's errors name why.
func TestS5BinderKilledAndPoison(t *testing.T) {
	t.Parallel() // long, and not timing-sensitive: overlaps scenario 1
	ctx := t.Context()
	r := newRig(t, rigOptions{NoStart: true})
	id, leaf := r.issue("faults-binder")
	bindAction := "POST /v2/openapi/instances/" + r.cfg.AIRec.InstanceID + "/certificates/bind"
	r.cloud.SetFaults(localcloud.Faults{Seed: 5, Rules: map[string]localcloud.FaultRule{
		bindAction: {Latency: 1500 * time.Millisecond},
	}})
	deployResult(t, r.fire(ctx, r.event(id, "faults-binder")))

	killed := 0
	if err := r.rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Kill the binder while the bind upload is in flight (the local AIRec holds it 1.5 s).
	waitFor(ctx, 20*time.Second, func() bool {
		for _, c := range r.cloud.Calls() {
			if c.Product == "Airec" {
				return true
			}
		}
		return false
	})
	time.Sleep(700 * time.Millisecond)
	for _, pid := range r.binderPIDs() {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no binder instance to kill")
	}
	dlq := "certflow-bind-dlq"
	if !waitFor(ctx, 60*time.Second, func() bool {
		return len(r.unboundAIRec(leaf.SHA256())) == 0 && len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)) == 0
	}) {
		t.Fatalf("killed bind not completed by redelivery: unbound %v, queue %d\nevents:\n%s", r.unboundAIRec(leaf.SHA256()),
			len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)), tail(r.events.Bytes(), 4000))
	}
	if n := len(r.cloud.MNS().Messages(dlq)); n != 0 {
		t.Errorf("the killed bind's message was dead-lettered (%d in %s)", n, dlq)
	}
	// Poison after the good task settled: the trigger batches messages, and a poison message
	// fails its whole batch (see the report).
	// Poison: junk, base64 of non-JSON, and a well-formed task for a certificate CAS lacks.
	q, err := r.clients.MNSQueue(r.cfg.AIRec.Queue)
	if err != nil {
		t.Fatal(err)
	}
	ghost := bindtask.New(r.cfg.AIRec.InstanceID, 987654321, strings.Repeat("ab", 32), r.cfg.AIRec.Domains, "faults-ghost", time.Now())
	ghostBody, err := bindtask.Encode(ghost)
	if err != nil {
		t.Fatal(err)
	}
	poison := map[string]string{"junk": "%%% not a task {", "base64-non-json": "bm90IGpzb24gYXQgYWxs", "ghost-certificate": ghostBody}
	for name, body := range poison {
		if _, err := q.SendMessage(mnsMessage(body)); err != nil {
			t.Fatalf("send %s: %v", name, err)
		}
	}

	ok := waitFor(ctx, 60*time.Second, func() bool {
		return len(r.unboundAIRec(leaf.SHA256())) == 0 && len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)) == 0 &&
			len(r.cloud.MNS().Messages(dlq)) >= len(poison)
	})
	if !ok {
		t.Fatalf("not settled: unbound %v, queue %d, dead-letter %d\nevents:\n%s", r.unboundAIRec(leaf.SHA256()),
			len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)), len(r.cloud.MNS().Messages(dlq)), tail(r.events.Bytes(), 4000))
	}
	binds := r.airecBinds()
	if binds != 1 {
		t.Errorf("AIRec bind uploads = %d, want 1", binds)
	}
	dead := r.cloud.MNS().Messages(dlq)
	if len(dead) != len(poison) {
		t.Errorf("dead-letter queue holds %d messages, want the %d poison ones", len(dead), len(poison))
	}
	// The binder's errors name why each poison message failed.
	var errs strings.Builder
	for _, x := range r.runsOf("binder") {
		if x.Result.Error != nil {
			errs.WriteString(x.Result.Error.Message + "\n")
		}
		errs.Write(x.Result.Logs)
	}
	for _, want := range []string{"987654321"} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("binder errors never name %q:\n%s", want, tail([]byte(errs.String()), 3000))
		}
	}
	crashed, deliveries := 0, len(r.runsOf("binder"))
	for _, x := range r.runsOf("binder") {
		if x.Result.Error != nil && x.Result.Error.Type == "ProcessExited" {
			crashed++
		}
	}
	if crashed == 0 {
		t.Errorf("no binder invocation ended with the killed process")
	}
	figure(t, 5, row{Scenario: "5 binder killed + poison",
		Load:    fmt.Sprintf("1 bind task + %d poison messages", len(poison)),
		Faults:  fmt.Sprintf("SIGKILL of %d binder instance(s) mid-bind; junk, base64 non-JSON, ghost certificate", killed),
		Outcome: fmt.Sprintf("%d deliveries; bound once (%d AIRec upload); %d/%d poison dead-lettered", deliveries, binds, len(dead), len(poison)),
		Lost:    len(r.unboundAIRec(leaf.SHA256())), Duplicated: max(binds-1, 0)})
}

func mnsMessage(body string) mns.MessageSendRequest {
	return mns.MessageSendRequest{MessageBody: body, Priority: 8}
}

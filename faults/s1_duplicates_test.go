package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/localfc"
)

// serving is the SHA-256 of the leaf target t serves now, by the emulator's state.
func (r *rig) serving(t config.Target) string {
	var id string
	switch t.Kind {
	case config.KindCLB:
		id = fmt.Sprintf("clb:%s:%d", t.LoadBalancerID, t.Port)
	case config.KindCDN:
		id = "cdn:" + t.Domain
	case config.KindECS:
		id = "ecs:" + t.InstanceID
	}
	sni := deploy.ProbeName(t.Names)
	if t.SNIDomain != "" {
		sni = t.SNIDomain
	}
	sha, _ := r.cloud.Deployed(id, sni)
	return sha
}

// lost lists the targets not serving sha.
func (r *rig) lost(sha string) []string {
	var out []string
	for _, t := range r.cfg.Targets {
		if r.serving(t) != sha {
			out = append(out, t.ID())
		}
	}
	return out
}

// unboundAIRec lists the AIRec custom domains not serving sha.
func (r *rig) unboundAIRec(sha string) []string {
	var out []string
	for _, d := range r.cfg.AIRec.Domains {
		if got, ok := r.cloud.Deployed("airec:"+d, d); !ok || got != sha {
			out = append(out, d)
		}
	}
	return out
}

// airecBinds counts successful AIRec bind uploads in the call log.
func (r *rig) airecBinds() int {
	n := 0
	for k, c := range writes(r.cloud.Calls()) {
		if strings.HasPrefix(k, "airec-bind:") {
			n += c
		}
	}
	return n
}

// Scenario 1: the same certificate event delivered 5× concurrently, then 3× late: every
// target written once, the bind task collapses to one AIRec bind.
func TestS1DuplicateDeliveries(t *testing.T) {
	t.Parallel() // long, and not timing-sensitive: overlaps scenario 5
	ctx := t.Context()
	r := newRig(t, rigOptions{NoStart: true})
	id, leaf := r.issue("faults-duplicates")
	ev := r.event(id, fmt.Sprintf("faults-dup-%d", id))
	start := time.Now()

	const concurrent, late = 5, 3
	results := make([]localfc.Result, concurrent)
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.rt.Fire(ctx, "cas-events", ev)
			if err != nil {
				t.Errorf("delivery %d: %v", i+1, err)
			}
			collect(res)
			results[i] = res
		}()
	}
	wg.Wait()
	for range late {
		time.Sleep(200 * time.Millisecond)
		results = append(results, r.fire(ctx, ev))
	}
	deployed, unchanged := 0, 0
	for i, res := range results {
		out := deployResult(t, res)
		if len(out.Reports) != 1 {
			t.Fatalf("delivery %d: %d reports, want 1 (errors %v)", i+1, len(out.Reports), out.Errors)
		}
		tot := out.Reports[0].Totals
		if tot.Failed != 0 {
			t.Errorf("delivery %d: %d targets failed", i+1, tot.Failed)
		}
		deployed += tot.Deployed
		unchanged += tot.Unchanged
		if i >= concurrent && tot.Deployed != 0 {
			t.Errorf("late delivery %d deployed %d targets, want 0 (all unchanged)", i+1, tot.Deployed)
		}
	}
	if deployed != len(r.cfg.Targets) {
		t.Errorf("deployed %d targets over all deliveries, want each of %d exactly once", deployed, len(r.cfg.Targets))
	}

	// The bind queue now holds the deliveries' tasks; the binder collapses them.
	queued := len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue))
	if queued == 0 {
		t.Fatalf("no bind task in queue %s after %d deliveries", r.cfg.AIRec.Queue, len(results))
	}
	if err := r.rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ok := waitFor(ctx, 60*time.Second, func() bool {
		return len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)) == 0 && len(r.unboundAIRec(leaf.SHA256())) == 0
	})
	if !ok {
		t.Fatalf("binder did not drain %s and bind %s: unbound %v, %d messages left\nevents:\n%s",
			r.cfg.AIRec.Queue, leaf.SHA256()[:12], r.unboundAIRec(leaf.SHA256()), len(r.cloud.MNS().Messages(r.cfg.AIRec.Queue)), r.events.Bytes())
	}
	_ = waitFor(ctx, time.Second, func() bool { return false }) // let stray duplicate deliveries show up
	binds := r.airecBinds()
	if binds != 1 {
		t.Errorf("AIRec bind uploads = %d, want 1", binds)
	}
	w := writes(r.cloud.Calls())
	dups, keys := duplicated(w)
	if dups != 0 {
		t.Errorf("duplicated writes: %v", keys)
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 0 {
		t.Errorf("targets not serving the certificate: %v", lost)
	}
	if dl := len(r.cloud.MNS().Messages("certflow-bind-dlq")); dl != 0 {
		t.Errorf("%d messages dead-lettered", dl)
	}
	figure(t, 1, row{Scenario: "1 duplicate delivery",
		Load:    fmt.Sprintf("%d targets + AIRec, event ×%d concurrent + ×%d late", len(r.cfg.Targets), concurrent, late),
		Faults:  "at-least-once delivery",
		Outcome: fmt.Sprintf("%d writes over %d resources, %d bind task(s) → %d AIRec bind, %.1fs", sum(w), len(w), queued, binds, time.Since(start).Seconds()),
		Lost:    len(lost) + len(r.unboundAIRec(leaf.SHA256())), Duplicated: dups + max(binds-1, 0)})
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

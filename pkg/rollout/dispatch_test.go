package rollout

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestDispatchOrder(t *testing.T) {
	tests := []struct {
		name    string
		targets []string
		want    []int
	}{
		{"empty", nil, []int{}},
		{"one kind keeps input order", []string{"cdn:a", "cdn:b", "cdn:c"}, []int{0, 1, 2}},
		{"kinds interleave", []string{"clb:1:443", "clb:2:443", "clb:3:443", "cdn:a", "cdn:b", "ecs:i-1"}, []int{0, 3, 5, 1, 4, 2}},
		{"no prefix is its own kind", []string{"x", "cdn:a", "y"}, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tasks []Task
			for _, id := range tc.targets {
				tasks = append(tasks, Task{Target: id})
			}
			if got := dispatchOrder(tasks); !slices.Equal(got, tc.want) {
				t.Errorf("dispatchOrder(%v) = %v, want %v", tc.targets, got, tc.want)
			}
		})
	}
}

// A kind whose tasks wait on a slow quota must not hold every slot: the other kind's task
// starts while they wait, and results stay in input order.
func TestEngineSlowKindDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var started []string
	slow := func(ctx context.Context, _ *Call) (Status, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return StatusDeployed, nil
	}
	fast := func(context.Context, *Call) (Status, error) {
		mu.Lock()
		started = append(started, "cdn")
		mu.Unlock()
		close(release)
		return StatusDeployed, nil
	}
	tasks := []Task{{Target: "clb:1:443", Run: slow}, {Target: "clb:2:443", Run: slow}, {Target: "cdn:a", Run: fast}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res := (&Engine{Concurrency: 2}).Run(ctx, tasks)
	for i, r := range res {
		if r.Target != tasks[i].Target || r.Status != StatusDeployed {
			t.Errorf("result %d = %s %s, want %s deployed", i, r.Target, r.Status, tasks[i].Target)
		}
	}
	if len(started) != 1 {
		t.Errorf("cdn task started %d times, want 1", len(started))
	}
}

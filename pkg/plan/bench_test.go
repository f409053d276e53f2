package plan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/plan"
)

// BenchmarkBuild1000 plans a 1,000-target file (CLB listeners, CDN domains and one CDN
// pattern expanding over 500 listed domains) for one wildcard certificate: the deployer's
// planning step before every rollout.
func BenchmarkBuild1000(b *testing.B) {
	var y strings.Builder
	y.WriteString("cas:\n  region: cn-hangzhou\ntargets:\n")
	for i := range 500 {
		fmt.Fprintf(&y, "  - kind: clb\n    region: cn-hangzhou\n    loadBalancerId: lb-%05d\n    port: 443\n    names: [lb%05d.bench.example.com]\n", i, i)
	}
	for i := range 500 {
		fmt.Fprintf(&y, "  - kind: cdn\n    domain: cdn%05d.bench.example.com\n", i)
	}
	y.WriteString("  - kind: cdn\n    domain: \"*.pattern.example.com\"\n")
	cfg, err := config.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	listed := make([]string, 500)
	for i := range listed {
		listed[i] = fmt.Sprintf("p%05d.pattern.example.com", i)
	}
	list := func(context.Context) ([]string, error) { return listed, nil }
	cert := sans{"*.bench.example.com", "*.pattern.example.com"}
	for b.Loop() {
		items, err := plan.Build(b.Context(), cfg, cert, nil, list)
		if err != nil || len(items) != 1500 {
			b.Fatalf("Build = %d items, %v; want 1500", len(items), err)
		}
	}
}

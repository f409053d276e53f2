// Command checker is the certflow checker function for Function Compute 3.0 (runtime
// go1), fired by a timer trigger: it probes every endpoint over TLS, enforces the
// configured HTTPS settings, redeploys the expected certificate where a stale one is
// served, alerts once per run with findings and returns the report. The work is in
// pkg/check; this file only wires it to the FC runtime.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/check"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/rollout"
)

func main() {
	env, err := app.Load("")
	if err != nil {
		// Every invocation reports the configuration error instead of a crash loop.
		fc.Start(func(context.Context, json.RawMessage) (check.Report, error) {
			return check.Report{}, fmt.Errorf("certflow checker: %w", err)
		})
		return
	}
	// One Gate for every invocation of this instance: the quotas are per account.
	gate := rollout.NewGate(deploy.Quotas(env.Config), rollout.GateOptions{})
	svc := &check.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Gate: gate, Log: os.Stderr}
	fc.Start(func(ctx context.Context, payload json.RawMessage) (check.Report, error) {
		if !env.Refresh(ctx) {
			return check.Report{}, fmt.Errorf("certflow checker: no credentials in the invocation context or the environment")
		}
		return svc.Handle(ctx, payload)
	})
}

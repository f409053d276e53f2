// Command checker is the certflow checker function for Function Compute 3.0 (runtime
// go1), fired by a timer trigger: it probes every endpoint over TLS, enforces the
// configured HTTPS settings, redeploys the expected certificate where a stale one is
// served, alerts once per run with findings and returns the report. The work is in
// pkg/check; this file only wires it to the FC runtime.
package main

import (
	"context"
	"os"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/check"
	"github.com/certflow/certflow/pkg/rollout"
)

func main() {
	app.Start("checker", func(env *app.Env) (app.Handler, error) {
		// One Gate for every invocation of this instance: the quotas are per account.
		gate := rollout.NewGate(env.Config.ActionQuotas(), rollout.GateOptions{})
		svc := &check.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Gate: gate, Log: os.Stderr}
		return func(ctx context.Context, payload []byte) (any, error) { return svc.Handle(ctx, payload) }, nil
	})
}

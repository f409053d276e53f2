// Command binder is the certflow binder function for Function Compute 3.0 (runtime go1):
// triggered by the bind queue (MNS trigger through EventBridge: a JSON array of CloudEvents,
// a single CloudEvent, or RawData objects), it binds each BindTask's certificate to AIRec,
// proves every custom domain serves it and enforces HTTPS. The work is in pkg/bind; this
// file only wires it to the FC runtime. A failed message fails the invocation, so the
// trigger redelivers it and finally dead-letters it (see bind.Binder.Handle).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/bind"
	"github.com/certflow/certflow/pkg/rollout"
)

func main() {
	app.Start("binder", func(env *app.Env) (app.Handler, error) {
		if env.Config.AIRec == nil {
			return nil, fmt.Errorf("targets file %s has no airec section", env.Config.File)
		}
		b := &bind.Binder{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: os.Stderr,
			Gate: bind.NewGate(env.Config.ActionQuotas(), rollout.GateOptions{})}
		return func(ctx context.Context, payload []byte) (any, error) { return b.Handle(ctx, payload) }, nil
	})
}

// Command binder is the certflow binder function for Function Compute 3.0 (runtime go1):
// triggered by the bind queue (MNS trigger through EventBridge: a JSON array of CloudEvents,
// a single CloudEvent, or RawData objects), it binds each BindTask's certificate to AIRec,
// proves every custom domain serves it and enforces HTTPS. The work is in pkg/bind; this
// file only wires it to the FC runtime. A failed message fails the invocation, so the
// trigger redelivers it and finally dead-letters it (see bind.Binder.Handle).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/bind"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/rollout"
)

func main() {
	env, err := app.Load("")
	if err == nil && env.Config.AIRec == nil {
		err = fmt.Errorf("targets file %s has no airec section", env.Config.File)
	}
	if err != nil {
		// Every invocation reports the configuration error instead of a crash loop.
		fc.Start(func(context.Context, json.RawMessage) (bind.Result, error) {
			return bind.Result{}, fmt.Errorf("certflow binder: %w", err)
		})
		return
	}
	b := &bind.Binder{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: os.Stderr,
		Gate: bind.NewGate(deploy.Quotas(env.Config), rollout.GateOptions{})}
	fc.Start(func(ctx context.Context, payload json.RawMessage) (bind.Result, error) {
		if !env.Refresh(ctx) {
			return bind.Result{}, fmt.Errorf("certflow binder: no credentials in the invocation context or the environment")
		}
		return b.Handle(ctx, payload)
	})
}

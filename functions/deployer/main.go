// Command deployer is the certflow deployer function for Function Compute 3.0 (runtime
// go1): on a CAS certificate event, or a manual {"certId": N, "dryRun": …, "only": […]}
// invocation, it rolls the certificate out to every covered target and queues the AIRec
// binding. The work is in pkg/deploy; this file only wires it to the FC runtime.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/events"
)

func main() {
	env, err := app.Load("")
	if err != nil {
		// Every invocation reports the configuration error instead of a crash loop.
		fc.Start(func(context.Context, json.RawMessage) (deploy.Result, error) {
			return deploy.Result{}, fmt.Errorf("certflow deployer: %w", err)
		})
		return
	}
	svc := &deploy.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: os.Stderr}
	fc.Start(func(ctx context.Context, payload json.RawMessage) (deploy.Result, error) {
		if !env.Refresh(ctx) {
			return deploy.Result{}, fmt.Errorf("certflow deployer: no credentials in the invocation context or the environment")
		}
		return svc.Handle(ctx, payload, events.DefaultFilter())
	})
}

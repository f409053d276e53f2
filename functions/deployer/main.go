// Command deployer is the certflow deployer function for Function Compute 3.0 (runtime
// go1): on a CAS certificate event, or a manual {"certId": N, "dryRun": …, "only": […]}
// invocation, it rolls the certificate out to every covered target and queues the AIRec
// binding. The work is in pkg/deploy; this file only wires it to the FC runtime.
package main

import (
	"context"
	"os"

	"github.com/certflow/certflow/pkg/app"
	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/events"
)

func main() {
	app.Start("deployer", func(env *app.Env) (app.Handler, error) {
		svc := &deploy.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: os.Stderr}
		return func(ctx context.Context, payload []byte) (any, error) {
			return svc.Handle(ctx, payload, events.DefaultFilter())
		}, nil
	})
}

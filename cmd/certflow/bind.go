package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/certflow/certflow/pkg/bind"
	"github.com/certflow/certflow/pkg/rollout"
)

const bindUsage = `usage: certflow bind --config FILE --cert-id N [--roots FILE] [--timeout D] [--json]

Binds CAS certificate N to the targets file's AIRec instance (every custom domain it covers)
exactly as the binder function does for a queued BindTask, without the queue: skip when
already bound and served, else build and check certificate_info.xlsx, upload, poll, prove
each domain over TLS, enforce HTTPS. Authenticates with the Bearer token in the variable
named by airec.tokenEnv when set, else signs with ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET.
Exit 0: bound (or already bound); 1: the bind failed; 2: usage or setup error.
`

func runBind(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCloudCommand("bind", bindUsage, 5*time.Minute, stderr)
	env, code, ok := cmd.parse(args, stderr)
	if !ok {
		return code
	}
	if env.Config.AIRec == nil {
		fmt.Fprintf(stderr, "certflow bind: %s has no airec section\n", *cmd.config)
		return exitUsage
	}
	b := &bind.Binder{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: stderr,
		Gate: bind.NewGate(env.Config.ActionQuotas(), rollout.GateOptions{})}
	ctx, cancel := context.WithTimeout(ctx, *cmd.timeout)
	defer cancel()
	task, rep, err := b.TaskFor(ctx, *cmd.certID)
	if err == nil {
		rep, err = b.Run(ctx, task)
	}
	if *cmd.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow bind: %v\n", err)
		return exitFinding
	}
	return exitOK
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/certflow/certflow/pkg/deploy"
	"github.com/certflow/certflow/pkg/events"
)

const deployUsage = `usage: certflow deploy --config FILE --cert-id N [--roots FILE] [--dry-run] [--only ID]... [--timeout D] [--json]

Rolls CAS certificate N out to every target in the targets file that it covers, exactly as
the deployer function does, against the endpoint in CERTFLOW_ENDPOINT (the local cloud) or
the real regional endpoints, with ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET[/SECURITY_TOKEN].
Exit 0: nothing failed; 1: some target failed or the certificate is invalid; 2: usage or setup error.
`

func runDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCloudCommand("deploy", deployUsage, 10*time.Minute, stderr)
	dryRun := cmd.fs.Bool("dry-run", false, "read only: report what would be deployed")
	var only listFlag
	cmd.fs.Var(&only, "only", "restrict to a target ID (clb:<lb>:<port>[:<sni>], cdn:<domain>, ecs:<instance>); repeatable")
	env, code, ok := cmd.parse(args, stderr)
	if !ok {
		return code
	}
	svc := &deploy.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: stderr}
	ctx, cancel := context.WithTimeout(ctx, *cmd.timeout)
	defer cancel()
	rep, err := svc.Run(ctx, events.Deploy{CertID: *cmd.certID, DryRun: *dryRun, Only: only, EventID: events.ManualEventID, Manual: true})
	if *cmd.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.WriteTable(stdout)
	}
	switch {
	case err != nil: // invalid certificate, CAS or plan failure
		fmt.Fprintf(stderr, "certflow deploy: %v\n", err)
		return exitFinding
	case rep.Totals.Failed > 0:
		return exitFinding
	case rep.BindTask != nil && rep.BindTask.Error != "" && !*dryRun:
		fmt.Fprintf(stderr, "certflow deploy: the AIRec bind task was not queued: %s\n", rep.BindTask.Error)
		return exitFinding
	}
	return exitOK
}

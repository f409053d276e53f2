package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, deployUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "targets file (YAML)")
	certID := fs.Int64("cert-id", 0, "CAS certificate ID")
	roots := fs.String("roots", "", "extra trust roots PEM (private CAs)")
	dryRun := fs.Bool("dry-run", false, "read only: report what would be deployed")
	timeout := fs.Duration("timeout", 10*time.Minute, "deadline for the whole rollout")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var only listFlag
	fs.Var(&only, "only", "restrict to a target ID (clb:<lb>:<port>[:<sni>], cdn:<domain>, ecs:<instance>); repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var problem string
	switch {
	case *cfgPath == "":
		problem = "give --config FILE"
	case *certID <= 0:
		problem = "give --cert-id N (the CAS certificate ID, a positive number)"
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	}
	if problem != "" {
		fmt.Fprintf(stderr, "certflow deploy: %s\n\n%s", problem, deployUsage)
		return exitUsage
	}
	env, err := loadCloudEnv(*cfgPath, *roots)
	if err != nil {
		fmt.Fprintf(stderr, "certflow deploy: %v\n", err)
		return exitUsage
	}
	svc := &deploy.Service{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: stderr}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := svc.Run(ctx, events.Deploy{CertID: *certID, DryRun: *dryRun, Only: only, EventID: events.ManualEventID, Manual: true})
	if *asJSON {
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

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	fs := flag.NewFlagSet("bind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, bindUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "targets file (YAML) with an airec section")
	certID := fs.Int64("cert-id", 0, "CAS certificate ID")
	roots := fs.String("roots", "", "extra trust roots PEM (private CAs)")
	timeout := fs.Duration("timeout", 5*time.Minute, "deadline for the whole bind")
	asJSON := fs.Bool("json", false, "print the report as JSON")
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
		fmt.Fprintf(stderr, "certflow bind: %s\n\n%s", problem, bindUsage)
		return exitUsage
	}
	env, err := loadCloudEnv(*cfgPath, *roots)
	if err == nil && env.Config.AIRec == nil {
		err = fmt.Errorf("%s has no airec section", *cfgPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "certflow bind: %v\n", err)
		return exitUsage
	}
	b := &bind.Binder{Clients: env.Clients, Config: env.Config, Roots: env.Roots, Log: stderr,
		Gate: bind.NewGate(env.Config.ActionQuotas(), rollout.GateOptions{})}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	task, rep, err := b.TaskFor(ctx, *certID)
	if err == nil {
		rep, err = b.Run(ctx, task)
	}
	if *asJSON {
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

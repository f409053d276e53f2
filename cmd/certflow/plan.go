package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/plan"
)

const planUsage = `usage: certflow plan --config FILE (--cert FILE [--key FILE] | --pfx FILE [--password-env VAR])
                    [--passphrase-env VAR] [--only TARGET-ID]... [--json]

Shows, offline, which targets of the targets file a certificate would be deployed to: each
target with "deploy", or "not_covered" and the served names the certificate lacks. CDN
wildcard patterns are listed as "expand": they expand against the account's CDN domains at
deploy time. The certificate is validated as by 'certflow validate' (roots from the targets
file). Target IDs: clb:<lb-id>:<port>[:<sni-domain>], cdn:<domain>, ecs:<instance-id>.
Exit status: 0 the certificate is deployable and goes somewhere, 1 it has error findings or
no target would get it, 2 usage, configuration or I/O error.

flags:
`

type planOptions struct {
	config string
	bundle bundleInput
	only   []string
	json   bool
}

// parsePlan parses the command line. Errors wrap errUsage; flag.ErrHelp is returned as is.
func parsePlan(args []string, stderr io.Writer) (planOptions, error) {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o planOptions
	var only listFlag
	fs.StringVar(&o.config, "config", "", "targets `file` (YAML)")
	o.bundle.register(fs, "PEM `file` with the private key (optional: coverage needs only the certificate)")
	fs.Var(&only, "only", "plan only this target `ID`; repeatable")
	fs.BoolVar(&o.json, "json", false, "print the plan as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, planUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case o.config == "":
		return o, fmt.Errorf("%w: give --config FILE", errUsage)
	}
	if err := o.bundle.check(); err != nil {
		return o, err
	}
	for _, id := range only {
		norm, err := config.NormalizeTargetID(id)
		if err != nil {
			return o, fmt.Errorf("%w: --only: %w", errUsage, err)
		}
		o.only = append(o.only, norm)
	}
	return o, nil
}

// planResult is the JSON output of `certflow plan`.
type planResult struct {
	Config      string          `json:"config"`
	Certificate *certs.Summary  `json:"certificate"`
	Deployable  bool            `json:"deployable"`
	Findings    []certs.Finding `json:"findings"`
	Targets     []planTarget    `json:"targets"`
	Totals      map[string]int  `json:"totals"`
}

type planTarget struct {
	Target  string   `json:"target"`
	Kind    string   `json:"kind"`
	Action  string   `json:"action"`
	Names   []string `json:"names"`
	Missing []string `json:"missing"`
	Reason  string   `json:"reason"`
}

// runPlan is `certflow plan`.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "certflow plan: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}
	o, err := parsePlan(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return fail(err)
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		return fail(err)
	}
	roots, err := certs.LoadRoots(cfg.Roots)
	if err != nil {
		return fail(fmt.Errorf("roots (from %s): %w", o.config, err))
	}
	bundle, findings, err := o.bundle.load(certs.Options{Roots: roots, WarnDays: cfg.Checker.WarnDays})
	if err != nil {
		return fail(err)
	}

	res := planResult{Config: o.config, Findings: findings, Targets: []planTarget{},
		Totals: map[string]int{plan.ActionDeploy: 0, plan.ActionNotCovered: 0, plan.ActionExpand: 0}}
	if res.Findings == nil {
		res.Findings = []certs.Finding{}
	}
	if bundle != nil {
		s := bundle.Summary()
		res.Certificate = &s
		res.Deployable = !certs.HasErrors(findings)
		// Offline: no domain lister, so CDN patterns stay "expand".
		items, err := plan.Build(ctx, cfg, bundle, o.only, nil)
		if err != nil {
			return fail(err)
		}
		for _, it := range items {
			res.Totals[it.Action]++
			missing := it.Missing
			if missing == nil {
				missing = []string{}
			}
			res.Targets = append(res.Targets, planTarget{Target: it.ID, Kind: it.Target.Kind, Action: it.Action,
				Names: it.Target.ServedNames(), Missing: missing, Reason: it.Reason})
		}
	}

	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fail(fmt.Errorf("write json: %w", err))
		}
	} else {
		writePlanText(stdout, res)
	}
	if !res.Deployable || res.Totals[plan.ActionDeploy]+res.Totals[plan.ActionExpand] == 0 {
		return exitFinding
	}
	return exitOK
}

func writePlanText(w io.Writer, res planResult) {
	if res.Certificate == nil {
		fmt.Fprintln(w, "certificate could not be read:")
	} else {
		c := res.Certificate
		state := "deployable"
		if !res.Deployable {
			state = "NOT deployable (error findings below)"
		}
		fmt.Fprintf(w, "certificate %s  [%s]  expires %s  %s\n", c.SHA256[:16], strings.Join(c.SANs, ", "),
			c.NotAfter.Format("2006-01-02"), state)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(w, "  %-7s  %s: %s\n", f.Severity, f.Code, f.Message)
	}
	if res.Certificate == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range res.Targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Action, t.Target, t.Reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d to deploy, %d not covered, %d expanding at deploy time (%s)\n",
		res.Totals[plan.ActionDeploy], res.Totals[plan.ActionNotCovered], res.Totals[plan.ActionExpand], res.Config)
}

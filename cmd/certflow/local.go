package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/certflow/certflow/pkg/localcloud"
)

// runLocal dispatches `certflow local up` (the local cloud) and `certflow local invoke`.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: certflow local up [--estate FILE] [--faults FILE] [--dir DIR]\n       certflow local invoke <function> (--event-file FILE | --event JSON)\n       certflow local issue [--name DOMAIN]... [--days N] [--json]")
		return exitUsage
	}
	switch args[0] {
	case "up":
		return localUp(ctx, args[1:], stdout, stderr)
	case "invoke":
		return localInvoke(ctx, args[1:], stdout, stderr)
	case "issue":
		return localIssue(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "certflow local: unknown subcommand %q (want up, invoke or issue)\n", args[0])
	return exitUsage
}

// localUp runs the local cloud in the foreground until ctx ends (SIGINT/SIGTERM). Its first
// stdout line is the cloud's Info as one JSON object; a readable listing follows.
func localUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	estatePath := fs.String("estate", "", "estate YAML file (default: the embedded estate)")
	faultsPath := fs.String("faults", "", "faults YAML file (default: none)")
	dir := fs.String("dir", "", "working directory for roots, targets and ECS sandboxes (default: a temporary one, removed on exit)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var opts localcloud.Options
	opts.Dir = *dir
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{*estatePath, &opts.Estate}, {*faultsPath, &opts.Faults}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			fmt.Fprintf(stderr, "certflow local up: %v\n", err)
			return exitUsage
		}
		*f.dst = b
	}
	cloud, err := localcloud.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "certflow local up: %v\n", err)
		return exitUsage
	}
	defer cloud.Close()
	info, err := cloud.Info()
	if err != nil {
		fmt.Fprintf(stderr, "certflow local up: %v\n", err)
		return exitUsage
	}
	line, err := json.Marshal(info)
	if err != nil {
		fmt.Fprintf(stderr, "certflow local up: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s\n", line)
	printListing(stdout, info)
	<-ctx.Done()
	fmt.Fprintln(stderr, "certflow local up: stopping")
	if err := cloud.Close(); err != nil {
		fmt.Fprintf(stderr, "certflow local up: close: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func printListing(w io.Writer, info localcloud.Info) {
	fmt.Fprintf(w, "\nlocal cloud up (region %s, account %s)\n", info.Region, info.AccountID)
	fmt.Fprintf(w, "  API (CAS, SLB, CDN, ECS, OOS, AIRec)  %s\n", info.Endpoint)
	fmt.Fprintf(w, "  MNS                                    %s\n", info.MNSEndpoint)
	fmt.Fprintf(w, "  trust root                             %s\n", info.Roots)
	fmt.Fprintf(w, "  targets file                           %s\n\n", info.Targets)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tNAME\tTLS\tHTTP")
	for _, ep := range info.Endpoints {
		h := ep.HTTP
		if h == "" {
			h = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ep.Kind, ep.Name, ep.Address, h)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n  CAS certificates (for --cert-id and events):")
	for _, c := range info.Certificates {
		fmt.Fprintf(w, "  %d  %s  sha256 %.12s  until %s  %d names\n", c.ID, c.Name, c.SHA256, c.NotAfter, len(c.Names))
	}
	fmt.Fprintf(w, "\nexport CERTFLOW_ENDPOINT=%s CERTFLOW_MNS_ENDPOINT=%s CERTFLOW_ACCOUNT_ID=%s\n", info.Endpoint, info.MNSEndpoint, info.AccountID)
	fmt.Fprintf(w, "export CERTFLOW_ROOTS=%s CERTFLOW_TARGETS=%s\n", info.Roots, info.Targets)
	fmt.Fprintf(w, "export ALIBABA_CLOUD_ACCESS_KEY_ID=%s ALIBABA_CLOUD_ACCESS_KEY_SECRET=<accessKeySecret from the JSON line>\n", info.AccessKeyID)
	fmt.Fprintln(w, "Ctrl-C stops the local cloud.")
}

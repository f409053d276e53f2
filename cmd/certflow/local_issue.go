package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/localcloud"
)

const localIssueUsage = `usage: certflow local issue [--name DOMAIN]... [--days N] [--key-type ecdsa-p256|rsa2048|…] [--json]

Issues a certificate from the running local cloud's CA straight into its emulated CAS — what
CAS issuing or a renewal does in a real account — and prints the new certificate ID, for
certflow deploy --cert-id or a CAS event. No --name: every name the estate serves.
Needs CERTFLOW_ENDPOINT and ALIBABA_CLOUD_ACCESS_KEY_SECRET of the local cloud (local up prints them).
`

func localIssue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, localIssueUsage)
		fs.PrintDefaults()
	}
	var names listFlag
	fs.Var(&names, "name", "`domain` the certificate covers; repeatable")
	days := fs.Int("days", 90, "validity in `days`")
	keyType := fs.String("key-type", "ecdsa-p256", "key `type`")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	endpoint, secret := os.Getenv("CERTFLOW_ENDPOINT"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if endpoint == "" || secret == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "certflow local issue: set CERTFLOW_ENDPOINT and ALIBABA_CLOUD_ACCESS_KEY_SECRET from `certflow local up`\n\n%s", localIssueUsage)
		return exitUsage
	}
	body, _ := json.Marshal(localcloud.IssueRequest{Names: names, Days: *days, KeyType: *keyType})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+localcloud.AdminIssuePath, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "certflow local issue: CERTFLOW_ENDPOINT %q: %v\n", endpoint, err)
		return exitUsage
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "certflow local issue: is the local cloud running? %v\n", err)
		return exitUsage
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "certflow local issue: %s: %s\n", resp.Status, strings.TrimSpace(string(data)))
		return exitUsage
	}
	var out localcloud.IssueResponse
	if err := json.Unmarshal(data, &out); err != nil {
		fmt.Fprintf(stderr, "certflow local issue: unreadable answer: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		_, _ = stdout.Write(data)
		return exitOK
	}
	fmt.Fprintf(stdout, "CAS certificate %d (%s): sha256 %s, %d names, until %s\n", out.CertID, out.Name, out.SHA256, len(out.Names), out.NotAfter)
	return exitOK
}

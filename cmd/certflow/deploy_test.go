package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

func TestDeployCommand(t *testing.T) {
	e := localtest.Start(t, nil)
	e.SetEnv(t)
	info := e.Info
	// Covers the CDN domains under example.com only: the other targets are not covered.
	certID, _ := e.Upload(t, localca.ECDSAP256, "*.example.com")
	id := strconv.FormatInt(certID, 10)
	only := []string{"--only", "cdn:img1.example.com", "--only", "cdn:static.example.com"}

	tests := []struct {
		name   string
		args   []string
		code   int
		status rollout.Status // of both targets
		stderr string
	}{
		{"usage", []string{"--cert-id", id}, exitUsage, "", "usage: certflow deploy"},
		{"bad targets file", []string{"--config", "/nonexistent/targets.yaml", "--cert-id", id}, exitUsage, "", "/nonexistent/targets.yaml"},
		{"dry run", append([]string{"--config", info.Targets, "--cert-id", id, "--dry-run", "--json"}, only...), exitOK, rollout.StatusPlanned, ""},
		{"deploys", append([]string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", id, "--json"}, only...), exitOK, rollout.StatusDeployed, "[2/2]"},
		{"second run unchanged", append([]string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", id, "--json"}, only...), exitOK, rollout.StatusUnchanged, ""},
		{"certificate CAS does not have", []string{"--config", info.Targets, "--cert-id", "424242"}, exitFinding, "", "certificate 424242"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runDeploy(t.Context(), tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q: %s", tc.stderr, errb.String())
			}
			if strings.Contains(out.String()+errb.String(), "PRIVATE KEY") {
				t.Fatal("key material in output")
			}
			if tc.status == "" {
				return
			}
			var rep rollout.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("stdout is not a JSON report: %v\n%s", err, out.String())
			}
			if len(rep.Targets) != 2 {
				t.Fatalf("%d targets, want the 2 --only ones", len(rep.Targets))
			}
			for _, r := range rep.Targets {
				if r.Status != tc.status {
					t.Errorf("%s: %s, want %s", r.Target, r.Status, tc.status)
				}
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/bind"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
)

func TestBindCommand(t *testing.T) {
	e := localtest.Start(t, nil)
	e.SetEnv(t)
	t.Setenv("CERTFLOW_AIREC_TOKEN", "") // sign with the access key (ROA), not a Bearer token
	c, info := e.Cloud, e.Info
	certID, leaf := e.Upload(t, localca.RSA2048, "rec.example.com", "rec-api.example.com")
	id := strconv.FormatInt(certID, 10)

	tests := []struct {
		name    string
		args    []string
		code    int
		outcome string
		stderr  string
	}{
		{"usage", []string{"--cert-id", id}, exitUsage, "", "usage: certflow bind"},
		{"binds (ROA-signed)", []string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", id, "--json"}, exitOK, bind.OutcomeBound, ""},
		{"second run is a no-op", []string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", id, "--json"}, exitOK, bind.OutcomeUnchanged, ""},
		{"certificate CAS does not have", []string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", "424242", "--json"}, exitFinding, bind.OutcomeFailed, "certificate 424242"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runBind(t.Context(), tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q: %s", tc.stderr, errb.String())
			}
			if strings.Contains(out.String()+errb.String(), "PRIVATE KEY") {
				t.Fatal("key material in output")
			}
			if tc.outcome == "" {
				return
			}
			var rep bind.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("stdout is not a report: %v\n%s", err, out.String())
			}
			if rep.Outcome != tc.outcome {
				t.Fatalf("outcome %q, want %q: %+v", rep.Outcome, tc.outcome, rep)
			}
		})
	}
	for _, d := range []string{"rec.example.com", "rec-api.example.com"} {
		if got, ok := c.Deployed("airec:"+d, d); !ok || got != leaf.SHA256() {
			t.Errorf("%s serves %s", d, got)
		}
	}
	if !c.AIRec().Enforced("airec-cn-local0001") {
		t.Error("HTTPS not enforced")
	}
}

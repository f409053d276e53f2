package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

// local issue puts a new certificate into the local CAS, and deploy rolls it out.
func TestLocalIssueThenDeploy(t *testing.T) {
	e := localtest.Start(t, nil)
	e.SetEnv(t)
	c, info := e.Cloud, e.Info

	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong")
	var out, errb bytes.Buffer
	if code := localIssue(t.Context(), nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "403") {
		t.Fatalf("wrong secret: exit %d, stderr %s", code, errb.String())
	}

	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", info.AccessKeySecret)
	out.Reset()
	errb.Reset()
	if code := localIssue(t.Context(), []string{"--name", "img1.example.com", "--days", "30", "--json"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var issued localcloud.IssueResponse
	if err := json.Unmarshal(out.Bytes(), &issued); err != nil || issued.CertID == 0 || len(issued.Names) != 1 {
		t.Fatalf("issued %+v (%v)", issued, err)
	}
	if strings.Contains(out.String(), "PRIVATE KEY") {
		t.Fatal("the answer carries key material")
	}

	out.Reset()
	errb.Reset()
	args := []string{"--config", info.Targets, "--roots", info.Roots, "--cert-id", strconv.FormatInt(issued.CertID, 10), "--only", "cdn:img1.example.com", "--json"}
	if code := runDeploy(t.Context(), args, &out, &errb); code != exitOK {
		t.Fatalf("deploy exit %d: %s", code, errb.String())
	}
	var rep rollout.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Targets) != 1 || rep.Targets[0].Status != rollout.StatusDeployed || rep.SHA256 != issued.SHA256 {
		t.Fatalf("report %+v (%v)", rep, err)
	}
	if got, ok := c.Deployed("cdn:img1.example.com", "img1.example.com"); !ok || got != issued.SHA256 {
		t.Errorf("img1.example.com serves %s, want the issued %s", got, issued.SHA256)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

func TestDeployCommand(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALIBABA_CLOUD_SECURITY_TOKEN", "CERTFLOW_ROOTS", "CERTFLOW_TARGETS"} {
		t.Setenv(v, "")
	}
	c, err := localcloud.Start(t.Context(), localcloud.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTFLOW_ENDPOINT", info.Endpoint)
	t.Setenv("CERTFLOW_MNS_ENDPOINT", info.MNSEndpoint)
	t.Setenv("CERTFLOW_ACCOUNT_ID", info.AccountID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", info.AccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", info.AccessKeySecret)

	// Covers the CDN domains under example.com only: the other targets are not covered.
	leaf, err := c.CA().Issue(localca.Template{DNSNames: []string{"*.example.com"}, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cloud.New(cloud.Options{Endpoint: info.Endpoint}, cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret})).CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = "wild", string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(resp.CertId, 10)
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

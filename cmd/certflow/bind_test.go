package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/bind"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
)

func TestBindCommand(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "CERTFLOW_AIREC_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN", "CERTFLOW_ROOTS", "CERTFLOW_TARGETS"} {
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

	leaf, err := c.CA().Issue(localca.Template{DNSNames: []string{"rec.example.com", "rec-api.example.com"}, KeyType: localca.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cloud.New(cloud.Options{Endpoint: info.Endpoint}, cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret})).CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = "rec", string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(resp.CertId, 10)

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

package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"software.sslmate.com/src/go-pkcs12"
)

// planFixture writes a targets file trusting a fresh local CA and a certificate for
// the given names; it returns the folder.
func planFixture(t *testing.T, names ...string) (dir string, ca *localca.CA, leaf *localca.Cert) {
	t.Helper()
	dir = t.TempDir()
	ca, err := localca.New("plan cmd CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err = ca.Issue(localca.Template{DNSNames: names})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"roots.pem": ca.Root.CertPEM(),
		"chain.pem": ca.ChainPEM(leaf),
		"key.pem":   leaf.KeyPEM(),
		"targets.yaml": []byte(`roots: roots.pem
targets:
  - kind: clb
    region: cn-beijing
    loadBalancerId: lb-web1
    port: 443
    names: [www.example.com, example.com]
  - kind: cdn
    domain: static.example.com
  - kind: cdn
    domain: "*.example.com"
  - kind: ecs
    region: cn-hangzhou
    instanceId: i-shop1
    certPath: /etc/nginx/c.pem
    keyPath: /etc/nginx/c.key
    names: [shop.example.net]
`),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, ca, leaf
}

func TestPlanCommand(t *testing.T) {
	dir, ca, leaf := planFixture(t, "*.example.com", "example.com")
	p := func(name string) string { return filepath.Join(dir, name) }

	var out, errOut bytes.Buffer
	code := runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--cert", p("chain.pem"), "--key", p("key.pem"), "--json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut.String(), out.String())
	}
	var res struct {
		Deployable bool `json:"deployable"`
		Targets    []struct {
			Target, Action string
			Missing        []string
		} `json:"targets"`
		Totals map[string]int `json:"totals"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	got := ""
	for _, tg := range res.Targets {
		got += tg.Target + "=" + tg.Action + strings.Join(tg.Missing, ",") + " "
	}
	want := "clb:lb-web1:443=deploy cdn:static.example.com=deploy cdn:*.example.com=expand ecs:i-shop1=not_coveredshop.example.net "
	if got != want || !res.Deployable || res.Totals["deploy"] != 2 || res.Totals["not_covered"] != 1 || res.Totals["expand"] != 1 {
		t.Fatalf("plan %q (%+v)\nwant %q", got, res, want)
	}
	if bytes.Contains(out.Bytes(), []byte("PRIVATE KEY")) {
		t.Fatal("output contains key material")
	}

	// Human output and --only.
	out.Reset()
	code = runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--cert", p("chain.pem"), "--only", "ECS:i-shop1"}, &out, &errOut)
	if code != exitUsage {
		t.Errorf("bad --only kind: exit %d, want %d", code, exitUsage)
	}
	out.Reset()
	code = runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--cert", p("chain.pem"), "--only", "ecs:i-shop1"}, &out, &errOut)
	if code != exitFinding || !strings.Contains(out.String(), "not_covered  ecs:i-shop1  certificate does not cover shop.example.net") ||
		!strings.Contains(out.String(), "0 to deploy, 1 not covered") {
		t.Errorf("--only ecs: exit %d\n%s", code, out.String())
	}

	// PFX input.
	pfx, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Intermediate.Cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("bundle.pfx"), pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLAN_PFX_PASSWORD", "s3cret")
	out.Reset()
	code = runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--pfx", p("bundle.pfx"), "--password-env", "PLAN_PFX_PASSWORD"}, &out, &errOut)
	if code != exitOK || !strings.Contains(out.String(), "deploy       clb:lb-web1:443") {
		t.Errorf("pfx: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

func TestPlanCommandFindingsAndErrors(t *testing.T) {
	dir, ca, _ := planFixture(t, "www.other.org")
	p := func(name string) string { return filepath.Join(dir, name) }
	var out, errOut bytes.Buffer

	// A certificate that covers nothing: exit 1.
	if code := runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--cert", p("chain.pem")}, &out, &errOut); code != exitFinding {
		t.Errorf("nothing covered: exit %d\n%s", code, out.String())
	}

	// An expired certificate is not deployable: exit 1, findings shown.
	old, err := ca.Issue(localca.Template{DNSNames: []string{"www.example.com", "example.com"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("old.pem"), ca.ChainPEM(old), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := runPlan(t.Context(), []string{"--config", p("targets.yaml"), "--cert", p("old.pem")}, &out, &errOut); code != exitFinding ||
		!strings.Contains(out.String(), "NOT deployable") || !strings.Contains(out.String(), "expired") {
		t.Errorf("expired: exit %d\n%s", code, out.String())
	}

	if err := os.WriteFile(p("bad.yaml"), []byte("targets:\n  - kind: clb\n    regoin: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	usage := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"--cert", p("chain.pem")}, "give --config FILE"},
		{"no cert", []string{"--config", p("targets.yaml")}, "give --cert FILE"},
		{"cert and pfx", []string{"--config", p("targets.yaml"), "--cert", "a", "--pfx", "b"}, "exclude each other"},
		{"missing env", []string{"--config", p("targets.yaml"), "--pfx", "b", "--password-env", "PLAN_UNSET_VAR_X"}, "PLAN_UNSET_VAR_X"},
		{"bad config", []string{"--config", p("bad.yaml"), "--cert", p("chain.pem")}, `targets[0].regoin: unknown field`},
		{"missing cert file", []string{"--config", p("targets.yaml"), "--cert", p("nope.pem")}, "--cert: open"},
		{"unknown only", []string{"--config", p("targets.yaml"), "--cert", p("chain.pem"), "--only", "ecs:i-nothere"}, "matches no target"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			errOut.Reset()
			if code := runPlan(t.Context(), tc.args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut.String(), tc.want)
			}
		})
	}
}

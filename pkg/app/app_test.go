package app

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

const targets = `cas: { region: cn-hangzhou }
targets:
  - kind: cdn
    domain: www.example.com
airec:
  region: cn-hangzhou
  instanceId: airec-from-file
  domains: [rec.example.com]
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAppliesEnvironmentOverrides(t *testing.T) {
	path := writeFile(t, "targets.yaml", targets)
	t.Setenv(EnvCASRegion, "ap-southeast-1")
	t.Setenv(EnvBindQueue, "other-queue")
	t.Setenv(EnvInstance, "airec-from-env")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-test")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-test")
	t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "token-test")
	env, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if env.Config.CAS.Region != "ap-southeast-1" || env.Config.AIRec.Queue != "other-queue" || env.Config.AIRec.InstanceID != "airec-from-env" {
		t.Errorf("overrides not applied: cas %q queue %q instance %q", env.Config.CAS.Region, env.Config.AIRec.Queue, env.Config.AIRec.InstanceID)
	}
	if c := env.Creds.Get(); c.AccessKeyID != "LTAI-test" || c.SecurityToken != "token-test" {
		t.Errorf("credentials %v", c)
	}
}

func TestLoadWithoutOverridesKeepsTheFile(t *testing.T) {
	path := writeFile(t, "targets.yaml", targets)
	for _, v := range []string{EnvCASRegion, EnvBindQueue, EnvInstance} {
		t.Setenv(v, "")
	}
	env, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if env.Config.AIRec.InstanceID != "airec-from-file" || env.Config.AIRec.Queue != "certflow-bind" {
		t.Errorf("airec %+v", env.Config.AIRec)
	}
}

func TestLoadNamesTheBadFile(t *testing.T) {
	path := writeFile(t, "targets.yaml", "targets:\n  - kind: clb\n")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "targets.yaml") || !strings.Contains(err.Error(), "targets[0]") {
		t.Errorf("err = %v, want it to name the file and the field", err)
	}
}

func TestRootsAddsFiles(t *testing.T) {
	ca, err := localca.New("app-test")
	if err != nil {
		t.Fatal(err)
	}
	rootFile := writeFile(t, "roots.pem", string(ca.Root.CertPEM()))
	pool, err := Roots("", rootFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"x.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(verifyOpts(pool, ca)); err != nil {
		t.Errorf("leaf does not verify against the loaded roots: %v", err)
	}
	if _, err := Roots(writeFile(t, "junk.pem", "not pem")); err == nil || !strings.Contains(err.Error(), "junk.pem") {
		t.Errorf("junk roots file: %v", err)
	}
}

func verifyOpts(roots *x509.CertPool, ca *localca.CA) x509.VerifyOptions {
	inter := x509.NewCertPool()
	inter.AddCert(ca.Intermediate.Cert)
	return x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "x.example.com"}
}

package targets

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

// env is a local cloud with clients pointed at it.
type env struct {
	lt      *localtest.Env
	cloud   *localcloud.Cloud
	clients *cloud.Clients
	cfg     *config.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	lt := localtest.Start(t, nil)
	return &env{lt: lt, cloud: lt.Cloud, clients: lt.Clients, cfg: lt.Cloud.TargetsConfig()}
}

// issue creates a certificate for names, uploads it to CAS and returns it as a Cert.
func (e *env) issue(t *testing.T, names ...string) *Cert {
	t.Helper()
	id, leaf := e.lt.Upload(t, localca.ECDSAP256, names...)
	s1 := sha1.Sum(leaf.DER)
	return &Cert{CASID: id, CASRegion: "cn-hangzhou", Name: "test-" + leaf.SHA256()[:12], ChainPEM: e.cloud.CA().ChainPEM(leaf),
		KeyPEM: leaf.KeyPEM(), SHA256: leaf.SHA256(), SHA1: hex.EncodeToString(s1[:])}
}

// served is the SHA-256 of what addr serves for name, verified to the local root.
func (e *env) served(t *testing.T, addr, name string) string {
	t.Helper()
	return e.lt.Served(t, addr, name)
}

func (e *env) targets(t *testing.T, kinds ...string) []Target {
	t.Helper()
	var out []Target
	for _, ct := range e.cfg.Targets {
		if len(kinds) > 0 && !contains(kinds, ct.Kind) || config.IsPattern(ct.Domain) {
			continue
		}
		tg, err := New(e.clients, ct)
		if err != nil {
			t.Fatal(err)
		}
		if ecs, ok := tg.(*ECS); ok {
			ecs.PollInterval = 50 * time.Millisecond
		}
		out = append(out, tg)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func endpointOf(cfg *config.Config, id string) (config.Target, bool) {
	for _, ct := range cfg.Targets {
		if ct.ID() == id {
			return ct, true
		}
	}
	return config.Target{}, false
}

func deploy(t *testing.T, tg Target, c *Cert) (rollout.Status, error) {
	t.Helper()
	gate := rollout.NewGate(nil, rollout.GateOptions{BaseDelay: 10 * time.Millisecond, BusyDelay: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return tg.Deploy(ctx, gate.NewCall(), c)
}

func TestDeployEveryKindThenUnchanged(t *testing.T) {
	e := newEnv(t)
	var names []string
	for _, ct := range e.cfg.Targets {
		names = append(names, ct.ServedNames()...)
	}
	cert := e.issue(t, dedupe(names)...)
	for _, tg := range e.targets(t) {
		t.Run(tg.ID(), func(t *testing.T) {
			st, err := deploy(t, tg, cert)
			if err != nil || st != rollout.StatusDeployed {
				t.Fatalf("first deploy = %q, %v; want deployed", st, err)
			}
			ct, _ := endpointOf(e.cfg, tg.ID())
			if ct.Endpoint != "" {
				if got := e.served(t, ct.Endpoint, ct.ServedNames()[0]); got != cert.SHA256 {
					t.Errorf("endpoint %s serves %s, want %s", ct.Endpoint, got[:12], cert.SHA256[:12])
				}
			}
			before := len(e.cloud.Calls())
			st, err = deploy(t, tg, cert)
			if err != nil || st != rollout.StatusUnchanged {
				t.Fatalf("second deploy = %q, %v; want unchanged", st, err)
			}
			for _, c := range e.cloud.Calls()[before:] {
				if isWrite(c.Action) {
					t.Errorf("second deploy wrote: %s %v", c.Action, c.Params)
				}
			}
		})
	}
}

func isWrite(action string) bool {
	for _, p := range []string{"Set", "Create", "Upload", "Delete", "Start", "Batch"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// C01: the listener lives in cn-beijing; the certificate must be uploaded there, through
// the regional client, not to cn-hangzhou.
func TestCLBUploadsInTheLoadBalancersRegion(t *testing.T) {
	e := newEnv(t)
	var beijing Target
	for _, tg := range e.targets(t, config.KindCLB) {
		ct, _ := endpointOf(e.cfg, tg.ID())
		if ct.Region == "cn-beijing" {
			beijing = tg
		}
	}
	if beijing == nil {
		t.Fatal("default estate has no cn-beijing CLB")
	}
	ct, _ := endpointOf(e.cfg, beijing.ID())
	cert := e.issue(t, ct.ServedNames()...)
	if st, err := deploy(t, beijing, cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v", st, err)
	}
	uploads := localcloud.CallsOf(e.cloud.Calls(), "UploadServerCertificate")
	if len(uploads) != 1 || uploads[0].Region != "cn-beijing" {
		t.Fatalf("uploads = %+v, want one in cn-beijing", uploads)
	}
}

// C02: two listeners, one certificate, concurrent: one server certificate per region,
// names unique and short, both listeners deployed.
func TestCLBReusesCertificateAcrossListeners(t *testing.T) {
	e := newEnv(t)
	clbs := e.targets(t, config.KindCLB)
	var names []string
	for _, tg := range clbs {
		ct, _ := endpointOf(e.cfg, tg.ID())
		names = append(names, ct.ServedNames()...)
	}
	cert := e.issue(t, dedupe(names)...)
	for _, tg := range clbs {
		if st, err := deploy(t, tg, cert); err != nil || st != rollout.StatusDeployed {
			t.Fatalf("%s: deploy = %q, %v", tg.ID(), st, err)
		}
	}
	perRegion := map[string]int{}
	for _, c := range localcloud.CallsOf(e.cloud.Calls(), "UploadServerCertificate") {
		perRegion[c.Region]++
		if n := c.Params["ServerCertificateName"]; len(n) > 63 || n != serverCertName(cert) {
			t.Errorf("name %q: want %q (≤ 63 chars)", n, serverCertName(cert))
		}
	}
	for region, n := range perRegion {
		if n != 1 {
			t.Errorf("%d uploads in %s, want 1 (reuse by fingerprint)", n, region)
		}
	}
}

// C04: the CDN update is the cas form with every parameter, never an upload without a key.
func TestCDNUsesCASForm(t *testing.T) {
	e := newEnv(t)
	cdns := e.targets(t, config.KindCDN)
	ct, _ := endpointOf(e.cfg, cdns[0].ID())
	cert := e.issue(t, ct.ServedNames()...)
	if st, err := deploy(t, cdns[0], cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v", st, err)
	}
	sets := localcloud.CallsOf(e.cloud.Calls(), "SetCdnDomainSSLCertificate")
	if len(sets) != 1 {
		t.Fatalf("%d SetCdnDomainSSLCertificate calls, want 1", len(sets))
	}
	p := sets[0].Params
	if p["CertType"] != "cas" || p["SSLProtocol"] != "on" || p["CertRegion"] != "cn-hangzhou" || p["CertId"] == "" || p["SSLPri"] != "" {
		t.Errorf("params = %v", p)
	}
	// Without a CAS ID the target refuses locally instead of sending a broken request.
	bad := &Cert{CASRegion: cert.CASRegion, Name: cert.Name, ChainPEM: cert.ChainPEM, SHA256: strings.Repeat("0", 64), SHA1: cert.SHA1}
	if _, err := deploy(t, cdns[1], bad); err == nil || !strings.Contains(err.Error(), "CAS certificate ID") {
		t.Errorf("deploy without CAS ID: %v", err)
	}
}

// The ECS deploy moves the key only through an OOS secret that is gone afterwards, and the
// key never sits in any call's parameters.
func TestECSKeyOnlyThroughSecret(t *testing.T) {
	e := newEnv(t)
	hosts := e.targets(t, config.KindECS)
	ct, _ := endpointOf(e.cfg, hosts[0].ID())
	cert := e.issue(t, ct.ServedNames()...)
	if st, err := deploy(t, hosts[0], cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v", st, err)
	}
	creates := localcloud.CallsOf(e.cloud.Calls(), "CreateSecretParameter")
	deletes := localcloud.CallsOf(e.cloud.Calls(), "DeleteSecretParameter")
	if len(creates) != 1 || len(deletes) != 1 || creates[0].Params["Name"] != deletes[0].Params["Name"] {
		t.Errorf("secret lifecycle: %d creates, %d deletes", len(creates), len(deletes))
	}
	keyBody := keyBase64(cert.KeyPEM)
	dump, _ := e.cloud.Dump()
	for _, c := range e.cloud.Calls() {
		for k, v := range c.Params {
			if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, keyBody) {
				t.Errorf("%s param %s holds key material", c.Action, k)
			}
		}
	}
	if strings.Contains(string(dump), keyBody) {
		t.Error("state dump holds key material")
	}
}

func keyBase64(keyPEM []byte) string {
	lines := strings.Split(string(keyPEM), "\n")
	return lines[1] // first line of the key body: enough to spot a leak
}

// A host whose test command fails keeps serving the previous certificate, and the target
// reports failed with the output tail.
func TestECSTestFailureRestoresPrevious(t *testing.T) {
	e := newEnv(t)
	ct := e.cfg.Targets[0]
	for _, c := range e.cfg.Targets {
		if c.Kind == config.KindECS {
			ct = c
		}
	}
	before := e.served(t, ct.Endpoint, ct.ServedNames()[0])
	ct.TestCommand = "echo 'nginx: [emerg] cannot load certificate' >&2; false"
	tg, err := New(e.clients, ct)
	if err != nil {
		t.Fatal(err)
	}
	tg.(*ECS).PollInterval = 50 * time.Millisecond
	cert := e.issue(t, ct.ServedNames()...)
	st, err := deploy(t, tg, cert)
	if err == nil {
		t.Fatalf("deploy = %q, want failure", st)
	}
	if !strings.Contains(err.Error(), "cannot load certificate") || !strings.Contains(err.Error(), "restored") {
		t.Errorf("error lacks the output tail: %v", err)
	}
	if after := e.served(t, ct.Endpoint, ct.ServedNames()[0]); after != before {
		t.Errorf("host serves %s after a failed test, want the previous %s", after[:12], before[:12])
	}
}

func TestScrubPEMAndTail(t *testing.T) {
	in := "ok\n" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}})) + "after"
	if got := scrubPEM(in); strings.Contains(got, "AAAA") || !strings.Contains(got, "after") {
		t.Errorf("scrubPEM = %q", got)
	}
	if got := tail("a\nb\nc\nd", 2, 100); got != "c | d" {
		t.Errorf("tail = %q", got)
	}
	if got := colonHex("68081aff"); got != "68:08:1a:ff" {
		t.Errorf("colonHex = %q", got)
	}
}

// A run that wrote the host but could not delete its OOS secret (its STS token expired)
// left the key in OOS; the next run finds the host unchanged and removes the secret.
func TestECSLeftoverSecretRemovedOnNextRun(t *testing.T) {
	e := newEnv(t)
	hosts := e.targets(t, config.KindECS)
	ct, _ := endpointOf(e.cfg, hosts[0].ID())
	cert := e.issue(t, ct.ServedNames()...)
	if st, err := deploy(t, hosts[0], cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v", st, err)
	}
	name := hosts[0].(*ECS).secretName(cert)
	cl, err := e.clients.OOS(ct.Region)
	if err != nil {
		t.Fatal(err)
	}
	req := oos.CreateCreateSecretParameterRequest()
	req.RegionId, req.Name, req.Value = ct.Region, name, string(cert.KeyPEM)
	if _, err := cl.CreateSecretParameter(req); err != nil {
		t.Fatal(err)
	}
	if st, err := deploy(t, hosts[0], cert); err != nil || st != rollout.StatusUnchanged {
		t.Fatalf("second deploy = %q, %v; want unchanged", st, err)
	}
	get := oos.CreateGetSecretParameterRequest()
	get.RegionId, get.Name = ct.Region, name
	if _, err := cl.GetSecretParameter(get); err == nil || !strings.Contains(err.Error(), "EntityNotExists.Parameter") {
		t.Errorf("leftover secret %s still there (err %v)", name, err)
	}
}

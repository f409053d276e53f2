package targets

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// answerProxy sits between the SDK clients and the local cloud. For the action it is
// given, it forwards the call when forward is true (so the cloud's state changes as it
// would) and then replaces the answer with the error a real service gave in the wild.
type answerProxy struct {
	action, code, message string
	forward               bool
	hits                  atomic.Int32
}

func (p *answerProxy) start(t *testing.T, upstream string) string {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if r.URL.Query().Get("Action") != p.action && form.Get("Action") != p.action {
			rp.ServeHTTP(w, r)
			return
		}
		p.hits.Add(1)
		if p.forward {
			rp.ServeHTTP(httptest.NewRecorder(), r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": "req-case", "HostId": "slb.aliyuncs.com", "Code": p.code, "Message": p.message})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// through returns e's targets of kind with clients that go through p.
func (e *env) through(t *testing.T, p *answerProxy, kind string) []Target {
	t.Helper()
	info, err := e.cloud.Info()
	if err != nil {
		t.Fatal(err)
	}
	cl := cloud.New(cloud.Options{Endpoint: p.start(t, info.Endpoint), MNSEndpoint: info.MNSEndpoint, AccountID: info.AccountID, Region: info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret}))
	var out []Target
	for _, ct := range e.cfg.Targets {
		if ct.Kind != kind || config.IsPattern(ct.Domain) {
			continue
		}
		tg, err := New(cl, ct)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tg)
	}
	return out
}

func clbIn(t *testing.T, e *env, tgs []Target, region string) (Target, config.Target) {
	t.Helper()
	for _, tg := range tgs {
		if ct, _ := endpointOf(e.cfg, tg.ID()); ct.Region == region && ct.SNIDomain == "" {
			return tg, ct
		}
	}
	t.Fatalf("default estate has no %s CLB listener", region)
	return nil, config.Target{}
}

// TestC01CertificateInAnotherRegionsStoreIsNotUsed is case C01 as seen in the wild: the
// same certificate already sits in cn-hangzhou's SLB store, the listener is in cn-beijing.
// certflow does not reuse the cn-hangzhou ID; it uploads through the cn-beijing endpoint.
func TestC01CertificateInAnotherRegionsStoreIsNotUsed(t *testing.T) {
	e := newEnv(t)
	beijing, ct := clbIn(t, e, e.targets(t, config.KindCLB), "cn-beijing")
	cert := e.issue(t, ct.ServedNames()...)
	hz, err := e.clients.SLB("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	up := slb.CreateUploadServerCertificateRequest()
	up.RegionId, up.ServerCertificateName = "cn-hangzhou", "uploaded-through-hangzhou"
	up.ServerCertificate, up.PrivateKey = string(cert.ChainPEM), string(cert.KeyPEM)
	decoy, err := hz.UploadServerCertificate(up)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := deploy(t, beijing, cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v", st, err)
	}
	for _, c := range localcloud.CallsOf(e.cloud.Calls(), "SetLoadBalancerHTTPSListenerAttribute") {
		if c.Region != "cn-beijing" || c.Params["ServerCertificateId"] == decoy.ServerCertificateId {
			t.Errorf("listener set through %s with %s (the cn-hangzhou copy is %s)", c.Region, c.Params["ServerCertificateId"], decoy.ServerCertificateId)
		}
	}
	ups := localcloud.CallsOf(e.cloud.Calls(), "UploadServerCertificate")
	if len(ups) != 2 || ups[1].Region != "cn-beijing" {
		t.Fatalf("uploads = %+v, want the decoy and one through cn-beijing", ups)
	}
	if got := e.served(t, ct.Endpoint, ct.ServedNames()[0]); got != cert.SHA256 {
		t.Errorf("listener serves %s, want %s", got, cert.SHA256)
	}
}

// TestC01NotVisibleNamesBothRegions: when SLB answers ServerCertificateId.NotFound on the
// listener update, the error names the load balancer's region and the certificate's CAS
// region, stays permanent, and the listener is never reported updated.
func TestC01NotVisibleNamesBothRegions(t *testing.T) {
	e := newEnv(t)
	p := &answerProxy{action: "SetLoadBalancerHTTPSListenerAttribute", code: "ServerCertificateId.NotFound",
		message: "The specified ServerCertificateId does not exist in region cn-beijing."}
	beijing, ct := clbIn(t, e, e.through(t, p, config.KindCLB), "cn-beijing")
	before := e.served(t, ct.Endpoint, ct.ServedNames()[0])
	cert := e.issue(t, ct.ServedNames()...)

	st, err := deploy(t, beijing, cert)
	if err == nil || st == rollout.StatusDeployed || st == rollout.StatusUnchanged {
		t.Fatalf("deploy = %q, %v; want a failure", st, err)
	}
	for _, want := range []string{"cn-beijing", "cn-hangzhou", "ServerCertificateId.NotFound"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	var ae *cloud.APIError
	if !errors.As(err, &ae) || ae.Class != cloud.Permanent {
		t.Errorf("error %v: want a permanent *cloud.APIError underneath", err)
	}
	if p.hits.Load() != 1 {
		t.Errorf("listener update sent %d times, want once (a permanent error is not retried)", p.hits.Load())
	}
	if got := e.served(t, ct.Endpoint, ct.ServedNames()[0]); got != before {
		t.Errorf("listener changed to %s although the update failed", got)
	}
}

// TestC02NameClashForTheSameCertificateIsSuccess: a second delivery of the event uploaded
// the same certificate first, so SLB refuses the upload ("name already exists"). The
// certificate is in the store under that name: the listener uses it and is deployed.
func TestC02NameClashForTheSameCertificateIsSuccess(t *testing.T) {
	e := newEnv(t)
	p := &answerProxy{action: "UploadServerCertificate", code: "NameRepeat", message: "The certificate name already exists.", forward: true}
	tg, ct := clbIn(t, e, e.through(t, p, config.KindCLB), "cn-hangzhou")
	cert := e.issue(t, ct.ServedNames()...)
	if st, err := deploy(t, tg, cert); err != nil || st != rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v; a clash for the same certificate must be success", st, err)
	}
	if p.hits.Load() != 1 {
		t.Errorf("upload sent %d times, want once", p.hits.Load())
	}
	if got := e.served(t, ct.Endpoint, ct.ServedNames()[0]); got != cert.SHA256 {
		t.Errorf("listener serves %s, want %s", got, cert.SHA256)
	}
	// Deploying again finds it by fingerprint: unchanged, no upload.
	if st, err := deploy(t, tg, cert); err != nil || st != rollout.StatusUnchanged {
		t.Fatalf("second deploy = %q, %v, want unchanged", st, err)
	}
	if p.hits.Load() != 1 {
		t.Errorf("second deploy uploaded again")
	}
}

// TestC02NameClashWithoutTheCertificateFails: the name is taken but the store does not
// hold this certificate (not ours): failure, never a success claimed on a name alone.
func TestC02NameClashWithoutTheCertificateFails(t *testing.T) {
	e := newEnv(t)
	p := &answerProxy{action: "UploadServerCertificate", code: "NameRepeat", message: "The certificate name already exists."}
	tg, ct := clbIn(t, e, e.through(t, p, config.KindCLB), "cn-hangzhou")
	cert := e.issue(t, ct.ServedNames()...)
	st, err := deploy(t, tg, cert)
	if err == nil || st == rollout.StatusDeployed {
		t.Fatalf("deploy = %q, %v; want a failure", st, err)
	}
	if !strings.Contains(err.Error(), "cn-hangzhou") || !strings.Contains(err.Error(), "NameRepeat") {
		t.Errorf("error %q does not name the region and the code", err)
	}
}

// TestC02NamesShortASCIIAndUniquePerCertificate: every certificate gets its own name,
// ASCII and at most 63 characters, whatever its CAS ID.
func TestC02NamesShortASCIIAndUniquePerCertificate(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range []*Cert{
		{CASID: 1, SHA256: strings.Repeat("a", 64)},
		{CASID: 1, SHA256: strings.Repeat("b", 64)},
		{CASID: 9223372036854775807, SHA256: strings.Repeat("f", 64)},
	} {
		n := serverCertName(c)
		if len(n) > 63 || seen[n] {
			t.Errorf("name %q: longer than 63 or not unique", n)
		}
		for _, r := range n {
			if r > 0x7e || r < 0x21 {
				t.Errorf("name %q is not printable ASCII", n)
			}
		}
		seen[n] = true
	}
}

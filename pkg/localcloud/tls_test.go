package localcloud

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/config"
)

// served dials addr with SNI name, verifying the chain against the local root, and
// returns the leaf's SHA-256.
func served(t *testing.T, c *Cloud, addr, name string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&netDialer, "tcp", addr, &tls.Config{ServerName: name, RootCAs: c.CA().Pool()})
	if err != nil {
		t.Fatalf("dial %s (%s): %v", name, addr, err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

func TestTLSEndpoints(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ep := range info.Endpoints {
		kinds[ep.Kind]++
		got := served(t, c, ep.Address, ep.Name)
		if got != c.InitialCertificate().SHA256() {
			t.Errorf("%s %s serves %s, want the estate certificate", ep.Kind, ep.Name, got)
		}
		if want, ok := c.Deployed(ep.ID, ep.Name); !ok || want != got {
			t.Errorf("%s %s: state says %q, TLS serves %s", ep.Kind, ep.Name, want, got)
		}
	}
	if kinds["clb"] != 3 || kinds["cdn"] != 6 || kinds["ecs"] != 2 || kinds["airec"] != 2 {
		t.Fatalf("endpoints per kind %v", kinds)
	}
	data, err := os.ReadFile(info.Targets)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(info.Targets, data)
	if err != nil {
		t.Fatalf("generated targets do not validate: %v", err)
	}
	if len(cfg.Targets) != 3+6+2 {
		t.Fatalf("targets %d", len(cfg.Targets))
	}
	for _, ep := range info.Endpoints {
		if ep.Kind == "airec" && cfg.AIRec.Address(ep.Name) != ep.Address {
			t.Errorf("targets file: airec %s at %q, the TLS server is at %s", ep.Name, cfg.AIRec.Address(ep.Name), ep.Address)
		}
	}
	find := func(name string) Endpoint {
		for _, ep := range info.Endpoints {
			if ep.Name == name {
				return ep
			}
		}
		t.Fatalf("no endpoint %s", name)
		return Endpoint{}
	}

	t.Run("SNI extension serves its own certificate", func(t *testing.T) {
		hz := cl.slb("cn-hangzhou")
		leaf := issue(t, c, "api.example.com")
		up := slb.CreateUploadServerCertificateRequest()
		up.ServerCertificate, up.PrivateKey = string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
		resp, err := hz.UploadServerCertificate(up)
		if err != nil {
			t.Fatal(err)
		}
		d := slb.CreateDescribeDomainExtensionsRequest()
		d.LoadBalancerId, d.ListenerPort = "lb-bp1localweb01", "443"
		exts, err := hz.DescribeDomainExtensions(d)
		if err != nil {
			t.Fatal(err)
		}
		s := slb.CreateSetDomainExtensionAttributeRequest()
		s.DomainExtensionId, s.ServerCertificateId = exts.DomainExtensions.DomainExtension[0].DomainExtensionId, resp.ServerCertificateId
		if _, err := hz.SetDomainExtensionAttribute(s); err != nil {
			t.Fatal(err)
		}
		api := find("api.example.com")
		if sum, _ := c.Deployed(api.ID, "api.example.com"); sum != leaf.SHA256() {
			t.Fatalf("state: api deployed %s", sum)
		}
		if got := served(t, c, api.Address, "api.example.com"); got != leaf.SHA256() {
			t.Fatalf("api serves %s, want new %s", got, leaf.SHA256())
		}
		if got := served(t, c, api.Address, "www.example.com"); got != c.InitialCertificate().SHA256() {
			t.Fatal("default certificate changed with the extension")
		}
	})

	t.Run("clb redirects only with a running forwarding listener", func(t *testing.T) {
		ep := find("www.example.com")
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		code := func() int {
			req, _ := http.NewRequest("GET", "http://"+ep.HTTP+"/", nil)
			req.Host = "www.example.com"
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := code(); got/100 == 3 {
			t.Fatalf("redirect before forwarding: %d", got)
		}
		hz := cl.slb("cn-hangzhou")
		del := slb.CreateDeleteLoadBalancerListenerRequest()
		del.LoadBalancerId, del.ListenerPort = "lb-bp1localweb01", "80"
		if _, err := hz.DeleteLoadBalancerListener(del); err != nil {
			t.Fatal(err)
		}
		cr := slb.CreateCreateLoadBalancerHTTPListenerRequest()
		cr.LoadBalancerId, cr.ListenerPort, cr.ListenerForward, cr.ForwardPort = "lb-bp1localweb01", "80", "on", "443"
		if _, err := hz.CreateLoadBalancerHTTPListener(cr); err != nil {
			t.Fatal(err)
		}
		if got := code(); got/100 == 3 {
			t.Fatalf("redirect while the new listener is stopped: %d", got)
		}
		st := slb.CreateStartLoadBalancerListenerRequest()
		st.LoadBalancerId, st.ListenerPort = "lb-bp1localweb01", "80"
		if _, err := hz.StartLoadBalancerListener(st); err != nil {
			t.Fatal(err)
		}
		if got := code(); got != http.StatusMovedPermanently {
			t.Fatalf("after forwarding on: %d", got)
		}
	})

	t.Run("redirect and HSTS only when enforced", func(t *testing.T) {
		ep := find("img1.example.com")
		noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{Proxy: nil}}
		get := func() *http.Response {
			req, _ := http.NewRequest("GET", "http://"+ep.HTTP+"/x", nil)
			req.Host = "img1.example.com"
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		if r := get(); r.StatusCode/100 == 3 {
			t.Fatalf("redirects before enforcement: %d", r.StatusCode)
		}
		hsts := func() string {
			tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{ServerName: "img1.example.com", RootCAs: c.CA().Pool()}}
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := hc.Get("https://" + ep.Address + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("Strict-Transport-Security")
		}
		if h := hsts(); h != "" {
			t.Fatalf("HSTS before enforcement: %q", h)
		}
		req := cdn.CreateBatchSetCdnDomainConfigRequest()
		req.DomainNames = "img1.example.com"
		req.Functions = `[{"functionName":"https_force","functionArgs":[{"argName":"enable","argValue":"on"}]},{"functionName":"HSTS","functionArgs":[{"argName":"enabled","argValue":"on"},{"argName":"https_hsts_max_age","argValue":"5184000"}]}]`
		if _, err := cl.cdn.BatchSetCdnDomainConfig(req); err != nil {
			t.Fatal(err)
		}
		if r := get(); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "https://img1.example.com/x" {
			t.Fatalf("after https_force: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if h := hsts(); h != "max-age=5184000" {
			t.Fatalf("HSTS after enforcement: %q", h)
		}
	})
}

func TestECSDeployServesNewCertificate(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	leaf := issue(t, c, "app.example.com")
	cr := oos.CreateCreateSecretParameterRequest()
	cr.Name, cr.Value = "certflow/app-key", string(leaf.KeyPEM())
	if _, err := cl.oos.CreateSecretParameter(cr); err != nil {
		t.Fatal(err)
	}
	script := "set -e\ncat > /etc/nginx/ssl/app.crt <<'EOF'\n" + string(c.CA().ChainPEM(leaf)) + "EOF\n" +
		"umask 077\ncat > /etc/nginx/ssl/app.key <<'EOF'\n{{oos-secret:certflow/app-key}}\nEOF\nnginx -t && nginx -s reload\n"
	run := ecs.CreateRunCommandRequest()
	run.Type, run.ContentEncoding, run.CommandContent = "RunShellScript", "Base64", base64.StdEncoding.EncodeToString([]byte(script))
	run.InstanceId, run.EnableParameter, run.Timeout = &[]string{"i-bp1localnginx01"}, "true", "60"
	rr, err := cl.ecs.RunCommand(run)
	if err != nil {
		t.Fatal(err)
	}
	var res ecs.InvocationResult
	for i := 0; i < 500; i++ {
		d := ecs.CreateDescribeInvocationResultsRequest()
		d.InvokeId, d.ContentEncoding = rr.InvokeId, "PlainText"
		dr, err := cl.ecs.DescribeInvocationResults(d)
		if err != nil {
			t.Fatal(err)
		}
		res = dr.Invocation.InvocationResults.InvocationResult[0]
		if res.InvocationStatus != "Pending" && res.InvocationStatus != "Running" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.InvocationStatus != "Success" {
		t.Fatalf("deploy script: %+v", res)
	}
	var addr string
	for _, ep := range c.Endpoints() {
		if ep.Name == "app.example.com" {
			addr = ep.Address
		}
	}
	// nginx -s reload returns before the new workers take over: poll briefly.
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = served(t, c, addr, "app.example.com"); got == leaf.SHA256() {
			break
		}
	}
	if got != leaf.SHA256() {
		t.Fatalf("host serves %s after reload, want %s", got, leaf.SHA256())
	}
	if strings.Contains(res.Output, "PRIVATE KEY") {
		t.Fatal("key in output")
	}
}

package localcloud

import (
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	"github.com/certflow/certflow/pkg/localca"
)

func startCloud(t *testing.T, faults string) *Cloud {
	t.Helper()
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "")
	}
	var fb []byte
	if faults != "" {
		fb = []byte(faults)
	}
	c, err := Start(t.Context(), Options{Dir: t.TempDir(), Faults: fb})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

type clients struct {
	cas *cas.Client
	slb func(region string) *slb.Client
	cdn *cdn.Client
	ecs *ecs.Client
	oos *oos.Client
}

func newClients(t testing.TB, c *Cloud, cred any) clients {
	t.Helper()
	e := c.Estate()
	if cred == nil {
		cred = credentials.NewStaticAKCredentialsProvider(e.AccessKeyID, e.AccessKeySecret)
	}
	cfg := func() *sdk.Config { return sdk.NewConfig().WithScheme("HTTP").WithTimeout(10 * time.Second) }
	prov := cred.(credentials.CredentialsProvider)
	cc, err := cas.NewClientWithOptions("cn-hangzhou", cfg(), prov)
	if err != nil {
		t.Fatal(err)
	}
	cc.Domain = c.Addr()
	dc, err := cdn.NewClientWithOptions("cn-hangzhou", cfg(), prov)
	if err != nil {
		t.Fatal(err)
	}
	dc.Domain = c.Addr()
	ec, err := ecs.NewClientWithOptions("cn-hangzhou", cfg(), prov)
	if err != nil {
		t.Fatal(err)
	}
	ec.Domain = c.Addr()
	oc, err := oos.NewClientWithOptions("cn-hangzhou", cfg(), prov)
	if err != nil {
		t.Fatal(err)
	}
	oc.Domain = c.Addr()
	return clients{cas: cc, cdn: dc, ecs: ec, oos: oc, slb: func(region string) *slb.Client {
		sc, err := slb.NewClientWithOptions(region, cfg(), prov)
		if err != nil {
			t.Fatal(err)
		}
		sc.Domain = c.Addr()
		return sc
	}}
}

// wantCode asserts err is a ServerError with code (and HTTP status when status > 0).
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want server error %s, got %v", code, err)
	}
	if se.ErrorCode() != code {
		t.Fatalf("code = %s (%s), want %s", se.ErrorCode(), se.Message(), code)
	}
	if status > 0 && se.HttpStatus() != status {
		t.Fatalf("status = %d, want %d", se.HttpStatus(), status)
	}
	if se.RequestId() == "" {
		t.Fatalf("error without RequestId")
	}
}

func issue(t *testing.T, c *Cloud, names ...string) *localca.Cert {
	t.Helper()
	leaf, err := c.CA().Issue(localca.Template{DNSNames: names, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func uploadCAS(t *testing.T, cl clients, c *Cloud, name string, leaf *localca.Cert) int64 {
	t.Helper()
	req := cas.CreateUploadUserCertificateRequest()
	req.Name, req.Cert, req.Key = name, string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
	resp, err := cl.cas.UploadUserCertificate(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if resp.CertId == 0 || resp.RequestId == "" {
		t.Fatalf("upload response %+v", resp)
	}
	return resp.CertId
}

func TestCAS(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	leaf := issue(t, c, "www.example.com", "*.example.com")
	id := uploadCAS(t, cl, c, "cert-one", leaf)

	t.Run("detail", func(t *testing.T) {
		req := cas.CreateGetUserCertificateDetailRequest()
		req.CertId = requests.NewInteger64(id)
		resp, err := cl.cas.GetUserCertificateDetail(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Id != id || resp.Name != "cert-one" || resp.Common != "www.example.com" || resp.Sans != "www.example.com,*.example.com" {
			t.Fatalf("detail %+v", resp)
		}
		if resp.Key != string(leaf.KeyPEM()) || !strings.HasPrefix(resp.Cert, string(leaf.CertPEM())) {
			t.Fatal("cert/key not returned as uploaded")
		}
		if resp.EndDate != leaf.Cert.NotAfter.UTC().Format("2006-01-02") || resp.Algorithm != "ECC" || resp.Expired {
			t.Fatalf("derived fields %+v", resp)
		}
		if len(resp.Fingerprint) != 40 || strings.ToUpper(resp.Fingerprint) != resp.Fingerprint {
			t.Fatalf("fingerprint %q", resp.Fingerprint)
		}
		req.CertFilter = "true"
		resp, err = cl.cas.GetUserCertificateDetail(req)
		if err != nil || resp.Key != "" || resp.Cert != "" {
			t.Fatalf("CertFilter=true still returns material (err %v)", err)
		}
	})
	t.Run("duplicate name", func(t *testing.T) {
		req := cas.CreateUploadUserCertificateRequest()
		req.Name, req.Cert, req.Key = "cert-one", string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
		_, err := cl.cas.UploadUserCertificate(req)
		wantCode(t, err, "NameRepeat", 400)
	})
	t.Run("missing name", func(t *testing.T) {
		req := cas.CreateUploadUserCertificateRequest()
		req.Cert, req.Key = string(leaf.CertPEM()), string(leaf.KeyPEM())
		_, err := cl.cas.UploadUserCertificate(req)
		wantCode(t, err, "MissingParameter", 400)
	})
	t.Run("unknown id", func(t *testing.T) {
		req := cas.CreateGetUserCertificateDetailRequest()
		req.CertId = "42"
		_, err := cl.cas.GetUserCertificateDetail(req)
		wantCode(t, err, "NotFound", 400)
	})
	t.Run("list", func(t *testing.T) {
		req := cas.CreateListUserCertificateOrderRequest()
		req.OrderType, req.Keyword = "UPLOAD", "cert-one"
		resp, err := cl.cas.ListUserCertificateOrder(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 1 || len(resp.CertificateOrderList) != 1 || resp.CertificateOrderList[0].CertificateId != id {
			t.Fatalf("list %+v", resp)
		}
		req = cas.CreateListUserCertificateOrderRequest() // the SDK keeps old query values on reuse
		req.OrderType = "UPLOAD"
		resp, err = cl.cas.ListUserCertificateOrder(req)
		if err != nil || resp.TotalCount != 2 {
			t.Fatalf("list all: %v %d", err, resp.TotalCount)
		}
	})
	t.Run("delete", func(t *testing.T) {
		req := cas.CreateDeleteUserCertificateRequest()
		req.CertId = requests.NewInteger64(id)
		if _, err := cl.cas.DeleteUserCertificate(req); err != nil {
			t.Fatal(err)
		}
		_, err := cl.cas.DeleteUserCertificate(req)
		wantCode(t, err, "NotFound", 400)
	})
}

func TestSLB(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	hz, bj := cl.slb("cn-hangzhou"), cl.slb("cn-beijing")
	leaf := issue(t, c, "www.example.com", "api.example.com")

	up := slb.CreateUploadServerCertificateRequest()
	up.ServerCertificate, up.PrivateKey, up.ServerCertificateName = string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM()), "www-2026"
	upResp, err := hz.UploadServerCertificate(up)
	if err != nil {
		t.Fatal(err)
	}
	if upResp.RegionId != "cn-hangzhou" || upResp.Fingerprint == "" || !strings.Contains(upResp.Fingerprint, ":") ||
		len(upResp.SubjectAlternativeNames.SubjectAlternativeName) != 2 || upResp.ExpireTimeStamp != leaf.Cert.NotAfter.UnixMilli() {
		t.Fatalf("upload response %+v", upResp)
	}
	certID := upResp.ServerCertificateId

	t.Run("describe certificates per region", func(t *testing.T) {
		req := slb.CreateDescribeServerCertificatesRequest()
		req.ServerCertificateId = certID
		resp, err := hz.DescribeServerCertificates(req)
		if err != nil || len(resp.ServerCertificates.ServerCertificate) != 1 || resp.ServerCertificates.ServerCertificate[0].ServerCertificateName != "www-2026" {
			t.Fatalf("hangzhou: %v %+v", err, resp)
		}
		req = slb.CreateDescribeServerCertificatesRequest()
		req.ServerCertificateId = certID
		resp, err = bj.DescribeServerCertificates(req)
		if err != nil || len(resp.ServerCertificates.ServerCertificate) != 0 {
			t.Fatalf("beijing sees a hangzhou certificate: %v %+v", err, resp)
		}
	})
	t.Run("upload from CAS", func(t *testing.T) {
		id := uploadCAS(t, cl, c, "cas-for-slb", leaf)
		req := slb.CreateUploadServerCertificateRequest()
		req.AliCloudCertificateId = itoa(id)
		_, err := bj.UploadServerCertificate(req)
		wantCode(t, err, "MissingParameter", 400)
		req.AliCloudCertificateName, req.AliCloudCertificateRegionId = "cas-for-slb", "cn-hangzhou"
		resp, err := bj.UploadServerCertificate(req)
		if err != nil || resp.IsAliCloudCertificate != 1 || resp.RegionId != "cn-beijing" {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	t.Run("set https listener", func(t *testing.T) {
		set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort, set.ServerCertificateId = "lb-bp1localweb01", "443", certID
		if _, err := hz.SetLoadBalancerHTTPSListenerAttribute(set); err != nil {
			t.Fatal(err)
		}
		d := slb.CreateDescribeLoadBalancerHTTPSListenerAttributeRequest()
		d.LoadBalancerId, d.ListenerPort = "lb-bp1localweb01", "443"
		resp, err := hz.DescribeLoadBalancerHTTPSListenerAttribute(d)
		if err != nil || resp.ServerCertificateId != certID || resp.Status != "running" || len(resp.DomainExtensions.DomainExtension) != 1 {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	t.Run("wrong region certificate C01", func(t *testing.T) {
		set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort, set.ServerCertificateId = "lb-2zelocalshop01", "443", certID
		_, err := bj.SetLoadBalancerHTTPSListenerAttribute(set)
		wantCode(t, err, "ServerCertificateId.NotFound", 400)
	})
	t.Run("load balancer in another region", func(t *testing.T) {
		set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort, set.ServerCertificateId = "lb-2zelocalshop01", "443", certID
		_, err := hz.SetLoadBalancerHTTPSListenerAttribute(set)
		wantCode(t, err, "InvalidLoadBalancerId.NotFound", 404)
	})
	t.Run("conditional params", func(t *testing.T) {
		set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort, set.StickySession = "lb-bp1localweb01", "443", "on"
		_, err := hz.SetLoadBalancerHTTPSListenerAttribute(set)
		wantCode(t, err, "MissingParameter", 400)
		set.StickySessionType = "insert"
		_, err = hz.SetLoadBalancerHTTPSListenerAttribute(set)
		wantCode(t, err, "MissingParameter", 400)
		set.CookieTimeout = "500"
		if _, err = hz.SetLoadBalancerHTTPSListenerAttribute(set); err != nil {
			t.Fatal(err)
		}
		set2 := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set2.LoadBalancerId = "lb-bp1localweb01"
		_, err = hz.SetLoadBalancerHTTPSListenerAttribute(set2)
		wantCode(t, err, "MissingParameter", 400)
	})
	t.Run("domain extensions", func(t *testing.T) {
		cr := slb.CreateCreateDomainExtensionRequest()
		cr.LoadBalancerId, cr.ListenerPort, cr.Domain, cr.ServerCertificateId = "lb-bp1localweb01", "443", "*.example.com", certID
		cresp, err := hz.CreateDomainExtension(cr)
		if err != nil || !strings.HasPrefix(cresp.DomainExtensionId, "de-") || cresp.ListenerPort != 443 {
			t.Fatalf("%v %+v", err, cresp)
		}
		_, err = hz.CreateDomainExtension(cr)
		wantCode(t, err, "DomainExtensionExist", 400)
		s := slb.CreateSetDomainExtensionAttributeRequest()
		s.DomainExtensionId, s.ServerCertificateId = cresp.DomainExtensionId, certID
		if _, err := hz.SetDomainExtensionAttribute(s); err != nil {
			t.Fatal(err)
		}
		d := slb.CreateDescribeDomainExtensionsRequest()
		d.LoadBalancerId, d.ListenerPort = "lb-bp1localweb01", "443"
		dresp, err := hz.DescribeDomainExtensions(d)
		if err != nil || len(dresp.DomainExtensions.DomainExtension) != 2 {
			t.Fatalf("%v %+v", err, dresp)
		}
	})
	t.Run("http redirect listener", func(t *testing.T) {
		d := slb.CreateDescribeLoadBalancerHTTPListenerAttributeRequest()
		d.LoadBalancerId, d.ListenerPort = "lb-bp1localweb01", "80"
		resp, err := hz.DescribeLoadBalancerHTTPListenerAttribute(d)
		if err != nil || resp.ListenerForward != "off" {
			t.Fatalf("%v %+v", err, resp)
		}
		cr := slb.CreateCreateLoadBalancerHTTPListenerRequest()
		cr.LoadBalancerId, cr.ListenerPort, cr.ListenerForward, cr.ForwardPort = "lb-bp1localweb01", "80", "on", "443"
		_, err = hz.CreateLoadBalancerHTTPListener(cr)
		wantCode(t, err, "ListenerAlreadyExists", 400)
		del := slb.CreateDeleteLoadBalancerListenerRequest()
		del.LoadBalancerId, del.ListenerPort = "lb-bp1localweb01", "80"
		if _, err := hz.DeleteLoadBalancerListener(del); err != nil {
			t.Fatal(err)
		}
		cr = slb.CreateCreateLoadBalancerHTTPListenerRequest()
		cr.LoadBalancerId, cr.ListenerPort, cr.ListenerForward = "lb-bp1localweb01", "80", "on"
		_, err = hz.CreateLoadBalancerHTTPListener(cr)
		wantCode(t, err, "MissingParameter", 400)
		cr.ForwardPort = "443"
		if _, err := hz.CreateLoadBalancerHTTPListener(cr); err != nil {
			t.Fatal(err)
		}
		resp, err = hz.DescribeLoadBalancerHTTPListenerAttribute(d)
		if err != nil || resp.ListenerForward != "on" || resp.ForwardPort != 443 || resp.Status != "stopped" {
			t.Fatalf("%v %+v", err, resp)
		}
		st := slb.CreateStartLoadBalancerListenerRequest()
		st.LoadBalancerId, st.ListenerPort = "lb-bp1localweb01", "80"
		if _, err := hz.StartLoadBalancerListener(st); err != nil {
			t.Fatal(err)
		}
		resp, _ = hz.DescribeLoadBalancerHTTPListenerAttribute(d)
		if resp.Status != "running" {
			t.Fatalf("status %s", resp.Status)
		}
	})
	t.Run("delete certificate", func(t *testing.T) {
		del := slb.CreateDeleteServerCertificateRequest()
		del.ServerCertificateId = certID
		_, err := hz.DeleteServerCertificate(del)
		wantCode(t, err, "ResourceInUse.ServerCertificate", 400)
		del = slb.CreateDeleteServerCertificateRequest()
		del.ServerCertificateId = certID
		_, err = bj.DeleteServerCertificate(del)
		wantCode(t, err, "ServerCertificateId.NotFound", 400)
	})
}

func TestCDN(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	leaf := issue(t, c, "*.example.com")
	id := uploadCAS(t, cl, c, "wild", leaf)

	t.Run("cas form", func(t *testing.T) {
		req := cdn.CreateSetCdnDomainSSLCertificateRequest()
		req.DomainName, req.SSLProtocol, req.CertType, req.CertId, req.CertRegion = "img1.example.com", "on", "cas", requests.NewInteger64(id), "cn-hangzhou"
		if _, err := cl.cdn.SetCdnDomainSSLCertificate(req); err != nil {
			t.Fatal(err)
		}
		info := cdn.CreateDescribeDomainCertificateInfoRequest()
		info.DomainName = "img1.example.com"
		resp, err := cl.cdn.DescribeDomainCertificateInfo(info)
		if err != nil || len(resp.CertInfos.CertInfo) != 1 {
			t.Fatalf("%v %+v", err, resp)
		}
		ci := resp.CertInfos.CertInfo[0]
		if ci.CertId != itoa(id) || ci.CertType != "cas" || ci.ServerCertificateStatus != "on" || ci.CertExpireTime != isoTime(leaf.Cert.NotAfter) || !strings.HasPrefix(ci.ServerCertificate, string(leaf.CertPEM())) {
			t.Fatalf("cert info %+v", ci)
		}
	})
	t.Run("upload form without key C04", func(t *testing.T) {
		req := cdn.CreateSetCdnDomainSSLCertificateRequest()
		req.DomainName, req.SSLProtocol, req.CertType, req.SSLPub, req.CertName = "img2.example.com", "on", "upload", string(leaf.CertPEM()), "x"
		_, err := cl.cdn.SetCdnDomainSSLCertificate(req)
		wantCode(t, err, "SSLPri.MissingParameter", 400)
		req.SSLPri = string(leaf.KeyPEM())
		if _, err := cl.cdn.SetCdnDomainSSLCertificate(req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wildcard sent as domain C03", func(t *testing.T) {
		req := cdn.CreateSetCdnDomainSSLCertificateRequest()
		req.DomainName, req.SSLProtocol, req.CertType, req.CertId = "*.example.com", "on", "cas", requests.NewInteger64(id)
		_, err := cl.cdn.SetCdnDomainSSLCertificate(req)
		wantCode(t, err, "InvalidDomain.NotFound", 404)
	})
	t.Run("user domains paged", func(t *testing.T) {
		req := cdn.CreateDescribeUserDomainsRequest()
		req.PageSize, req.PageNumber = "4", "2"
		resp, err := cl.cdn.DescribeUserDomains(req)
		if err != nil || resp.TotalCount != 6 || len(resp.Domains.PageData) != 2 || resp.PageNumber != 2 {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	t.Run("https_force, HSTS, tls version", func(t *testing.T) {
		req := cdn.CreateBatchSetCdnDomainConfigRequest()
		req.DomainNames = "img1.example.com,img2.example.com"
		req.Functions = `[{"functionName":"https_force","functionArgs":[{"argName":"enable","argValue":"on"},{"argName":"https_rewrite","argValue":"301"}]},` +
			`{"functionName":"HSTS","functionArgs":[{"argName":"enabled","argValue":"on"},{"argName":"https_hsts_max_age","argValue":"5184000"}]},` +
			`{"functionName":"https_tls_version","functionArgs":[{"argName":"tls10","argValue":"off"},{"argName":"tls11","argValue":"off"}]}]`
		resp, err := cl.cdn.BatchSetCdnDomainConfig(req)
		if err != nil || len(resp.DomainConfigList.DomainConfigModel) != 6 {
			t.Fatalf("%v %+v", err, resp)
		}
		d := cdn.CreateDescribeCdnDomainConfigsRequest()
		d.DomainName, d.FunctionNames = "img2.example.com", "HSTS"
		dr, err := cl.cdn.DescribeCdnDomainConfigs(d)
		if err != nil || len(dr.DomainConfigs.DomainConfig) != 1 || dr.DomainConfigs.DomainConfig[0].Status != "success" {
			t.Fatalf("%v %+v", err, dr)
		}
		args := dr.DomainConfigs.DomainConfig[0].FunctionArgs.FunctionArg
		if len(args) != 2 || args[1].ArgName != "https_hsts_max_age" || args[1].ArgValue != "5184000" {
			t.Fatalf("args %+v", args)
		}
		req.Functions = `[{"functionName":"HSTS","functionArgs":[{"argName":"enabled","argValue":"on"}]}]`
		_, err = cl.cdn.BatchSetCdnDomainConfig(req)
		wantCode(t, err, "InvalidFunctions.MissingArg", 400)
	})
}

func TestECSAndOOS(t *testing.T) {
	c := startCloud(t, "")
	cl := newClients(t, c, nil)
	secret := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a real key")}))
	cr := oos.CreateCreateSecretParameterRequest()
	cr.Name, cr.Value = "certflow-key-1", secret
	cresp, err := cl.oos.CreateSecretParameter(cr)
	if err != nil || cresp.Parameter.Name != "certflow-key-1" || cresp.Parameter.Value != "" {
		t.Fatalf("%v %+v", err, cresp)
	}
	_, err = cl.oos.CreateSecretParameter(cr)
	wantCode(t, err, "EntityAlreadyExists.Parameter", 400)
	g := oos.CreateGetSecretParameterRequest()
	g.Name, g.WithDecryption = "certflow-key-1", "true"
	if gr, err := cl.oos.GetSecretParameter(g); err != nil || gr.Parameter.Value != secret {
		t.Fatalf("get: %v", err)
	}

	script := "mkdir -p etc/nginx/ssl && printf '%s' '{{oos-secret:certflow-key-1}}' > etc/nginx/ssl/new.key && echo deployed {{site}}"
	run := ecs.CreateRunCommandRequest()
	run.Type, run.ContentEncoding, run.CommandContent = "RunShellScript", "Base64", base64.StdEncoding.EncodeToString([]byte(script))
	run.InstanceId = &[]string{"i-bp1localnginx01"}
	run.EnableParameter = "true"
	run.Parameters = map[string]interface{}{"site": "app"}
	run.Timeout = "30"
	rr, err := cl.ecs.RunCommand(run)
	if err != nil || !strings.HasPrefix(rr.InvokeId, "t-") {
		t.Fatalf("%v %+v", err, rr)
	}
	var res ecs.InvocationResult
	sawPending := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d := ecs.CreateDescribeInvocationResultsRequest()
		d.InvokeId = rr.InvokeId
		dr, err := cl.ecs.DescribeInvocationResults(d)
		if err != nil || len(dr.Invocation.InvocationResults.InvocationResult) != 1 {
			t.Fatalf("%v %+v", err, dr)
		}
		res = dr.Invocation.InvocationResults.InvocationResult[0]
		sawPending = sawPending || res.InvocationStatus == "Pending"
		if res.InvocationStatus != "Pending" && res.InvocationStatus != "Running" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _ := base64.StdEncoding.DecodeString(res.Output)
	if res.InvocationStatus != "Success" || res.ExitCode != 0 || strings.TrimSpace(string(out)) != "deployed app" || !sawPending {
		t.Fatalf("result %+v output %q pending %v", res, out, sawPending)
	}
	di := ecs.CreateDescribeInvocationsRequest()
	di.InvokeId = rr.InvokeId
	dir, err := cl.ecs.DescribeInvocations(di)
	if err != nil || len(dir.Invocations.Invocation) != 1 {
		t.Fatalf("%v %+v", err, dir)
	}
	if inv := dir.Invocations.Invocation[0]; inv.InvocationStatus != "Success" || len(inv.InvokeInstances.InvokeInstance) != 1 ||
		inv.InvokeInstances.InvokeInstance[0].InstanceId != "i-bp1localnginx01" {
		t.Fatalf("invocation %+v", inv)
	}
	content, _ := base64.StdEncoding.DecodeString(dir.Invocations.Invocation[0].CommandContent)
	if string(content) != script || strings.Contains(string(content), "not-a-real-key") {
		t.Fatalf("stored command text is not the unresolved script: %q", content)
	}
	for _, call := range c.Calls() {
		for _, v := range call.Params {
			if strings.Contains(v, "not-a-real-key") {
				t.Fatalf("secret value in call log: %+v", call)
			}
		}
	}

	t.Run("failing script", func(t *testing.T) {
		run := ecs.CreateRunCommandRequest()
		run.Type, run.CommandContent, run.InstanceId = "RunShellScript", "echo oops; exit 3", &[]string{"i-bp1localnginx02"}
		rr, err := cl.ecs.RunCommand(run)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			d := ecs.CreateDescribeInvocationResultsRequest()
			d.InvokeId, d.ContentEncoding = rr.InvokeId, "PlainText"
			dr, err := cl.ecs.DescribeInvocationResults(d)
			if err != nil {
				t.Fatal(err)
			}
			r := dr.Invocation.InvocationResults.InvocationResult[0]
			if r.InvocationStatus == "Failed" {
				if r.ExitCode != 3 || r.Output != "oops\n" {
					t.Fatalf("%+v", r)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("never Failed")
	})
	t.Run("errors", func(t *testing.T) {
		run := ecs.CreateRunCommandRequest()
		run.Type, run.CommandContent, run.InstanceId = "RunShellScript", "true", &[]string{"i-nope"}
		_, err := cl.ecs.RunCommand(run)
		wantCode(t, err, "InvalidInstance.NotFound", 400)
		run.InstanceId, run.EnableParameter, run.CommandContent = &[]string{"i-bp1localnginx01"}, "true", "echo {{oos-secret:missing}}"
		_, err = cl.ecs.RunCommand(run)
		wantCode(t, err, "InvalidParameter.OosSecretParameter", 400)
		run = ecs.CreateRunCommandRequest()
		run.Type, run.InstanceId = "RunShellScript", &[]string{"i-bp1localnginx01"}
		_, err = cl.ecs.RunCommand(run)
		wantCode(t, err, "MissingParameter", 400)
		del := oos.CreateDeleteSecretParameterRequest()
		del.Name = "certflow-key-1"
		if _, err := cl.oos.DeleteSecretParameter(del); err != nil {
			t.Fatal(err)
		}
		_, err = cl.oos.DeleteSecretParameter(del)
		wantCode(t, err, "EntityNotExists.Parameter", 404)
	})
}

func itoa(n int64) string { return strconvFormat(n) }

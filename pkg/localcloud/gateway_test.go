package localcloud

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// rawRPC sends a signed RPC request built by hand, so tests control timestamp and nonce.
func rawRPC(t *testing.T, c *Cloud, secret string, p map[string]string) (int, errorBody) {
	t.Helper()
	p["Signature"] = SignRPC(secret, RPCStringToSign("POST", p))
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	resp, err := http.Post(c.Endpoint()+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb errorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb
}

func baseParams(c *Cloud, nonce string, at time.Time) map[string]string {
	e := c.Estate()
	return map[string]string{
		"AccessKeyId": e.AccessKeyID, "Action": "DescribeUserDomains", "Version": "2018-05-10", "Format": "JSON",
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "", "SignatureNonce": nonce,
		"Timestamp": at.UTC().Format("2006-01-02T15:04:05Z"), "RegionId": "cn-hangzhou",
	}
}

func TestGateway(t *testing.T) {
	c := startCloud(t, "")
	secret := c.Estate().AccessKeySecret
	t.Run("ok then replayed nonce", func(t *testing.T) {
		st, _ := rawRPC(t, c, secret, baseParams(c, "nonce-1", time.Now()))
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		st, eb := rawRPC(t, c, secret, baseParams(c, "nonce-1", time.Now()))
		if st != 400 || eb.Code != "SignatureNonceUsed" {
			t.Fatalf("%d %+v", st, eb)
		}
	})
	t.Run("stale timestamp", func(t *testing.T) {
		st, eb := rawRPC(t, c, secret, baseParams(c, "nonce-2", time.Now().Add(-16*time.Minute)))
		if st != 400 || eb.Code != "InvalidTimeStamp.Expired" {
			t.Fatalf("%d %+v", st, eb)
		}
	})
	t.Run("unknown action", func(t *testing.T) {
		p := baseParams(c, "nonce-3", time.Now())
		p["Action"] = "DescribeEverything"
		st, eb := rawRPC(t, c, secret, p)
		if st != 404 || eb.Code != "InvalidAction.NotFound" || eb.RequestId == "" || eb.Recommend == "" {
			t.Fatalf("%d %+v", st, eb)
		}
	})
	t.Run("wrong secret through the SDK", func(t *testing.T) {
		cl := newClients(t, c, credentials.NewStaticAKCredentialsProvider(c.Estate().AccessKeyID, "wrong"))
		_, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		wantCode(t, err, "SignatureDoesNotMatch", 400)
		if !strings.Contains(err.Error(), "server string to sign is:POST&%2F&") {
			t.Fatalf("message: %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		cl := newClients(t, c, credentials.NewStaticAKCredentialsProvider("LTAInobody", "x"))
		_, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		wantCode(t, err, "InvalidAccessKeyId.NotFound", 404)
	})
	t.Run("sts", func(t *testing.T) {
		ak, sk, tok := c.IssueSTS(time.Hour)
		cl := newClients(t, c, credentials.NewStaticSTSCredentialsProvider(ak, sk, tok))
		if _, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest()); err != nil {
			t.Fatal(err)
		}
		cl = newClients(t, c, credentials.NewStaticAKCredentialsProvider(ak, sk))
		_, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		wantCode(t, err, "InvalidSecurityToken.Missing", 400)
		ak, sk, tok = c.IssueSTS(-time.Second)
		cl = newClients(t, c, credentials.NewStaticSTSCredentialsProvider(ak, sk, tok))
		_, err = cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		wantCode(t, err, "InvalidSecurityToken.Expired", 400)
	})
	t.Run("expired tokens fault", func(t *testing.T) {
		ak, sk, tok := c.IssueSTS(time.Hour)
		c.SetFaults(Faults{ExpireTokens: true})
		defer c.SetFaults(Faults{})
		cl := newClients(t, c, credentials.NewStaticSTSCredentialsProvider(ak, sk, tok))
		_, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		wantCode(t, err, "InvalidSecurityToken.Expired", 400)
	})
}

func TestFaults(t *testing.T) {
	c := startCloud(t, `
seed: 7
actions:
  GetUserCertificateDetail: {throttleEvery: 3}
  DescribeDomainCertificateInfo: {throttleEvery: 2}
  DescribeUserDomains: {errorRate: 1}
  SetLoadBalancerHTTPSListenerAttribute: {configuring: 1h}
  DescribeServerCertificates: {latency: 150ms}
`)
	cl := newClients(t, c, nil)
	t.Run("every third call throttled", func(t *testing.T) {
		var codes []string
		for i := 0; i < 6; i++ {
			req := cas.CreateGetUserCertificateDetailRequest()
			req.CertId = "1000001"
			_, err := cl.cas.GetUserCertificateDetail(req)
			if err != nil {
				wantCode(t, err, "Throttling.User", 400)
				codes = append(codes, "T")
			} else {
				codes = append(codes, "ok")
			}
		}
		if strings.Join(codes, ",") != "ok,ok,T,ok,ok,T" {
			t.Fatalf("pattern %v", codes)
		}
	})
	t.Run("cdn flow control", func(t *testing.T) {
		req := cdn.CreateDescribeDomainCertificateInfoRequest()
		req.DomainName = "img1.example.com"
		_, _ = cl.cdn.DescribeDomainCertificateInfo(req)
		req = cdn.CreateDescribeDomainCertificateInfoRequest()
		req.DomainName = "img1.example.com"
		_, err := cl.cdn.DescribeDomainCertificateInfo(req)
		wantCode(t, err, "FlowControlError", 400)
	})
	t.Run("5xx", func(t *testing.T) {
		_, err := cl.cdn.DescribeUserDomains(cdn.CreateDescribeUserDomainsRequest())
		if err == nil || !(strings.Contains(err.Error(), "ServiceUnavailable") || strings.Contains(err.Error(), "InternalError")) {
			t.Fatalf("want 5xx, got %v", err)
		}
	})
	t.Run("configuring window", func(t *testing.T) {
		hz := cl.slb("cn-hangzhou")
		set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort = "lb-bp1localweb01", "443"
		if _, err := hz.SetLoadBalancerHTTPSListenerAttribute(set); err != nil {
			t.Fatal(err)
		}
		set = slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		set.LoadBalancerId, set.ListenerPort = "lb-bp1localweb01", "443"
		_, err := hz.SetLoadBalancerHTTPSListenerAttribute(set)
		wantCode(t, err, "ServiceIsConfiguring", 400)
	})
	t.Run("latency", func(t *testing.T) {
		start := time.Now()
		if _, err := cl.slb("cn-beijing").DescribeServerCertificates(slb.CreateDescribeServerCertificatesRequest()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("latency %v", d)
		}
	})
	t.Run("call log", func(t *testing.T) {
		calls := CallsOf(c.Calls(), "GetUserCertificateDetail")
		if len(calls) != 6 || calls[2].Code != "Throttling.User" || calls[0].Code != "" || calls[0].Params["CertId"] != "1000001" {
			t.Fatalf("calls %+v", calls)
		}
		for _, call := range c.Calls() {
			if _, ok := call.Params["Signature"]; ok {
				t.Fatalf("signature logged: %+v", call)
			}
		}
	})
}

func TestQuotas(t *testing.T) {
	c := startCloud(t, "quotas: true\n")
	cl := newClients(t, c, nil)
	throttled := 0
	for i := 0; i < 8; i++ {
		req := cdn.CreateBatchSetCdnDomainConfigRequest()
		req.DomainNames = "static.example.com"
		req.Functions = `[{"functionName":"https_force","functionArgs":[{"argName":"enable","argValue":"on"}]}]`
		if _, err := cl.cdn.BatchSetCdnDomainConfig(req); err != nil {
			wantCode(t, err, "FlowControlError", 400)
			throttled++
		}
	}
	if throttled < 4 {
		t.Fatalf("8 quick calls at 3 QPS: only %d throttled", throttled)
	}
}

func TestEstateAndDump(t *testing.T) {
	if _, err := ParseEstate([]byte("accessKeyId: a\naccessKeySecret: b\nclbs: [{id: lb-1, region: cn-hangzhou, listeners: [{port: 443, protocol: tcp}]}]\n")); err == nil ||
		!strings.Contains(err.Error(), "clbs[0] lb-1: listeners[0]: protocol") {
		t.Fatalf("bad protocol error: %v", err)
	}
	if _, err := ParseEstate([]byte("accessKeyId: a\naccessKeySecret: b\nbogus: 1\n")); err == nil {
		t.Fatal("unknown field accepted")
	}
	c := startCloud(t, "")
	b, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		CAS       []map[string]any `json:"cas"`
		Listeners []map[string]any `json:"listeners"`
		CDN       []map[string]any `json:"cdn"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.CAS) != 1 || len(d.Listeners) != 3 || len(d.CDN) != 6 || strings.Contains(string(b), "PRIVATE KEY") {
		t.Fatalf("dump: %s", b)
	}
	if d.CAS[0]["sha256"] != c.InitialCertificate().SHA256() {
		t.Fatalf("initial certificate not in CAS")
	}
	var extra struct {
		Serving []struct{ ID, Name, SHA256 string }
		Queues  map[string]int
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		t.Fatal(err)
	}
	if len(extra.Serving) != 13 || extra.Serving[0].SHA256 != c.InitialCertificate().SHA256() {
		t.Fatalf("serving %+v", extra.Serving)
	}
	if n, ok := extra.Queues["certflow-bind"]; !ok || n != 0 {
		t.Fatalf("queues %+v", extra.Queues)
	}
}

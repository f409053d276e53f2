package cloud

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

const (
	testAK     = "LTAItestkeyid"
	testSecret = "s3cr3t-value-never-printed"
	testToken  = "sts-token-never-printed+/="
)

func stsCreds() Credentials {
	return Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret, SecurityToken: testToken}
}

// capture is one request as the test server saw it.
type capture struct {
	Method, Host, Path string
	Query              url.Values
	Header             http.Header
	Body               []byte
}

// recorder is an httptest server that records requests and answers with
// the status and body that respond returns.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []capture
}

func newRecorder(t *testing.T, respond func(c capture) (int, string)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := capture{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, c)
		rec.mu.Unlock()
		status, out := respond(c)
		if strings.HasPrefix(out, "<") {
			w.Header().Set("Content-Type", "application/xml")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) last(t *testing.T) capture {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("server saw no request")
	}
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func clearProxyEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
}

// rpcSignature recomputes the RPC v1 signature independently of the SDK
// (facts wire-pop §1.5).
func rpcSignature(method string, q url.Values, secret string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pct := func(s string) string {
		s = url.QueryEscape(s)
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = pct(k) + "=" + pct(q.Get(k))
	}
	sts := method + "&%2F&" + pct(strings.Join(parts, "&"))
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestCASCallCarriesSTSAndReachesEndpoint(t *testing.T) {
	clearProxyEnv(t)
	rec := newRecorder(t, func(capture) (int, string) {
		return 200, `{"RequestId":"req-1","Id":12345678,"Name":"example-2026","Common":"example.com"}`
	})
	prov := NewProvider(stsCreds())
	c := New(Options{Endpoint: rec.srv.URL, Timeout: 2 * time.Second}, prov)
	cl, err := c.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateGetUserCertificateDetailRequest()
	req.CertId = requests.NewInteger(12345678)
	resp, err := cl.GetUserCertificateDetail(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Name != "example-2026" || resp.RequestId != "req-1" {
		t.Fatalf("decoded response = %+v", resp)
	}
	got := rec.last(t)
	u, _ := url.Parse(rec.srv.URL)
	checks := map[string][2]string{
		"host":           {got.Host, u.Host},
		"method":         {got.Method, "POST"},
		"Action":         {got.Query.Get("Action"), "GetUserCertificateDetail"},
		"Version":        {got.Query.Get("Version"), "2020-04-07"},
		"CertId":         {got.Query.Get("CertId"), "12345678"},
		"AccessKeyId":    {got.Query.Get("AccessKeyId"), testAK},
		"SecurityToken":  {got.Query.Get("SecurityToken"), testToken},
		"RegionId":       {got.Query.Get("RegionId"), "cn-hangzhou"},
		"cred provider":  {got.Header.Get("X-Acs-Credentials-Provider"), "certflow_sts"},
		"signature":      {got.Query.Get("Signature"), rpcSignature("POST", got.Query, testSecret)},
		"SignatureNonce": {fmt.Sprint(len(got.Query.Get("SignatureNonce")) > 0), "true"},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
}

func TestProviderRotationReachesNextRequest(t *testing.T) {
	clearProxyEnv(t)
	rec := newRecorder(t, func(capture) (int, string) { return 200, `{"RequestId":"r"}` })
	prov := NewProvider(stsCreds())
	c := New(Options{Endpoint: rec.srv.URL}, prov)

	call := func() capture {
		cl, err := c.SLB("cn-shanghai")
		if err != nil {
			t.Fatal(err)
		}
		req := slb.CreateDescribeServerCertificatesRequest()
		if _, err := cl.DescribeServerCertificates(req); err != nil {
			t.Fatal(err)
		}
		return rec.last(t)
	}
	first := call()
	// Next FC invocation: fresh STS credentials arrive in its context.
	ctx := fccontext.NewContext(t.Context(), &fccontext.FcContext{Credentials: fccontext.Credentials{
		AccessKeyId: "STS.next", AccessKeySecret: "next-secret", SecurityToken: "next-token",
	}})
	if !prov.Refresh(ctx) {
		t.Fatal("Refresh found no credentials in the FC context")
	}
	second := call()
	if first.Query.Get("AccessKeyId") != testAK || first.Query.Get("SecurityToken") != testToken {
		t.Errorf("first call used %s/%s", first.Query.Get("AccessKeyId"), first.Query.Get("SecurityToken"))
	}
	if second.Query.Get("AccessKeyId") != "STS.next" || second.Query.Get("SecurityToken") != "next-token" {
		t.Errorf("second call used %s/%s, want rotated credentials", second.Query.Get("AccessKeyId"), second.Query.Get("SecurityToken"))
	}
	if got, want := second.Query.Get("Signature"), rpcSignature("POST", second.Query, "next-secret"); got != want {
		t.Errorf("second call not signed with the rotated secret")
	}
}

func TestEveryTypedClientReachesEndpoint(t *testing.T) {
	clearProxyEnv(t)
	rec := newRecorder(t, func(capture) (int, string) { return 200, `{"RequestId":"r"}` })
	c := New(Options{Endpoint: rec.srv.URL}, NewProvider(Credentials{AccessKeyID: testAK, AccessKeySecret: testSecret}))
	tests := []struct {
		name, action, version string
		call                  func() error
	}{
		{"slb", "DescribeLoadBalancerHTTPSListenerAttribute", "2014-05-15", func() error {
			cl, err := c.SLB("cn-beijing")
			if err != nil {
				return err
			}
			r := slb.CreateDescribeLoadBalancerHTTPSListenerAttributeRequest()
			r.LoadBalancerId, r.ListenerPort = "lb-1", requests.NewInteger(443)
			_, err = cl.DescribeLoadBalancerHTTPSListenerAttribute(r)
			return err
		}},
		{"cdn", "DescribeDomainCertificateInfo", "2018-05-10", func() error {
			cl, err := c.CDN()
			if err != nil {
				return err
			}
			r := cdn.CreateDescribeDomainCertificateInfoRequest()
			r.DomainName = "cdn.example.com"
			_, err = cl.DescribeDomainCertificateInfo(r)
			return err
		}},
		{"ecs", "DescribeInvocationResults", "2014-05-26", func() error {
			cl, err := c.ECS("cn-hangzhou")
			if err != nil {
				return err
			}
			r := ecs.CreateDescribeInvocationResultsRequest()
			r.InvokeId = "t-1"
			_, err = cl.DescribeInvocationResults(r)
			return err
		}},
		{"oos", "DeleteSecretParameter", "2019-06-01", func() error {
			cl, err := c.OOS("cn-hangzhou")
			if err != nil {
				return err
			}
			r := oos.CreateDeleteSecretParameterRequest()
			r.Name = "certflow-key"
			_, err = cl.DeleteSecretParameter(r)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			got := rec.last(t)
			if got.Query.Get("Action") != tc.action || got.Query.Get("Version") != tc.version {
				t.Errorf("Action/Version = %s/%s", got.Query.Get("Action"), got.Query.Get("Version"))
			}
			if got.Query.Get("Signature") != rpcSignature(got.Method, got.Query, testSecret) {
				t.Error("signature does not verify")
			}
			if got.Query.Has("SecurityToken") {
				t.Error("SecurityToken sent for a plain access key")
			}
		})
	}
}

func TestROACommonRequestToEndpoint(t *testing.T) {
	clearProxyEnv(t)
	rec := newRecorder(t, func(capture) (int, string) { return 200, `{"requestId":"r","result":{"status":"SUCCESS"}}` })
	c := New(Options{Endpoint: rec.srv.URL}, NewProvider(stsCreds()))
	cl, err := c.ROA("Airec", "cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := requests.NewCommonRequest()
	req.Method = requests.GET
	req.Product, req.Version = "Airec", "2020-11-26"
	req.PathPattern = "/v2/openapi/instances/[instanceId]/certificates/status"
	req.PathParams["instanceId"] = "airec-cn-1"
	if err := c.SetEndpoint(req, "Airec", "cn-hangzhou"); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.ProcessCommonRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.GetHttpContentString(), "SUCCESS") {
		t.Errorf("body = %s", resp.GetHttpContentString())
	}
	got := rec.last(t)
	u, _ := url.Parse(rec.srv.URL)
	if got.Host != u.Host || got.Method != "GET" || got.Path != "/v2/openapi/instances/airec-cn-1/certificates/status" {
		t.Errorf("request = %s %s%s", got.Method, got.Host, got.Path)
	}
	if !strings.HasPrefix(got.Header.Get("Authorization"), "acs "+testAK+":") {
		t.Errorf("Authorization = %q", got.Header.Get("Authorization"))
	}
	if got.Header.Get("X-Acs-Security-Token") != testToken {
		t.Error("x-acs-security-token missing")
	}
	sum := md5.Sum(got.Body)
	if got.Header.Get("Content-Md5") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Error("Content-MD5 does not match body")
	}
}

// roundTripFunc lets a test see what the real-endpoint clients would send.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRealEndpointsUseHTTPS(t *testing.T) {
	clearProxyEnv(t)
	var seen []string
	c := New(Options{}, NewProvider(stsCreds()))
	c.rt = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Scheme+"://"+r.URL.Host)
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"RequestId":"r"}`)), Request: r}, nil
	})
	casCl, _ := c.CAS("cn-hangzhou")
	if _, err := casCl.GetUserCertificateDetail(cas.CreateGetUserCertificateDetailRequest()); err != nil {
		t.Fatal(err)
	}
	ecsCl, _ := c.ECS("cn-hangzhou")
	if _, err := ecsCl.DescribeInvocationResults(ecs.CreateDescribeInvocationResultsRequest()); err != nil {
		t.Fatal(err)
	}
	cdnCl, _ := c.CDN()
	if _, err := cdnCl.DescribeDomainCertificateInfo(cdn.CreateDescribeDomainCertificateInfoRequest()); err != nil {
		t.Fatal(err)
	}
	want := []string{"https://cas.aliyuncs.com", "https://ecs-cn-hangzhou.aliyuncs.com", "https://cdn.aliyuncs.com"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("endpoints = %v, want %v", seen, want)
	}
	req := requests.NewCommonRequest()
	if err := c.SetEndpoint(req, "Airec", "cn-beijing"); err != nil {
		t.Fatal(err)
	}
	if req.Domain != "airec.cn-beijing.aliyuncs.com" || req.Port != "443" || req.Scheme != "https" || req.Method != "POST" {
		t.Errorf("common request endpoint = %s://%s:%s %s", req.Scheme, req.Domain, req.Port, req.Method)
	}
}

func TestLoopbackNeverProxied(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	rec := newRecorder(t, func(capture) (int, string) { return 200, `{"RequestId":"r"}` })
	c := New(Options{Endpoint: rec.srv.URL}, NewProvider(stsCreds()))
	cl, err := c.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetUserCertificateDetail(cas.CreateGetUserCertificateDetailRequest()); err != nil {
		t.Fatalf("call through proxy env: %v", err)
	}
	if proxied.Load() != 0 || rec.count() != 1 {
		t.Errorf("proxy hits = %d, server hits = %d; want 0 and 1", proxied.Load(), rec.count())
	}
}

func TestClassifyServerErrors(t *testing.T) {
	clearProxyEnv(t)
	tests := []struct {
		status    int
		code      string
		message   string
		wantClass Class
	}{
		{400, "Throttling.User", "Request was denied due to user flow control.", Throttled},
		{400, "Throttling.Api", "Request was denied due to api flow control.", Throttled},
		{400, "Throttling", "flow control", Throttled},
		{400, "FlowControlError", "CDN flow control", Throttled},
		{503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", Retryable},
		{500, "InternalError", "unknown server error", Retryable},
		{502, "BadGateway", "upstream failed", Retryable},
		{400, "ServiceIsConfiguring", "A previous configuration is pending; please try again later.", Busy},
		{400, "OperationBusy", "A previous operation is pending.", Busy},
		{409, "BackendServer.configuring", "pending", Busy},
		{400, "IncorrectStatus.Listener", "listener configuring", Busy},
		{400, "OperationConflict", "conflict", Busy},
		{400, "InvalidParameter", "The specified parameter CertId is not valid.", Permanent},
		{404, "ServerCertificateId.NotFound", "not found in region", Permanent},
		{403, "Forbidden.RAM", "denied", Permanent},
		{400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAI%26SecurityToken%3D" + url.QueryEscape(testToken), Permanent},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			rec := newRecorder(t, func(capture) (int, string) {
				b, _ := json.Marshal(map[string]string{"RequestId": "req-" + tc.code, "Code": tc.code, "Message": tc.message, "HostId": "cas.aliyuncs.com"})
				return tc.status, string(b)
			})
			c := New(Options{Endpoint: rec.srv.URL}, NewProvider(stsCreds()))
			cl, _ := c.CAS("cn-hangzhou")
			_, err := cl.GetUserCertificateDetail(cas.CreateGetUserCertificateDetailRequest())
			ae := Classify("GetUserCertificateDetail", err)
			if ae == nil {
				t.Fatal("no error classified")
			}
			if ae.Class != tc.wantClass || ae.Code != tc.code || ae.HTTPStatus != tc.status || ae.RequestID != "req-"+tc.code {
				t.Errorf("got class=%v code=%s status=%d req=%s", ae.Class, ae.Code, ae.HTTPStatus, ae.RequestID)
			}
			if ae.Action != "GetUserCertificateDetail" {
				t.Errorf("action = %q", ae.Action)
			}
			assertNoSecrets(t, ae.Error())
			assertNoSecrets(t, fmt.Sprintf("%v %+v", ae, *ae))
		})
	}
}

func TestClassifyTransportAndTimeout(t *testing.T) {
	clearProxyEnv(t)
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		c := New(Options{Endpoint: addr}, NewProvider(stsCreds()))
		cl, _ := c.SLB("cn-hangzhou")
		_, err := cl.DescribeServerCertificates(slb.CreateDescribeServerCertificatesRequest())
		ae := Classify("DescribeServerCertificates", err)
		if ae == nil || ae.Class != Retryable || ae.Code != "Transport" {
			t.Fatalf("got %#v", ae)
		}
		assertNoSecrets(t, ae.Error())
		assertNoSecrets(t, ae.Unwrap().Error())
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		c := New(Options{Endpoint: srv.URL, Timeout: 150 * time.Millisecond}, NewProvider(stsCreds()))
		cl, _ := c.CDN()
		start := time.Now()
		_, err := cl.DescribeDomainCertificateInfo(cdn.CreateDescribeDomainCertificateInfoRequest())
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("call took %v with a 150ms timeout", el)
		}
		ae := Classify("DescribeDomainCertificateInfo", err)
		if ae == nil || ae.Class != Retryable || ae.Code != "Timeout" {
			t.Fatalf("got %#v", ae)
		}
		assertNoSecrets(t, ae.Error())
	})
	t.Run("nil", func(t *testing.T) {
		if Classify("X", nil) != nil {
			t.Error("Classify(nil) != nil")
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		rec := newRecorder(t, func(capture) (int, string) { return 200, `{}` })
		c := New(Options{Endpoint: rec.srv.URL}, nil)
		cl, _ := c.CAS("cn-hangzhou")
		_, err := cl.GetUserCertificateDetail(cas.CreateGetUserCertificateDetailRequest())
		if ae := Classify("GetUserCertificateDetail", err); ae == nil || ae.Class != Permanent || ae.Code != "NoCredentials" {
			t.Fatalf("got %v", ae)
		}
		if rec.count() != 0 {
			t.Error("unsigned request was sent")
		}
	})
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{testSecret, testToken, url.QueryEscape(testToken)} {
		if strings.Contains(s, secret) {
			t.Errorf("secret %q leaked in %q", secret, s)
		}
	}
}

func TestCredentialsRedaction(t *testing.T) {
	c := stsCreds()
	type wrapper struct {
		Creds Credentials
		Ptr   *Credentials
	}
	w := wrapper{Creds: c, Ptr: &c}
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c), "String": c.String(),
		"wrapper %+v": fmt.Sprintf("%+v", w), "wrapper %#v": fmt.Sprintf("%#v", w),
		"ptr %v": fmt.Sprintf("%v", &c), "json": string(js),
	}
	for name, out := range outputs {
		assertNoSecrets(t, out)
		if !strings.Contains(out, testAK) || !strings.Contains(out, "redacted") {
			t.Errorf("%s = %q: want key ID shown and secret redacted", name, out)
		}
	}
}

func TestFromFCContextAndEnv(t *testing.T) {
	if _, ok := FromFCContext(t.Context()); ok {
		t.Error("credentials found in a plain context")
	}
	ctx := fccontext.NewContext(context.Background(), &fccontext.FcContext{Credentials: fccontext.Credentials{
		AccessKeyId: "STS.a", AccessKeySecret: "b", SecurityToken: "c"}})
	got, ok := FromFCContext(ctx)
	if !ok || got != (Credentials{"STS.a", "b", "c"}) {
		t.Errorf("FromFCContext = %v, %v", got, ok)
	}
	t.Setenv(EnvAccessKeyID, "")
	t.Setenv(EnvAccessKeySecret, "")
	if _, ok := FromEnv(); ok {
		t.Error("FromEnv ok with empty env")
	}
	t.Setenv(EnvAccessKeyID, "id")
	t.Setenv(EnvAccessKeySecret, "secret")
	t.Setenv(EnvSecurityToken, "token")
	got, ok = FromEnv()
	if !ok || got != (Credentials{"id", "secret", "token"}) {
		t.Errorf("FromEnv = %v, %v", got, ok)
	}
	p := NewProvider(Credentials{})
	if !p.Refresh(t.Context()) || p.Get().SecurityToken != "token" {
		t.Error("Refresh did not fall back to the environment")
	}
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Options) bool
	}{
		{"defaults", map[string]string{}, "", func(o Options) bool {
			return o.Endpoint == "" && o.timeout() == DefaultTimeout && o.region() == "cn-hangzhou"
		}},
		{"local", map[string]string{EnvEndpoint: "http://127.0.0.1:18080", EnvMNSEndpoint: "http://127.0.0.1:18081",
			EnvTimeout: "3s", "FC_REGION": "cn-shanghai", "FC_ACCOUNT_ID": "123"}, "", func(o Options) bool {
			return o.Endpoint == "http://127.0.0.1:18080" && o.Timeout == 3*time.Second && o.Region == "cn-shanghai" && o.AccountID == "123"
		}},
		{"bad endpoint", map[string]string{EnvEndpoint: "127.0.0.1:18080"}, EnvEndpoint, nil},
		{"endpoint with path", map[string]string{EnvEndpoint: "http://127.0.0.1:1/x"}, EnvEndpoint, nil},
		{"bad timeout", map[string]string{EnvTimeout: "soon"}, EnvTimeout, nil},
		{"missing roots", map[string]string{EnvRoots: t.TempDir() + "/none.pem"}, EnvRoots, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvEndpoint, EnvMNSEndpoint, EnvTimeout, EnvRegion, EnvAccountID, EnvRoots, "FC_REGION", "FC_ACCOUNT_ID", "ALIBABA_CLOUD_REGION_ID"} {
				t.Setenv(k, tc.env[k])
			}
			o, err := OptionsFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Errorf("options = %+v", o)
			}
		})
	}
}

func TestBadEndpointAndRegion(t *testing.T) {
	c := New(Options{Endpoint: "ftp://x"}, nil)
	if _, err := c.CAS("cn-hangzhou"); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("CAS with bad endpoint: %v", err)
	}
	c = New(Options{Endpoint: "http://127.0.0.1:1"}, nil)
	if _, err := c.SLB("cn hangzhou"); err == nil || !strings.Contains(err.Error(), `"cn hangzhou"`) {
		t.Errorf("SLB with bad region: %v", err)
	}
}

func TestConcurrentClientsAreRaceFree(t *testing.T) {
	clearProxyEnv(t)
	rec := newRecorder(t, func(capture) (int, string) { return 200, `{"RequestId":"r"}` })
	prov := NewProvider(stsCreds())
	c := New(Options{Endpoint: rec.srv.URL}, prov)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%4 == 0 {
				prov.Set(stsCreds())
			}
			cl, err := c.CAS("cn-hangzhou")
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := cl.GetUserCertificateDetail(cas.CreateGetUserCertificateDetailRequest()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if rec.count() != 16 {
		t.Errorf("server saw %d requests, want 16", rec.count())
	}
}

func TestMNSQueueThroughSwappedTransport(t *testing.T) {
	rec := newRecorder(t, func(c capture) (int, string) {
		if c.Method != "POST" || c.Path != "/queues/certflow-bind/messages" {
			return 404, `<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/"><Code>QueueNotExist</Code><Message>no queue</Message><RequestId>R404</RequestId><HostId>h</HostId></Error>`
		}
		return 201, `<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageId>MSG-1</MessageId><MessageBodyMD5>ABC</MessageBodyMD5></Message>`
	})
	c := New(Options{MNSEndpoint: rec.srv.URL, AccountID: "1234567890", Region: "cn-shanghai"}, NewProvider(stsCreds()))
	q, err := c.MNSQueue("certflow-bind")
	if err != nil {
		t.Fatal(err)
	}
	if q2, _ := c.MNSQueue("certflow-bind"); q2 != q {
		t.Error("queue client not cached")
	}
	resp, err := q.SendMessage(mns.MessageSendRequest{MessageBody: "eyJ0YXNrIjoxfQ==", Priority: 8})
	if err != nil {
		t.Fatal(err)
	}
	if resp.MessageId != "MSG-1" {
		t.Errorf("MessageId = %q", resp.MessageId)
	}
	got := rec.last(t)
	if got.Host != "1234567890.mns.cn-shanghai.aliyuncs.com" {
		t.Errorf("Host = %q", got.Host)
	}
	if !strings.HasPrefix(got.Header.Get("Authorization"), "MNS "+testAK+":") || got.Header.Get("Security-Token") != testToken {
		t.Errorf("auth headers = %q / %q", got.Header.Get("Authorization"), got.Header.Get("Security-Token"))
	}
	if !strings.Contains(string(got.Body), "<MessageBody>eyJ0YXNrIjoxfQ==</MessageBody>") || !strings.Contains(string(got.Body), "<Priority>8</Priority>") {
		t.Errorf("body = %s", got.Body)
	}
	// An error response is decoded and classified with its code.
	other, err := c.MNSQueue("missing")
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.SendMessage(mns.MessageSendRequest{MessageBody: "x", Priority: 8})
	ae := Classify("SendMessage", err)
	if ae == nil || ae.Code != "QueueNotExist" || ae.Class != Permanent {
		t.Errorf("classified %v", ae)
	}
}

func TestMNSBadEndpointIsAnErrorNotAPanic(t *testing.T) {
	tests := []struct{ name, endpoint, account, wantErr string }{
		{"non-MNS host", "http://mns.example.com", "", "mns client"},
		{"no endpoint no account", "", "", EnvMNSEndpoint},
		{"bad URL", "mns://x", "", "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{MNSEndpoint: tc.endpoint, AccountID: tc.account}, NewProvider(stsCreds()))
			_, err := c.MNSQueue("q")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	c := New(Options{MNSEndpoint: "http://127.0.0.1:1"}, NewProvider(stsCreds()))
	if _, err := c.MNSQueue("bad name!"); err == nil {
		t.Error("invalid queue name accepted")
	}
}

// BenchmarkCASClient measures building a client per task (Clients hands
// out a fresh one per call because a shared SDK client races).
func BenchmarkCASClient(b *testing.B) {
	c := New(Options{Endpoint: "http://127.0.0.1:18080"}, NewProvider(stsCreds()))
	for b.Loop() {
		if _, err := c.CAS("cn-hangzhou"); err != nil {
			b.Fatal(err)
		}
	}
}

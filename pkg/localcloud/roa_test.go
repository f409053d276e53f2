package localcloud

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
)

func TestROAThroughSDK(t *testing.T) {
	c := startCloud(t, "")
	e := c.Estate()
	host, port, _ := strings.Cut(c.Addr(), ":")
	status := func(t *testing.T, secret string) (int, error) {
		t.Helper()
		client, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithTimeout(5*time.Second),
			credentials.NewStaticAKCredentialsProvider(e.AccessKeyID, secret))
		if err != nil {
			t.Fatal(err)
		}
		req := requests.NewCommonRequest()
		req.Method, req.Scheme, req.Domain, req.Port = "GET", "http", host, port
		req.Version, req.Product = "2020-11-26", "Airec"
		req.PathPattern = "/v2/openapi/instances/[instanceId]/certificates/status"
		req.PathParams["instanceId"] = e.AIRec[0].InstanceID
		resp, err := client.ProcessCommonRequest(req)
		if err != nil {
			return 0, err
		}
		return resp.GetHttpStatus(), nil
	}
	if code, err := status(t, e.AccessKeySecret); err != nil || code != 200 {
		t.Fatalf("signed status: %d %v", code, err)
	}
	_, err := status(t, "wrong")
	wantCode(t, err, "SignatureDoesNotMatch", 400)

	bearer := func(tok string) int {
		req, _ := http.NewRequest("GET", c.Endpoint()+"/v2/openapi/instances/"+e.AIRec[0].InstanceID+"/certificates/status", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := bearer(e.AIRec[0].Token); got != 200 {
		t.Fatalf("bearer: %d", got)
	}
	if got := bearer("nope"); got != 401 {
		t.Fatalf("bad bearer: %d", got)
	}
	if n := len(CallsOf(c.Calls(), "GET /v2/openapi/instances/"+e.AIRec[0].InstanceID+"/certificates/status")); n != 4 {
		t.Fatalf("call log has %d AIRec calls, want 4", n)
	}
}

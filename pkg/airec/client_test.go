package airec

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

func TestNewValidates(t *testing.T) {
	sc, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewStaticAKCredentialsProvider("ak", "sk"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   ClientOptions
		errHas string
	}{
		{"region default endpoint", ClientOptions{Region: "cn-hangzhou", InstanceID: "airec-cn-1", Token: "t"}, ""},
		{"loopback http", ClientOptions{Endpoint: "http://127.0.0.1:8080", InstanceID: "airec-cn-1", Token: "t"}, ""},
		{"localhost http", ClientOptions{Endpoint: "http://localhost:8080", InstanceID: "airec-cn-1", SDK: sc}, ""},
		{"ipv6 loopback", ClientOptions{Endpoint: "http://[::1]:8080", InstanceID: "airec-cn-1", Token: "t"}, ""},
		{"plain http to the service", ClientOptions{Endpoint: "http://airec.cn-hangzhou.aliyuncs.com", InstanceID: "airec-cn-1", Token: "t"}, "loopback"},
		{"plain http to a LAN address", ClientOptions{Endpoint: "http://10.0.0.5", InstanceID: "airec-cn-1", Token: "t"}, "loopback"},
		{"other scheme", ClientOptions{Endpoint: "ftp://127.0.0.1", InstanceID: "airec-cn-1", Token: "t"}, "https"},
		{"no endpoint or region", ClientOptions{InstanceID: "airec-cn-1", Token: "t"}, "region"},
		{"no auth", ClientOptions{Region: "cn-hangzhou", InstanceID: "airec-cn-1"}, "exactly one"},
		{"both auths", ClientOptions{Region: "cn-hangzhou", InstanceID: "airec-cn-1", Token: "t", SDK: sc}, "exactly one"},
		{"instance with a slash", ClientOptions{Region: "cn-hangzhou", InstanceID: "a/../b", Token: "t"}, "instance ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if tc.errHas == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("New err = %v, want one mentioning %q", err, tc.errHas)
			}
		})
	}
}

// fakeKey is not a key: PEM around bytes whose base64 lines a leak would show.
var fakeKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key: SECRET SECRET SECRET SECRET SECRET SECRET SECRET SECRET 0123")}))

func TestBindWireAndErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		code      string
		retryable bool
	}{
		{"airec business error", 400, `{"requestId":"R1","code":"InvalidParameter.Certificate","message":"cert is not a PEM certificate chain"}`, "InvalidParameter.Certificate", false},
		{"gateway error", 400, `{"RequestId":"R2","Code":"Throttling.User","Message":"Request was denied due to user flow control."}`, "Throttling.User", true},
		{"server echoes the key", 400, `{"requestId":"R3","code":"InvalidParameter","message":"bad key: ` + strings.ReplaceAll(fakeKey, "\n", `\n`) + `"}`, "InvalidParameter", false},
		{"server echoes a key line", 400, `{"requestId":"R4","code":"InvalidParameter","message":"near SECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRET0123"}`, "InvalidParameter", false},
		{"bad gateway html", 502, `<html>bad gateway</html>`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v2/openapi/instances/airec-cn-1/certificates/bind" || r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("request %s %s auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
				}
				_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
				if err != nil {
					t.Errorf("content type: %v", err)
				}
				mr := multipart.NewReader(r.Body, params["boundary"])
				var got []string
				for {
					p, err := mr.NextPart()
					if err != nil {
						break
					}
					data, _ := io.ReadAll(p)
					got = append(got, p.FormName()+"="+string(data))
				}
				if strings.Join(got, "|") != "mapping_file=XLSX|cert=CHAIN|key="+fakeKey {
					t.Errorf("parts = %q", got)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := New(ClientOptions{Endpoint: srv.URL, InstanceID: "airec-cn-1", Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Bind(t.Context(), []byte("XLSX"), []byte("CHAIN"), []byte(fakeKey))
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.HTTPStatus != tc.status || IsRetryable(err) != tc.retryable {
				t.Fatalf("err = %#v, want code %q status %d retryable %v", err, tc.code, tc.status, tc.retryable)
			}
			for _, line := range strings.Split(fakeKey, "\n") {
				if len(line) > 10 && strings.Contains(err.Error(), line) {
					t.Errorf("error carries key material %q: %v", line, err)
				}
			}
		})
	}
}

func TestContextAndTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(ClientOptions{Endpoint: srv.URL, InstanceID: "airec-cn-1", Token: "tok", Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	if err == nil || !IsRetryable(err) {
		t.Errorf("timeout err = %v, want a retryable timeout", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("cancelled err = %v", err)
	}
}

func TestMissingResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"requestId":"R9"}`)
	}))
	defer srv.Close()
	c, err := New(ClientOptions{Endpoint: srv.URL, InstanceID: "airec-cn-1", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HTTPSEnforced(t.Context()); err == nil || !strings.Contains(err.Error(), "no result") {
		t.Errorf("err = %v, want 'no result'", err)
	}
}

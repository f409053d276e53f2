package localcloud

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func goldenParams() map[string]string {
	return map[string]string{
		"AccessKeyId": "testid", "Action": "GetUserCertificateDetail", "CertFilter": "false",
		"CertId": "123", "Format": "JSON", "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureType": "",
		"SignatureVersion": "1.0", "Timestamp": "2026-01-02T03:04:05Z", "Version": "2020-04-07",
	}
}

func TestRPCGoldenVector(t *testing.T) {
	const wantSTS = "POST&%2F&AccessKeyId%3Dtestid%26Action%3DGetUserCertificateDetail%26CertFilter%3Dfalse%26CertId%3D123%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-01-02T03%253A04%253A05Z%26Version%3D2020-04-07"
	sts := RPCStringToSign("POST", goldenParams())
	if sts != wantSTS {
		t.Fatalf("string to sign:\n got %s\nwant %s", sts, wantSTS)
	}
	if got := SignRPC("testsecret", sts); got != "pq3k1/azGd6S6gb6BiuQcoYxbDY=" {
		t.Fatalf("signature = %s", got)
	}
}

func TestRPCVerifier(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC)
	keys := map[string]Key{
		"testid":  {Secret: "testsecret"},
		"STS.a":   {Secret: "s2", Token: "tok", Expires: now.Add(time.Hour)},
		"STS.old": {Secret: "s3", Token: "tok3", Expires: now.Add(-time.Second)},
	}
	signed := func(mod func(map[string]string)) map[string]string {
		p := goldenParams()
		mod(p)
		k := keys[p["AccessKeyId"]]
		p["Signature"] = SignRPC(k.Secret, RPCStringToSign("POST", p))
		return p
	}
	tests := []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"golden", signed(func(map[string]string) {}), ""},
		{"tampered", func() map[string]string { p := signed(func(map[string]string) {}); p["CertId"] = "124"; return p }(), "SignatureDoesNotMatch"},
		{"stale", signed(func(p map[string]string) { p["Timestamp"] = "2026-01-02T02:50:00Z"; p["SignatureNonce"] = "n2" }), "InvalidTimeStamp.Expired"},
		{"bad time", signed(func(p map[string]string) { p["Timestamp"] = "yesterday"; p["SignatureNonce"] = "n3" }), "InvalidTimeStamp.Format"},
		{"unknown ak", signed(func(p map[string]string) { p["AccessKeyId"] = "nobody" }), "InvalidAccessKeyId.NotFound"},
		{"no action", signed(func(p map[string]string) { delete(p, "Action") }), "MissingParameter"},
		{"sts ok", signed(func(p map[string]string) {
			p["AccessKeyId"] = "STS.a"
			p["SecurityToken"] = "tok"
			p["SignatureNonce"] = "n4"
		}), ""},
		{"sts expired", signed(func(p map[string]string) {
			p["AccessKeyId"] = "STS.old"
			p["SecurityToken"] = "tok3"
			p["SignatureNonce"] = "n5"
		}), "InvalidSecurityToken.Expired"},
		{"sts wrong token", signed(func(p map[string]string) {
			p["AccessKeyId"] = "STS.a"
			p["SecurityToken"] = "other"
			p["SignatureNonce"] = "n6"
		}), "InvalidSecurityToken.MismatchWithAccessKey"},
	}
	v := &RPCVerifier{Keys: func(ak string) (Key, bool) { k, ok := keys[ak]; return k, ok }, Now: func() time.Time { return now }}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := v.Verify("POST", tc.params)
			got := ""
			if e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Fatalf("code = %q (%v), want %q", got, e, tc.code)
			}
			if got == "SignatureDoesNotMatch" && !strings.Contains(e.Message, "server string to sign is:POST&%2F&") {
				t.Fatalf("message lacks server string to sign: %s", e.Message)
			}
		})
	}
	t.Run("nonce replay", func(t *testing.T) {
		p := signed(func(p map[string]string) { p["SignatureNonce"] = "replayed" })
		if _, e := v.Verify("POST", p); e != nil {
			t.Fatalf("first use: %v", e)
		}
		if _, e := v.Verify("POST", p); e == nil || e.Code != "SignatureNonceUsed" {
			t.Fatalf("replay: %v", e)
		}
	})
}

func TestROAGoldenVector(t *testing.T) {
	r := httptest.NewRequest("POST", "/v2/openapi/instances/airec-cn-1/tables/item/actions/bulk", bytes.NewReader([]byte(`{"a":1}`)))
	r.Header = http.Header{}
	for k, v := range map[string]string{
		"Accept": "application/json", "Content-MD5": "u2y1xo30ZSlByvZSo2by2A==", "Content-Type": "application/json",
		"Date": "Fri, 02 Jan 2026 03:04:05 GMT", "x-acs-action": "PushDocument", "x-acs-credentials-provider": "static_ak",
		"x-acs-signature-method": "HMAC-SHA1", "x-acs-signature-version": "1.0", "x-acs-version": "2020-11-26",
	} {
		r.Header.Set(k, v)
	}
	want := "POST\napplication/json\nu2y1xo30ZSlByvZSo2by2A==\napplication/json\nFri, 02 Jan 2026 03:04:05 GMT\n" +
		"x-acs-action:PushDocument\nx-acs-credentials-provider:static_ak\nx-acs-signature-method:HMAC-SHA1\n" +
		"x-acs-signature-version:1.0\nx-acs-version:2020-11-26\n/v2/openapi/instances/airec-cn-1/tables/item/actions/bulk"
	sts := ROAStringToSign("POST", r.Header, r.URL.Path, r.URL.Query())
	if sts != want {
		t.Fatalf("string to sign:\n%q\nwant\n%q", sts, want)
	}
	if got := SignROA("testsecret", sts); got != "X472BrLcOwXGJ1k2iOcYCaMi/3E=" {
		t.Fatalf("signature = %s", got)
	}
	v := &ROAVerifier{
		Keys: func(ak string) (Key, bool) { return Key{Secret: "testsecret"}, ak == "testid" },
		Now:  func() time.Time { return time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC) },
	}
	r.Header.Set("Authorization", "acs testid:X472BrLcOwXGJ1k2iOcYCaMi/3E=")
	if _, e := v.Verify(r, []byte(`{"a":1}`)); e != nil {
		t.Fatalf("verify golden: %v", e)
	}
	if _, e := v.Verify(r, []byte(`{"a":2}`)); e == nil || e.Code != "ContentMD5NotMatched" {
		t.Fatalf("tampered body: %v", e)
	}
	r.Header.Set("x-acs-version", "2020-11-27")
	if _, e := v.Verify(r, []byte(`{"a":1}`)); e == nil || e.Code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered header: %v", e)
	}
}

func TestROAQueryCanonical(t *testing.T) {
	r := httptest.NewRequest("GET", "/v2/openapi/instances/airec-cn-1?a=&z=a+b", nil)
	sts := ROAStringToSign("GET", http.Header{}, r.URL.Path, r.URL.Query())
	if !strings.HasSuffix(sts, "/v2/openapi/instances/airec-cn-1?a&z=a b") {
		t.Fatalf("resource = %q", sts)
	}
}

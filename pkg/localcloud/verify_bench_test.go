package localcloud

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkRPCVerify is the gateway's per-request cost before any action runs: build the
// string to sign, HMAC-SHA1 it, compare, check timestamp skew and record the nonce.
func BenchmarkRPCVerify(b *testing.B) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := &RPCVerifier{Keys: func(ak string) (Key, bool) { return Key{Secret: "bench-secret"}, ak == "benchid" }, Now: func() time.Time { return now }}
	n := 0
	for b.Loop() {
		n++
		p := map[string]string{"AccessKeyId": "benchid", "Action": "SetCdnDomainSSLCertificate", "DomainName": "cdn00001.bench.example.com",
			"Format": "JSON", "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "nonce-" + strconv.Itoa(n),
			"SignatureVersion": "1.0", "Timestamp": "2026-01-02T03:04:05Z", "Version": "2018-05-10", "SSLProtocol": "on", "CertType": "cas"}
		p["Signature"] = SignRPC("bench-secret", RPCStringToSign("POST", p))
		if _, err := v.Verify("POST", p); err != nil {
			b.Fatalf("verify: %v", err)
		}
	}
}

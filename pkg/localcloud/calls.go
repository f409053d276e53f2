package localcloud

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Call is one API call as the local cloud saw it. Params never hold signatures, tokens,
// certificate or key bodies, or secret values.
type Call struct {
	Time    time.Time         `json:"time"`
	Product string            `json:"product"`
	Action  string            `json:"action"`
	Region  string            `json:"region,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	Code    string            `json:"code"` // "" on success
	Status  int               `json:"status"`
	Latency time.Duration     `json:"latency"`
}

// redacted parameter names: credentials, signatures and material.
var redacted = map[string]bool{
	"Cert": true, "Key": true, "EncryptCert": true, "EncryptPrivateKey": true, "SignCert": true, "SignPrivateKey": true,
	"ServerCertificate": true, "PrivateKey": true, "SSLPub": true, "SSLPri": true, "Value": true,
	"CommandContent": true, "Parameters": true,
}

// commonParams are the signer's own parameters (credentials and signatures among them),
// dropped from the log.
var commonParams = map[string]bool{
	"AccessKeyId": true, "Format": true, "SignatureMethod": true, "SignatureVersion": true,
	"SignatureType": true, "Timestamp": true, "Version": true, "Action": true, "RegionId": true,
	"Signature": true, "SecurityToken": true, "BearerToken": true, "SignatureNonce": true,
}

func logParams(p map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		switch {
		case commonParams[k]:
		case redacted[k]:
			out[k] = "(redacted)"
		default:
			out[k] = v
		}
	}
	return out
}

type callLog struct {
	mu    sync.Mutex
	calls []Call
}

func (l *callLog) add(c Call) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

func (l *callLog) all() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Call(nil), l.calls...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// CallsOf filters calls by action (case-insensitive).
func CallsOf(calls []Call, action string) []Call {
	var out []Call
	for _, c := range calls {
		if strings.EqualFold(c.Action, action) {
			out = append(out, c)
		}
	}
	return out
}

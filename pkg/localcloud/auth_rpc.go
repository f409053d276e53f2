package localcloud

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Key is one access key the emulator knows. Token is set for STS keys: requests signed
// with them must carry exactly this token, and are refused after Expires.
type Key struct {
	Secret  string
	Token   string
	Expires time.Time
}

// maxSkew is how far a request's timestamp may be from the server clock, and how long
// a nonce is remembered (facts §1.5).
const maxSkew = 15 * time.Minute

// percentEncode is the POP RFC 3986 encoding (facts §1.3).
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// RPCStringToSign builds the signature v1 string to sign from every parameter except
// Signature (facts §1.3).
func RPCStringToSign(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = percentEncode(k) + "=" + percentEncode(params[k])
	}
	return method + "&%2F&" + percentEncode(strings.Join(parts, "&"))
}

// SignRPC is base64(HMAC-SHA1(secret+"&", stringToSign)).
func SignRPC(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// RPCVerifier checks RPC-style requests as the POP gateway does: required common
// parameters, access key, STS token, timestamp skew, signature, nonce replay.
// It is safe for concurrent use.
type RPCVerifier struct {
	Keys func(ak string) (Key, bool)
	Now  func() time.Time

	mu     sync.Mutex
	nonces map[string]time.Time
}

// Verify checks one request's merged parameters (query ∪ form body, first value each)
// and returns the access key ID on success.
func (v *RPCVerifier) Verify(method string, params map[string]string) (string, *APIError) {
	for _, name := range []string{"Action", "Version", "AccessKeyId", "Signature", "Timestamp", "SignatureNonce", "SignatureMethod"} {
		if params[name] == "" {
			return "", missing(name)
		}
	}
	if m := params["SignatureMethod"]; m != "HMAC-SHA1" {
		return "", badRequest("InvalidSignatureMethod", "Specified signature method %q is not supported.", m)
	}
	if sv := params["SignatureVersion"]; sv != "" && sv != "1.0" {
		return "", badRequest("InvalidSignatureVersion", "Specified signature version %q is not supported.", sv)
	}
	ak := params["AccessKeyId"]
	key, ok := v.Keys(ak)
	if !ok {
		return "", notFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	now := v.now()
	ts, err := time.Parse("2006-01-02T15:04:05Z", params["Timestamp"])
	if err != nil {
		if ts, err = time.Parse(time.RFC3339, params["Timestamp"]); err != nil {
			return "", badRequest("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
		}
	}
	if d := now.Sub(ts); d > maxSkew || d < -maxSkew {
		return "", badRequest("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	sts := RPCStringToSign(method, params)
	want := SignRPC(key.Secret, sts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(params["Signature"])) != 1 {
		return "", badRequest("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if e := checkToken(key, params["SecurityToken"], now); e != nil {
		return "", e
	}
	if !v.useNonce(ak+"\x00"+params["SignatureNonce"], now) {
		return "", badRequest("SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	return ak, nil
}

// checkToken applies the STS rules: an STS key needs its own token, unexpired; a
// long-term key must not carry one.
func checkToken(key Key, token string, now time.Time) *APIError {
	switch {
	case key.Token == "" && token == "":
		return nil
	case key.Token == "":
		return badRequest("InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
	case token == "":
		return badRequest("InvalidSecurityToken.Missing", "The SecurityToken is required for an STS access key.")
	case subtle.ConstantTimeCompare([]byte(token), []byte(key.Token)) != 1:
		return badRequest("InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
	case !key.Expires.IsZero() && !now.Before(key.Expires):
		return badRequest("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
	}
	return nil
}

func (v *RPCVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// useNonce records a nonce and reports whether it was fresh; old nonces are forgotten
// once they could no longer pass the timestamp check anyway.
func (v *RPCVerifier) useNonce(n string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.nonces == nil {
		v.nonces = make(map[string]time.Time)
	}
	if seen, ok := v.nonces[n]; ok && now.Sub(seen) < 2*maxSkew {
		return false
	}
	if len(v.nonces) > 4096 {
		for k, t := range v.nonces {
			if now.Sub(t) >= 2*maxSkew {
				delete(v.nonces, k)
			}
		}
	}
	v.nonces[n] = now
	return true
}

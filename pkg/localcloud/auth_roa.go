package localcloud

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// ROAStringToSign builds the ROA string to sign (facts §2.2): method, the four standard
// headers that are present, every x-acs-* header sorted by lower-case name, then the
// path and the raw (unescaped) sorted query.
func ROAStringToSign(method string, h http.Header, path string, query url.Values) string {
	var b strings.Builder
	b.WriteString(method + "\n")
	for _, name := range []string{"Accept", "Content-MD5", "Content-Type", "Date"} {
		if v := h.Get(name); v != "" {
			b.WriteString(v + "\n")
		}
	}
	var acs []string
	for name := range h {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-acs-") {
			acs = append(acs, l)
		}
	}
	sort.Strings(acs)
	for _, n := range acs {
		b.WriteString(n + ":" + h.Get(n) + "\n")
	}
	b.WriteString(path)
	if len(query) > 0 {
		keys := make([]string, 0, len(query))
		for k := range query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			if v := query.Get(k); v != "" {
				parts[i] = k + "=" + v
			} else {
				parts[i] = k
			}
		}
		b.WriteString("?" + strings.Join(parts, "&"))
	}
	return b.String()
}

// SignROA is base64(HMAC-SHA1(secret, stringToSign)); unlike RPC the key has no "&".
func SignROA(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ROAVerifier checks `Authorization: acs AK:signature` requests: access key, STS token
// (x-acs-security-token), Date skew when a Date is sent, signature and Content-MD5.
type ROAVerifier struct {
	Keys func(ak string) (Key, bool)
	Now  func() time.Time
}

// Verify checks r whose body has already been read into body, and returns the access key ID.
func (v *ROAVerifier) Verify(r *http.Request, body []byte) (string, *APIError) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "acs ")
	ak, sig, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ak == "" || sig == "" {
		return "", badRequest("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
	}
	key, found := v.Keys(ak)
	if !found {
		return "", notFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return "", badRequest("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
		}
		if skew := now.Sub(t); skew > maxSkew || skew < -maxSkew {
			return "", badRequest("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
		}
	}
	sts := ROAStringToSign(r.Method, r.Header, r.URL.Path, r.URL.Query())
	if subtle.ConstantTimeCompare([]byte(SignROA(key.Secret, sts)), []byte(sig)) != 1 {
		return "", badRequest("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if want := r.Header.Get("Content-MD5"); want != "" || len(body) > 0 {
		sum := md5.Sum(body)
		if base64.StdEncoding.EncodeToString(sum[:]) != want {
			return "", badRequest("ContentMD5NotMatched", "Specified content md5 is not matched with your request body.")
		}
	}
	if e := checkToken(key, r.Header.Get("x-acs-security-token"), now); e != nil {
		return "", e
	}
	return ak, nil
}

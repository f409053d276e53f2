package mnsemu

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// maxSkew is how far the Date header may be from the server clock before
// MNS answers TimeExpired.
const maxSkew = 15 * time.Minute

// StringToSign builds the MNS string-to-sign for a request exactly as
// aliyun-mns-go-sdk v1.0.11 (credential.go getSignature) and the service do:
// method, Content-MD5, Content-Type and Date header values as sent, the
// x-mns-* headers lowercased, trimmed and sorted, then the request URI as sent.
func StringToSign(method string, h http.Header, requestURI string) string {
	var mns []string
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-mns-") {
			continue
		}
		mns = append(mns, lk+":"+strings.TrimSpace(strings.Join(vs, ",")))
	}
	sort.Strings(mns)
	return method + "\n" +
		h.Get("Content-MD5") + "\n" +
		h.Get("Content-Type") + "\n" +
		h.Get("Date") + "\n" +
		strings.Join(mns, "\n") + "\n" +
		requestURI
}

// Sign returns base64(HMAC-SHA1(secret, stringToSign)).
func Sign(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// authenticate checks the request's headers and signature. It returns nil when
// the request may proceed, or the MNS error to answer with.
func (s *Service) authenticate(r *http.Request, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errf(http.StatusBadRequest, "MissingAuthorizationHeader", "Authorization header is required.")
	}
	date := r.Header.Get("Date")
	if date == "" {
		return errf(http.StatusBadRequest, "MissingDateHeader", "Date header is required.")
	}
	if r.Header.Get("x-mns-version") == "" {
		return errf(http.StatusBadRequest, "MissingVersionHeader", "x-mns-version header is required.")
	}
	if v := r.Header.Get("x-mns-version"); v != "2015-06-06" {
		return errf(http.StatusBadRequest, "InvalidVersionHeader", "The x-mns-version header %q is invalid.", v)
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return errf(http.StatusBadRequest, "InvalidDateHeader", "The Date header format is invalid.")
	}
	now := s.now()
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return errf(http.StatusRequestTimeout, "TimeExpired", "The http request you sent is expired.")
	}
	rest, ok := strings.CutPrefix(auth, "MNS ")
	if !ok {
		return errf(http.StatusBadRequest, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
	}
	ak, sig, ok := strings.Cut(rest, ":")
	if !ok || ak == "" || sig == "" {
		return errf(http.StatusBadRequest, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
	}
	secret, ok := s.opts.Secrets(ak)
	if !ok {
		return errf(http.StatusForbidden, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
	}
	if md := r.Header.Get("Content-MD5"); md != "" && !md5Matches(md, body) {
		return errf(http.StatusBadRequest, "InvalidDegist", "The Content-MD5 you specified is invalid.")
	}
	sts := StringToSign(r.Method, r.Header, r.RequestURI)
	want := Sign(secret, sts)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		// The real service does not echo its string-to-sign for MNS; keep the
		// message as the documented one. Newlines are escaped for debugging only.
		return errf(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. StringToSign: %q", sts)
	}
	if s.opts.CheckToken != nil {
		if code, msg := s.opts.CheckToken(ak, r.Header.Get("security-token")); code != "" {
			return errf(http.StatusForbidden, code, "%s", msg)
		}
	}
	return nil
}

// md5Matches accepts both the SDK's form (base64 of the lowercase hex digest)
// and the RFC 1864 form (base64 of the raw 16 bytes).
func md5Matches(header string, body []byte) bool {
	sum := md5.Sum(body)
	hexSum := hex.EncodeToString(sum[:])
	return header == base64.StdEncoding.EncodeToString([]byte(hexSum)) ||
		header == base64.StdEncoding.EncodeToString(sum[:])
}

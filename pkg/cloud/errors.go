package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// Class says what a caller should do about a failed call.
type Class int

const (
	// Permanent: retrying the same call cannot help (bad parameter, not
	// found, access denied, bad signature, ...).
	Permanent Class = iota
	// Throttled: the per-API quota was exceeded; retry after a backoff.
	Throttled
	// Retryable: a transient server or transport failure; retry.
	Retryable
	// Busy: the resource is still applying an earlier change; retry after a
	// longer wait.
	Busy
)

// String returns the lower-case name of the class.
func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Throttled:
		return "throttled"
	case Retryable:
		return "retryable"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Temporary reports whether the class is worth retrying.
func (c Class) Temporary() bool { return c != Permanent }

// APIError is a classified failure of one cloud API call. Its text carries
// the action, code, message and request ID, and never credentials or
// signed URLs.
type APIError struct {
	Class      Class
	Code       string // the service's error code, or a client-side code (Transport, Timeout, ...)
	Message    string
	RequestID  string
	HTTPStatus int    // 0 when no response was received
	Action     string // API action, e.g. SetCdnDomainSSLCertificate
	Err        error  // the underlying error (signed URLs stripped from transport errors)
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	if e.Action != "" {
		b.WriteString(e.Action)
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (http %d", e.HTTPStatus)
		if e.RequestID != "" {
			b.WriteString(", request ")
			b.WriteString(e.RequestID)
		}
		b.WriteString(")")
	} else if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *APIError) Unwrap() error { return e.Err }

// cleanError prints a scrubbed text (so %+v of an APIError shows no
// string-to-sign, token or signed URL) while errors.As still reaches the
// SDK's own error underneath.
type cleanError struct {
	text string
	err  error
}

func (c *cleanError) Error() string { return c.text }
func (c *cleanError) Unwrap() error { return c.err }

func clean(err error) error {
	err = stripURL(err)
	return &cleanError{text: scrubMessage(err.Error()), err: err}
}

// busyCodes are error codes meaning "the resource is applying an earlier
// change; try again later". Matching is exact and case-insensitive.
var busyCodes = map[string]string{
	// SLB/CLB common error codes page (help.aliyun.com, "Common error codes")
	// and the retry lists of terraform-provider-alicloud (SlbIsBusy).
	"serviceisconfiguring":      "SLB: a previous configuration is pending (400); local cloud's generic busy code",
	"vservergroupprocessing":    "SLB: a previous VServer group configuration is pending (400)",
	"operationbusy":             "SLB: a previous operation is pending (400)",
	"serviceisstopping":         "SLB: the listener is stopping (409)",
	"backendserver.configuring": "SLB: a previous configuration of the load balancer is pending (409)",
	"systembusy":                "SLB: the system is busy (449)",
	// ECS (terraform-provider-alicloud DiskInvalidOperation / Cloud Assistant docs).
	"operationconflict":            "ECS: another operation on the resource is in progress",
	"invalidoperation.conflict":    "ECS: conflicting operation in progress",
	"incorrectinstancestatus":      "ECS: instance is in a transitional state",
	"incorrectstatus.listener":     "ALB: listener is being configured",
	"incorrectstatus.loadbalancer": "CLB/ALB: load balancer is being configured",
	"conflict.lock":                "ALB: resource locked by a running change",
	// CDN: domain configuration in progress (DescribeCdnDomainConfigs Status
	// "configuring"; anchors wait for it to clear).
	"domain.configuring":          "CDN: domain configuration in progress",
	"domainconfiguring":           "CDN: domain configuration in progress",
	"operationdenied.configuring": "CDN/DCDN: operation denied while the domain is configuring",
}

// busyFragments catch code families named after the same condition.
var busyFragments = []string{"configuring", "operationconflict", "incorrectstatus", "isbusy", "processing"}

// throttledCodes beyond the "Throttling" prefix.
var throttledCodes = map[string]bool{
	"flowcontrolerror":           true, // CDN's flow-control code
	"servicebusy.throttling":     true,
	"request.throttled":          true,
	"toomanyrequests":            true,
	"quota.exceeded.apicallrate": true,
}

// retryableCodes are server codes for transient failures whatever the
// HTTP status says.
var retryableCodes = map[string]bool{
	"serviceunavailable":  true,
	"internalerror":       true,
	"internalservererror": true,
	"unknownerror":        true,
	"sdk.timeouterror":    true,
	"gatewaytimeout":      true,
}

// classifyCode returns the class of a service error code and HTTP status.
func classifyCode(code string, status int) Class {
	lc := strings.ToLower(code)
	switch {
	case strings.HasPrefix(lc, "throttling") || throttledCodes[lc]:
		return Throttled
	case busyCodes[lc] != "":
		return Busy
	case retryableCodes[lc]:
		return Retryable
	}
	for _, f := range busyFragments {
		if strings.Contains(lc, f) {
			return Busy
		}
	}
	if status >= 500 || status == 429 {
		if status == 429 {
			return Throttled
		}
		return Retryable
	}
	return Permanent
}

var (
	mnsCodePattern = regexp.MustCompile(`code: ([A-Za-z0-9_.]+)`)
	mnsReqPattern  = regexp.MustCompile(`request id: ([A-Za-z0-9-]+)`)
)

// Classify turns any error from an SDK call into an *APIError (nil for nil).
// Codes and request IDs are kept from *errors.ServerError; transport errors
// and timeouts are Retryable; TLS verification failures are Permanent.
// An *APIError passes through (its Action filled in when empty).
func Classify(action string, err error) *APIError {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae != nil {
		if ae.Action == "" {
			cp := *ae
			cp.Action = action
			return &cp
		}
		return ae
	}
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		msg := scrubMessage(se.Message())
		code := se.ErrorCode()
		if code == "" {
			code = fmt.Sprintf("HTTP%d", se.HttpStatus())
		}
		return &APIError{
			Class: classifyCode(code, se.HttpStatus()), Code: code, Message: msg,
			RequestID: se.RequestId(), HTTPStatus: se.HttpStatus(), Action: action, Err: clean(err),
		}
	}
	if tlsErr := tlsVerifyError(err); tlsErr != nil {
		return &APIError{Class: Permanent, Code: "TLSVerification", Message: tlsErr.Error(), Action: action, Err: clean(err)}
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		code := ce.ErrorCode()
		class := Permanent
		if retryableCodes[strings.ToLower(code)] || isTransport(ce.OriginError()) {
			class = Retryable
		}
		return &APIError{Class: class, Code: code, Message: scrubMessage(ce.Message()), Action: action, Err: clean(err)}
	}
	if errors.Is(err, context.Canceled) {
		return &APIError{Class: Permanent, Code: "Canceled", Message: "call canceled", Action: action, Err: clean(err)}
	}
	if errors.Is(err, ErrNoCredentials) {
		return &APIError{Class: Permanent, Code: "NoCredentials", Message: ErrNoCredentials.Error(), Action: action, Err: clean(err)}
	}
	if isTimeout(err) {
		return &APIError{Class: Retryable, Code: "Timeout", Message: safeText(err), Action: action, Err: clean(err)}
	}
	if isTransport(err) {
		return &APIError{Class: Retryable, Code: "Transport", Message: safeText(err), Action: action, Err: clean(err)}
	}
	if e := classifyMNS(action, err); e != nil {
		return e
	}
	return &APIError{Class: Permanent, Code: "Unknown", Message: safeText(err), Action: action, Err: clean(err)}
}

// classifyMNS handles the gogap errors of the MNS SDK.
func classifyMNS(action string, err error) *APIError {
	switch {
	case mns.ERR_SEND_REQUEST_FAILED.IsEqual(err):
		return &APIError{Class: Retryable, Code: "Transport", Message: scrubMessage(err.Error()), Action: action, Err: clean(err)}
	case mns.ERR_MNS_INTERNAL_ERROR.IsEqual(err):
		return &APIError{Class: Retryable, Code: "InternalError", Message: scrubMessage(err.Error()), HTTPStatus: 500, Action: action, Err: clean(err)}
	}
	m := mnsCodePattern.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	e := &APIError{Class: classifyCode(m[1], 0), Code: m[1], Message: scrubMessage(err.Error()), Action: action, Err: clean(err)}
	if r := mnsReqPattern.FindStringSubmatch(err.Error()); r != nil {
		e.RequestID = r[1]
	}
	return e
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTransport(err error) bool {
	if err == nil {
		return false
	}
	if isTimeout(err) {
		return true
	}
	var (
		ue *url.Error
		oe *net.OpError
	)
	return errors.As(err, &ue) || errors.As(err, &oe) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func tlsVerifyError(err error) error {
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &cve):
		return cve
	case errors.As(err, &ua):
		return ua
	case errors.As(err, &hn):
		return hn
	case errors.As(err, &ci):
		return ci
	}
	return nil
}

// stripURL replaces a *url.Error's URL (whose query holds the AccessKeyId,
// SecurityToken and Signature of an RPC call) with scheme://host/path.
func stripURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
}

func redactURL(raw string) string {
	u, perr := url.Parse(raw)
	if perr != nil {
		return "[url omitted]"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// safeText is err's text with any URL query stripped.
func safeText(err error) string { return scrubMessage(stripURL(err).Error()) }

var secretParams = regexp.MustCompile(`(?i)(SecurityToken|Signature|AccessKeySecret|security-token|x-acs-security-token)([=:]\s*)[^&\s"]+`)

// scrubMessage removes what a message must never carry: the server's
// string-to-sign (it echoes the STS token) and token/signature values.
func scrubMessage(s string) string {
	if i := strings.Index(s, "string to sign is:"); i >= 0 {
		s = s[:i] + "string to sign is: [omitted]"
	}
	return secretParams.ReplaceAllString(s, "${1}${2}[redacted]")
}

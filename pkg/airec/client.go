package airec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
)

// The AIRec certificate API, as the user's workflow describes it. The enforcement setting is
// not documented there; certflow uses GET/PUT {settings} with the body {"enforceHttps":bool}
// and the local cloud emulator implements the same. Confirm both against the live service
// (facts/anchors.md §3.10).
const (
	APIVersion = "2020-11-26"
	Product    = "Airec"

	PathBind   = "/v2/openapi/instances/[instanceId]/certificates/bind"   // POST multipart
	PathStatus = "/v2/openapi/instances/[instanceId]/certificates/status" // GET
	PathHTTPS  = "/v2/openapi/instances/[instanceId]/settings/https"      // GET, PUT {"enforceHttps":bool}

	// Multipart parts of a bind.
	PartMapping = "mapping_file"
	PartCert    = "cert"
	PartKey     = "key"
)

// Overall and per-domain bind states. StatusNone means no bind was ever made on the instance
// (an emulator convention; the real service's answer for that case is unknown).
const (
	StatusNone       = "NONE"
	StatusPending    = "PENDING"
	StatusValidating = "VALIDATING"
	StatusSuccess    = "SUCCESS"
	StatusFailed     = "FAILED"
)

// Error codes the AIRec certificate API returns (as emulated), besides the gateway's
// common codes (SignatureDoesNotMatch, Throttling.User, …).
const (
	ErrCodeBindInProgress   = "OperationConflict.BindInProgress" // 409: a bind is PENDING/VALIDATING
	ErrCodeInstanceNotFound = "InstanceNotFound"                 // 404
	ErrCodeMissingParameter = "MissingParameter"                 // 400: a multipart part is absent
	ErrCodeInvalidMapping   = "InvalidParameter.MappingFile"     // 400: not an xlsx
	ErrCodeInvalidCert      = "InvalidParameter.Certificate"     // 400: chain unreadable or expired
	ErrCodeInvalidKey       = "InvalidParameter.PrivateKey"      // 400: key unreadable
	ErrCodeKeyMismatch      = "InvalidParameter.KeyMismatch"     // 400: key does not match the leaf
	ErrCodeNotBound         = "OperationDenied.NoCertificate"    // 400: HTTPS enforcement without a bound certificate
)

// Envelope is the AIRec response shape (facts §2.5): lower-case keys, the payload in result.
// Business errors carry code and message and no result.
type Envelope[T any] struct {
	RequestID string `json:"requestId"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	Result    *T     `json:"result,omitempty"`
}

// BindResult is the answer to an accepted bind: the service validates asynchronously.
type BindResult struct {
	RequestID string `json:"-"`
	TaskID    string `json:"taskId"`
	Status    string `json:"status"`
}

// Status is the bind status of an instance.
type Status struct {
	RequestID string `json:"-"`
	// Status is the overall state of the last bind: PENDING, VALIDATING, SUCCESS, FAILED or NONE.
	Status string `json:"status"`
	// TaskID identifies the last bind.
	TaskID string `json:"taskId,omitempty"`
	// Message explains a FAILED state.
	Message string `json:"message,omitempty"`
	// Domains lists the instance's custom domains and what each is bound to.
	Domains []DomainStatus `json:"domains"`
}

// DomainStatus is one custom domain's state.
type DomainStatus struct {
	Domain        string `json:"domain"`
	Status        string `json:"status"`
	CertificateID string `json:"certificateId,omitempty"`
	SHA256        string `json:"sha256,omitempty"` // lower-case hex of the bound leaf's DER, when known
	Message       string `json:"message,omitempty"`
}

// Domain returns the state of one domain (case-insensitive), if the status lists it.
func (s Status) Domain(name string) (DomainStatus, bool) {
	for _, d := range s.Domains {
		if strings.EqualFold(d.Domain, name) {
			return d, true
		}
	}
	return DomainStatus{}, false
}

// HTTPSSetting is the body and result of the HTTPS enforcement setting.
type HTTPSSetting struct {
	EnforceHTTPS bool `json:"enforceHttps"`
}

// APIError is an error answer from AIRec (or its gateway). It never holds key material.
type APIError struct {
	Op         string // bind, status, https get, https set
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("airec %s: HTTP %d", e.Op, e.HTTPStatus)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

// Retryable reports whether trying again later may succeed: server errors, throttling, and a
// bind still in progress.
func (e *APIError) Retryable() bool {
	return e.HTTPStatus >= 500 || strings.HasPrefix(e.Code, "Throttling") ||
		e.Code == "ServiceUnavailable" || e.Code == ErrCodeBindInProgress
}

// IsRetryable reports whether err is worth retrying: a retryable *APIError, a timeout or a
// network failure. Context cancellation is not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// ClientOptions configures a Client. Exactly one of Token and SDK authenticates.
type ClientOptions struct {
	// Endpoint is https://airec.<region>.aliyuncs.com (the default, from Region) or the local
	// cloud's URL. Plain http is accepted only for loopback hosts.
	Endpoint string
	// Region is used for the default endpoint.
	Region string
	// InstanceID is the AIRec instance, e.g. airec-cn-xxxx.
	InstanceID string
	// Token, when set, is sent as "Authorization: Bearer <token>" through HTTPClient.
	Token string
	// SDK signs with the ROA signature when Token is empty. Its credentials, transport and
	// proxy settings are used as they are (the SDK also proxies loopback when HTTP_PROXY is set).
	SDK *sdk.Client
	// HTTPClient carries Bearer requests; default http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds each request; default 30 s. A context deadline that is sooner wins.
	Timeout time.Duration
}

// Client calls the AIRec certificate API of one instance. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	instance string
	token    string
	sdk      *sdk.Client
	hc       *http.Client
	timeout  time.Duration
}

var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// New validates opts and returns a Client. It does no I/O.
func New(opts ClientOptions) (*Client, error) {
	if !instanceIDPattern.MatchString(opts.InstanceID) {
		return nil, fmt.Errorf("airec: instance ID %q: want letters, digits, '.', '_' or '-'", opts.InstanceID)
	}
	ep := opts.Endpoint
	if ep == "" {
		if opts.Region == "" {
			return nil, errors.New("airec: neither endpoint nor region is set")
		}
		ep = "https://airec." + opts.Region + ".aliyuncs.com"
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("airec: endpoint %q is not a URL", ep)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("airec: endpoint %q: plain http is allowed only to loopback hosts; use https", ep)
		}
	default:
		return nil, fmt.Errorf("airec: endpoint %q: scheme must be https", ep)
	}
	if (opts.Token == "") == (opts.SDK == nil) {
		return nil, errors.New("airec: set exactly one of token (Bearer) and SDK client (ROA signature)")
	}
	c := &Client{base: u, instance: opts.InstanceID, token: opts.Token, sdk: opts.SDK, hc: opts.HTTPClient, timeout: opts.Timeout}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	return c, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bind uploads the mapping, the full chain and the private key as one multipart request and
// returns once AIRec has accepted it; the binding itself completes asynchronously (poll
// Status). The key is sent only in the request body; errors never contain it.
func (c *Client) Bind(ctx context.Context, mappingXLSX, chainPEM, keyPEM []byte) (BindResult, error) {
	for name, part := range map[string][]byte{PartMapping: mappingXLSX, PartCert: chainPEM, PartKey: keyPEM} {
		if len(part) == 0 {
			return BindResult{}, fmt.Errorf("airec bind: %s is empty", name)
		}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	parts := []struct {
		field, file, ctype string
		data               []byte
	}{
		{PartMapping, "certificate_info.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", mappingXLSX},
		{PartCert, "fullchain.pem", "application/x-pem-file", chainPEM},
		{PartKey, "private_key.pem", "application/x-pem-file", keyPEM},
	}
	for _, p := range parts {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.file))
		h.Set("Content-Type", p.ctype)
		w, err := mw.CreatePart(h)
		if err != nil {
			return BindResult{}, fmt.Errorf("airec bind: multipart: %w", err)
		}
		if _, err := w.Write(p.data); err != nil {
			return BindResult{}, fmt.Errorf("airec bind: multipart: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return BindResult{}, fmt.Errorf("airec bind: multipart: %w", err)
	}
	var out BindResult
	rid, err := c.do(ctx, "bind", "BindCertificate", http.MethodPost, PathBind, mw.FormDataContentType(), body.Bytes(), &out, keyPEM)
	out.RequestID = rid
	return out, err
}

// Status returns the instance's bind status and what each custom domain is bound to.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	rid, err := c.do(ctx, "status", "DescribeCertificateStatus", http.MethodGet, PathStatus, "", nil, &out, nil)
	out.RequestID = rid
	return out, err
}

// EnforceHTTPS switches HTTPS enforcement on or off and returns what the service then reports.
func (c *Client) EnforceHTTPS(ctx context.Context, on bool) error {
	body, _ := json.Marshal(HTTPSSetting{EnforceHTTPS: on})
	var out HTTPSSetting
	if _, err := c.do(ctx, "https set", "UpdateHttpsSetting", http.MethodPut, PathHTTPS, "application/json", body, &out, nil); err != nil {
		return err
	}
	if out.EnforceHTTPS != on {
		return fmt.Errorf("airec https set: asked for enforceHttps=%v, service answered %v", on, out.EnforceHTTPS)
	}
	return nil
}

// HTTPSEnforced reads the HTTPS enforcement setting.
func (c *Client) HTTPSEnforced(ctx context.Context) (bool, error) {
	var out HTTPSSetting
	_, err := c.do(ctx, "https get", "DescribeHttpsSetting", http.MethodGet, PathHTTPS, "", nil, &out, nil)
	return out.EnforceHTTPS, err
}

// maxResponse bounds what is read of an answer.
const maxResponse = 4 << 20

// do sends one request and decodes the result into out. secret, when set, is scrubbed from
// any error text the server sends back.
func (c *Client) do(ctx context.Context, op, action, method, pattern, ctype string, body []byte, out any, secret []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("airec %s: %w", op, err)
	}
	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	var (
		status int
		resp   []byte
		err    error
	)
	if c.token != "" {
		status, resp, err = c.doBearer(ctx, method, pattern, ctype, body, timeout)
	} else {
		status, resp, err = c.doSigned(ctx, action, method, pattern, ctype, body, timeout)
	}
	if err != nil {
		return "", fmt.Errorf("airec %s: %w", op, err)
	}
	var env Envelope[json.RawMessage]
	jerr := json.Unmarshal(resp, &env)
	if status < 200 || status > 299 {
		return env.RequestID, c.apiError(op, status, resp, secret)
	}
	if jerr != nil {
		return "", fmt.Errorf("airec %s: HTTP %d: answer is not JSON: %w", op, status, jerr)
	}
	if env.Result == nil {
		return env.RequestID, fmt.Errorf("airec %s: HTTP %d: answer has no result (request id %s)", op, status, env.RequestID)
	}
	if err := json.Unmarshal(*env.Result, out); err != nil {
		return env.RequestID, fmt.Errorf("airec %s: decode result (request id %s): %w", op, env.RequestID, err)
	}
	return env.RequestID, nil
}

func (c *Client) path(pattern string) string {
	return strings.Replace(pattern, "[instanceId]", c.instance, 1)
}

func (c *Client) doBearer(ctx context.Context, method, pattern, ctype string, body []byte, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + c.path(pattern)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-acs-version", APIVersion)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, data, nil
}

// doSigned sends through alibaba-cloud-sdk-go as a ROA CommonRequest with a raw body
// (facts §2.4). The SDK takes no context: the call is bounded by timeout, and a cancelled
// context returns at once while the call finishes in the background.
func (c *Client) doSigned(ctx context.Context, action, method, pattern, ctype string, body []byte, timeout time.Duration) (int, []byte, error) {
	req := requests.NewCommonRequest()
	req.Method = method
	req.Scheme = c.base.Scheme
	req.Domain = c.base.Hostname()
	req.Port = c.base.Port()
	if req.Port == "" {
		req.Port = map[string]string{"https": "443", "http": "80"}[c.base.Scheme]
	}
	req.Product, req.Version, req.ApiName = Product, APIVersion, action
	req.PathPattern = strings.TrimSuffix(c.base.Path, "/") + pattern
	req.PathParams["instanceId"] = c.instance
	if body != nil {
		req.SetContent(body)
	}
	if ctype != "" {
		req.SetContentType(ctype)
	}
	req.SetReadTimeout(timeout)
	req.SetConnectTimeout(min(timeout, 10*time.Second))
	type result struct {
		resp *responses.CommonResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.sdk.ProcessCommonRequest(req)
		done <- result{resp, err}
	}()
	select {
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case r := <-done:
		// A non-2xx answer is an SDK ServerError with the response still filled in; the
		// body is decoded here because AIRec's lower-case keys escape the SDK's parser.
		if r.resp != nil && r.resp.GetHttpStatus() != 0 {
			return r.resp.GetHttpStatus(), r.resp.GetHttpContentBytes(), nil
		}
		if r.err == nil {
			r.err = errors.New("no response")
		}
		return 0, nil, r.err
	}
}

// apiError decodes an error answer: the AIRec shape (code, message, requestId) or the
// gateway's capitalised shape (Code, Message, RequestId).
func (c *Client) apiError(op string, status int, body, secret []byte) *APIError {
	e := &APIError{Op: op, HTTPStatus: status}
	// encoding/json matches keys case-insensitively, so one struct reads both shapes.
	var ans struct{ RequestID, Code, Message string }
	if json.Unmarshal(body, &ans) == nil && ans.Code != "" {
		e.Code, e.Message, e.RequestID = ans.Code, ans.Message, ans.RequestID
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	if len(e.Message) > 512 {
		e.Message = e.Message[:512] + "…"
	}
	e.Message = redact(e.Message, secret)
	return e
}

// redact removes any line of secret (a PEM key) that a server echoed back.
func redact(msg string, secret []byte) string {
	if len(secret) == 0 {
		return msg
	}
	if strings.Contains(msg, "PRIVATE KEY") {
		return "[answer withheld: it contained private key material]"
	}
	for _, line := range strings.Split(string(secret), "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			msg = strings.ReplaceAll(msg, line, "[redacted]")
		}
	}
	// A truncated echo may end in a partial line: drop any long base64 run as well.
	return longBase64.ReplaceAllString(msg, "[redacted]")
}

var longBase64 = regexp.MustCompile(`[A-Za-z0-9+/=]{40,}`)

// Package mnsemu emulates Alibaba Cloud MNS queues over the MNS HTTP protocol
// (API version 2015-06-06) as aliyun-mns-go-sdk v1.0.11 speaks it: request
// signatures are verified, state is kept in memory, and errors are the real
// MNS XML error documents with the real codes and HTTP statuses.
package mnsemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Service. Secrets is required; the rest may be zero.
type Options struct {
	// AccountID and Region are the account and region this endpoint serves.
	// When set, a request whose Host is <acct>.mns.<region>.aliyuncs.com for
	// another account or region is refused with AccessDenied.
	AccountID, Region string
	// Secrets returns the AccessKey secret of an AccessKey ID.
	Secrets func(accessKeyID string) (secret string, ok bool)
	// CheckToken, when set, is called for every signed request with the
	// security-token header (empty when absent); a non-empty code refuses the
	// request with HTTP 403 and that code and message.
	CheckToken func(accessKeyID, token string) (code, message string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnCall, when set, receives one record per request after it is answered.
	OnCall func(Call)
}

// Call is one answered request, for the local cloud's call log.
type Call struct {
	Time    time.Time
	Op      string
	Queue   string
	Code    string // "" = ok
	Latency time.Duration
}

// Service is an MNS endpoint. It implements http.Handler and is safe for
// concurrent use.
type Service struct {
	opts Options

	mu     sync.Mutex
	queues map[string]*queue
	seq    uint64
	host   string // HostId in error documents
}

// New returns an empty Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Secrets == nil {
		opts.Secrets = func(string) (string, bool) { return "", false }
	}
	host := "mns.localcloud"
	if opts.AccountID != "" && opts.Region != "" {
		host = fmt.Sprintf("http://%s.mns.%s.aliyuncs.com", opts.AccountID, opts.Region)
	}
	return &Service{opts: opts, queues: map[string]*queue{}, host: host}
}

func (s *Service) now() time.Time { return s.opts.Now() }

// apiError is an MNS error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

const xmlNS = "http://mns.aliyuncs.com/doc/v1/"

type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	NS        string   `xml:"xmlns,attr"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

// ServeHTTP routes an MNS request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-mns-request-id", reqID)
	w.Header().Set("x-mns-version", "2015-06-06")
	op, qname := classify(r)
	code := ""
	defer func() {
		if s.opts.OnCall != nil {
			s.opts.OnCall(Call{Time: start, Op: op, Queue: qname, Code: code, Latency: time.Since(start)})
		}
	}()
	fail := func(e *apiError) {
		code = e.Code
		writeXML(w, e.Status, errorDoc{NS: xmlNS, Code: e.Code, Message: e.Message, RequestID: reqID, HostID: s.host})
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		fail(errf(http.StatusBadRequest, "InvalidRequestURL", "Http request body could not be read."))
		return
	}
	if e := s.authenticate(r, body); e != nil {
		fail(e)
		return
	}
	if e := s.checkHost(r.Host); e != nil {
		fail(e)
		return
	}
	if op == "" {
		fail(errf(http.StatusBadRequest, "InvalidRequestURL", "Http request URL format invalid."))
		return
	}
	res := s.dispatch(r, op, qname, body)
	if res.err != nil {
		fail(res.err)
		return
	}
	code = res.code // batch partial failures
	if res.doc == nil {
		w.WriteHeader(res.status)
		return
	}
	writeXML(w, res.status, res.doc)
}

// checkHost refuses requests aimed at another account's or region's endpoint.
func (s *Service) checkHost(host string) *apiError {
	h := host
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	parts := strings.Split(h, ".")
	if len(parts) != 5 || parts[1] != "mns" {
		return nil // loopback or other direct address: nothing to compare
	}
	region := strings.TrimSuffix(strings.TrimSuffix(parts[2], "-internal"), "-control")
	if (s.opts.AccountID != "" && parts[0] != s.opts.AccountID) || (s.opts.Region != "" && region != s.opts.Region) {
		return errf(http.StatusForbidden, "AccessDenied", "The OwnerId that your Access Key Id associated to is forbidden for this operation.")
	}
	return nil
}

// classify names the operation from method, path and query.
func classify(r *http.Request) (op, queue string) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	q := r.URL.Query()
	switch {
	case len(parts) == 1 && parts[0] == "queues":
		if r.Method == http.MethodGet {
			return "ListQueue", ""
		}
	case len(parts) == 2 && parts[0] == "queues":
		switch r.Method {
		case http.MethodPut:
			if q.Get("metaoverride") == "true" {
				return "SetQueueAttributes", parts[1]
			}
			return "CreateQueue", parts[1]
		case http.MethodGet:
			return "GetQueueAttributes", parts[1]
		case http.MethodDelete:
			return "DeleteQueue", parts[1]
		}
	case len(parts) == 3 && parts[0] == "queues" && parts[2] == "messages":
		batch := q.Has("numOfMessages")
		switch r.Method {
		case http.MethodPost:
			return "SendMessage", parts[1] // refined to BatchSendMessage by the body
		case http.MethodGet:
			switch {
			case q.Get("peekonly") == "true" && batch:
				return "BatchPeekMessage", parts[1]
			case q.Get("peekonly") == "true":
				return "PeekMessage", parts[1]
			case batch:
				return "BatchReceiveMessage", parts[1]
			}
			return "ReceiveMessage", parts[1]
		case http.MethodDelete:
			if q.Has("ReceiptHandle") {
				return "DeleteMessage", parts[1]
			}
			return "BatchDeleteMessage", parts[1]
		case http.MethodPut:
			return "ChangeMessageVisibility", parts[1]
		}
	}
	return "", ""
}

type result struct {
	status int
	doc    any
	err    *apiError
	code   string
}

func ok(status int, doc any) result { return result{status: status, doc: doc} }
func failed(e *apiError) result     { return result{err: e} }

func (s *Service) dispatch(r *http.Request, op, qname string, body []byte) result {
	switch op {
	case "ListQueue":
		return s.listQueues(r)
	case "CreateQueue":
		return s.createQueueHTTP(qname, body)
	case "SetQueueAttributes":
		return s.setQueueAttributes(qname, body)
	case "GetQueueAttributes":
		return s.getQueueAttributes(qname)
	case "DeleteQueue":
		return s.deleteQueue(qname)
	case "SendMessage":
		if bytes.Contains(body, []byte("<Messages")) {
			return s.batchSend(qname, body)
		}
		return s.send(qname, body)
	case "ReceiveMessage", "BatchReceiveMessage", "PeekMessage", "BatchPeekMessage":
		return s.receive(r, op, qname)
	case "DeleteMessage":
		return s.deleteMessage(qname, r.URL.Query().Get("ReceiptHandle"))
	case "BatchDeleteMessage":
		return s.batchDelete(qname, body)
	case "ChangeMessageVisibility":
		return s.changeVisibility(qname, r.URL.Query())
	}
	return failed(errf(http.StatusBadRequest, "InvalidRequestURL", "Http request URL format invalid."))
}

func writeXML(w http.ResponseWriter, status int, doc any) {
	out, err := xml.Marshal(doc)
	if err != nil {
		http.Error(w, "marshal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

package mnsemu_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/gogap/errors"
	"github.com/valyala/fasthttp"

	"github.com/certflow/certflow/pkg/localcloud/mnsemu"
)

const (
	account  = "1234567890"
	region   = "cn-hangzhou"
	endpoint = "http://" + account + ".mns." + region + ".aliyuncs.com"
	akID     = "LTAIlocaltest"
	akSecret = "local-secret"
)

// toLocal keeps the SDK's real-looking endpoint (its constructor panics on
// loopback ones) and carries every request to the test server.
type toLocal struct{ hc *fasthttp.HostClient }

func (t toLocal) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, t.hc.Do(req, resp)
}

type fixture struct {
	svc   *mnsemu.Service
	srv   *httptest.Server
	calls *callLog
}

type callLog struct {
	mu    sync.Mutex
	calls []mnsemu.Call
}

func (c *callLog) add(x mnsemu.Call) { c.mu.Lock(); c.calls = append(c.calls, x); c.mu.Unlock() }
func (c *callLog) codes(op string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, x := range c.calls {
		if x.Op == op {
			out = append(out, x.Code)
		}
	}
	return out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	log := &callLog{}
	svc := mnsemu.New(mnsemu.Options{
		AccountID: account, Region: region,
		Secrets: func(id string) (string, bool) {
			if id == akID {
				return akSecret, true
			}
			return "", false
		},
		OnCall: log.add,
	})
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return &fixture{svc: svc, srv: srv, calls: log}
}

func (f *fixture) client(t *testing.T, secret string) ali_mns.MNSClient {
	t.Helper()
	c := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint: endpoint, AccessKeyId: akID, AccessKeySecret: secret, TimeoutSecond: 35,
	})
	c.SetTransport(toLocal{&fasthttp.HostClient{Addr: strings.TrimPrefix(f.srv.URL, "http://")}})
	return c
}

func (f *fixture) queue(t *testing.T, name string, a mnsemu.QueueAttrs) ali_mns.AliMNSQueue {
	t.Helper()
	if err := f.svc.CreateQueue(name, a); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	return ali_mns.NewMNSQueue(name, f.client(t, akSecret))
}

func receive(q ali_mns.AliMNSQueue, wait int64) (ali_mns.MessageReceiveResponse, error) {
	rc := make(chan ali_mns.MessageReceiveResponse, 1)
	ec := make(chan error, 1)
	if wait > 0 {
		q.ReceiveMessage(rc, ec, wait)
	} else {
		q.ReceiveMessage(rc, ec)
	}
	select {
	case r := <-rc:
		return r, nil
	case err := <-ec:
		return ali_mns.MessageReceiveResponse{}, err
	}
}

func isCode(err error, tmpl errors.ErrCodeTemplate) bool { return err != nil && tmpl.IsEqual(err) }

func TestSendReceiveDelete(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "bind-tasks", mnsemu.QueueAttrs{})
	body := `eyJjZXJ0SWQiOjEyM30=<&>`
	sent, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body, Priority: 8})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if sent.MessageId == "" || len(sent.MessageBodyMD5) != 32 {
		t.Fatalf("send response = %+v", sent)
	}
	got, err := receive(q, 1)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if got.MessageBody != body || got.MessageId != sent.MessageId || got.DequeueCount != 1 || got.Priority != 8 {
		t.Fatalf("received %+v", got)
	}
	if got.NextVisibleTime-got.FirstDequeueTime < 29000 {
		t.Fatalf("next visible %d not ~30 s after first dequeue %d", got.NextVisibleTime, got.FirstDequeueTime)
	}
	if err := q.DeleteMessage(got.ReceiptHandle); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := len(f.svc.Messages("bind-tasks")); n != 0 {
		t.Fatalf("%d messages left after delete", n)
	}
	// Empty queue: receive without wait is MessageNotExist at once.
	if _, err := receive(q, 0); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("empty receive err = %v, want MessageNotExist", err)
	}
	if c := f.calls.codes("DeleteMessage"); len(c) != 1 || c[0] != "" {
		t.Fatalf("call log DeleteMessage codes = %q", c)
	}
}

func TestLongPollReturnsOnArrival(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "lp", mnsemu.QueueAttrs{})
	// The SDK's queue object is not goroutine-safe (its QPS monitor races), so
	// the producer has its own.
	producer := ali_mns.NewMNSQueue("lp", f.client(t, akSecret))
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = producer.SendMessage(ali_mns.MessageSendRequest{MessageBody: "late", Priority: 8})
	}()
	start := time.Now()
	got, err := receive(q, 10)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 5*time.Second {
		t.Fatalf("long poll returned after %v", el)
	}
	if got.MessageBody != "late" {
		t.Fatalf("body %q", got.MessageBody)
	}

	start = time.Now()
	if _, err := receive(q, 1); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("err = %v, want MessageNotExist after the wait", err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("empty long poll gave up after %v, want ~1 s", el)
	}
}

func TestVisibilityTimeoutRedeliveryAndStaleHandle(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "vt", mnsemu.QueueAttrs{VisibilityTimeout: 1})
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "task", Priority: 8}); err != nil {
		t.Fatal(err)
	}
	first, err := receive(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receive(q, 0); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("inactive message was delivered again: %v", err)
	}
	second, err := receive(q, 3) // re-delivered once the 1 s timeout passes
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if second.DequeueCount != 2 || second.ReceiptHandle == first.ReceiptHandle || second.MessageId != first.MessageId {
		t.Fatalf("redelivered %+v after %+v", second, first)
	}
	// C17: the first consumer's handle is stale now.
	if err := q.DeleteMessage(first.ReceiptHandle); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("stale delete err = %v, want MessageNotExist", err)
	}
	if err := q.DeleteMessage("not-a-handle"); !isCode(err, ali_mns.ERR_MNS_RECEIPT_HANDLE_ERROR) {
		t.Fatalf("malformed delete err = %v, want ReceiptHandleError", err)
	}
	if err := q.DeleteMessage(second.ReceiptHandle); err != nil {
		t.Fatalf("current delete: %v", err)
	}
}

func TestChangeVisibility(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "cv", mnsemu.QueueAttrs{})
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8}); err != nil {
		t.Fatal(err)
	}
	got, err := receive(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := q.ChangeMessageVisibility(got.ReceiptHandle, 1)
	if err != nil {
		t.Fatalf("change visibility: %v", err)
	}
	if ch.ReceiptHandle == "" || ch.ReceiptHandle == got.ReceiptHandle {
		t.Fatalf("new handle %q, old %q", ch.ReceiptHandle, got.ReceiptHandle)
	}
	if d := ch.NextVisibleTime - time.Now().UnixMilli(); d > 1500 || d < 0 {
		t.Fatalf("NextVisibleTime %d ms from now, want ~1000", d)
	}
	if err := q.DeleteMessage(got.ReceiptHandle); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("old handle after change: %v", err)
	}
	again, err := receive(q, 3)
	if err != nil || again.DequeueCount != 2 {
		t.Fatalf("after change visibility: %+v %v", again, err)
	}
	if _, err := q.ChangeMessageVisibility(again.ReceiptHandle, 0); !isCode(err, ali_mns.ERR_MNS_INVALID_ARGUMENT) {
		t.Fatalf("visibility 0: %v", err)
	}
}

func TestBatchAndPriority(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "batch", mnsemu.QueueAttrs{})
	var reqs []ali_mns.MessageSendRequest
	for i, p := range []int64{16, 8, 1, 8} {
		reqs = append(reqs, ali_mns.MessageSendRequest{MessageBody: string(rune('a' + i)), Priority: p})
	}
	resp, err := q.BatchSendMessage(reqs...)
	if err != nil || len(resp.Messages) != 4 {
		t.Fatalf("batch send: %+v %v", resp, err)
	}
	rc := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	ec := make(chan error, 1)
	q.BatchReceiveMessage(rc, ec, 16, 1)
	var got ali_mns.BatchMessageReceiveResponse
	select {
	case got = <-rc:
	case err := <-ec:
		t.Fatalf("batch receive: %v", err)
	}
	var order []string
	var handles []string
	for _, m := range got.Messages {
		order = append(order, m.MessageBody)
		handles = append(handles, m.ReceiptHandle)
	}
	if strings.Join(order, "") != "cbda" {
		t.Fatalf("priority order %q, want cbda", order)
	}
	if _, err := q.BatchDeleteMessage(handles...); err != nil {
		t.Fatalf("batch delete: %v", err)
	}
	derr, err := q.BatchDeleteMessage(handles[0])
	if !isCode(err, ali_mns.ERR_MNS_BATCH_OP_FAIL) || len(derr.FailedMessages) != 1 || derr.FailedMessages[0].ErrorCode != "MessageNotExist" {
		t.Fatalf("second batch delete: %+v %v", derr, err)
	}
	var tooMany []ali_mns.MessageSendRequest
	for range 17 {
		tooMany = append(tooMany, ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
	}
	if _, err := q.BatchSendMessage(tooMany...); !isCode(err, ali_mns.ERR_MNS_INVALID_ARGUMENT) {
		t.Fatalf("17 messages: %v", err)
	}
}

func TestRejections(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "rej", mnsemu.QueueAttrs{})
	tests := []struct {
		name string
		req  ali_mns.MessageSendRequest
		want errors.ErrCodeTemplate
	}{
		{"priority zero (SDK default)", ali_mns.MessageSendRequest{MessageBody: "x"}, ali_mns.ERR_MNS_INVALID_ARGUMENT},
		{"priority 17", ali_mns.MessageSendRequest{MessageBody: "x", Priority: 17}, ali_mns.ERR_MNS_INVALID_ARGUMENT},
		{"oversize 64 KB + 1", ali_mns.MessageSendRequest{MessageBody: strings.Repeat("a", 65537), Priority: 8}, ali_mns.ERR_MNS_INVALID_ARGUMENT},
		{"empty body", ali_mns.MessageSendRequest{MessageBody: "", Priority: 8}, ali_mns.ERR_MNS_INVALID_ARGUMENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := q.SendMessage(tc.req); !isCode(err, tc.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: strings.Repeat("a", 65536), Priority: 1}); err != nil {
		t.Fatalf("exactly 64 KB: %v", err)
	}
	if n := len(f.svc.Messages("rej")); n != 1 {
		t.Fatalf("%d messages stored, want only the valid one", n)
	}
	other := ali_mns.NewMNSQueue("nope", f.client(t, akSecret))
	if _, err := other.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8}); !isCode(err, ali_mns.ERR_MNS_QUEUE_NOT_EXIST) {
		t.Fatalf("missing queue: %v", err)
	}
	bad := ali_mns.NewMNSQueue("rej", f.client(t, "wrong-secret"))
	if _, err := bad.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8}); !isCode(err, ali_mns.ERR_MNS_SIGNATURE_DOES_NOT_MATCH) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestQueueManager(t *testing.T) {
	f := newFixture(t)
	m := ali_mns.NewMNSQueueManager(f.client(t, akSecret))
	if err := m.CreateQueue("mq", 0, 65536, 345600, 30, 0, 2); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := m.CreateQueue("mq", 0, 65536, 345600, 30, 0, 2); !isCode(err, ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST_AND_HAVE_SAME_ATTR) {
		t.Fatalf("same attrs: %v", err)
	}
	if err := m.CreateQueue("mq", 0, 65536, 345600, 60, 0, 2); !isCode(err, ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST) {
		t.Fatalf("other attrs: %v", err)
	}
	if err := m.SetQueueAttributes("mq", 0, 65536, 345600, 45, 5, 2); err != nil {
		t.Fatalf("set: %v", err)
	}
	a, err := m.GetQueueAttributes("mq")
	if err != nil || a.QueueName != "mq" || a.VisibilityTimeout != 45 || a.PollingWaitSeconds != 5 || a.MaxMessageSize != 65536 {
		t.Fatalf("get: %+v %v", a, err)
	}
	qs, err := m.ListQueue("", 10, "m")
	if err != nil || len(qs.Queues) != 1 || !strings.HasSuffix(qs.Queues[0].QueueURL, "/queues/mq") {
		t.Fatalf("list: %+v %v", qs, err)
	}
	if err := m.DeleteQueue("mq"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := m.GetQueueAttributes("mq"); !isCode(err, ali_mns.ERR_MNS_QUEUE_NOT_EXIST) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := m.CreateQueue("1bad_name", 0, 65536, 345600, 30, 0, 2); !isCode(err, ali_mns.ERR_MNS_INVALID_QUEUE_NAME) {
		t.Fatalf("bad name: %v", err)
	}
}

// capture records the SDK's raw request so the test can replay and tamper it.
type capture struct {
	hc  *fasthttp.HostClient
	raw []byte
}

func (c *capture) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	c.raw = append([]byte(nil), req.String()...)
	return false, c.hc.Do(req, resp)
}

func TestCapturedRequestVerifiesAndTamperingFails(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.CreateQueue("cap", mnsemu.QueueAttrs{}); err != nil {
		t.Fatal(err)
	}
	c := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{EndPoint: endpoint, AccessKeyId: akID, AccessKeySecret: akSecret})
	cp := &capture{hc: &fasthttp.HostClient{Addr: strings.TrimPrefix(f.srv.URL, "http://")}}
	c.SetTransport(cp)
	q := ali_mns.NewMNSQueue("cap", c)
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "captured", Priority: 8}); err != nil {
		t.Fatalf("send: %v", err)
	}
	raw := cp.raw
	if !bytes.Contains(raw, []byte("Authorization: MNS "+akID+":")) {
		t.Fatalf("captured request lacks MNS authorization:\n%s", raw)
	}
	replay := func(t *testing.T, raw []byte) (int, string) {
		t.Helper()
		req, err := http.ReadRequest(bufioReader(raw))
		if err != nil {
			t.Fatalf("parse captured request: %v", err)
		}
		req.RequestURI = req.URL.RequestURI()
		req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(f.srv.URL, "http://")
		req.RequestURI = ""
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name     string
		mutate   func([]byte) []byte
		status   int
		wantCode string
	}{
		{"as captured", func(b []byte) []byte { return b }, 201, "<MessageId>"},
		{"body tampered", func(b []byte) []byte { return bytes.Replace(b, []byte("captured"), []byte("capturex"), 1) }, 400, "InvalidDegist"},
		{"path tampered", func(b []byte) []byte { return bytes.Replace(b, []byte("/queues/cap/"), []byte("/queues/cax/"), 1) }, 403, "SignatureDoesNotMatch"},
		{"signature tampered", func(b []byte) []byte {
			i := bytes.Index(b, []byte("MNS "+akID+":")) + len("MNS "+akID+":")
			out := append([]byte(nil), b...)
			out[i] ^= 1
			return out
		}, 403, "SignatureDoesNotMatch"},
		{"unknown key", func(b []byte) []byte { return bytes.Replace(b, []byte("MNS "+akID), []byte("MNS LTAIother"), 1) }, 403, "InvalidAccessKeyId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := replay(t, tc.mutate(raw))
			if st != tc.status || !strings.Contains(body, tc.wantCode) {
				t.Fatalf("status %d body %s", st, body)
			}
		})
	}
}

func TestDateSkewAndMissingHeaders(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.CreateQueue("d", mnsemu.QueueAttrs{}); err != nil {
		t.Fatal(err)
	}
	sign := func(req *http.Request) {
		sts := mnsemu.StringToSign(req.Method, req.Header, req.URL.RequestURI())
		req.Header.Set("Authorization", "MNS "+akID+":"+mnsemu.Sign(akSecret, sts))
	}
	tests := []struct {
		name   string
		date   string
		noAuth bool
		status int
		code   string
	}{
		{"fresh", time.Now().UTC().Format(http.TimeFormat), false, 200, "<Queue"},
		{"16 minutes old", time.Now().Add(-16 * time.Minute).UTC().Format(http.TimeFormat), false, 408, "TimeExpired"},
		{"bad date", "yesterday", false, 400, "InvalidDateHeader"},
		{"no auth", time.Now().UTC().Format(http.TimeFormat), true, 400, "MissingAuthorizationHeader"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/queues/d", nil)
			req.Header.Set("x-mns-version", "2015-06-06")
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Date", tc.date)
			if !tc.noAuth {
				sign(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.code) {
				t.Fatalf("status %d body %s", resp.StatusCode, b)
			}
		})
	}
}

func TestDelaySeconds(t *testing.T) {
	f := newFixture(t)
	q := f.queue(t, "delay", mnsemu.QueueAttrs{})
	sent, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "later", DelaySeconds: 1, Priority: 8})
	if err != nil || sent.ReceiptHandle == "" {
		t.Fatalf("delayed send: %+v %v", sent, err)
	}
	if _, err := receive(q, 0); !isCode(err, ali_mns.ERR_MNS_MESSAGE_NOT_EXIST) {
		t.Fatalf("delayed message visible at once: %v", err)
	}
	got, err := receive(q, 3)
	if err != nil || got.MessageBody != "later" {
		t.Fatalf("after delay: %+v %v", got, err)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// BenchmarkSendReceiveDelete measures one message's full round trip through
// the SDK: send, receive, delete.
func BenchmarkSendReceiveDelete(b *testing.B) {
	svc := mnsemu.New(mnsemu.Options{Secrets: func(string) (string, bool) { return akSecret, true }})
	srv := httptest.NewServer(svc)
	defer srv.Close()
	if err := svc.CreateQueue("bench", mnsemu.QueueAttrs{}); err != nil {
		b.Fatal(err)
	}
	c := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{EndPoint: endpoint, AccessKeyId: akID, AccessKeySecret: akSecret})
	c.SetTransport(toLocal{&fasthttp.HostClient{Addr: strings.TrimPrefix(srv.URL, "http://")}})
	q := ali_mns.NewMNSQueue("bench", c)
	for b.Loop() {
		if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "eyJ0YXNrIjoxfQ==", Priority: 8}); err != nil {
			b.Fatal(err)
		}
		m, err := receive(q, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := q.DeleteMessage(m.ReceiptHandle); err != nil {
			b.Fatal(err)
		}
	}
}

package localfc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"
)

// Message is one received MNS queue message.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string // as stored (the SDK neither encodes nor decodes)
	DequeueCount  int
	EnqueueTime   time.Time
}

// Queue is what the MNS trigger needs from a queue. Implementations honour ctx where they can.
type Queue interface {
	// Receive long-polls up to wait for at most max messages; none available is (nil, nil).
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	Delete(ctx context.Context, receiptHandle string) error
	// ChangeVisibility hides the message for d and returns its new receipt handle.
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) (string, error)
	Send(ctx context.Context, body string) error
}

// QueueOpener opens the named queue in region.
type QueueOpener interface {
	OpenQueue(region, name string) (Queue, error)
}

// MNS opens queues through the official MNS SDK (aliyun-mns-go-sdk v1.0.11). Endpoint keeps
// the real form http://<account>.mns.<region>.aliyuncs.com, which the SDK requires; when Addr
// is set, every connection is dialled to that host:port instead (the local cloud).
type MNS struct {
	AccountID string
	Addr      string // e.g. 127.0.0.1:9100; empty = the real endpoint
	Creds     func() Credentials
}

// OpenQueue implements QueueOpener.
func (m MNS) OpenQueue(region, name string) (q Queue, err error) {
	c := m.Creds()
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return nil, fmt.Errorf("mns queue %s/%s: no credentials", region, name)
	}
	scheme := "https"
	if m.Addr != "" {
		scheme = "http" // the local cloud's MNS speaks plain HTTP on loopback
	}
	endpoint := fmt.Sprintf("%s://%s.mns.%s.aliyuncs.com", scheme, m.AccountID, region)
	// The SDK's constructors panic on bad input; turn that into an error here.
	defer func() {
		if p := recover(); p != nil {
			q, err = nil, fmt.Errorf("mns queue %s/%s: endpoint %s: %v", region, name, endpoint, p)
		}
	}()
	client := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint: endpoint, AccessKeyId: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret,
		Token: c.SecurityToken, TimeoutSecond: 35,
	})
	if m.Addr != "" {
		addr := m.Addr
		client.SetTransport(localTransport{hc: &fasthttp.HostClient{
			Addr: addr,
			Dial: func(string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) },
			// Long polls hold up to 30 s.
			ReadTimeout: 40 * time.Second, WriteTimeout: 40 * time.Second,
		}})
	}
	return &sdkQueue{q: ali_mns.NewMNSQueue(name, client), name: name}, nil
}

// MNSFromEndpoint returns an MNS opener for a CERTFLOW_MNS_ENDPOINT-style URL: a loopback
// URL (the local cloud) is dialled directly behind the real-looking endpoint; a real
// http(s)://<account>.mns.<region>.aliyuncs.com URL is used as is.
func MNSFromEndpoint(endpoint, accountID string, creds func() Credentials) (MNS, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Host == "" {
		return MNS{}, fmt.Errorf("mns endpoint %q: want http://host:port", endpoint)
	}
	m := MNS{AccountID: accountID, Creds: creds}
	if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
		m.Addr = u.Host
	} else if acct, _, ok := strings.Cut(u.Hostname(), "."); ok && accountID == "" {
		m.AccountID = acct
	}
	return m, nil
}

// localTransport sends every request, Host header unchanged, to one local address.
type localTransport struct{ hc *fasthttp.HostClient }

func (t localTransport) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, t.hc.Do(req, resp)
}

type sdkQueue struct {
	q    ali_mns.AliMNSQueue
	name string
}

func (s *sdkQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if max > 16 {
		max = 16
	}
	if max < 1 {
		max = 1
	}
	secs := int64(wait / time.Second)
	if secs > 30 {
		secs = 30
	}
	respCh := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errCh := make(chan error, 1)
	go func() {
		if secs > 0 {
			s.q.BatchReceiveMessage(respCh, errCh, int32(max), secs)
		} else {
			s.q.BatchReceiveMessage(respCh, errCh, int32(max))
		}
	}()
	select {
	case resp := <-respCh:
		out := make([]Message, 0, len(resp.Messages))
		for _, m := range resp.Messages {
			out = append(out, Message{ID: m.MessageId, ReceiptHandle: m.ReceiptHandle, Body: m.MessageBody,
				DequeueCount: int(m.DequeueCount), EnqueueTime: time.UnixMilli(m.EnqueueTime)})
		}
		return out, nil
	case err := <-errCh:
		if ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("mns queue %s: receive: %w", s.name, err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *sdkQueue) Delete(_ context.Context, rh string) error {
	if err := s.q.DeleteMessage(rh); err != nil {
		return fmt.Errorf("mns queue %s: delete: %w", s.name, err)
	}
	return nil
}

func (s *sdkQueue) ChangeVisibility(_ context.Context, rh string, d time.Duration) (string, error) {
	secs := int64(d / time.Second)
	if secs < 1 {
		secs = 1
	}
	if secs > 43200 {
		secs = 43200
	}
	resp, err := s.q.ChangeMessageVisibility(rh, secs)
	if err != nil {
		return "", fmt.Errorf("mns queue %s: change visibility: %w", s.name, err)
	}
	return resp.ReceiptHandle, nil
}

func (s *sdkQueue) Send(_ context.Context, body string) error {
	// Priority must be set: the SDK would send 0, which MNS rejects (facts §3.8).
	if _, err := s.q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body, Priority: 8}); err != nil {
		return fmt.Errorf("mns queue %s: send: %w", s.name, err)
	}
	return nil
}

// errNoQueues reports an MNS trigger without Options.Queues.
var errNoQueues = errors.New("no queue opener configured (Options.Queues)")

// queueName strips a path prefix some callers pass.
func queueName(s string) string { return strings.TrimPrefix(s, "/queues/") }

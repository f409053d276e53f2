package mnsemu

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// QueueAttrs are a queue's settings. Zero VisibilityTimeout,
// MaximumMessageSize and MessageRetentionPeriod mean the MNS defaults
// (30 s, 65536 bytes, 345600 s); zero DelaySeconds and PollingWaitSeconds are
// real zeros.
type QueueAttrs struct {
	VisibilityTimeout, MaximumMessageSize, MessageRetentionPeriod, DelaySeconds, PollingWaitSeconds int
}

func (a QueueAttrs) withDefaults() QueueAttrs {
	if a.VisibilityTimeout == 0 {
		a.VisibilityTimeout = 30
	}
	if a.MaximumMessageSize == 0 {
		a.MaximumMessageSize = 65536
	}
	if a.MessageRetentionPeriod == 0 {
		a.MessageRetentionPeriod = 345600
	}
	return a
}

func (a QueueAttrs) validate() *apiError {
	checks := []struct {
		name     string
		v, lo, h int
		unit     string
	}{
		{"DelaySeconds", a.DelaySeconds, 0, 604800, "seconds"},
		{"MaximumMessageSize", a.MaximumMessageSize, 1024, 65536, "bytes"},
		{"MessageRetentionPeriod", a.MessageRetentionPeriod, 60, 1296000, "seconds"},
		{"VisibilityTimeout", a.VisibilityTimeout, 1, 43200, "seconds"},
		{"PollingWaitSeconds", a.PollingWaitSeconds, 0, 30, "seconds"},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.h {
			return errf(http.StatusBadRequest, "InvalidArgument", "The value of %s should between %d and %d %s.", c.name, c.lo, c.h, c.unit)
		}
	}
	return nil
}

// Message is a snapshot of one queued message.
type Message struct {
	ID               string
	Body             string
	BodyMD5          string
	Priority         int
	EnqueueTime      time.Time
	VisibleAt        time.Time // when it is (or becomes again) receivable
	FirstDequeueTime time.Time // zero until first received
	DequeueCount     int
	ReceiptHandle    string // the only handle that currently works; "" until received
}

type queue struct {
	name     string
	attrs    QueueAttrs
	created  time.Time
	modified time.Time
	msgs     []*Message
	wake     chan struct{} // closed and replaced whenever something may have become receivable
	handleN  uint64
}

func (q *queue) notify() {
	close(q.wake)
	q.wake = make(chan struct{})
}

var queueNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

func checkQueueName(name string) *apiError {
	if len(name) > 256 {
		return errf(http.StatusBadRequest, "QueueNameLengthError", "The length of queue name should between 1 and 256.")
	}
	if !queueNameRE.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidQueueName", "The queue name you provided is invalid.")
	}
	return nil
}

func errNoQueue() *apiError {
	return errf(http.StatusNotFound, "QueueNotExist", "The queue name you provided is not exist.")
}

func errNoMessage() *apiError {
	return errf(http.StatusNotFound, "MessageNotExist", "Message not exist.")
}

func errBadHandle() *apiError {
	return errf(http.StatusBadRequest, "ReceiptHandleError", "The receipt handle you provide is not valid.")
}

// CreateQueue creates a queue (estate seeding). Creating an existing queue
// with the same attributes is a no-op; with other attributes it fails with
// QueueAlreadyExist.
func (s *Service) CreateQueue(name string, a QueueAttrs) error {
	if e := checkQueueName(name); e != nil {
		return fmt.Errorf("mns queue %q: %w", name, e)
	}
	_, e := s.createQueue(name, a.withDefaults())
	if e != nil {
		return fmt.Errorf("mns queue %q: %w", name, e)
	}
	return nil
}

// createQueue reports whether the queue was new.
func (s *Service) createQueue(name string, a QueueAttrs) (bool, *apiError) {
	if e := a.validate(); e != nil {
		return false, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[name]; ok {
		if q.attrs == a {
			return false, nil
		}
		return false, errf(http.StatusConflict, "QueueAlreadyExist", "The queue you want to create is already exist.")
	}
	now := s.now()
	s.queues[name] = &queue{name: name, attrs: a, created: now, modified: now, wake: make(chan struct{})}
	return true, nil
}

// Messages returns a snapshot of the queue's messages in priority/arrival
// order, or nil when the queue does not exist.
func (s *Service) Messages(queueName string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queueName]
	if !ok {
		return nil
	}
	s.expire(q)
	out := make([]Message, 0, len(q.msgs))
	for _, m := range q.msgs {
		out = append(out, *m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// Queues lists queue names, sorted.
func (s *Service) Queues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.queues))
	for n := range s.queues {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// expire drops messages past their retention period. Caller holds s.mu.
func (s *Service) expire(q *queue) {
	cut := s.now().Add(-time.Duration(q.attrs.MessageRetentionPeriod) * time.Second)
	q.msgs = slices.DeleteFunc(q.msgs, func(m *Message) bool { return m.EnqueueTime.Before(cut) })
}

// --- queue management over HTTP ---

type queueDoc struct {
	XMLName                xml.Name `xml:"Queue"`
	DelaySeconds           *int     `xml:"DelaySeconds"`
	MaximumMessageSize     *int     `xml:"MaximumMessageSize"`
	MessageRetentionPeriod *int     `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      *int     `xml:"VisibilityTimeout"`
	PollingWaitSeconds     *int     `xml:"PollingWaitSeconds"`
	LoggingEnabled         *bool    `xml:"LoggingEnabled"`
}

func (d queueDoc) apply(a QueueAttrs) QueueAttrs {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.DelaySeconds, d.DelaySeconds)
	set(&a.MaximumMessageSize, d.MaximumMessageSize)
	set(&a.MessageRetentionPeriod, d.MessageRetentionPeriod)
	set(&a.VisibilityTimeout, d.VisibilityTimeout)
	set(&a.PollingWaitSeconds, d.PollingWaitSeconds)
	return a
}

func decodeXML(body []byte, v any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return errf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed.")
	}
	return nil
}

func (s *Service) createQueueHTTP(name string, body []byte) result {
	if e := checkQueueName(name); e != nil {
		return failed(e)
	}
	var d queueDoc
	if e := decodeXML(body, &d); e != nil {
		return failed(e)
	}
	isNew, e := s.createQueue(name, d.apply(QueueAttrs{}.withDefaults()))
	if e != nil {
		return failed(e)
	}
	if !isNew {
		return ok(http.StatusNoContent, nil)
	}
	return ok(http.StatusCreated, nil)
}

func (s *Service) setQueueAttributes(name string, body []byte) result {
	var d queueDoc
	if e := decodeXML(body, &d); e != nil {
		return failed(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[name]
	if !found {
		return failed(errNoQueue())
	}
	a := d.apply(q.attrs)
	if e := a.validate(); e != nil {
		return failed(e)
	}
	q.attrs = a
	q.modified = s.now()
	return ok(http.StatusNoContent, nil)
}

type queueAttrsDoc struct {
	XMLName                xml.Name `xml:"Queue"`
	NS                     string   `xml:"xmlns,attr,omitempty"`
	QueueName              string   `xml:"QueueName"`
	CreateTime             int64    `xml:"CreateTime"`
	LastModifyTime         int64    `xml:"LastModifyTime"`
	DelaySeconds           int      `xml:"DelaySeconds"`
	MaximumMessageSize     int      `xml:"MaximumMessageSize"`
	MessageRetentionPeriod int      `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      int      `xml:"VisibilityTimeout"`
	PollingWaitSeconds     int      `xml:"PollingWaitSeconds"`
	ActiveMessages         int      `xml:"ActiveMessages"`
	InactiveMessages       int      `xml:"InactiveMessages"`
	DelayMessages          int      `xml:"DelayMessages"`
	LoggingEnabled         bool     `xml:"LoggingEnabled"`
}

// attrsDoc builds the attributes document. Caller holds s.mu.
func (s *Service) attrsDoc(q *queue) queueAttrsDoc {
	s.expire(q)
	now := s.now()
	d := queueAttrsDoc{
		QueueName: q.name, CreateTime: q.created.Unix(), LastModifyTime: q.modified.Unix(),
		DelaySeconds: q.attrs.DelaySeconds, MaximumMessageSize: q.attrs.MaximumMessageSize,
		MessageRetentionPeriod: q.attrs.MessageRetentionPeriod, VisibilityTimeout: q.attrs.VisibilityTimeout,
		PollingWaitSeconds: q.attrs.PollingWaitSeconds,
	}
	for _, m := range q.msgs {
		switch {
		case !m.VisibleAt.After(now):
			d.ActiveMessages++
		case m.DequeueCount == 0:
			d.DelayMessages++
		default:
			d.InactiveMessages++
		}
	}
	return d
}

func (s *Service) getQueueAttributes(name string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[name]
	if !found {
		return failed(errNoQueue())
	}
	d := s.attrsDoc(q)
	d.NS = xmlNS
	return ok(http.StatusOK, d)
}

func (s *Service) deleteQueue(name string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[name]
	if !found {
		return failed(errNoQueue())
	}
	delete(s.queues, name)
	q.notify()
	return ok(http.StatusNoContent, nil)
}

type queuesDoc struct {
	XMLName    xml.Name `xml:"Queues"`
	NS         string   `xml:"xmlns,attr"`
	Queues     []any    `xml:"Queue"`
	NextMarker string   `xml:"NextMarker,omitempty"`
}

type queueURLDoc struct {
	XMLName  xml.Name `xml:"Queue"`
	QueueURL string   `xml:"QueueURL"`
}

func (s *Service) listQueues(r *http.Request) result {
	prefix := r.Header.Get("x-mns-prefix")
	marker := r.Header.Get("x-mns-marker")
	n := 1000
	if v := r.Header.Get("x-mns-ret-number"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 || i > 1000 {
			return failed(errf(http.StatusBadRequest, "InvalidArgument", "The value of x-mns-ret-number should between 1 and 1000."))
		}
		n = i
	}
	withMeta := r.Header.Get("x-mns-with-meta") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.queues))
	for name := range s.queues {
		if strings.HasPrefix(name, prefix) && name >= marker {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	doc := queuesDoc{NS: xmlNS}
	if len(names) > n {
		doc.NextMarker = names[n]
		names = names[:n]
	}
	for _, name := range names {
		if withMeta {
			doc.Queues = append(doc.Queues, s.attrsDoc(s.queues[name]))
		} else {
			doc.Queues = append(doc.Queues, queueURLDoc{QueueURL: s.host + "/queues/" + name})
		}
	}
	return ok(http.StatusOK, doc)
}

// --- messages ---

type sendDoc struct {
	XMLName      xml.Name `xml:"Message"`
	MessageBody  *string  `xml:"MessageBody"`
	DelaySeconds *int64   `xml:"DelaySeconds"`
	Priority     *int64   `xml:"Priority"`
}

type batchSendDoc struct {
	XMLName  xml.Name  `xml:"Messages"`
	Messages []sendDoc `xml:"Message"`
}

type sentDoc struct {
	XMLName        xml.Name `xml:"Message"`
	NS             string   `xml:"xmlns,attr,omitempty"`
	ErrorCode      string   `xml:"ErrorCode,omitempty"`
	ErrorMessage   string   `xml:"ErrorMessage,omitempty"`
	MessageID      string   `xml:"MessageId,omitempty"`
	MessageBodyMD5 string   `xml:"MessageBodyMD5,omitempty"`
	ReceiptHandle  string   `xml:"ReceiptHandle,omitempty"`
}

type sentBatchDoc struct {
	XMLName  xml.Name  `xml:"Messages"`
	NS       string    `xml:"xmlns,attr"`
	Messages []sentDoc `xml:"Message"`
}

// checkMessage validates one message against the queue. Caller holds s.mu.
func checkMessage(q *queue, d sendDoc) *apiError {
	if d.MessageBody == nil || len(*d.MessageBody) == 0 {
		return errf(http.StatusBadRequest, "InvalidArgument", "The value of MessageBody should between 1 and %d bytes.", q.attrs.MaximumMessageSize)
	}
	if len(*d.MessageBody) > q.attrs.MaximumMessageSize {
		return errf(http.StatusBadRequest, "InvalidArgument", "The value of MessageBody should between 1 and %d bytes.", q.attrs.MaximumMessageSize)
	}
	if d.Priority != nil && (*d.Priority < 1 || *d.Priority > 16) {
		return errf(http.StatusBadRequest, "InvalidArgument", "The value of Priority should between 1 and 16.")
	}
	if d.DelaySeconds != nil && (*d.DelaySeconds < 0 || *d.DelaySeconds > 604800) {
		return errf(http.StatusBadRequest, "InvalidArgument", "The value of DelaySeconds should between 0 and 604800 seconds.")
	}
	return nil
}

// enqueue stores a checked message. Caller holds s.mu.
func (s *Service) enqueue(q *queue, d sendDoc) sentDoc {
	now := s.now()
	s.seq++
	prio := int64(8)
	if d.Priority != nil {
		prio = *d.Priority
	}
	delay := int64(q.attrs.DelaySeconds)
	if d.DelaySeconds != nil {
		delay = *d.DelaySeconds
	}
	sum := md5.Sum([]byte(*d.MessageBody))
	m := &Message{
		ID:          fmt.Sprintf("%016X-1-%X-%09d", uint64(q.created.UnixNano()), now.UnixMilli(), s.seq),
		Body:        *d.MessageBody,
		BodyMD5:     strings.ToUpper(hex.EncodeToString(sum[:])),
		Priority:    int(prio),
		EnqueueTime: now,
		VisibleAt:   now.Add(time.Duration(delay) * time.Second),
	}
	out := sentDoc{MessageID: m.ID, MessageBodyMD5: m.BodyMD5}
	if delay > 0 {
		m.ReceiptHandle = s.newHandle(q, m)
		out.ReceiptHandle = m.ReceiptHandle
	}
	q.msgs = append(q.msgs, m)
	q.notify()
	return out
}

func (s *Service) send(qname string, body []byte) result {
	var d sendDoc
	if e := decodeXML(body, &d); e != nil {
		return failed(e)
	}
	if d.XMLName.Local != "Message" {
		return failed(errf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[qname]
	if !found {
		return failed(errNoQueue())
	}
	if e := checkMessage(q, d); e != nil {
		return failed(e)
	}
	out := s.enqueue(q, d)
	out.NS = xmlNS
	return ok(http.StatusCreated, out)
}

func (s *Service) batchSend(qname string, body []byte) result {
	var d batchSendDoc
	if e := decodeXML(body, &d); e != nil {
		return failed(e)
	}
	if n := len(d.Messages); n < 1 || n > 16 {
		return failed(errf(http.StatusBadRequest, "InvalidArgument", "The count of message should between 1 and 16."))
	}
	total := 0
	for _, m := range d.Messages {
		if m.MessageBody != nil {
			total += len(*m.MessageBody)
		}
	}
	if total > 65536 {
		return failed(errf(http.StatusBadRequest, "InvalidArgument", "The total size of messages should not exceed 65536 bytes."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[qname]
	if !found {
		return failed(errNoQueue())
	}
	doc := sentBatchDoc{NS: xmlNS}
	code := ""
	for _, m := range d.Messages {
		if e := checkMessage(q, m); e != nil {
			doc.Messages = append(doc.Messages, sentDoc{ErrorCode: e.Code, ErrorMessage: e.Message})
			code = e.Code
			continue
		}
		doc.Messages = append(doc.Messages, s.enqueue(q, m))
	}
	if code != "" {
		// Partial failure: the per-entry result list, with a non-2xx status
		// so the SDK reports ERR_MNS_BATCH_OP_FAIL and fills the entries.
		return result{status: http.StatusInternalServerError, doc: doc, code: code}
	}
	return ok(http.StatusCreated, doc)
}

// newHandle issues a fresh receipt handle for m, invalidating older ones.
// Caller holds s.mu.
func (s *Service) newHandle(q *queue, m *Message) string {
	q.handleN++
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	raw := fmt.Sprintf("%s|%s|%d|%x", q.name, m.ID, q.handleN, nonce)
	return "1-" + base64.StdEncoding.EncodeToString([]byte(raw))
}

// parseHandle checks a receipt handle's form and returns the message ID it
// names; a handle that is not one this queue could have issued is
// ReceiptHandleError.
func parseHandle(qname, h string) (string, *apiError) {
	rest, ok := strings.CutPrefix(h, "1-")
	if !ok {
		return "", errBadHandle()
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", errBadHandle()
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 || parts[0] != qname {
		return "", errBadHandle()
	}
	return parts[1], nil
}

// findByHandle returns the message whose current, unexpired handle is h.
// A well-formed handle that has been superseded or whose visibility timeout
// has passed is MessageNotExist, as the service answers (see the MNS FAQ
// "message not exist appears when you delete a message"). Caller holds s.mu.
func (s *Service) findByHandle(q *queue, h string) (int, *apiError) {
	id, e := parseHandle(q.name, h)
	if e != nil {
		return -1, e
	}
	now := s.now()
	for i, m := range q.msgs {
		if m.ID != id {
			continue
		}
		if m.ReceiptHandle != h || !m.VisibleAt.After(now) {
			return -1, errNoMessage()
		}
		return i, nil
	}
	return -1, errNoMessage()
}

func (s *Service) deleteMessage(qname, handle string) result {
	if handle == "" {
		return failed(errf(http.StatusBadRequest, "MissingReceiptHandle", "ReceiptHandle is required."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[qname]
	if !found {
		return failed(errNoQueue())
	}
	i, e := s.findByHandle(q, handle)
	if e != nil {
		return failed(e)
	}
	q.msgs = slices.Delete(q.msgs, i, i+1)
	return ok(http.StatusNoContent, nil)
}

type handlesDoc struct {
	XMLName xml.Name `xml:"ReceiptHandles"`
	Handles []string `xml:"ReceiptHandle"`
}

type deleteErrDoc struct {
	XMLName       xml.Name `xml:"Error"`
	ErrorCode     string   `xml:"ErrorCode"`
	ErrorMessage  string   `xml:"ErrorMessage"`
	ReceiptHandle string   `xml:"ReceiptHandle"`
}

type deleteErrsDoc struct {
	XMLName xml.Name       `xml:"Errors"`
	NS      string         `xml:"xmlns,attr"`
	Errors  []deleteErrDoc `xml:"Error"`
}

func (s *Service) batchDelete(qname string, body []byte) result {
	var d handlesDoc
	if e := decodeXML(body, &d); e != nil {
		return failed(e)
	}
	if n := len(d.Handles); n < 1 || n > 16 {
		return failed(errf(http.StatusBadRequest, "InvalidArgument", "The count of ReceiptHandle should between 1 and 16."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[qname]
	if !found {
		return failed(errNoQueue())
	}
	doc := deleteErrsDoc{NS: xmlNS}
	for _, h := range d.Handles {
		i, e := s.findByHandle(q, h)
		if e != nil {
			doc.Errors = append(doc.Errors, deleteErrDoc{ErrorCode: e.Code, ErrorMessage: e.Message, ReceiptHandle: h})
			continue
		}
		q.msgs = slices.Delete(q.msgs, i, i+1)
	}
	if len(doc.Errors) > 0 {
		return result{status: http.StatusNotFound, doc: doc, code: doc.Errors[0].ErrorCode}
	}
	return ok(http.StatusNoContent, nil)
}

type visibilityDoc struct {
	XMLName         xml.Name `xml:"ChangeVisibility"`
	NS              string   `xml:"xmlns,attr"`
	ReceiptHandle   string   `xml:"ReceiptHandle"`
	NextVisibleTime int64    `xml:"NextVisibleTime"`
}

func (s *Service) changeVisibility(qname string, query url.Values) result {
	handle := query.Get("ReceiptHandle")
	if handle == "" {
		return failed(errf(http.StatusBadRequest, "MissingReceiptHandle", "ReceiptHandle is required."))
	}
	if !query.Has("VisibilityTimeout") {
		return failed(errf(http.StatusBadRequest, "MissingVisibilityTimeout", "VisibilityTimeout is required."))
	}
	vt, err := strconv.Atoi(query.Get("VisibilityTimeout"))
	if err != nil || vt < 1 || vt > 43200 {
		return failed(errf(http.StatusBadRequest, "InvalidArgument", "The value of VisibilityTimeout should between 1 and 43200 seconds."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.queues[qname]
	if !found {
		return failed(errNoQueue())
	}
	i, e := s.findByHandle(q, handle)
	if e != nil {
		return failed(e)
	}
	m := q.msgs[i]
	m.VisibleAt = s.now().Add(time.Duration(vt) * time.Second)
	m.ReceiptHandle = s.newHandle(q, m)
	return ok(http.StatusOK, visibilityDoc{NS: xmlNS, ReceiptHandle: m.ReceiptHandle, NextVisibleTime: m.VisibleAt.UnixMilli()})
}

type receivedDoc struct {
	XMLName          xml.Name `xml:"Message"`
	NS               string   `xml:"xmlns,attr,omitempty"`
	MessageID        string   `xml:"MessageId"`
	ReceiptHandle    string   `xml:"ReceiptHandle,omitempty"`
	MessageBodyMD5   string   `xml:"MessageBodyMD5"`
	MessageBody      string   `xml:"MessageBody"`
	EnqueueTime      int64    `xml:"EnqueueTime"`
	NextVisibleTime  int64    `xml:"NextVisibleTime"`
	FirstDequeueTime int64    `xml:"FirstDequeueTime"`
	DequeueCount     int      `xml:"DequeueCount"`
	Priority         int      `xml:"Priority"`
}

type receivedBatchDoc struct {
	XMLName  xml.Name      `xml:"Messages"`
	NS       string        `xml:"xmlns,attr"`
	Messages []receivedDoc `xml:"Message"`
}

func toReceived(m *Message) receivedDoc {
	d := receivedDoc{
		MessageID: m.ID, ReceiptHandle: m.ReceiptHandle, MessageBodyMD5: m.BodyMD5, MessageBody: m.Body,
		EnqueueTime: m.EnqueueTime.UnixMilli(), NextVisibleTime: m.VisibleAt.UnixMilli(),
		DequeueCount: m.DequeueCount, Priority: m.Priority,
	}
	if !m.FirstDequeueTime.IsZero() {
		d.FirstDequeueTime = m.FirstDequeueTime.UnixMilli()
	}
	return d
}

// take returns up to n visible messages, best priority first, then oldest.
// Unless peek, each becomes inactive for the visibility timeout with a new
// receipt handle and an incremented dequeue count. Caller holds s.mu.
func (s *Service) take(q *queue, n int, peek bool) []receivedDoc {
	s.expire(q)
	now := s.now()
	var visible []*Message
	for _, m := range q.msgs {
		if !m.VisibleAt.After(now) {
			visible = append(visible, m)
		}
	}
	sort.SliceStable(visible, func(i, j int) bool { return visible[i].Priority < visible[j].Priority })
	if len(visible) > n {
		visible = visible[:n]
	}
	out := make([]receivedDoc, 0, len(visible))
	for _, m := range visible {
		if peek {
			d := toReceived(m)
			d.ReceiptHandle = ""
			out = append(out, d)
			continue
		}
		m.DequeueCount++
		if m.FirstDequeueTime.IsZero() {
			m.FirstDequeueTime = now
		}
		m.VisibleAt = now.Add(time.Duration(q.attrs.VisibilityTimeout) * time.Second)
		m.ReceiptHandle = s.newHandle(q, m)
		out = append(out, toReceived(m))
	}
	return out
}

// pollTick bounds how late a long poll notices a delayed or re-visible
// message; sends wake pollers at once.
const pollTick = 50 * time.Millisecond

func (s *Service) receive(r *http.Request, op, qname string) result {
	query := r.URL.Query()
	peek := op == "PeekMessage" || op == "BatchPeekMessage"
	batch := op == "BatchReceiveMessage" || op == "BatchPeekMessage"
	n := 1
	if batch {
		v, err := strconv.Atoi(query.Get("numOfMessages"))
		if err != nil || v < 1 || v > 16 {
			return failed(errf(http.StatusBadRequest, "InvalidArgument", "The value of numOfMessages should between 1 and 16."))
		}
		n = v
	}
	wait := -1
	if query.Has("waitseconds") && !peek {
		v, err := strconv.Atoi(query.Get("waitseconds"))
		if err != nil || v < 0 || v > 30 {
			return failed(errf(http.StatusBadRequest, "InvalidArgument", "The value of waitseconds should between 0 and 30 seconds."))
		}
		wait = v
	}
	s.mu.Lock()
	q, found := s.queues[qname]
	if !found {
		s.mu.Unlock()
		return failed(errNoQueue())
	}
	if wait < 0 {
		wait = q.attrs.PollingWaitSeconds
		if peek {
			wait = 0
		}
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		got := s.take(q, n, peek)
		if len(got) > 0 {
			s.mu.Unlock()
			if batch {
				return ok(http.StatusOK, receivedBatchDoc{NS: xmlNS, Messages: got})
			}
			got[0].NS = xmlNS
			return ok(http.StatusOK, got[0])
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.mu.Unlock()
			return failed(errNoMessage())
		}
		wake := q.wake
		s.mu.Unlock()
		t := time.NewTimer(min(left, pollTick))
		select {
		case <-wake:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return failed(errf(http.StatusBadRequest, "RequestCanceled", "The request was canceled."))
		}
		t.Stop()
		s.mu.Lock()
		if cur, still := s.queues[qname]; !still || cur != q {
			s.mu.Unlock()
			return failed(errNoQueue())
		}
	}
}

// ErrCode returns the MNS error code carried by err ("" when none).
func ErrCode(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TypeMNSMessage is the CloudEvent type EventBridge gives MNS queue messages.
const TypeMNSMessage = "mns:Queue:SendMessage"

// QueueMessage is one MNS message as the FC 3.0 MNS trigger delivers it.
//
// The trigger's data member documents requestId, messageId and messageBody only;
// ReceiptHandle, DequeueCount and EnqueueTime are filled when the payload carries
// them (receiptHandle, dequeueCount, enqueueTime as epoch milliseconds or RFC 3339 —
// the local FC runtime's queue bridge does) and are zero otherwise.
type QueueMessage struct {
	MessageID string
	// Body is the message body as delivered: already base64-decoded by the trigger
	// when its IsBase64Decode is true, still encoded otherwise. A body delivered as
	// a nested JSON value is kept as that value's JSON text.
	Body          []byte
	DequeueCount  int
	EnqueueTime   time.Time
	ReceiptHandle string
	RequestID     string
	EventID       string // the CloudEvent id; empty for RawData delivery
}

// DecodeQueue decodes an MNS trigger payload: a JSON array of CloudEvents
// (event-streaming mode), a single CloudEvent (event-driven mode), or RawData
// delivery (the data objects alone, as an array or one object). Every message needs
// a messageId and a messageBody.
//
// Like DecodeDeploy it returns every message that decoded, in payload order, and a
// joined error naming each one that did not (by message ID when known, else by
// position).
func DecodeQueue(payload []byte) ([]QueueMessage, error) {
	items, batch, err := splitBatch(payload)
	if err != nil {
		return nil, fmt.Errorf("decode queue payload: %w", err)
	}
	var (
		out  []QueueMessage
		errs []error
	)
	for i, raw := range items {
		m, err := decodeQueueItem(raw, itemLabel(i, batch))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

func decodeQueueItem(raw json.RawMessage, label string) (QueueMessage, error) {
	obj, err := object(raw)
	if err != nil {
		return QueueMessage{}, fmt.Errorf("message %s: %w", label, err)
	}
	var m QueueMessage
	data := obj
	if _, envelope := obj["specversion"]; envelope || hasKey(obj, "type") {
		ce, err := decodeCloudEvent(raw, label)
		if err != nil {
			return QueueMessage{}, err
		}
		if ce.Type != TypeMNSMessage {
			return QueueMessage{}, fmt.Errorf("message %s: event type %q (source %q) is not an MNS queue message (%s)",
				ce.ID, ce.Type, ce.Source, TypeMNSMessage)
		}
		m.EventID = ce.ID
		label = ce.ID
		if data, err = object(ce.Data); err != nil {
			return QueueMessage{}, fmt.Errorf("message %s: data: %w", label, err)
		}
	}
	if err := str(data, "messageId", &m.MessageID); err != nil {
		return QueueMessage{}, fmt.Errorf("message %s: %w", label, err)
	}
	if m.MessageID == "" {
		return QueueMessage{}, fmt.Errorf("message %s: messageId: required", label)
	}
	label = m.MessageID
	body, ok := data["messageBody"]
	body = bytes.TrimSpace(body)
	switch {
	case !ok || len(body) == 0 || string(body) == "null":
		return QueueMessage{}, fmt.Errorf("message %s: messageBody: required", label)
	case body[0] == '"':
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return QueueMessage{}, fmt.Errorf("message %s: messageBody: %w", label, err)
		}
		m.Body = []byte(s)
	case body[0] == '{' || body[0] == '[':
		m.Body = append([]byte(nil), body...)
	default:
		return QueueMessage{}, fmt.Errorf("message %s: messageBody: want a string, got %s", label, abbreviate(string(body), 20))
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"requestId", &m.RequestID}, {"receiptHandle", &m.ReceiptHandle}} {
		if err := str(data, f.name, f.dst); err != nil {
			return QueueMessage{}, fmt.Errorf("message %s: %w", label, err)
		}
	}
	if raw, ok := data["dequeueCount"]; ok {
		n, err := smallInt(raw)
		if err != nil {
			return QueueMessage{}, fmt.Errorf("message %s: dequeueCount: %w", label, err)
		}
		m.DequeueCount = n
	}
	if raw, ok := data["enqueueTime"]; ok {
		t, err := parseTime("enqueueTime", raw)
		if err != nil {
			return QueueMessage{}, fmt.Errorf("message %s: %w", label, err)
		}
		m.EnqueueTime = t
	}
	return m, nil
}

func hasKey(obj map[string]json.RawMessage, k string) bool {
	_, ok := obj[k]
	return ok
}

// str reads an optional string member.
func str(obj map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := obj[name]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: want a string, got %s", name, abbreviate(string(raw), 20))
	}
	return nil
}

// smallInt reads a non-negative count written as a number or numeric string.
func smallInt(raw json.RawMessage) (int, error) {
	text := string(bytes.Trim(bytes.TrimSpace(raw), `"`))
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 || n > 1<<30 {
		return 0, fmt.Errorf("want a non-negative whole number, got %s", abbreviate(string(raw), 20))
	}
	return n, nil
}

package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CloudEvent is a CloudEvents 1.0 envelope as EventBridge delivers it, with the
// Alibaba Cloud extension attributes. Data is kept raw: its shape depends on the
// source and type.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`

	AccountID         string `json:"aliyunaccountid,omitempty"`
	OriginalAccountID string `json:"aliyunoriginalaccountid,omitempty"`
	PublishTime       string `json:"aliyunpublishtime,omitempty"`
	EventBusName      string `json:"aliyuneventbusname,omitempty"`
	RegionID          string `json:"aliyunregionid,omitempty"`
	PublishAddr       string `json:"aliyunpublishaddr,omitempty"`
}

// specVersion is the only CloudEvents version EventBridge emits.
const specVersion = "1.0"

// decodeCloudEvent decodes one envelope and checks the attributes CloudEvents 1.0
// requires (specversion, id, source, type). label names the event in errors when
// it has no ID of its own.
func decodeCloudEvent(raw json.RawMessage, label string) (CloudEvent, error) {
	var ce CloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return CloudEvent{}, fmt.Errorf("event %s: malformed CloudEvent: %w", label, err)
	}
	if ce.ID != "" {
		label = ce.ID
	}
	var missing []string
	if ce.SpecVersion != specVersion {
		if ce.SpecVersion == "" {
			missing = append(missing, "specversion: required")
		} else {
			missing = append(missing, fmt.Sprintf("specversion: %q is not supported (want %q)", ce.SpecVersion, specVersion))
		}
	}
	if ce.ID == "" {
		missing = append(missing, "id: required")
	}
	if ce.Source == "" {
		missing = append(missing, "source: required")
	}
	if ce.Type == "" {
		missing = append(missing, "type: required")
	}
	if len(missing) > 0 {
		return CloudEvent{}, fmt.Errorf("event %s: %s", label, strings.Join(missing, "; "))
	}
	return ce, nil
}

// splitBatch returns the elements of a JSON array payload, or the payload itself as
// a single element when it is an object. batch reports which it was.
func splitBatch(payload []byte) (items []json.RawMessage, batch bool, err error) {
	payload = bytes.TrimSpace(payload)
	payload = bytes.TrimPrefix(payload, []byte("\xef\xbb\xbf"))
	switch {
	case len(payload) == 0:
		return nil, false, errors.New("empty payload")
	case payload[0] == '[':
		if err := json.Unmarshal(payload, &items); err != nil {
			return nil, true, fmt.Errorf("malformed JSON array: %w", err)
		}
		if len(items) == 0 {
			return nil, true, errors.New("empty event batch")
		}
		return items, true, nil
	case payload[0] == '{':
		if !json.Valid(payload) {
			var v any
			return nil, false, fmt.Errorf("malformed JSON: %w", json.Unmarshal(payload, &v))
		}
		return []json.RawMessage{payload}, false, nil
	default:
		return nil, false, fmt.Errorf("payload is not a JSON object or array (starts with %q)", abbreviate(string(payload), 12))
	}
}

// itemLabel names the i-th element of a batch before its own ID is known.
func itemLabel(i int, batch bool) string {
	if batch {
		return fmt.Sprintf("#%d", i)
	}
	return "(no id)"
}

// parseTime accepts RFC 3339 (with or without fractional seconds) and epoch
// milliseconds as a JSON number or string, the forms FC and MNS use.
func parseTime(field string, raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, nil
	}
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return time.Time{}, fmt.Errorf("%s: malformed string: %w", field, err)
		}
	} else {
		text = string(raw)
	}
	if isDigits(text) {
		var ms int64
		if _, err := fmt.Sscan(text, &ms); err != nil || len(text) > 15 {
			return time.Time{}, fmt.Errorf("%s: epoch milliseconds %q out of range", field, abbreviate(text, 20))
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is neither RFC 3339 nor epoch milliseconds", field, abbreviate(text, 40))
	}
	return t, nil
}

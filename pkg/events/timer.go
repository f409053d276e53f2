package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Timer is an FC timer trigger invocation.
type Timer struct {
	TriggerTime time.Time
	TriggerName string
	// Payload is the trigger's configured payload string, verbatim (not parsed).
	Payload string
}

// DecodeTimer decodes {"triggerTime": RFC 3339, "triggerName": "...", "payload": "..."}.
// triggerTime and triggerName are required; payload may be empty. A payload given as
// a JSON value instead of a string is kept as that value's JSON text.
func DecodeTimer(payload []byte) (Timer, error) {
	items, batch, err := splitBatch(payload)
	if err != nil {
		return Timer{}, fmt.Errorf("decode timer event: %w", err)
	}
	if batch {
		return Timer{}, errors.New("decode timer event: got a JSON array, want one object")
	}
	obj, err := object(items[0])
	if err != nil {
		return Timer{}, fmt.Errorf("decode timer event: %w", err)
	}
	var t Timer
	var errs []error
	if err := str(obj, "triggerName", &t.TriggerName); err != nil {
		errs = append(errs, err)
	} else if t.TriggerName == "" {
		errs = append(errs, errors.New("triggerName: required"))
	}
	if raw, ok := obj["triggerTime"]; !ok || string(bytes.TrimSpace(raw)) == "null" {
		errs = append(errs, errors.New("triggerTime: required"))
	} else if t.TriggerTime, err = parseTime("triggerTime", raw); err != nil {
		errs = append(errs, err)
	}
	if raw, ok := obj["payload"]; ok {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || string(raw) == "null":
		case raw[0] == '"':
			if err := json.Unmarshal(raw, &t.Payload); err != nil {
				errs = append(errs, fmt.Errorf("payload: %w", err))
			}
		default:
			t.Payload = string(raw)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Timer{}, fmt.Errorf("decode timer event: %w", err)
	}
	return t, nil
}

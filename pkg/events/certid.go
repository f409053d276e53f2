package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoCertID is returned (wrapped, with the event ID) when an event carries no
// certificate ID in any of the places certflow looks.
var ErrNoCertID = errors.New("event has no certificate ID")

// certIDPaths lists, in the order they are reported, every place inside a CloudEvent's
// `data` member where a certificate ID may sit. CAS service events use the first four;
// ActionTrail events carry the API call's own parameters and response.
// It is a function, not a package variable, so nobody can change it at run time.
func certIDPaths() [][]string {
	direct := []string{"certId", "certificateId", "CertId", "CertificateId"}
	paths := make([][]string, 0, 3*len(direct))
	for _, parent := range []string{"", "requestParameters", "responseElements"} {
		for _, name := range direct {
			if parent == "" {
				paths = append(paths, []string{name})
				continue
			}
			paths = append(paths, []string{parent, name})
		}
	}
	return paths
}

// foundID is one certificate ID found at a field path.
type foundID struct {
	field string
	id    int64
}

// extractCertID looks up every path in certIDPaths inside data (a JSON object) and
// returns the single certificate ID they agree on. prefix names data in errors
// ("data"). Absent and null fields are skipped; a present field that is not a
// positive integer is an error naming it; two fields naming different IDs conflict.
func extractCertID(prefix string, data json.RawMessage) (int64, error) {
	obj, err := object(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", prefix, err)
	}
	var found []foundID
	for _, path := range certIDPaths() {
		raw, ok := lookup(obj, path)
		if !ok {
			continue
		}
		field := prefix + "." + strings.Join(path, ".")
		id, present, err := parseCertID(field, raw)
		if err != nil {
			return 0, err
		}
		if present {
			found = append(found, foundID{field: field, id: id})
		}
	}
	if len(found) == 0 {
		return 0, ErrNoCertID
	}
	for _, f := range found[1:] {
		if f.id != found[0].id {
			return 0, fmt.Errorf("conflicting certificate IDs: %s=%d, %s=%d",
				found[0].field, found[0].id, f.field, f.id)
		}
	}
	return found[0].id, nil
}

// object decodes a JSON object into its members, keeping values raw. null or a
// missing member yields an empty map.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]json.RawMessage{}, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("not a JSON object (starts with %q)", abbreviate(string(raw), 12))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return obj, nil
}

// lookup follows path through nested objects. A member that is not an object where
// one is needed counts as absent for the rest of the path.
func lookup(obj map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur := obj
	for i, name := range path {
		raw, ok := cur[name]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return raw, true
		}
		next, err := object(raw)
		if err != nil {
			return nil, false
		}
		cur = next
	}
	return nil, false
}

// parseCertID reads a certificate ID written as a JSON number or a numeric string.
// present is false for null. The ID must be a positive integer that fits int64.
func parseCertID(field string, raw json.RawMessage) (id int64, present bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false, nil
	}
	var text string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, false, fmt.Errorf("%s: malformed string: %w", field, err)
		}
		text = strings.TrimSpace(text)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		text = string(raw)
	default:
		return 0, false, fmt.Errorf("%s: certificate ID must be a number or a numeric string, got %s",
			field, jsonKind(raw))
	}
	if text == "" {
		return 0, false, fmt.Errorf("%s: certificate ID is empty", field)
	}
	if !isDigits(strings.TrimPrefix(text, "-")) {
		return 0, false, fmt.Errorf("%s: certificate ID %q is not a whole number", field, abbreviate(text, 40))
	}
	if strings.HasPrefix(text, "-") {
		return 0, false, fmt.Errorf("%s: certificate ID %s is negative", field, abbreviate(text, 40))
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: certificate ID %s is out of range", field, abbreviate(text, 40))
	}
	if n == 0 {
		return 0, false, fmt.Errorf("%s: certificate ID is 0", field)
	}
	return n, true, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "invalid JSON"
	}
}

// abbreviate shortens s for an error message.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

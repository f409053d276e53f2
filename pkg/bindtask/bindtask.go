// Package bindtask defines the BindTask: the MNS queue message the deployer sends and
// the binder consumes to bind a certificate to AIRec.
//
// A BindTask carries identifiers only — never key material: the CAS certificate ID
// and SHA-256 fingerprint, the AIRec instance and domains, the event that caused it
// and when it was created. The binder fetches the certificate and key from CAS
// itself. The task ID is derived from the instance and the fingerprint, so the same
// certificate delivered twice for the same instance collapses into one task.
//
// Wire format: the JSON object below (version "v": 1), base64-encoded (standard
// alphabet, padded) as the MNS message body:
//
//	{"v":1,"taskId":"…32 hex…","certId":12345678,"sha256":"…64 hex…",
//	 "instance":"airec-cn-…","domains":["rec.example.com"],
//	 "sourceEventId":"…","created":"2026-01-05T02:00:00Z"}
//
// Decode accepts the JSON raw or base64-encoded (case C16), because the body reaches
// the binder decoded when the MNS trigger's IsBase64Decode is true (its default) and
// as sent when it is false.
package bindtask

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/certflow/certflow/pkg/config"
)

// Version is the BindTask schema version this package writes and reads.
const Version = 1

// MaxMessageSize is MNS's message body limit (64 KiB), checked against the encoded body.
const MaxMessageSize = 64 * 1024

// Priority is the MNS priority Publish sends with. The Go SDK would otherwise send
// 0, which MNS rejects ("Priority should between 1 and 16"); 8 is the service default.
const Priority = 8

// Task is one request to bind a certificate to an AIRec instance.
type Task struct {
	V             int       `json:"v"`
	TaskID        string    `json:"taskId"`        // hex SHA-256 of instance+"/"+sha256, first 32 digits
	CertID        int64     `json:"certId"`        // CAS certificate ID
	SHA256        string    `json:"sha256"`        // leaf fingerprint, 64 lower-case hex digits
	Instance      string    `json:"instance"`      // AIRec instance ID
	Domains       []string  `json:"domains"`       // AIRec custom domains, normalised and sorted
	SourceEventID string    `json:"sourceEventId"` // the event that led to this task; may be empty
	Created       time.Time `json:"created"`       // RFC 3339, UTC, whole seconds
}

var instanceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,63}$`)

// TaskID returns the deterministic task ID for a certificate fingerprint on an instance.
func TaskID(instance, sha256Hex string) string {
	sum := sha256.Sum256([]byte(instance + "/" + normalizeFingerprint(sha256Hex)))
	return hex.EncodeToString(sum[:])[:32]
}

// normalizeFingerprint lower-cases a hex fingerprint and drops ':' separators.
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// New builds a task. It normalises the fingerprint (lower case, no colons) and the
// domains (as config.NormalizeName does, sorted, duplicates dropped; invalid names are
// kept as given so Validate reports them), truncates now to whole seconds in UTC and
// derives the task ID. It does not validate: call Validate, or Encode, which does.
func New(instance string, certID int64, sha256Hex string, domains []string, sourceEvent string, now time.Time) Task {
	fp := normalizeFingerprint(sha256Hex)
	ds := make([]string, 0, len(domains))
	for _, d := range domains {
		if n, err := config.NormalizeName(d); err == nil {
			d = n
		}
		if !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return Task{
		V:             Version,
		TaskID:        TaskID(instance, fp),
		CertID:        certID,
		SHA256:        fp,
		Instance:      instance,
		Domains:       ds,
		SourceEventID: sourceEvent,
		Created:       now.UTC().Truncate(time.Second),
	}
}

// Validate checks every field and reports all problems at once.
func (t Task) Validate() error {
	var errs []error
	if t.V != Version {
		errs = append(errs, fmt.Errorf("v: %d is not a supported version (want %d)", t.V, Version))
	}
	if t.CertID <= 0 {
		errs = append(errs, fmt.Errorf("certId: must be positive, got %d", t.CertID))
	}
	if len(t.SHA256) != 64 || !isLowerHex(t.SHA256) {
		errs = append(errs, fmt.Errorf("sha256: want 64 lower-case hex digits, got %d characters", len(t.SHA256)))
	}
	if !instanceRE.MatchString(t.Instance) {
		errs = append(errs, fmt.Errorf("instance: %q is not an AIRec instance ID", t.Instance))
	}
	if len(t.SHA256) == 64 && instanceRE.MatchString(t.Instance) {
		if want := TaskID(t.Instance, t.SHA256); t.TaskID != want {
			errs = append(errs, fmt.Errorf("taskId: %q does not match instance and sha256 (want %s)", t.TaskID, want))
		}
	}
	if len(t.Domains) == 0 {
		errs = append(errs, errors.New("domains: at least one required"))
	}
	for i, d := range t.Domains {
		n, err := config.NormalizeName(d)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("domains[%d]: %w", i, err))
		case n != d:
			errs = append(errs, fmt.Errorf("domains[%d]: %q is not normalised (want %q)", i, d, n))
		case strings.HasPrefix(n, "*."):
			errs = append(errs, fmt.Errorf("domains[%d]: %q: AIRec custom domains are concrete names", i, d))
		}
	}
	if len(t.SourceEventID) > 256 {
		errs = append(errs, errors.New("sourceEventId: longer than 256 characters"))
	}
	if t.Created.IsZero() {
		errs = append(errs, errors.New("created: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bindtask %s: %w", t.TaskID, err)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Encode validates t and returns the MNS message body: base64 of the task's JSON.
// A body over MaxMessageSize is an error naming its size (case C18).
func Encode(t Task) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	js, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("bindtask %s: encode: %w", t.TaskID, err)
	}
	body := base64.StdEncoding.EncodeToString(js)
	if len(body) > MaxMessageSize {
		return "", fmt.Errorf("bindtask %s: message body is %d bytes, over the %d-byte MNS limit (%d domains)",
			t.TaskID, len(body), MaxMessageSize, len(t.Domains))
	}
	return body, nil
}

// Decode reads a BindTask from an MNS message body, raw JSON or base64-encoded JSON,
// and validates it. Anything else — base64 of non-JSON, junk, unknown fields, another
// version — is an error naming the message ID.
func Decode(messageID string, body []byte) (Task, error) {
	fail := func(format string, args ...any) (Task, error) {
		return Task{}, fmt.Errorf("message %s: %w", messageID, fmt.Errorf(format, args...))
	}
	b := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
	if len(b) == 0 {
		return fail("empty body")
	}
	if b[0] != '{' {
		decoded, err := decodeBase64(b)
		if err != nil {
			return fail("body is neither JSON nor base64-encoded JSON")
		}
		decoded = bytes.TrimSpace(decoded)
		if len(decoded) == 0 || decoded[0] != '{' {
			return fail("body is base64 but does not decode to a JSON object")
		}
		b = decoded
	}
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fail("malformed BindTask JSON: %w", err)
	}
	if head.V != Version {
		return fail("BindTask version %d is not supported (want %d)", head.V, Version)
	}
	var t Task
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return fail("malformed BindTask JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail("malformed BindTask JSON: data after the object")
	}
	if err := t.Validate(); err != nil {
		return fail("%w", err)
	}
	return t, nil
}

// decodeBase64 accepts the standard alphabet, padded or not, ignoring line breaks.
func decodeBase64(b []byte) ([]byte, error) {
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, string(b))
	if out, err := base64.StdEncoding.DecodeString(s); err == nil {
		return out, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Sender is the part of the MNS SDK queue (ali_mns.AliMNSQueue, v1.0.11) Publish needs.
type Sender interface {
	SendMessage(message ali_mns.MessageSendRequest) (resp ali_mns.MessageSendResponse, err error)
}

// Publish encodes t and sends it with Priority 8 and no delay, returning the MNS
// message ID. The body is base64 because the MNS trigger decodes base64 before
// delivery when IsBase64Decode is true (the FC API default, and what certflow's
// s.yaml sets), and because the console and other SDKs expect base64 bodies; Decode
// accepts either form.
//
// The SDK call takes no context: Publish returns ctx's error as soon as ctx ends, while
// the send may still complete in the background. A repeated send is harmless — the
// binder collapses duplicates by task ID.
func Publish(ctx context.Context, q Sender, t Task) (messageID string, err error) {
	body, err := Encode(t)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("bindtask %s: publish: %w", t.TaskID, err)
	}
	type result struct {
		resp ali_mns.MessageSendResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body, Priority: Priority})
		done <- result{resp, err}
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("bindtask %s: publish: %w", t.TaskID, ctx.Err())
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("bindtask %s: publish: %w", t.TaskID, r.err)
		}
		if r.resp.MessageId == "" {
			return "", fmt.Errorf("bindtask %s: publish: MNS returned no message ID", t.TaskID)
		}
		// MNS echoes the MD5 of the body it stored; a mismatch means the body was
		// altered on the way (e.g. by XML escaping), so the binder could not read it.
		if sum := md5.Sum([]byte(body)); r.resp.MessageBodyMD5 != "" &&
			!strings.EqualFold(r.resp.MessageBodyMD5, hex.EncodeToString(sum[:])) {
			return "", fmt.Errorf("bindtask %s: publish: MNS stored a different body (MD5 %s, sent %X)",
				t.TaskID, r.resp.MessageBodyMD5, sum)
		}
		return r.resp.MessageId, nil
	}
}

package bindtask_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/localca"
)

const fp = "3fa19c0d4e5b6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"

var created = time.Date(2026, 1, 5, 2, 0, 3, 0, time.UTC)

func sample() bindtask.Task {
	return bindtask.New("airec-cn-o400whm78004", 12345678, fp, []string{"rec.example.com", "api-rec.example.com"}, "ev-1", created)
}

func TestNew(t *testing.T) {
	a := bindtask.New("airec-cn-o400whm78004", 12345678, strings.ToUpper(fp[:2])+":"+fp[2:],
		[]string{"Rec.Example.com.", "api-rec.example.com", "rec.example.com"}, "ev-1", created.Add(400*time.Millisecond).In(time.FixedZone("CST", 8*3600)))
	b := sample()
	if a.TaskID != b.TaskID || a.SHA256 != fp || strings.Join(a.Domains, ",") != "api-rec.example.com,rec.example.com" || !a.Created.Equal(created) || a.Created.Location() != time.UTC {
		t.Fatalf("New normalised to %+v, want %+v", a, b)
	}
	if len(b.TaskID) != 32 {
		t.Errorf("task ID %q is not 32 hex digits", b.TaskID)
	}
	// Deterministic: same instance and fingerprint → same task, whatever else differs.
	c := bindtask.New("airec-cn-o400whm78004", 99, fp, []string{"x.example.com"}, "ev-2", created.Add(time.Hour))
	if c.TaskID != b.TaskID {
		t.Errorf("task ID differs for the same instance and fingerprint")
	}
	if d := bindtask.New("airec-cn-other01", 12345678, fp, []string{"rec.example.com"}, "", created); d.TaskID == b.TaskID {
		t.Errorf("task ID equal across instances")
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*bindtask.Task)
		want   string
	}{
		{"version", func(t *bindtask.Task) { t.V = 2 }, "v: 2 is not a supported version"},
		{"cert id zero", func(t *bindtask.Task) { t.CertID = 0 }, "certId: must be positive"},
		{"cert id negative", func(t *bindtask.Task) { t.CertID = -1 }, "certId: must be positive"},
		{"sha256 short", func(t *bindtask.Task) { t.SHA256 = "abc"; t.TaskID = bindtask.TaskID(t.Instance, "abc") }, "sha256: want 64 lower-case hex digits"},
		{"sha256 upper", func(t *bindtask.Task) { t.SHA256 = strings.ToUpper(fp) }, "sha256: want 64 lower-case hex"},
		{"instance", func(t *bindtask.Task) { t.Instance = "AIRec Instance" }, `instance: "AIRec Instance" is not an AIRec instance ID`},
		{"task id", func(t *bindtask.Task) { t.TaskID = "0123" }, `taskId: "0123" does not match`},
		{"no domains", func(t *bindtask.Task) { t.Domains = nil }, "domains: at least one required"},
		{"bad domain", func(t *bindtask.Task) { t.Domains = []string{"not a domain"} }, "domains[0]"},
		{"unnormalised domain", func(t *bindtask.Task) { t.Domains = []string{"Rec.Example.com"} }, "is not normalised"},
		{"wildcard domain", func(t *bindtask.Task) { t.Domains = []string{"*.example.com"} }, "concrete names"},
		{"created", func(t *bindtask.Task) { t.Created = time.Time{} }, "created: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := sample()
			tc.mutate(&task)
			err := task.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if _, err := bindtask.Encode(task); err == nil {
				t.Fatalf("Encode accepted an invalid task")
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	task := sample()
	body, err := bindtask.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("body is not standard base64: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "taskId", "certId", "sha256", "instance", "domains", "sourceEventId", "created"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("encoded JSON lacks %q: %s", k, raw)
		}
	}
	if len(fields) != 8 {
		t.Errorf("encoded JSON has %d fields, want 8: %s", len(fields), raw)
	}
	if fields["created"] != "2026-01-05T02:00:03Z" {
		t.Errorf("created = %v, want RFC 3339 UTC", fields["created"])
	}
	// C16: the body arrives raw (trigger decoded it), base64, base64 without padding,
	// or base64 wrapped at 76 columns.
	wrapped := ""
	for i := 0; i < len(body); i += 76 {
		wrapped += body[i:min(i+76, len(body))] + "\r\n"
	}
	for name, b := range map[string]string{
		"raw JSON":        string(raw),
		"raw JSON spaced": "\n  " + string(raw) + "\n",
		"base64":          body,
		"base64 unpadded": strings.TrimRight(body, "="),
		"base64 wrapped":  wrapped,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := bindtask.Decode("MSG-1", []byte(b))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(task) || !got.Created.Equal(task.Created) {
				t.Fatalf("decoded %+v, want %+v", got, task)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := json.Marshal(sample())
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	withField := strings.Replace(string(good), `{"v":1,`, `{"v":1,"key":"private key material",`, 1)
	tests := []struct{ name, body, want string }{
		{"base64 of non-JSON", b64("hello, binder"), "body is base64 but does not decode to a JSON object"},
		{"base64 of JSON array", b64(`[1,2]`), "does not decode to a JSON object"},
		{"junk", "%%% not a task %%%", "body is neither JSON nor base64-encoded JSON"},
		{"empty", "   ", "empty body"},
		{"truncated JSON", string(good[:40]), "malformed BindTask JSON"},
		{"other version", `{"v":2,"taskId":"x"}`, "BindTask version 2 is not supported"},
		{"no version (C21)", `{"task_id":"x","cert_id":5}`, "BindTask version 0 is not supported"},
		{"unknown field", withField, `unknown field "key"`},
		{"trailing data", string(good) + `{}`, "malformed BindTask JSON"},
		{"invalid task", strings.Replace(string(good), `"certId":12345678`, `"certId":0`, 1), "certId: must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bindtask.Decode("C6DB60D1574661357FA2", []byte(tc.body))
			if err == nil {
				t.Fatal("Decode accepted it")
			}
			if !strings.Contains(err.Error(), "message C6DB60D1574661357FA2") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want message ID and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN PRIVATE KEY") {
				t.Fatalf("error repeats key material: %v", err)
			}
		})
	}
}

// TestEncodeSizeLimit is case C18: a task that would exceed 64 KiB fails with its size.
func TestEncodeSizeLimit(t *testing.T) {
	var domains []string
	for i := 0; len(strings.Join(domains, `","`))*4/3 < 70*1024; i++ {
		domains = append(domains, fmt.Sprintf("host-%05d.recommendation.example.com", i))
	}
	task := bindtask.New("airec-cn-o400whm78004", 1, fp, domains, "", created)
	_, err := bindtask.Encode(task)
	if err == nil || !strings.Contains(err.Error(), "over the 65536-byte MNS limit") || !strings.Contains(err.Error(), fmt.Sprintf("%d domains", len(domains))) {
		t.Fatalf("Encode = %v, want the size error", err)
	}
	// Just under the limit still encodes.
	for len(domains) > 0 {
		domains = domains[:len(domains)-1]
		body, err := bindtask.Encode(bindtask.New("airec-cn-o400whm78004", 1, fp, domains, "", created))
		if err == nil {
			if len(body) > bindtask.MaxMessageSize || len(body) < bindtask.MaxMessageSize-100 {
				t.Fatalf("largest accepted body is %d bytes", len(body))
			}
			return
		}
	}
	t.Fatal("no task size was accepted")
}

// TestNoKeyMaterial encodes a task for a real certificate and checks that nothing of
// the key reaches the message.
func TestNoKeyMaterial(t *testing.T) {
	ca, err := localca.New("bindtask test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"rec.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	task := bindtask.New("airec-cn-o400whm78004", 42, leaf.SHA256(), []string{"rec.example.com"}, "ev", created)
	body, err := bindtask.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(body)
	key := string(leaf.KeyPEM())
	lines := strings.Split(strings.TrimSpace(key), "\n")
	for _, l := range lines[1 : len(lines)-1] {
		if strings.Contains(string(raw), l) || strings.Contains(body, l) {
			t.Fatalf("message contains key material")
		}
	}
	if !strings.Contains(string(raw), strings.ToLower(leaf.SHA256())) {
		t.Fatalf("message lacks the fingerprint: %s", raw)
	}
}

// fakeQueue records what Publish sends, answering like MNS.
type fakeQueue struct {
	sent  []ali_mns.MessageSendRequest
	err   error
	md5   string // override the echoed MD5
	block chan struct{}
}

func (q *fakeQueue) SendMessage(m ali_mns.MessageSendRequest) (ali_mns.MessageSendResponse, error) {
	if q.block != nil {
		<-q.block
	}
	q.sent = append(q.sent, m)
	if q.err != nil {
		return ali_mns.MessageSendResponse{}, q.err
	}
	sum := md5.Sum([]byte(m.MessageBody))
	resp := ali_mns.MessageSendResponse{MessageId: "5F290C926D472878-2-14D9529A8FA-200000001", MessageBodyMD5: strings.ToUpper(hex.EncodeToString(sum[:]))}
	if q.md5 != "" {
		resp.MessageBodyMD5 = q.md5
	}
	return resp, nil
}

var _ bindtask.Sender = (ali_mns.AliMNSQueue)(nil) // the SDK queue satisfies Sender

func TestPublish(t *testing.T) {
	q := &fakeQueue{}
	task := sample()
	id, err := bindtask.Publish(t.Context(), q, task)
	if err != nil {
		t.Fatal(err)
	}
	if id != "5F290C926D472878-2-14D9529A8FA-200000001" || len(q.sent) != 1 {
		t.Fatalf("id %q, sent %d", id, len(q.sent))
	}
	m := q.sent[0]
	if m.Priority != 8 || m.DelaySeconds != 0 {
		t.Errorf("sent priority %d delay %d, want 8 and 0", m.Priority, m.DelaySeconds)
	}
	got, err := bindtask.Decode(id, []byte(m.MessageBody))
	if err != nil || got.TaskID != task.TaskID {
		t.Fatalf("sent body decodes to %+v, %v", got, err)
	}
	if _, err := base64.StdEncoding.DecodeString(m.MessageBody); err != nil {
		t.Errorf("sent body is not base64: %v", err)
	}

	sdkErr := errors.New("ali_mns response status error,code: QueueNotExist")
	if _, err := bindtask.Publish(t.Context(), &fakeQueue{err: sdkErr}, task); !errors.Is(err, sdkErr) || !strings.Contains(err.Error(), task.TaskID) {
		t.Errorf("SDK error not wrapped with the task ID: %v", err)
	}
	if _, err := bindtask.Publish(t.Context(), &fakeQueue{md5: "00000000000000000000000000000000"}, task); err == nil || !strings.Contains(err.Error(), "different body") {
		t.Errorf("MD5 mismatch not reported: %v", err)
	}
	bad := task
	bad.CertID = 0
	q = &fakeQueue{}
	if _, err := bindtask.Publish(t.Context(), q, bad); err == nil || len(q.sent) != 0 {
		t.Errorf("invalid task was sent (%v)", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	q = &fakeQueue{}
	if _, err := bindtask.Publish(ctx, q, task); !errors.Is(err, context.Canceled) || len(q.sent) != 0 {
		t.Errorf("cancelled publish: %v, sent %d", err, len(q.sent))
	}
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	blocked := &fakeQueue{block: make(chan struct{})}
	defer close(blocked.block)
	if _, err := bindtask.Publish(ctx, blocked, task); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("publish past the deadline: %v", err)
	}
}

func FuzzBindTaskDecode(f *testing.F) {
	good, _ := json.Marshal(sample())
	for _, s := range []string{string(good), base64.StdEncoding.EncodeToString(good), "", "eyJ2IjoxfQ==", "{", `{"v":1}`, "aGVsbG8=", `{"v":1,"domains":[null]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := bindtask.Decode("fuzz", body)
		if err != nil {
			if !strings.Contains(err.Error(), "message fuzz") {
				t.Fatalf("error does not name the message: %v", err)
			}
			return
		}
		if err := task.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid task: %v", err)
		}
		if _, err := bindtask.Encode(task); err != nil && !strings.Contains(err.Error(), "MNS limit") {
			t.Fatalf("decoded task does not re-encode: %v", err)
		}
	})
}

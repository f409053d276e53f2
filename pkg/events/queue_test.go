package events_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/events"
)

func mnsEvent(id, data string) string {
	return fmt.Sprintf(`{"id":%q,"source":"MNS-binder-bindq","specversion":"1.0","type":"mns:Queue:SendMessage",`+
		`"subject":"acs:mns:cn-hangzhou:1:queues/certflow-bind","time":"2026-01-05T02:00:00.093Z","data":%s}`, id, data)
}

func TestDecodeQueue(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []events.QueueMessage
	}{
		{
			name:    "streaming array",
			payload: `[` + mnsEvent("e1", `{"requestId":"r1","messageId":"M1","messageBody":"eyJ2IjoxfQ=="}`) + `,` + mnsEvent("e2", `{"requestId":"r2","messageId":"M2","messageBody":"{\"v\":1}"}`) + `]`,
			want: []events.QueueMessage{
				{MessageID: "M1", Body: []byte("eyJ2IjoxfQ=="), RequestID: "r1", EventID: "e1"},
				{MessageID: "M2", Body: []byte(`{"v":1}`), RequestID: "r2", EventID: "e2"},
			},
		},
		{
			name:    "event mode single object",
			payload: mnsEvent("e3", `{"requestId":"r3","messageId":"M3","messageBody":"TEST"}`),
			want:    []events.QueueMessage{{MessageID: "M3", Body: []byte("TEST"), RequestID: "r3", EventID: "e3"}},
		},
		{
			name:    "RawData array",
			payload: `[{"requestId":"r4","messageId":"M4","messageBody":"body4"},{"messageId":"M5","messageBody":""}]`,
			want: []events.QueueMessage{
				{MessageID: "M4", Body: []byte("body4"), RequestID: "r4"},
				{MessageID: "M5", Body: []byte("")},
			},
		},
		{
			name:    "RawData single object",
			payload: `{"messageId":"M6","messageBody":"x"}`,
			want:    []events.QueueMessage{{MessageID: "M6", Body: []byte("x")}},
		},
		{
			name:    "nested JSON body",
			payload: mnsEvent("e7", `{"messageId":"M7","messageBody":{"v":1,"certId":5}}`),
			want:    []events.QueueMessage{{MessageID: "M7", Body: []byte(`{"v":1,"certId":5}`), EventID: "e7"}},
		},
		{
			name:    "local bridge extras",
			payload: `[{"messageId":"M8","messageBody":"b","receiptHandle":"1-ODU4","dequeueCount":2,"enqueueTime":1767578400000}]`,
			want: []events.QueueMessage{{MessageID: "M8", Body: []byte("b"), ReceiptHandle: "1-ODU4", DequeueCount: 2,
				EnqueueTime: time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC)}},
		},
		{
			name:    "extras as strings",
			payload: `[{"messageId":"M9","messageBody":"b","dequeueCount":"3","enqueueTime":"2026-01-05T02:00:00.5Z"}]`,
			want: []events.QueueMessage{{MessageID: "M9", Body: []byte("b"), DequeueCount: 3,
				EnqueueTime: time.Date(2026, 1, 5, 2, 0, 0, 5e8, time.UTC)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.DecodeQueue([]byte(tc.payload))
			if err != nil {
				t.Fatalf("DecodeQueue: %v", err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if !got[i].EnqueueTime.Equal(tc.want[i].EnqueueTime) {
					t.Errorf("message %d: EnqueueTime %v, want %v", i, got[i].EnqueueTime, tc.want[i].EnqueueTime)
				}
			}
		})
	}
}

func TestDecodeQueueErrors(t *testing.T) {
	tests := []struct {
		name, payload string
		want          []string
		decoded       int
	}{
		{"no messageId", `[{"messageBody":"x"}]`, []string{"message #0: messageId: required"}, 0},
		{"no body", mnsEvent("e1", `{"messageId":"M1"}`), []string{"message M1: messageBody: required"}, 0},
		{"null body", `{"messageId":"M1","messageBody":null}`, []string{"message M1: messageBody: required"}, 0},
		{"numeric body", `{"messageId":"M1","messageBody":5}`, []string{"message M1: messageBody: want a string"}, 0},
		{"numeric messageId", `{"messageId":5,"messageBody":"x"}`, []string{"messageId: want a string"}, 0},
		{"wrong type", `[{"specversion":"1.0","id":"e2","source":"acs.cas","type":"cas:Certificate:Issued","data":{"messageId":"M","messageBody":"x"}}]`,
			[]string{"message e2", `"cas:Certificate:Issued"`, "not an MNS queue message"}, 0},
		{"bad dequeueCount", `{"messageId":"M1","messageBody":"x","dequeueCount":-1}`, []string{"message M1: dequeueCount"}, 0},
		{"bad enqueueTime", `{"messageId":"M1","messageBody":"x","enqueueTime":"yesterday"}`, []string{"message M1: enqueueTime"}, 0},
		{"one bad among good", `[{"messageId":"A","messageBody":"x"},{"messageBody":"y"},{"messageId":"C","messageBody":"z"}]`,
			[]string{"message #1: messageId: required"}, 2},
		{"empty", ``, []string{"empty payload"}, 0},
		{"junk", `hello`, []string{"not a JSON object or array"}, 0},
		{"array of strings", `["a"]`, []string{"message #0: not a JSON object"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.DecodeQueue([]byte(tc.payload))
			if err == nil {
				t.Fatalf("DecodeQueue = %+v, want an error", got)
			}
			if len(got) != tc.decoded {
				t.Errorf("decoded %d messages, want %d", len(got), tc.decoded)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeTimer(t *testing.T) {
	got, err := events.DecodeTimer([]byte(`{"triggerTime":"2026-01-05T19:00:00Z","triggerName":"daily","payload":"{\"task\":\"scan\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !got.TriggerTime.Equal(time.Date(2026, 1, 5, 19, 0, 0, 0, time.UTC)) || got.TriggerName != "daily" || got.Payload != `{"task":"scan"}` {
		t.Fatalf("got %+v", got)
	}
	got, err = events.DecodeTimer([]byte(`{"triggerTime":"2026-01-05T19:00:00+08:00","triggerName":"t","payload":{"a":1}}`))
	if err != nil || got.Payload != `{"a":1}` || got.TriggerTime.Unix() != time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("got %+v, %v", got, err)
	}

	bad := []struct{ name, payload, want string }{
		{"no time", `{"triggerName":"t"}`, "triggerTime: required"},
		{"no name", `{"triggerTime":"2026-01-05T19:00:00Z"}`, "triggerName: required"},
		{"both missing (C21)", `{"trigger_time":"x"}`, "triggerName: required"},
		{"bad time", `{"triggerTime":"5 Jan","triggerName":"t"}`, `triggerTime: "5 Jan" is neither RFC 3339`},
		{"array", `[{"triggerTime":"2026-01-05T19:00:00Z","triggerName":"t"}]`, "want one object"},
		{"empty", ``, "empty payload"},
		{"name not string", `{"triggerTime":"2026-01-05T19:00:00Z","triggerName":5}`, "triggerName: want a string"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.DecodeTimer([]byte(tc.payload))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeQueue(f *testing.F) {
	for _, s := range []string{
		`[` + mnsEvent("e1", `{"requestId":"r1","messageId":"M1","messageBody":"eyJ2IjoxfQ=="}`) + `]`,
		`{"messageId":"M","messageBody":{"a":[1]}}`, `[{"messageId":"M","messageBody":"x","dequeueCount":"9","enqueueTime":1}]`,
		`[]`, `[null]`, `{"specversion":"1.0","type":"mns:Queue:SendMessage","data":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := events.DecodeQueue(payload)
		for _, m := range got {
			if m.MessageID == "" {
				t.Fatalf("decoded a message without an ID: %+v", m)
			}
		}
		if err == nil && len(got) == 0 {
			t.Fatalf("no messages and no error for %q", payload)
		}
		_, _ = events.DecodeTimer(payload)
	})
}

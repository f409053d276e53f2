package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The vector was computed independently with Python's hmac/base64/urllib (quote_plus),
// following DingTalk's documented algorithm.
func TestDingTalkSignKnownVector(t *testing.T) {
	got := DingTalkSign("SEC0123456789abcdef", 1577836800000)
	if got != "VIkrYXpqM66nY2agvTap17lAqEfAZw77OqD62+Mh1G0=" {
		t.Fatalf("sign = %s", got)
	}
}

type captured struct {
	query map[string][]string
	body  map[string]any
}

func server(t *testing.T, status int, reply string) (*httptest.Server, *[]captured, *[]string) {
	t.Helper()
	var got []captured
	var raw []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body is not JSON: %s", b)
		}
		got = append(got, captured{query: r.URL.Query(), body: m})
		raw = append(raw, r.URL.RawQuery)
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, &got, &raw
}

func TestSend(t *testing.T) {
	now := func() time.Time { return time.UnixMilli(1577836800000) }
	tests := []struct {
		name      string
		format    string
		secret    string
		status    int
		reply     string
		wantErr   string
		wantQuery string
		check     func(t *testing.T, body map[string]any)
	}{
		{name: "generic", format: "", status: 200, check: func(t *testing.T, b map[string]any) {
			if b["title"] != "T" || b["text"] != "X" || b["data"].(map[string]any)["ok"] != false {
				t.Errorf("body %v", b)
			}
		}},
		{name: "dingtalk signed", format: FormatDingTalk, secret: "SEC0123456789abcdef", status: 200, reply: `{"errcode":0,"errmsg":"ok"}`,
			wantQuery: "access_token=tok&sign=VIkrYXpqM66nY2agvTap17lAqEfAZw77OqD62%2BMh1G0%3D&timestamp=1577836800000",
			check: func(t *testing.T, b map[string]any) {
				md := b["markdown"].(map[string]any)
				if b["msgtype"] != "markdown" || md["title"] != "T" || md["text"] != "X" || b["data"] != nil {
					t.Errorf("body %v", b)
				}
			}},
		{name: "dingtalk unsigned", format: FormatDingTalk, status: 200, reply: `{"errcode":0}`, wantQuery: "access_token=tok"},
		{name: "dingtalk refusal", format: FormatDingTalk, status: 200, reply: `{"errcode":310000,"errmsg":"sign not match"}`, wantErr: "errcode 310000: sign not match"},
		{name: "http error", format: "", status: 500, reply: "boom", wantErr: "500 Internal Server Error: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, got, raw := server(t, tc.status, tc.reply)
			s := &Sender{URL: srv.URL + "/robot/send?access_token=tok", Format: tc.format, Secret: tc.secret, Now: now}
			err := s.Send(t.Context(), Message{Title: "T", Text: "X", Data: map[string]any{"ok": false}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "access_token") {
					t.Errorf("error leaks the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(*got) != 1 {
				t.Fatalf("%d requests", len(*got))
			}
			if tc.wantQuery != "" && (*raw)[0] != tc.wantQuery {
				t.Errorf("query %s, want %s", (*raw)[0], tc.wantQuery)
			}
			if tc.check != nil {
				tc.check(t, (*got)[0].body)
			}
		})
	}
}

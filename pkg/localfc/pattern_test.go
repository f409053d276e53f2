package localfc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/certflow/certflow/pkg/sconfig"
)

func TestMatchPattern(t *testing.T) {
	ev := `{"source":"acs.cas","type":"cas:ActionTrail:ApiCall","data":{"eventName":"UploadUserCertificate","tags":["a","b"],"n":5}}`
	for _, tc := range []struct {
		name, pattern string
		want          bool
	}{
		{"empty", `{}`, true},
		{"exact", `{"source":["acs.cas"]}`, true},
		{"exact miss", `{"source":["acs.slb"]}`, false},
		{"prefix", `{"type":[{"prefix":"cas:ActionTrail:"}]}`, true},
		{"anything-but prefix", `{"type":[{"anything-but":{"prefix":"cas:ActionTrail:"}}]}`, false},
		{"anything-but list", `{"source":[{"anything-but":["acs.slb"]}]}`, true},
		{"suffix", `{"type":[{"suffix":"ApiCall"}]}`, true},
		{"nested", `{"data":{"eventName":["UploadUserCertificate","X"]}}`, true},
		{"nested miss", `{"data":{"eventName":["DeleteUserCertificate"]}}`, false},
		{"array field", `{"data":{"tags":["b"]}}`, true},
		{"number", `{"data":{"n":[5]}}`, true},
		{"exists", `{"data":{"certId":[{"exists":false}]}}`, true},
		{"exists miss", `{"data":{"certId":[{"exists":true}]}}`, false},
		{"ignore case", `{"source":[{"equals-ignore-case":"ACS.CAS"}]}`, true},
		{"missing object", `{"detail":{"x":["y"]}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := sconfig.ParsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(ev), &m); err != nil {
				t.Fatal(err)
			}
			if got := matchPattern(p, m); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMNSFromEndpoint(t *testing.T) {
	creds := func() Credentials { return testCreds }
	for _, tc := range []struct {
		name, endpoint, account, addr, wantAccount string
		bad                                        bool
	}{
		{"local", "http://127.0.0.1:18081", "1111", "127.0.0.1:18081", "1111", false},
		{"localhost", "http://localhost:9", "1111", "localhost:9", "1111", false},
		{"real", "https://2222.mns.cn-hangzhou.aliyuncs.com", "", "", "2222", false},
		{"garbage", "::", "", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := MNSFromEndpoint(tc.endpoint, tc.account, creds)
			if tc.bad {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || m.Addr != tc.addr || m.AccountID != tc.wantAccount {
				t.Errorf("got %+v, %v", m, err)
			}
		})
	}
	if _, err := (MNS{AccountID: "1", Creds: func() Credentials { return Credentials{} }}).OpenQueue("cn-hangzhou", "q"); err == nil {
		t.Error("opened a queue without credentials")
	}
}

// TestRepoSampleEventsMatchOneTrigger: each EventBridge sample in events/ passes exactly one
// of the deployer's s.yaml filter patterns, so `make demo` and the deployed rules agree.
func TestRepoSampleEventsMatchOneTrigger(t *testing.T) {
	fns := repoFunctions(t)
	dep := fns["certflow-deployer"]
	for _, name := range []string{"cas-certificate-issued.json", "cas-certificate-renewed.json", "actiontrail-upload.json"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "events", name))
			if errors.Is(err, fs.ErrNotExist) {
				t.Skip("sample not present yet")
			}
			if err != nil {
				t.Fatal(err)
			}
			var evs []map[string]any
			if data = bytes.TrimSpace(data); len(data) > 0 && data[0] == '[' {
				err = json.Unmarshal(data, &evs)
			} else {
				var one map[string]any
				err = json.Unmarshal(data, &one)
				evs = append(evs, one)
			}
			if err != nil {
				t.Fatal(err)
			}
			var matched []string
			for _, tr := range dep.Triggers {
				p, err := sconfig.ParsePattern(tr.EventBridge.FilterPattern)
				if err != nil {
					t.Fatal(err)
				}
				if matchPattern(p, evs[0]) {
					matched = append(matched, tr.Name)
				}
			}
			if len(matched) != 1 {
				t.Errorf("matched triggers %v, want exactly one", matched)
			}
		})
	}
}

// TestRepoQueueAndTimerSamplesMatchSYAML keeps events/timer.json and events/mns-bind-task.json
// what the s.yaml triggers really deliver: the timer's name and payload, and MNS events as the
// binder's trigger shapes them (source name; a JSON body, because IsBase64Decode decodes it).
func TestRepoQueueAndTimerSamplesMatchSYAML(t *testing.T) {
	fns := repoFunctions(t)
	read := func(name string) []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	t.Run("timer.json", func(t *testing.T) {
		var tm TimerEvent
		if err := json.Unmarshal(read("timer.json"), &tm); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, tr := range fns["certflow-checker"].Triggers {
			if tr.Type == sconfig.TypeTimer {
				found = true
				if tm.TriggerName != tr.Name || tm.Payload != tr.Timer.Payload {
					t.Errorf("sample {%s, %q}, s.yaml timer {%s, %q}", tm.TriggerName, tm.Payload, tr.Name, tr.Timer.Payload)
				}
			}
		}
		if !found {
			t.Fatal("s.yaml checker has no timer trigger")
		}
	})
	t.Run("mns-bind-task.json", func(t *testing.T) {
		var evs []CloudEvent
		if err := json.Unmarshal(read("mns-bind-task.json"), &evs); err != nil || len(evs) == 0 {
			t.Fatalf("want a JSON array of CloudEvents (event streaming): %v", err)
		}
		bind := fns["certflow-binder"]
		var tr *sconfig.Trigger
		for i := range bind.Triggers {
			if eb := bind.Triggers[i].EventBridge; eb != nil && eb.Source.Parameters.MNS != nil {
				tr = &bind.Triggers[i]
			}
		}
		if tr == nil {
			t.Fatal("s.yaml binder has no MNS trigger")
		}
		wantSource := "MNS-" + bind.Name + "-" + tr.Name
		for _, ev := range evs {
			var data MNSEventData
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			if ev.Source != wantSource || ev.AliyunEventBusName != wantSource {
				t.Errorf("source %s / bus %s, want %s", ev.Source, ev.AliyunEventBusName, wantSource)
			}
			if isJSON := json.Valid([]byte(data.MessageBody)); isJSON != tr.EventBridge.Source.Parameters.MNS.Base64Decode() {
				t.Errorf("messageBody JSON = %v but IsBase64Decode = %v", isJSON, !isJSON)
			}
		}
	})
}

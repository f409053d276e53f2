package events_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/events"
)

// TestSampleEvents decodes every file in the repository's events/ folder with the
// decoder its trigger uses, so the samples people pass to `s invoke -f` stay valid.
func TestSampleEvents(t *testing.T) {
	dir := filepath.Join("..", "..", "events")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in %s: %v", dir, err)
	}
	wantDeploy := map[string]events.Deploy{
		"cas-certificate-issued.json":  {CertID: 12345678, EventID: "5d1c7a0e-3b8f-4c2a-9e61-0a4f2b7c9d13", Source: "acs.cas", Type: events.TypeCertificateIssued},
		"cas-certificate-renewed.json": {CertID: 12345999, EventID: "9a2e4f61-77c0-4b5d-8d3e-5c1b0f2a6e48", Source: "acs.cas", Type: events.TypeCertificateRenewed},
		"actiontrail-upload.json":      {CertID: 12346001, EventID: "3f0b7d2c-1e9a-4f5b-b6c8-7d2e9a1f0c35", Source: "acs.cas", Type: events.TypeCASActionTrail},
		"manual.json":                  {CertID: 12345678, EventID: "manual", Source: "manual", Type: "manual", Manual: true},
		"manual-dry-run.json": {CertID: 12345678, DryRun: true, EventID: "manual", Source: "manual", Type: "manual", Manual: true,
			Only: []string{"clb:lb-bp1o94dp5i6earr9g6d1l:443", "cdn:www.example.com", "ecs:i-bp67acfmxazb4p1h2k3c"}},
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(name, "mns-"):
				msgs, err := events.DecodeQueue(data)
				if err != nil || len(msgs) == 0 {
					t.Fatalf("DecodeQueue: %v (%d messages)", err, len(msgs))
				}
				for _, m := range msgs {
					task, err := bindtask.Decode(m.MessageID, m.Body)
					if err != nil {
						t.Fatalf("bindtask.Decode: %v", err)
					}
					if task.CertID != 12345678 || task.Instance != "airec-cn-o400whm78004" || len(task.Domains) != 2 {
						t.Errorf("task = %+v", task)
					}
				}
			case name == "timer.json":
				tm, err := events.DecodeTimer(data)
				if err != nil {
					t.Fatal(err)
				}
				if !tm.TriggerTime.Equal(time.Date(2026, 1, 5, 19, 0, 0, 0, time.UTC)) || tm.TriggerName == "" {
					t.Errorf("timer = %+v", tm)
				}
			default:
				want, ok := wantDeploy[name]
				if !ok {
					t.Fatalf("sample %s has no expectation in this test; add one", name)
				}
				got, err := events.DecodeDeploy(data, events.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || !equalDeploy(got[0], want) {
					t.Fatalf("got %+v\nwant %+v", got, want)
				}
			}
			seen++
		})
	}
	if seen < 7 {
		t.Errorf("decoded %d samples, want at least 7", seen)
	}
}

func equalDeploy(a, b events.Deploy) bool {
	return a.CertID == b.CertID && a.DryRun == b.DryRun && a.EventID == b.EventID && a.Source == b.Source &&
		a.Type == b.Type && a.Manual == b.Manual && strings.Join(a.Only, ",") == strings.Join(b.Only, ",")
}

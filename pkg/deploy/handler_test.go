package deploy

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/events"
)

// Handle fails the invocation only for what another delivery can finish.
func TestHandleRetriesOnlyWhatARetryCanFinish(t *testing.T) {
	e := newEnv(t, nil)
	id, _ := e.upload(t, e.allNames()...)
	cert := strconv.FormatInt(id, 10)
	tests := []struct {
		name    string
		payload string
		retry   bool
		errText string // in the returned error or in Result.Errors
	}{
		{"deploys", `{"certId":` + cert + `,"only":["cdn:img1.example.com"]}`, false, ""},
		{"certificate CAS does not have", `{"certId":424242}`, false, "424242"},
		{"only names no target", `{"certId":` + cert + `,"only":["cdn:nope.example.com"]}`, false, "nope.example.com"},
		{"no certificate ID", `{"dryRun":true}`, false, "no certificate ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.service().Handle(t.Context(), []byte(tc.payload), events.DefaultFilter())
			if got := errors.Is(err, ErrRetry); got != tc.retry {
				t.Errorf("retry = %v (err %v), want %v", got, err, tc.retry)
			}
			all := strings.Join(res.Errors, "; ")
			if err != nil {
				all += "; " + err.Error()
			}
			if !strings.Contains(all, tc.errText) {
				t.Errorf("errors %q lack %q", all, tc.errText)
			}
			if strings.Contains(all, "plan: plan:") {
				t.Errorf("doubled prefix: %s", all)
			}
		})
	}

	// The queue hand-off failing is retried: the bind task must not be lost.
	e.cfg.AIRec.Queue = "no-such-queue"
	_, err := e.service().Handle(t.Context(), []byte(`{"certId":`+cert+`}`), events.DefaultFilter())
	if !errors.Is(err, ErrRetry) || !strings.Contains(err.Error(), "AIRec hand-off") {
		t.Errorf("queue failure: err %v, want a retry naming the hand-off", err)
	}
}

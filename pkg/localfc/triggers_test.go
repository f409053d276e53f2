package localfc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localcloud/mnsemu"
	"github.com/certflow/certflow/pkg/sconfig"
)

const (
	testAccount = "1111222233334444"
	testRegion  = "cn-shanghai"
)

// repoFunctions loads the repository's s.yaml and returns its functions wired to echofn, so the
// triggers under test are the deployed ones.
func repoFunctions(t *testing.T) map[string]Function {
	t.Helper()
	p, err := sconfig.Load(filepath.Join("..", "..", "s.yaml"), sconfig.LoadOptions{
		Env:    func(string) (string, bool) { return "", false },
		Config: map[string]string{"AccountID": testAccount},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Function{}
	for _, sf := range p.Functions() {
		fn := FromSConfig(p, &sf)
		if want := filepath.Join(filepath.Dir(p.Path), "bin", strings.TrimPrefix(sf.Name, "certflow-"), "main"); fn.Binary != want {
			t.Errorf("%s: binary %s, want %s", sf.Name, fn.Binary, want)
		}
		fn.Binary = echoBinary(t)
		fn.Credentials = func() Credentials { return testCreds }
		out[sf.Name] = fn
	}
	return out
}

// runs records trigger invocations.
type runs struct {
	mu   sync.Mutex
	list []TriggerRun
	ch   chan TriggerRun
}

func newRuns() *runs { return &runs{ch: make(chan TriggerRun, 100)} }

func (r *runs) add(x TriggerRun) {
	r.mu.Lock()
	r.list = append(r.list, x)
	r.mu.Unlock()
	r.ch <- x
}

func (r *runs) wait(t *testing.T, d time.Duration) TriggerRun {
	t.Helper()
	select {
	case x := <-r.ch:
		return x
	case <-time.After(d):
		t.Fatalf("no trigger run within %v", d)
		return TriggerRun{}
	}
}

func TestFireEventBridgeCASTriggers(t *testing.T) {
	fns := repoFunctions(t)
	rec := newRuns()
	r := New(Options{Region: testRegion, AccountID: testAccount, OnTrigger: rec.add})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fns["certflow-deployer"]); err != nil {
		t.Fatal(err)
	}
	issued := CloudEvent{Source: "acs.cas", Type: "cas:Certificate:Issued", Subject: "acs:cas:cn-hangzhou:" + testAccount + ":certificate/12345678",
		Data: json.RawMessage(`{"certId":12345678}`)}
	upload := CloudEvent{Source: "acs.cas", Type: "cas:ActionTrail:ApiCall",
		Data: json.RawMessage(`{"eventName":"UploadUserCertificate","responseElements":{"CertId":87654321}}`)}
	deleted := CloudEvent{Source: "acs.cas", Type: "cas:ActionTrail:ApiCall", Data: json.RawMessage(`{"eventName":"DeleteUserCertificate"}`)}
	slb := CloudEvent{Source: "acs.slb", Type: "slb:CloudMonitor:CertKeyExpired7", Data: json.RawMessage(`{}`)}

	for _, tc := range []struct {
		name, trigger string
		ev            CloudEvent
		filtered      bool
	}{
		{"CAS service event", "cas-events", issued, false},
		{"upload via ActionTrail", "cas-api-calls", upload, false},
		{"ActionTrail on the service-event trigger", "cas-events", upload, true},
		{"other API call", "cas-api-calls", deleted, true},
		{"other service", "cas-events", slb, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Fire(t.Context(), tc.trigger, tc.ev)
			if tc.filtered {
				if !errors.Is(err, ErrFiltered) {
					t.Fatalf("got %v, want ErrFiltered", err)
				}
				return
			}
			if err != nil || res.Error != nil {
				t.Fatal(err, res.Error)
			}
			var rep echoReply
			if err := json.Unmarshal(res.Payload, &rep); err != nil {
				t.Fatal(err)
			}
			var got CloudEvent
			if err := json.Unmarshal(rep.Event, &got); err != nil {
				t.Fatalf("event-driven delivery is one object: %v: %s", err, rep.Event)
			}
			if got.Type != tc.ev.Type || got.Source != "acs.cas" || got.SpecVersion != "1.0" || got.ID == "" ||
				got.AliyunAccountID != testAccount || got.AliyunRegionID != testRegion || got.AliyunEventBusName != "default" ||
				string(got.Data) != string(tc.ev.Data) {
				t.Errorf("delivered %s", rep.Event)
			}
			if x := rec.wait(t, time.Second); x.Trigger != tc.trigger || x.Function != "certflow-deployer" {
				t.Errorf("trigger run %+v", x)
			}
		})
	}
	if _, err := r.Fire(t.Context(), "no-such-trigger", issued); !errors.Is(err, ErrNoFunction) {
		t.Errorf("unknown trigger: %v", err)
	}
}

// TestFireAsyncRetries: an async EventBridge trigger (the deployer's) retries a failing
// function maxAsyncRetryAttempts (3 in s.yaml) times.
func TestFireAsyncRetries(t *testing.T) {
	fns := repoFunctions(t)
	rec := newRuns()
	r := New(Options{OnTrigger: rec.add, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fns["certflow-deployer"]); err != nil {
		t.Fatal(err)
	}
	res, err := r.Fire(t.Context(), "cas-events", CloudEvent{Source: "acs.cas", Type: "cas:Certificate:Issued",
		Data: json.RawMessage(`{"certId":1,"fail-me":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Message != "asked to fail" {
		t.Fatalf("last attempt: %+v", res.Error)
	}
	rec.mu.Lock()
	n := len(rec.list)
	rec.mu.Unlock()
	if n != 4 {
		t.Errorf("attempts: got %d, want 1 + 3 retries", n)
	}
}

func TestFireTimer(t *testing.T) {
	fns := repoFunctions(t)
	now := time.Date(2026, 1, 5, 2, 30, 0, 0, time.UTC)
	r := New(Options{Now: func() time.Time { return now }})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fns["certflow-checker"]); err != nil {
		t.Fatal(err)
	}
	res, err := r.FireTimer(t.Context(), "certflow-checker")
	if err != nil || res.Error != nil {
		t.Fatal(err, res.Error)
	}
	var rep echoReply
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		t.Fatal(err)
	}
	var ev TimerEvent
	if err := json.Unmarshal(rep.Event, &ev); err != nil {
		t.Fatal(err)
	}
	want := TimerEvent{TriggerTime: "2026-01-05T02:30:00Z", TriggerName: "every-30-minutes", Payload: `{"source":"timer"}`}
	if ev != want {
		t.Errorf("timer payload %+v, want %+v", ev, want)
	}
	if _, err := r.FireTimer(t.Context(), "certflow-deployer"); !errors.Is(err, ErrNoFunction) {
		t.Errorf("function without timer: %v", err)
	}
}

func TestTimerSchedule(t *testing.T) {
	fn := echoFunction(t)
	fn.Triggers = []sconfig.Trigger{{Name: "tick", Type: sconfig.TypeTimer,
		Timer: &sconfig.TimerConfig{CronExpression: "CRON_TZ=Asia/Shanghai */1 * * * * *", Payload: "p"}}}
	rec := newRuns()
	r := New(Options{OnTrigger: rec.add})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fn); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		x := rec.wait(t, 3*time.Second)
		if x.Err != nil || x.Result.Error != nil || x.Trigger != "tick" {
			t.Fatalf("scheduled run %+v", x)
		}
	}
}

// TestManualTimersAreNotScheduled proves Options.ManualTimers: the every-second schedule never
// runs, FireTimer still does.
func TestManualTimersAreNotScheduled(t *testing.T) {
	fn := echoFunction(t)
	fn.Triggers = []sconfig.Trigger{{Name: "tick", Type: sconfig.TypeTimer,
		Timer: &sconfig.TimerConfig{CronExpression: "*/1 * * * * *", Payload: "p"}}}
	rec := newRuns()
	r := New(Options{OnTrigger: rec.add, ManualTimers: true})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fn); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case x := <-rec.ch:
		t.Fatalf("timer ran on its schedule: %+v", x)
	case <-time.After(1500 * time.Millisecond):
	}
	if res, err := r.FireTimer(t.Context(), "echo"); err != nil || res.Error != nil {
		t.Fatalf("FireTimer: %v %v", err, res.Error)
	}
}

// mnsFixture is an MNS emulator on loopback reached through the official SDK.
type mnsFixture struct {
	svc    *mnsemu.Service
	queues MNS
}

func newMNS(t *testing.T, queues ...string) *mnsFixture {
	t.Helper()
	svc := mnsemu.New(mnsemu.Options{AccountID: testAccount, Region: testRegion,
		Secrets: func(id string) (string, bool) { return testCreds.AccessKeySecret, id == testCreds.AccessKeyID }})
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	for _, q := range queues {
		if err := svc.CreateQueue(q, mnsemu.QueueAttrs{VisibilityTimeout: 30}); err != nil {
			t.Fatal(err)
		}
	}
	return &mnsFixture{svc: svc, queues: MNS{AccountID: testAccount, Addr: strings.TrimPrefix(srv.URL, "http://"),
		Creds: func() Credentials { return testCreds }}}
}

func (f *mnsFixture) send(t *testing.T, queue string, bodies ...string) {
	t.Helper()
	q, err := f.queues.OpenQueue(testRegion, queue)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		if err := q.Send(t.Context(), base64.StdEncoding.EncodeToString([]byte(b))); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *mnsFixture) waitEmpty(t *testing.T, queue string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if len(f.svc.Messages(queue)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("queue %s still holds %d message(s)", queue, len(f.svc.Messages(queue)))
}

// binderWithQueue wires the repo's binder trigger to the emulator's queues.
// window >= 0 replaces the batch time window (seconds) to keep retry tests short; count > 0
// replaces the batch size (the repo delivers one message per invocation).
func binderWithQueue(t *testing.T, f *mnsFixture, rec *runs, window, count int) *Runtime {
	t.Helper()
	fn := repoFunctions(t)["certflow-binder"]
	if len(fn.Triggers) != 1 || fn.Triggers[0].EventBridge == nil {
		t.Fatal("binder trigger missing")
	}
	// The repo's queue names, region and DLQ ARN, re-pointed at this test's region.
	eb := *fn.Triggers[0].EventBridge
	src := *eb.Source.Parameters.MNS
	src.RegionID = testRegion
	eb.Source.Parameters.MNS = &src
	eb.RunOptions.DeadLetterQueue.Arn = strings.Replace(eb.RunOptions.DeadLetterQueue.Arn, "cn-hangzhou", testRegion, 1)
	if window >= 0 {
		eb.RunOptions.BatchWindow.TimeBasedWindow = window
	}
	if count > 0 {
		eb.RunOptions.BatchWindow.CountBasedWindow = count
	}
	fn.Triggers = []sconfig.Trigger{{Name: fn.Triggers[0].Name, Type: sconfig.TypeEventBridge, EventBridge: &eb}}
	r := New(Options{Region: testRegion, AccountID: testAccount, Queues: f.queues, OnTrigger: rec.add,
		RetryDelay: func(int) time.Duration { return time.Second }})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(fn); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMNSTriggerBatchDeliveryAndDelete(t *testing.T) {
	f := newMNS(t, "certflow-bind", "certflow-bind-dlq")
	f.send(t, "certflow-bind", `{"taskId":"a"}`, `{"taskId":"b"}`, `{"taskId":"c"}`)
	rec := newRuns()
	r := binderWithQueue(t, f, rec, -1, 5)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	x := rec.wait(t, 10*time.Second)
	if x.Err != nil || x.Result.Error != nil {
		t.Fatalf("delivery failed: %+v", x)
	}
	var rep echoReply
	if err := json.Unmarshal(x.Result.Payload, &rep); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Bodies, ",") != `{"taskId":"a"},{"taskId":"b"},{"taskId":"c"}` {
		t.Errorf("one batch of three decoded bodies expected, got %q", rep.Bodies)
	}
	var evs []CloudEvent
	if err := json.Unmarshal(rep.Event, &evs); err != nil {
		t.Fatalf("event-streaming delivers an array: %v", err)
	}
	e := evs[0]
	var data MNSEventData
	_ = json.Unmarshal(e.Data, &data)
	if e.Type != "mns:Queue:SendMessage" || e.Source != "MNS-certflow-binder-bind-queue" ||
		e.Subject != "acs:mns:"+testRegion+":"+testAccount+":queues/certflow-bind" || data.MessageID == "" || data.RequestID == "" {
		t.Errorf("event %+v data %+v", e, data)
	}
	f.waitEmpty(t, "certflow-bind", 5*time.Second)
	if n := len(f.svc.Messages("certflow-bind-dlq")); n != 0 {
		t.Errorf("dead-letter queue holds %d", n)
	}
}

func TestMNSTriggerRetriesThenDeadLetters(t *testing.T) {
	f := newMNS(t, "certflow-bind", "certflow-bind-dlq")
	rec := newRuns()
	r := binderWithQueue(t, f, rec, 0, 0)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.send(t, "certflow-bind", `{"taskId":"poison"}`)
	var retries []int
	for range 4 { // BACKOFF_RETRY: the first attempt and 3 retries
		x := rec.wait(t, 10*time.Second)
		if x.Result.Error == nil || !strings.Contains(x.Result.Error.Message, "poisoned message") {
			t.Fatalf("attempt: %+v", x)
		}
		retries = append(retries, len(retries))
	}
	f.waitEmpty(t, "certflow-bind", 5*time.Second)
	dead := f.svc.Messages("certflow-bind-dlq")
	if len(dead) != 1 {
		t.Fatalf("dead-letter queue holds %d message(s), want 1", len(dead))
	}
	var ev CloudEvent
	var data MNSEventData
	if err := json.Unmarshal([]byte(dead[0].Body), &ev); err != nil {
		t.Fatalf("dead letter is not the event: %v: %s", err, dead[0].Body)
	}
	_ = json.Unmarshal(ev.Data, &data)
	if data.MessageBody != `{"taskId":"poison"}` {
		t.Errorf("dead letter body %q", data.MessageBody)
	}
	select {
	case x := <-rec.ch:
		t.Errorf("a fifth attempt: %+v", x)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestMNSTriggerRedeliversAfterCrash(t *testing.T) {
	f := newMNS(t, "certflow-bind", "certflow-bind-dlq")
	rec := newRuns()
	r := binderWithQueue(t, f, rec, 0, 0)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "crash-once")
	f.send(t, "certflow-bind", marker)
	first := rec.wait(t, 10*time.Second)
	if first.Result.Error == nil || first.Result.Error.Type != ErrorTypeProcessExited {
		t.Fatalf("first delivery: %+v", first.Result.Error)
	}
	second := rec.wait(t, 10*time.Second)
	if second.Result.Error != nil {
		t.Fatalf("redelivery: %+v", second.Result.Error)
	}
	var rep echoReply
	_ = json.Unmarshal(second.Result.Payload, &rep)
	if rep.RetryCount != 1 || len(rep.Bodies) != 1 || rep.Bodies[0] != marker || second.Result.PID == first.Result.PID {
		t.Errorf("redelivery: retry %d bodies %q pids %d/%d", rep.RetryCount, rep.Bodies, first.Result.PID, second.Result.PID)
	}
	f.waitEmpty(t, "certflow-bind", 5*time.Second)
	select {
	case x := <-rec.ch:
		t.Errorf("delivered again after success: %+v", x)
	case <-time.After(1500 * time.Millisecond):
	}
}

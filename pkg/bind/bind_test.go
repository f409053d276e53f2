package bind

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

const localToken = "certflow-local-airec-token" // the default estate's AIRec Bearer token

type env struct {
	lt      *localtest.Env
	cloud   *localcloud.Cloud
	clients *cloud.Clients
	cfg     *config.Config
	log     *localtest.Buffer
	keys    [][]byte // every private key PEM this test put into CAS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	lt := localtest.Start(t, nil)
	cfg, err := config.Load(lt.Info.Targets) // the generated file, as the function loads it
	if err != nil {
		t.Fatal(err)
	}
	return &env{lt: lt, cloud: lt.Cloud, clients: lt.Clients, cfg: cfg, log: &localtest.Buffer{}}
}

// binder uses the Bearer token unless roa is set, in which case requests are ROA-signed.
func (e *env) binder(roa bool) *Binder {
	return &Binder{Clients: e.clients, Config: e.cfg, Roots: e.cloud.CA().Pool(), Log: e.log,
		Getenv: func(k string) string {
			if !roa && k == "CERTFLOW_AIREC_TOKEN" {
				return localToken
			}
			return ""
		},
		Gate:         NewGate(nil, rollout.GateOptions{BaseDelay: 20 * time.Millisecond}),
		PollInterval: 50 * time.Millisecond, PollMax: 200 * time.Millisecond, Margin: 10 * time.Millisecond,
		ProofGrace: 2 * time.Second}
}

// upload issues a certificate for names into CAS and returns its BindTask.
func (e *env) upload(t *testing.T, names ...string) bindtask.Task {
	t.Helper()
	id, leaf := e.lt.Upload(t, localca.ECDSAP256, names...)
	e.keys = append(e.keys, leaf.KeyPEM())
	return bindtask.New(e.cfg.AIRec.InstanceID, id, leaf.SHA256(), e.cfg.AIRec.Domains, "evt-1", time.Now())
}

// binds counts the accepted AIRec bind uploads in the call log.
func (e *env) binds() int {
	n := 0
	for _, c := range e.cloud.Calls() {
		if c.Product == "Airec" && strings.HasSuffix(c.Action, "/certificates/bind") && c.Status == 200 {
			n++
		}
	}
	return n
}

// publishAndReceive sends task through the local MNS queue with bindtask.Publish and
// receives it back, returning the MNS trigger payload (an array of CloudEvents) FC would
// deliver. decode mimics IsBase64Decode: true.
func (e *env) publishAndReceive(t *testing.T, task bindtask.Task, decode bool) []byte {
	t.Helper()
	q, err := e.clients.MNSQueue(e.cfg.AIRec.Queue)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bindtask.Publish(t.Context(), q, task)
	if err != nil {
		t.Fatal(err)
	}
	resp := make(chan ali_mns.MessageReceiveResponse, 1)
	errc := make(chan error, 1)
	go q.ReceiveMessage(resp, errc, 1)
	select {
	case m := <-resp:
		if m.MessageId != id {
			t.Fatalf("received %s, published %s", m.MessageId, id)
		}
		body := m.MessageBody
		if decode {
			raw, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				t.Fatalf("body is not base64: %v", err)
			}
			body = string(raw)
		}
		return payload(t, msg{id, body})
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no message received")
	}
	return nil
}

type msg struct{ id, body string }

// payload builds an FC 3.0 MNS trigger payload (event-streaming mode: an array of CloudEvents).
func payload(t *testing.T, msgs ...msg) []byte {
	t.Helper()
	var evs []map[string]any
	for i, m := range msgs {
		evs = append(evs, map[string]any{
			"id": fmt.Sprintf("evt-%d", i), "source": "MNS-certflow-binder-bind-queue", "specversion": "1.0",
			"type": "mns:Queue:SendMessage", "subject": "acs:mns:cn-hangzhou:1234567890123456:queues/certflow-bind",
			"time": "2026-01-05T02:00:00.093Z", "aliyunregionid": "cn-hangzhou",
			"data": map[string]any{"requestId": "606EA3074344430D4C81AAAA", "messageId": m.id, "messageBody": m.body},
		})
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertBound checks the emulator's state and real TLS: every domain serves task's certificate.
func (e *env) assertBound(t *testing.T, task bindtask.Task) {
	t.Helper()
	for _, d := range task.Domains {
		if got, ok := e.cloud.Deployed("airec:"+d, d); !ok || got != task.SHA256 {
			t.Errorf("airec %s serves %q, want %s", d, got, task.SHA256)
		}
	}
	if !e.cloud.AIRec().Enforced(task.Instance) {
		t.Error("HTTPS enforcement is off")
	}
}

// assertNoSecrets scans texts for key material of every key this test uploaded.
func (e *env) assertNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range append(texts, e.log.String()) {
		if strings.Contains(s, "PRIVATE KEY") {
			t.Fatalf("a PEM private key block leaked: %.200s", s)
		}
		for _, k := range e.keys {
			lines := strings.Split(string(k), "\n")
			for _, l := range lines[1 : len(lines)-2] { // base64 body lines
				if len(l) >= 40 && strings.Contains(s, l) {
					t.Fatalf("private key bytes leaked: %q", l)
				}
			}
		}
	}
}

func TestQueueToBound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		roa    bool
		decode bool // the trigger's IsBase64Decode
	}{
		{"bearer, trigger decodes base64", false, true},
		{"roa signature, body still base64", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.binder(tc.roa)
			task := e.upload(t, "rec.example.com", "rec-api.example.com", "www.example.com")
			p := e.publishAndReceive(t, task, tc.decode)
			res, err := b.Handle(t.Context(), p)
			if err != nil {
				t.Fatalf("Handle: %v\n%s", err, e.log)
			}
			rep := res.Reports[0]
			if rep.Outcome != OutcomeBound || !rep.Uploaded || rep.HTTPS == nil || !*rep.HTTPS || rep.MappingRows != 2 {
				t.Fatalf("report %+v", rep)
			}
			for _, d := range rep.Domains {
				if !d.Listed || !d.Served {
					t.Errorf("domain %+v", d)
				}
			}
			e.assertBound(t, task)
			if n := e.binds(); n != 1 {
				t.Fatalf("%d binds, want 1", n)
			}

			// C17: the receipt handle expired and the message comes again: nothing is uploaded.
			res, err = b.Handle(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reports[0].Outcome != OutcomeUnchanged || res.Reports[0].Uploaded {
				t.Fatalf("redelivery: %+v", res.Reports[0])
			}
			if n := e.binds(); n != 1 {
				t.Fatalf("redelivery uploaded again: %d binds", n)
			}
			line, _ := json.Marshal(res)
			e.assertNoSecrets(t, string(line))
		})
	}
}

func TestConcurrentAndDuplicateDeliveriesBindOnce(t *testing.T) {
	e := newEnv(t)
	task := e.upload(t, "*.example.com")
	body, err := bindtask.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	// A batch carrying the task twice, delivered to four binder instances at once.
	p := payload(t, msg{"M1", body}, msg{"M2", body})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	reps := make([]Result, 4)
	for i := range errs {
		wg.Go(func() { reps[i], errs[i] = e.binder(false).Handle(t.Context(), p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v\n%s", i, err, e.log)
		}
		for _, r := range reps[i].Reports {
			if r.Outcome == OutcomeFailed {
				t.Fatalf("delivery %d: %+v", i, r)
			}
		}
	}
	if n := e.binds(); n != 1 {
		t.Fatalf("%d binds for one task, want 1", n)
	}
	e.assertBound(t, task)
}

func TestSilentFailureAfterUploadIsCaught(t *testing.T) {
	e := newEnv(t)
	e.cloud.AIRec().SetSilentFailure(true)
	task := e.upload(t, "rec.example.com", "rec-api.example.com")
	res, err := e.binder(false).Handle(t.Context(), e.publishAndReceive(t, task, true))
	if err == nil || !strings.Contains(err.Error(), "silent binding failure: rec-api.example.com, rec.example.com not bound") {
		t.Fatalf("err = %v", err)
	}
	rep := res.Reports[0]
	if rep.Outcome != OutcomeFailed || rep.Retryable || !rep.Uploaded {
		t.Fatalf("report %+v", rep)
	}
	for _, d := range rep.Domains {
		if !d.Listed || d.Served || !strings.Contains(d.Detail, "not certificate") {
			t.Errorf("domain %+v: AIRec lists it, TLS must show the old certificate", d)
		}
	}
	if e.cloud.AIRec().Enforced(task.Instance) {
		t.Error("HTTPS enforced after a failed bind")
	}
	// Direct Run gives the sentinel.
	_, err = e.binder(false).Run(t.Context(), task)
	if !errors.Is(err, ErrSilentBinding) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Run err = %v", err)
	}
}

func TestResumeAfterDeadline(t *testing.T) {
	e := newEnv(t)
	task := e.upload(t, "rec.example.com", "rec-api.example.com")
	// An earlier delivery uploaded and then died: the bind is PENDING for ~200 ms.
	cl, _, err := e.binder(false).client()
	if err != nil {
		t.Fatal(err)
	}
	var mapping bytes.Buffer
	if err := airec.BuildMapping(&mapping, strconv.FormatInt(task.CertID, 10), airec.CertTypeECC, task.Domains); err != nil {
		t.Fatal(err)
	}
	leafKey := e.keys[0]
	chain := e.chain(t, task.CertID)
	if _, err := cl.Bind(t.Context(), mapping.Bytes(), chain, leafKey); err != nil {
		t.Fatal(err)
	}
	// This delivery's deadline comes before AIRec finishes validating.
	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Millisecond)
	defer cancel()
	rep, err := e.binder(false).Run(ctx, task)
	if !errors.Is(err, ErrRetry) || !strings.Contains(err.Error(), "resumes polling") || !rep.Retryable || rep.Uploaded {
		t.Fatalf("err = %v, report %+v", err, rep)
	}
	// The next delivery resumes polling instead of uploading again.
	rep, err = e.binder(false).Run(t.Context(), task)
	if err != nil || !rep.Resumed || rep.Uploaded || rep.Outcome != OutcomeBound {
		t.Fatalf("err = %v, report %+v", err, rep)
	}
	if n := e.binds(); n != 1 {
		t.Fatalf("%d binds, want 1", n)
	}
	e.assertBound(t, task)
}

// chain reads the certificate body back from CAS (the test's upload).
func (e *env) chain(t *testing.T, id int64) []byte {
	t.Helper()
	cl, err := e.clients.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateGetUserCertificateDetailRequest()
	req.CertId = requests.NewInteger64(id)
	resp, err := cl.GetUserCertificateDetail(req)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(resp.Cert)
}

func TestBodiesAndPoisonMessages(t *testing.T) {
	e := newEnv(t)
	good := e.upload(t, "rec.example.com", "rec-api.example.com")
	raw, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	missing := bindtask.New(good.Instance, 99999999, strings.Repeat("ab", 32), good.Domains, "evt-2", time.Now())
	missingBody, err := bindtask.Encode(missing)
	if err != nil {
		t.Fatal(err)
	}
	b := e.binder(false)
	// C16: raw JSON, base64 JSON, base64 of non-JSON; plus a certificate CAS does not have.
	p := payload(t,
		msg{"RAW-1", string(raw)},
		msg{"B64-NOT-JSON", base64.StdEncoding.EncodeToString([]byte("certId=123; not json"))},
		msg{"CAS-MISSING", missingBody},
		msg{"B64-1", base64.StdEncoding.EncodeToString(raw)},
	)
	res, err := b.Handle(t.Context(), p)
	if err == nil {
		t.Fatal("a batch with poison messages succeeded")
	}
	for _, want := range []string{"2 of 4 messages failed", "message B64-NOT-JSON (permanent)", "message CAS-MISSING (permanent)", "99999999"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "RAW-1") || strings.Contains(err.Error(), "B64-1") {
		t.Errorf("good messages reported as failed: %v", err)
	}
	outcomes := []string{}
	for _, r := range res.Reports {
		outcomes = append(outcomes, r.MessageID+"="+r.Outcome)
	}
	if got := strings.Join(outcomes, " "); got != "RAW-1=bound B64-NOT-JSON=failed CAS-MISSING=failed B64-1=unchanged" {
		t.Fatalf("outcomes %s", got)
	}
	e.assertBound(t, good)
	// The trigger redelivers the whole batch until the poison reaches the dead-letter queue;
	// the good messages are no-ops each time.
	for range 2 {
		res, _ = b.Handle(t.Context(), p)
		if res.Reports[0].Outcome != OutcomeUnchanged || res.Reports[3].Outcome != OutcomeUnchanged {
			t.Fatalf("redelivery: %+v", res.Reports)
		}
	}
	if n := e.binds(); n != 1 {
		t.Fatalf("%d binds, want 1", n)
	}
	line, _ := json.Marshal(res)
	e.assertNoSecrets(t, string(line), err.Error())
}

func TestRunRefusals(t *testing.T) {
	e := newEnv(t)
	task := e.upload(t, "rec.example.com", "rec-api.example.com")
	other := e.upload(t, "rec.example.com") // does not cover rec-api.example.com
	tests := []struct {
		name string
		task bindtask.Task
		want string
	}{
		{"other instance", bindtask.New("airec-cn-other01", task.CertID, task.SHA256, task.Domains, "", time.Now()),
			"is for AIRec instance airec-cn-other01; this binder serves airec-cn-local0001"},
		{"unknown domain", bindtask.New(task.Instance, task.CertID, task.SHA256, []string{"x.example.com"}, "", time.Now()),
			"domain x.example.com is not one of instance airec-cn-local0001's domains"},
		{"fingerprint mismatch", bindtask.New(task.Instance, task.CertID, other.SHA256, task.Domains, "", time.Now()),
			"the task names " + other.SHA256},
		{"not covered", bindtask.New(task.Instance, other.CertID, other.SHA256, task.Domains, "", time.Now()),
			"does not cover AIRec domain rec-api.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := e.binder(false).Run(t.Context(), tc.task)
			if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want permanent %q", err, tc.want)
			}
			if rep.Outcome != OutcomeFailed || rep.Retryable || rep.Uploaded {
				t.Fatalf("report %+v", rep)
			}
		})
	}
	if n := e.binds(); n != 0 {
		t.Fatalf("refused tasks uploaded: %d binds", n)
	}
}

func TestTaskFor(t *testing.T) {
	e := newEnv(t)
	task := e.upload(t, "rec.example.com")
	got, _, err := e.binder(false).TaskFor(t.Context(), task.CertID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskID != task.TaskID || strings.Join(got.Domains, ",") != "rec.example.com" {
		t.Fatalf("task %+v, want %+v", got, task)
	}
	none := e.upload(t, "www.example.com")
	if _, _, err := e.binder(false).TaskFor(t.Context(), none.CertID); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "covers none of AIRec instance") {
		t.Fatalf("err = %v", err)
	}
}

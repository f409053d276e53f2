package localfc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/certflow/certflow/pkg/sconfig"
)

// CloudEvent is an EventBridge event as FC delivers it (CloudEvents 1.0 plus aliyun*
// extensions). Empty fields are filled by Fire.
type CloudEvent struct {
	ID                      string          `json:"id"`
	Source                  string          `json:"source"`
	SpecVersion             string          `json:"specversion"`
	Type                    string          `json:"type"`
	Subject                 string          `json:"subject,omitempty"`
	Time                    string          `json:"time"`
	DataContentType         string          `json:"datacontenttype,omitempty"`
	AliyunAccountID         string          `json:"aliyunaccountid"`
	AliyunPublishTime       string          `json:"aliyunpublishtime"`
	AliyunOriginalAccountID string          `json:"aliyunoriginalaccountid"`
	AliyunEventBusName      string          `json:"aliyuneventbusname"`
	AliyunRegionID          string          `json:"aliyunregionid"`
	AliyunPublishAddr       string          `json:"aliyunpublishaddr"`
	Data                    json.RawMessage `json:"data,omitempty"`
}

// MNSEventData is the data of an MNS queue event (fc-runtime-go-sdk events.MnsQueueEvent).
type MNSEventData struct {
	RequestID   string `json:"requestId"`
	MessageID   string `json:"messageId"`
	MessageBody string `json:"messageBody"`
}

// TimerEvent is a timer trigger's payload (fc-runtime-go-sdk events.TimerEvent).
type TimerEvent struct {
	TriggerTime string `json:"triggerTime"`
	TriggerName string `json:"triggerName"`
	Payload     string `json:"payload"`
}

// ErrFiltered is returned by Fire when the trigger's filter pattern does not match the event:
// EventBridge would not have invoked the function.
var ErrFiltered = errors.New("event does not match the trigger's filter pattern")

// ErrTriggerDisabled is returned for a trigger whose s.yaml config disables it.
var ErrTriggerDisabled = errors.New("trigger disabled")

// findTrigger returns the function and trigger called triggerName (fn may be empty: any).
func (r *Runtime) findTrigger(fnName, triggerName, typ string) (*pool, *sconfig.Trigger, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.fns {
		if fnName != "" && p.fn.Name != fnName {
			continue
		}
		for i := range p.fn.Triggers {
			t := &p.fn.Triggers[i]
			if (triggerName == "" || t.Name == triggerName) && t.Type == typ {
				return p, t, nil
			}
		}
	}
	what := typ + " trigger"
	if triggerName != "" {
		what += " " + triggerName
	}
	if fnName != "" {
		what = "function " + fnName + ": " + what
	}
	return nil, nil, fmt.Errorf("localfc: %s: %w", what, ErrNoFunction)
}

// Fire delivers ev through the EventBridge (cloud-service source) trigger triggerName, the way
// EventBridge does: fills the envelope, applies the filter pattern (ErrFiltered when it does
// not match), shapes the payload (eventSchema, mode) and invokes the function. An async trigger
// is retried on function error up to the function's maxAsyncRetryAttempts; the last Result is
// returned.
func (r *Runtime) Fire(ctx context.Context, triggerName string, ev CloudEvent) (Result, error) {
	p, t, err := r.findTrigger("", triggerName, sconfig.TypeEventBridge)
	if err != nil {
		return Result{}, err
	}
	eb := t.EventBridge
	if eb.TriggerEnable != nil && !*eb.TriggerEnable {
		return Result{}, fmt.Errorf("localfc: trigger %s: %w", triggerName, ErrTriggerDisabled)
	}
	if eb.Source.Type != "Default" {
		return Result{}, fmt.Errorf("localfc: trigger %s: event source %s is fed by its queue, not Fire", triggerName, eb.Source.Type)
	}
	r.fillEnvelope(&ev, "default")
	raw, err := json.Marshal(ev)
	if err != nil {
		return Result{}, fmt.Errorf("localfc: trigger %s: encode event: %w", triggerName, err)
	}
	pattern, err := sconfig.ParsePattern(eb.FilterPattern)
	if err != nil {
		return Result{}, fmt.Errorf("localfc: trigger %s: eventRuleFilterPattern: %w", triggerName, err)
	}
	var asMap map[string]any
	_ = json.Unmarshal(raw, &asMap)
	if !matchPattern(pattern, asMap) {
		return Result{}, fmt.Errorf("localfc: trigger %s: event %s (%s): %w", triggerName, ev.ID, ev.Type, ErrFiltered)
	}
	var payload []byte
	if eb.Sink.DeliveryOption.EventSchema == "RawData" {
		payload = ev.Data
	} else {
		payload = raw
	}
	if eb.RunOptions.Mode == "event-streaming" {
		payload = append(append([]byte("["), payload...), ']')
	}
	attempts := 1
	if eb.AsyncInvocationType {
		attempts += p.fn.asyncRetries()
	}
	r.event("trigger %s/%s: deliver %s %s", p.fn.Name, triggerName, ev.Type, ev.ID)
	return r.invokeWithRetries(ctx, p.fn.Name, triggerName, payload, attempts)
}

// FireTimer runs fn's timer trigger now (as if its schedule fired): payload
// {triggerTime, triggerName, payload}, async retries as FC applies them to timer runs.
func (r *Runtime) FireTimer(ctx context.Context, fn string) (Result, error) {
	p, t, err := r.findTrigger(fn, "", sconfig.TypeTimer)
	if err != nil {
		return Result{}, err
	}
	return r.fireTimer(ctx, p, t)
}

func (r *Runtime) fireTimer(ctx context.Context, p *pool, t *sconfig.Trigger) (Result, error) {
	payload, err := json.Marshal(TimerEvent{
		TriggerTime: r.opts.Now().UTC().Format("2006-01-02T15:04:05Z"),
		TriggerName: t.Name,
		Payload:     t.Timer.Payload,
	})
	if err != nil {
		return Result{}, err
	}
	r.event("trigger %s/%s: timer fired", p.fn.Name, t.Name)
	return r.invokeWithRetries(ctx, p.fn.Name, t.Name, payload, 1+p.fn.asyncRetries())
}

func (f *Function) asyncRetries() int {
	if f.MaxAsyncRetryAttempts == nil {
		return 3 // FC's default
	}
	return *f.MaxAsyncRetryAttempts
}

// invokeWithRetries is FC's async retry of function errors.
func (r *Runtime) invokeWithRetries(ctx context.Context, fn, trigger string, payload []byte, attempts int) (Result, error) {
	var res Result
	var err error
	for n := 1; n <= attempts; n++ {
		res, err = r.invoke(ctx, fn, payload, n-1)
		r.logOutcome(fn, trigger, res, err)
		if err != nil || res.Error == nil {
			return res, err
		}
		r.event("trigger %s/%s: attempt %d/%d failed", fn, trigger, n, attempts)
		if n < attempts {
			if err := sleep(ctx, r.retryDelay(n, "async")); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// retryDelay is the wait before redelivery attempt n+1 under strategy.
func (r *Runtime) retryDelay(n int, strategy string) time.Duration {
	if r.opts.RetryDelay != nil {
		return r.opts.RetryDelay(n)
	}
	switch strategy {
	case "EXPONENTIAL_DECAY_RETRY":
		return time.Duration(min(1<<(n-1), 512)) * time.Second
	case "async":
		return time.Duration(min(1<<(n-1), 256)) * time.Second
	default: // BACKOFF_RETRY: 10-20 s random
		return 10*time.Second + rand.N(10*time.Second)
	}
}

// maxRetries is how many redeliveries a strategy allows after the first attempt.
func maxRetries(strategy string) int {
	if strategy == "EXPONENTIAL_DECAY_RETRY" {
		return 176
	}
	return 3
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runtime) fillEnvelope(ev *CloudEvent, bus string) {
	now := r.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&ev.ID, newEventID())
	set(&ev.SpecVersion, "1.0")
	set(&ev.Time, now)
	set(&ev.DataContentType, "application/json;charset=utf-8")
	set(&ev.AliyunAccountID, r.opts.AccountID)
	set(&ev.AliyunPublishTime, now)
	set(&ev.AliyunOriginalAccountID, r.opts.AccountID)
	set(&ev.AliyunEventBusName, bus)
	set(&ev.AliyunRegionID, r.opts.Region)
	set(&ev.AliyunPublishAddr, "127.0.0.1")
}

func newEventID() string {
	h := randHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (r *Runtime) event(format string, a ...any) {
	if r.opts.Events != nil {
		fmt.Fprintf(r.opts.Events, format+"\n", a...)
	}
}

// matchPattern applies an EventBridge filter pattern: every key must match; an array lists
// alternatives (values or {prefix|suffix|anything-but|exists|equals-ignore-case} operators);
// an object descends into the event.
func matchPattern(pattern map[string]any, ev map[string]any) bool {
	for k, want := range pattern {
		got, present := ev[k]
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matchPattern(w, sub) {
				return false
			}
		case []any:
			if !matchAny(w, got, present) {
				return false
			}
		default:
			if !present || !equalValue(w, got) {
				return false
			}
		}
	}
	return true
}

func matchAny(alts []any, got any, present bool) bool {
	for _, alt := range alts {
		if op, ok := alt.(map[string]any); ok {
			if matchOp(op, got, present) {
				return true
			}
			continue
		}
		if present && equalValue(alt, got) {
			return true
		}
	}
	return false
}

func matchOp(op map[string]any, got any, present bool) bool {
	s, isStr := got.(string)
	for name, arg := range op {
		switch name {
		case "prefix":
			p, _ := arg.(string)
			return present && isStr && strings.HasPrefix(s, p)
		case "suffix":
			p, _ := arg.(string)
			return present && isStr && strings.HasSuffix(s, p)
		case "equals-ignore-case":
			p, _ := arg.(string)
			return present && isStr && strings.EqualFold(s, p)
		case "exists":
			b, _ := arg.(bool)
			return present == b
		case "anything-but":
			if !present {
				return false
			}
			switch a := arg.(type) {
			case []any:
				for _, v := range a {
					if equalValue(v, got) {
						return false
					}
				}
				return true
			case map[string]any:
				return !matchOp(a, got, present)
			default:
				return !equalValue(a, got)
			}
		}
	}
	return false
}

func equalValue(a, b any) bool {
	if bs, ok := b.([]any); ok { // an array field matches if any element does
		for _, e := range bs {
			if equalValue(a, e) {
				return true
			}
		}
		return false
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// Start wires the triggers of every added function: timers run on their cron schedule (UTC
// unless CRON_TZ), MNS-source EventBridge triggers poll their queue. Cloud-service EventBridge
// triggers are driven by Fire. Start returns at once; triggers stop on Close or when ctx ends.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("localfc: runtime is closed")
	}
	if r.stopTrg != nil {
		r.mu.Unlock()
		return errors.New("localfc: triggers already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	r.stopTrg = cancel
	pools := make([]*pool, 0, len(r.fns))
	for _, p := range r.fns {
		pools = append(pools, p)
	}
	r.mu.Unlock()

	c := cron.New(cron.WithLocation(time.UTC))
	var pollers []*mnsPoller
	for _, p := range pools {
		for i := range p.fn.Triggers {
			t := &p.fn.Triggers[i]
			switch {
			case t.Type == sconfig.TypeTimer && t.Timer != nil:
				if (t.Timer.Enable != nil && !*t.Timer.Enable) || r.opts.ManualTimers {
					continue
				}
				sched, err := sconfig.ParseCron(t.Timer.CronExpression)
				if err != nil {
					cancel()
					return fmt.Errorf("localfc: function %s: trigger %s: %w", p.fn.Name, t.Name, err)
				}
				c.Schedule(sched, cron.FuncJob(func() { _, _ = r.fireTimer(ctx, p, t) }))
			case t.Type == sconfig.TypeEventBridge && t.EventBridge != nil && t.EventBridge.Source.Type == "MNS":
				if t.EventBridge.TriggerEnable != nil && !*t.EventBridge.TriggerEnable {
					continue
				}
				mp, err := r.newMNSPoller(p, t)
				if err != nil {
					cancel()
					return err
				}
				pollers = append(pollers, mp)
			}
		}
	}
	c.Start()
	r.trgWG.Add(1)
	go func() {
		defer r.trgWG.Done()
		<-ctx.Done()
		<-c.Stop().Done()
	}()
	for _, mp := range pollers {
		r.trgWG.Add(1)
		go func() {
			defer r.trgWG.Done()
			mp.run(ctx)
		}()
	}
	return nil
}

// TriggerRun is one invocation made by a trigger, reported to Options.OnTrigger.
type TriggerRun struct {
	Function, Trigger string
	Result            Result
	Err               error // the runtime could not invoke
}

func (r *Runtime) logOutcome(fn, trigger string, res Result, err error) {
	if r.opts.OnTrigger != nil {
		r.opts.OnTrigger(TriggerRun{Function: fn, Trigger: trigger, Result: res, Err: err})
	}
	switch {
	case err != nil:
		r.event("trigger %s/%s: %v", fn, trigger, err)
	case res.Error != nil:
		r.event("trigger %s/%s: request %s failed: %s: %s", fn, trigger, res.RequestID, res.Error.Type, res.Error.Message)
	default:
		r.event("trigger %s/%s: request %s ok in %s", fn, trigger, res.RequestID, res.Duration.Round(time.Millisecond))
	}
}

// mnsPoller is one MNS-source EventBridge trigger (event stream).
type mnsPoller struct {
	r        *Runtime
	p        *pool
	t        *sconfig.Trigger
	src      *sconfig.MNSSource
	q        Queue
	dlq      Queue // nil = none
	dlqName  string
	count    int
	window   time.Duration
	strategy string
}

func (r *Runtime) newMNSPoller(p *pool, t *sconfig.Trigger) (*mnsPoller, error) {
	eb := t.EventBridge
	src := eb.Source.Parameters.MNS
	at := fmt.Sprintf("localfc: function %s: trigger %s", p.fn.Name, t.Name)
	if src == nil || src.QueueName == "" {
		return nil, fmt.Errorf("%s: sourceMNSParameters.QueueName missing", at)
	}
	if r.opts.Queues == nil {
		return nil, fmt.Errorf("%s: %w", at, errNoQueues)
	}
	region := src.RegionID
	if region == "" {
		region = r.opts.Region
	}
	q, err := r.opts.Queues.OpenQueue(region, queueName(src.QueueName))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	mp := &mnsPoller{r: r, p: p, t: t, src: src, q: q, strategy: eb.RunOptions.RetryStrategy.PushRetryStrategy}
	if arn := eb.RunOptions.DeadLetterQueue.Arn; arn != "" {
		dregion, _, dname, err := sconfig.DLQQueue(arn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if mp.dlq, err = r.opts.Queues.OpenQueue(dregion, dname); err != nil {
			return nil, fmt.Errorf("%s: dead-letter queue: %w", at, err)
		}
		mp.dlqName = dname
	}
	mp.count, mp.window = 1, 0
	if eb.RunOptions.Mode == "event-streaming" {
		mp.count = max(1, eb.RunOptions.BatchWindow.CountBasedWindow)
		mp.window = time.Duration(eb.RunOptions.BatchWindow.TimeBasedWindow) * time.Second
	}
	return mp, nil
}

func (mp *mnsPoller) name() string { return mp.p.fn.Name + "/" + mp.t.Name }

func (mp *mnsPoller) run(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := mp.collect(ctx)
		if err != nil {
			if ctx.Err() == nil {
				mp.r.event("trigger %s: %v", mp.name(), err)
				_ = sleep(ctx, time.Second)
			}
			continue
		}
		if len(batch) > 0 {
			mp.deliver(ctx, batch)
		}
	}
}

// collect waits for a first message, then gathers until the batch is full or the time window
// since the first message has passed.
func (mp *mnsPoller) collect(ctx context.Context) ([]Message, error) {
	first, err := mp.q.Receive(ctx, mp.count, time.Second)
	if err != nil || len(first) == 0 {
		return nil, err
	}
	batch := first
	end := time.Now().Add(mp.window)
	for len(batch) < mp.count && ctx.Err() == nil {
		left := time.Until(end)
		if left <= 0 {
			break
		}
		more, err := mp.q.Receive(ctx, mp.count-len(batch), min(left, time.Second).Truncate(time.Second))
		if err != nil {
			break // deliver what we have; the error shows on the next poll
		}
		if len(more) == 0 && left < time.Second {
			_ = sleep(ctx, left)
		}
		batch = append(batch, more...)
	}
	return batch, nil
}

// deliver invokes the function with the batch and settles every message: deleted on success;
// on failure hidden for the retry delay, or dead-lettered after the last attempt.
func (mp *mnsPoller) deliver(ctx context.Context, batch []Message) {
	fn := &mp.p.fn
	// Keep the messages hidden for the whole invocation (the queue's own visibility timeout
	// may be shorter than the function's).
	live := batch[:0]
	for _, m := range batch {
		rh, err := mp.q.ChangeVisibility(ctx, m.ReceiptHandle, fn.timeout()+10*time.Second)
		if err != nil {
			mp.r.event("trigger %s: message %s: %v", mp.name(), m.ID, err)
			continue
		}
		m.ReceiptHandle = rh
		live = append(live, m)
	}
	if len(live) == 0 {
		return
	}
	events := make([]json.RawMessage, 0, len(live))
	retry := 0
	for _, m := range live {
		events = append(events, mp.cloudEvent(m))
		retry = max(retry, m.DequeueCount-1)
	}
	var payload []byte
	if mp.t.EventBridge.RunOptions.Mode == "event-streaming" {
		payload, _ = json.Marshal(events)
	} else {
		payload = events[0]
	}
	mp.r.event("trigger %s: deliver %d message(s)", mp.name(), len(live))
	res, err := mp.r.invoke(ctx, fn.Name, payload, retry)
	mp.r.logOutcome(fn.Name, mp.t.Name, res, err)
	if err == nil && res.Error == nil {
		for _, m := range live {
			if err := mp.q.Delete(ctx, m.ReceiptHandle); err != nil {
				mp.r.event("trigger %s: message %s: %v", mp.name(), m.ID, err)
			}
		}
		return
	}
	limit := 1 + maxRetries(mp.strategy)
	tolerance := mp.t.EventBridge.RunOptions.ErrorsTolerance
	for i, m := range live {
		if m.DequeueCount < limit {
			d := mp.r.retryDelay(m.DequeueCount, mp.strategy)
			if _, err := mp.q.ChangeVisibility(ctx, m.ReceiptHandle, d); err != nil {
				mp.r.event("trigger %s: message %s: %v", mp.name(), m.ID, err)
			}
			mp.r.event("trigger %s: message %s: attempt %d/%d failed, retry in %s", mp.name(), m.ID, m.DequeueCount, limit, d.Round(time.Millisecond))
			continue
		}
		switch {
		case mp.dlq != nil:
			if err := mp.dlq.Send(ctx, string(events[i])); err != nil {
				mp.r.event("trigger %s: message %s: dead-letter: %v", mp.name(), m.ID, err)
				continue // keep it in the source queue rather than lose it
			}
			mp.r.event("trigger %s: message %s: attempt %d/%d failed, moved to dead-letter queue %s", mp.name(), m.ID, m.DequeueCount, limit, mp.dlqName)
		case tolerance == "ALL":
			mp.r.event("trigger %s: message %s: attempt %d/%d failed, dropped (errorsTolerance ALL, no dead-letter queue)", mp.name(), m.ID, m.DequeueCount, limit)
		default:
			// errorsTolerance NONE blocks the stream on this message: keep redelivering.
			d := mp.r.retryDelay(limit, mp.strategy)
			_, _ = mp.q.ChangeVisibility(ctx, m.ReceiptHandle, d)
			mp.r.event("trigger %s: message %s: attempts exhausted, stream blocked (errorsTolerance NONE)", mp.name(), m.ID)
			continue
		}
		if err := mp.q.Delete(ctx, m.ReceiptHandle); err != nil {
			mp.r.event("trigger %s: message %s: %v", mp.name(), m.ID, err)
		}
	}
}

// cloudEvent wraps one message as EventBridge's MNS source does (facts §2.3).
func (mp *mnsPoller) cloudEvent(m Message) json.RawMessage {
	body := m.Body
	if mp.src.Base64Decode() {
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body)); err == nil {
			body = string(dec)
		} else {
			mp.r.event("trigger %s: message %s: body is not base64 (IsBase64Decode true); delivered as is", mp.name(), m.ID)
		}
	}
	data := MNSEventData{RequestID: strings.ToUpper(randHex(12)), MessageID: m.ID, MessageBody: body}
	if mp.t.EventBridge.Sink.DeliveryOption.EventSchema == "RawData" {
		b, _ := json.Marshal(data)
		return b
	}
	region := mp.src.RegionID
	if region == "" {
		region = mp.r.opts.Region
	}
	name := "MNS-" + mp.p.fn.Name + "-" + mp.t.Name
	d, _ := json.Marshal(data)
	ev := CloudEvent{
		Source: name, Type: "mns:Queue:SendMessage",
		Subject:         fmt.Sprintf("acs:mns:%s:%s:queues/%s", region, mp.r.opts.AccountID, queueName(mp.src.QueueName)),
		DataContentType: "application/json; charset=utf-8",
		Data:            d,
	}
	if !m.EnqueueTime.IsZero() {
		ev.Time = m.EnqueueTime.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	mp.r.fillEnvelope(&ev, name)
	ev.AliyunRegionID = region
	b, _ := json.Marshal(ev)
	return b
}

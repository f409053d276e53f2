package sconfig

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// dlqARN is the MNS queue ARN form EventBridge accepts for a dead-letter queue.
var dlqARN = regexp.MustCompile(`^acs:mns:[a-z0-9-]+:\d+:/queues/[A-Za-z0-9-]+$`)

// Validate checks what the fc3 schema leaves open: trigger configs (required fields, the
// filter pattern is a JSON object string, cron parses, event-stream options in range), hook
// timeouts and environment names. It returns every problem found, each naming the resource,
// trigger and field.
func (p *Project) Validate() []error {
	var errs []error
	for _, r := range p.Resources {
		if r.Component != "fc3" {
			continue
		}
		fn := r.Function
		at := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("resources.%s: "+format, append([]any{r.Key}, a...)...))
		}
		if fn.Name == "" {
			at("props.functionName: missing")
		}
		if fn.Runtime == "go1" && fn.Handler == "" {
			at("props.handler: missing")
		}
		if fn.Runtime == "go1" && fn.Code == "" {
			at("props.code: missing")
		}
		for k := range fn.Env {
			if strings.HasPrefix(strings.ToUpper(k), "FC_") {
				at("props.environmentVariables.%s: names starting with FC_ are reserved by Function Compute", k)
			}
		}
		if h := fn.Lifecycle.Initializer; h != nil && (h.Handler == "" || h.Timeout < 1) {
			at("props.instanceLifecycleConfig.initializer: handler and timeout (>= 1) are required")
		}
		if h := fn.Lifecycle.PreStop; h != nil && (h.Handler == "" || h.Timeout < 1) {
			at("props.instanceLifecycleConfig.preStop: handler and timeout (>= 1) are required")
		}
		seen := map[string]bool{}
		for i, t := range fn.Triggers {
			tat := func(format string, a ...any) {
				at("props.triggers[%d] (%s): "+format, append([]any{i, t.Name}, a...)...)
			}
			if t.Name == "" {
				tat("triggerName: missing")
			}
			if seen[t.Name] {
				tat("triggerName: duplicate")
			}
			seen[t.Name] = true
			switch t.Type {
			case TypeTimer:
				validateTimer(t.Timer, tat)
			case TypeEventBridge:
				validateEventBridge(t.EventBridge, tat)
			default:
				tat("triggerType %q: certflow only uses timer and eventbridge", t.Type)
			}
		}
	}
	return errs
}

func validateTimer(c *TimerConfig, at func(string, ...any)) {
	if c.CronExpression == "" {
		at("triggerConfig.cronExpression: missing")
	} else if _, err := ParseCron(c.CronExpression); err != nil {
		at("triggerConfig.%v", err)
	}
	if c.Enable == nil {
		at("triggerConfig.enable: missing")
	}
	if len(c.Payload) > 128<<10 {
		at("triggerConfig.payload: %d bytes, limit 128 KB", len(c.Payload))
	}
}

func validateEventBridge(c *EventBridgeConfig, at func(string, ...any)) {
	if c.TriggerEnable == nil {
		at("triggerConfig.triggerEnable: missing")
	}
	if c.FilterPattern == "" {
		at("triggerConfig.eventRuleFilterPattern: missing (a JSON string; '{}' matches everything)")
	} else if _, err := ParsePattern(c.FilterPattern); err != nil {
		at("triggerConfig.eventRuleFilterPattern: %v", err)
	}
	switch s := c.Sink.DeliveryOption.EventSchema; s {
	case "", "CloudEvents", "RawData":
	default:
		at("triggerConfig.eventSinkConfig.deliveryOption.eventSchema %q: want CloudEvents or RawData", s)
	}
	ro := c.RunOptions
	switch ro.Mode {
	case "", "event-driven", "event-streaming":
	default:
		at("triggerConfig.runOptions.mode %q: want event-driven or event-streaming", ro.Mode)
	}
	switch ro.ErrorsTolerance {
	case "", "ALL", "NONE":
	default:
		at("triggerConfig.runOptions.errorsTolerance %q: want ALL or NONE", ro.ErrorsTolerance)
	}
	switch s := ro.RetryStrategy.PushRetryStrategy; s {
	case "", "BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY":
	default:
		at("triggerConfig.runOptions.retryStrategy.PushRetryStrategy %q: want BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY", s)
	}
	if a := ro.DeadLetterQueue.Arn; a != "" && !dlqARN.MatchString(a) {
		at("triggerConfig.runOptions.deadLetterQueue.Arn %q: want acs:mns:<region>:<account>:/queues/<name>", a)
	}
	if n := ro.BatchWindow.CountBasedWindow; n < 0 || n > 10000 {
		at("triggerConfig.runOptions.batchWindow.CountBasedWindow %d: want 1..10000", n)
	}
	if n := ro.BatchWindow.TimeBasedWindow; n < 0 || n > 15 {
		at("triggerConfig.runOptions.batchWindow.TimeBasedWindow %d: want 0..15 seconds", n)
	}
	switch c.Source.Type {
	case "Default":
	case "MNS":
		m := c.Source.Parameters.MNS
		if m == nil {
			at("triggerConfig.eventSourceConfig.eventSourceParameters.sourceMNSParameters: missing")
			return
		}
		if m.RegionID == "" {
			at("triggerConfig.eventSourceConfig.eventSourceParameters.sourceMNSParameters.RegionId: missing")
		}
		if m.QueueName == "" {
			at("triggerConfig.eventSourceConfig.eventSourceParameters.sourceMNSParameters.QueueName: missing")
		}
	case "":
		at("triggerConfig.eventSourceConfig.eventSourceType: missing")
	default:
		at("triggerConfig.eventSourceConfig.eventSourceType %q: certflow uses Default or MNS", c.Source.Type)
	}
}

// ParsePattern parses an EventBridge filter pattern: a JSON object.
func ParsePattern(s string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}

// DLQQueue splits an MNS dead-letter ARN acs:mns:<region>:<account>:/queues/<name>.
func DLQQueue(arn string) (region, account, queue string, err error) {
	if !dlqARN.MatchString(arn) {
		return "", "", "", fmt.Errorf("dead-letter queue %q: want acs:mns:<region>:<account>:/queues/<name>", arn)
	}
	parts := strings.SplitN(arn, ":", 5)
	return parts[2], parts[3], strings.TrimPrefix(parts[4], "/queues/"), nil
}

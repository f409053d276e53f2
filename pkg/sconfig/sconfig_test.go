package sconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// testAccount stands in for `s config` AccountID.
const testAccount = "1234567890123456"

func loadRepo(t *testing.T, env map[string]string) *Project {
	t.Helper()
	p, err := Load(filepath.Join("..", "..", "s.yaml"), LoadOptions{
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Config: map[string]string{"AccountID": testAccount},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "fc3-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("fc3-schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("fc3-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSYAMLSchema validates every resource's rendered props against the fc3 component schema.
func TestSYAMLSchema(t *testing.T) {
	p := loadRepo(t, nil)
	s := compileSchema(t)
	if len(p.Resources) != 3 {
		t.Fatalf("resources: got %d, want 3", len(p.Resources))
	}
	for _, r := range p.Resources {
		t.Run(r.Key, func(t *testing.T) {
			b, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(inst); err != nil {
				t.Errorf("props do not match fc3 schema: %v", err)
			}
		})
	}
}

// TestSchemaCatchesBadProps proves the schema test can fail.
func TestSchemaCatchesBadProps(t *testing.T) {
	s := compileSchema(t)
	for _, tc := range []struct{ name, props string }{
		{"bad runtime", `{"region":"cn-hangzhou","functionName":"f","runtime":"go2","handler":"main","code":"./x"}`},
		{"bad memory", `{"region":"cn-hangzhou","functionName":"f","runtime":"go1","handler":"main","code":"./x","memorySize":100}`},
		{"bad trigger type", `{"region":"cn-hangzhou","functionName":"f","runtime":"go1","handler":"main","code":"./x","triggers":[{"triggerName":"t","triggerType":"cron","triggerConfig":{}}]}`},
		{"no region", `{"functionName":"f","runtime":"go1","handler":"main","code":"./x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.props))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(inst); err == nil {
				t.Error("schema accepted invalid props")
			}
		})
	}
}

// TestSYAMLFunctionsAndTriggers checks what the schema cannot: trigger configs and the wiring
// certflow relies on.
func TestSYAMLFunctionsAndTriggers(t *testing.T) {
	p := loadRepo(t, nil)
	if errs := p.Validate(); len(errs) > 0 {
		t.Fatalf("s.yaml: %v", errs)
	}
	want := map[string]struct {
		mem, timeout int
		code         string
	}{
		"certflow-deployer": {512, 600, "./bin/deployer"},
		"certflow-binder":   {256, 300, "./bin/binder"},
		"certflow-checker":  {512, 300, "./bin/checker"},
	}
	for name, w := range want {
		fn, ok := p.Function(name)
		if !ok {
			t.Fatalf("function %s missing", name)
		}
		if fn.Runtime != "go1" || fn.Handler != "main" || fn.Code != w.code || fn.MemorySize != w.mem || fn.Timeout != w.timeout {
			t.Errorf("%s: runtime=%s handler=%s code=%s mem=%d timeout=%d", name, fn.Runtime, fn.Handler, fn.Code, fn.MemorySize, fn.Timeout)
		}
		if fn.Role != "acs:ram::"+testAccount+":role/certflow-fc" {
			t.Errorf("%s: role %q", name, fn.Role)
		}
		for _, k := range []string{"CERTFLOW_TARGETS", "CERTFLOW_CAS_REGION", "CERTFLOW_BIND_QUEUE"} {
			if fn.Env[k] == "" {
				t.Errorf("%s: environment variable %s missing", name, k)
			}
		}
	}
	for _, r := range p.Resources {
		if len(r.PreDeploy) == 0 || !strings.Contains(r.PreDeploy[0], "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build") ||
			!strings.Contains(r.PreDeploy[0], "-o bin/"+r.Key+"/main ./functions/"+r.Key) {
			t.Errorf("%s: pre-deploy %q does not build bin/%s/main", r.Key, r.PreDeploy, r.Key)
		}
	}

	dep, _ := p.Function("certflow-deployer")
	if len(dep.Triggers) != 2 {
		t.Fatalf("deployer triggers: %d", len(dep.Triggers))
	}
	for _, tr := range dep.Triggers {
		eb := tr.EventBridge
		if eb == nil || eb.Source.Type != "Default" {
			t.Fatalf("deployer trigger %s: not an EventBridge Default-source trigger", tr.Name)
		}
		pat, err := ParsePattern(eb.FilterPattern)
		if err != nil {
			t.Fatal(err)
		}
		if src, _ := pat["source"].([]any); len(src) != 1 || src[0] != "acs.cas" {
			t.Errorf("trigger %s: source filter %v, want [acs.cas]", tr.Name, pat["source"])
		}
	}

	bin, _ := p.Function("certflow-binder")
	if len(bin.Triggers) != 1 || bin.Triggers[0].EventBridge == nil {
		t.Fatalf("binder triggers: %+v", bin.Triggers)
	}
	eb := bin.Triggers[0].EventBridge
	mns := eb.Source.Parameters.MNS
	switch {
	case eb.Source.Type != "MNS" || mns == nil:
		t.Fatal("binder trigger: not an MNS source")
	case mns.QueueName != "certflow-bind" || mns.RegionID != "cn-hangzhou":
		t.Errorf("binder trigger queue: %+v", mns)
	case mns.IsBase64Decode == nil || !*mns.IsBase64Decode:
		t.Error("binder trigger: IsBase64Decode must be true (the producer base64-encodes bodies)")
	case eb.RunOptions.Mode != "event-streaming":
		t.Errorf("binder trigger mode %q", eb.RunOptions.Mode)
	case eb.RunOptions.DeadLetterQueue.Arn != "acs:mns:cn-hangzhou:"+testAccount+":/queues/certflow-bind-dlq":
		t.Errorf("binder DLQ %q", eb.RunOptions.DeadLetterQueue.Arn)
	case eb.RunOptions.BatchWindow.CountBasedWindow < 1:
		t.Error("binder trigger: batch window missing")
	case eb.RunOptions.RetryStrategy.PushRetryStrategy == "":
		t.Error("binder trigger: retry strategy missing")
	}

	chk, _ := p.Function("certflow-checker")
	if len(chk.Triggers) != 1 || chk.Triggers[0].Timer == nil {
		t.Fatalf("checker triggers: %+v", chk.Triggers)
	}
	sched, err := ParseCron(chk.Triggers[0].Timer.CronExpression)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-05 10:10 Beijing is 02:10 UTC; next run 10:30 Beijing = 02:30 UTC.
	from := time.Date(2026, 1, 5, 2, 10, 0, 0, time.UTC)
	if got := sched.Next(from).UTC(); !got.Equal(time.Date(2026, 1, 5, 2, 30, 0, 0, time.UTC)) {
		t.Errorf("checker next run after %v: %v", from, got)
	}
}

// TestVarsFromEnv shows ${env(...)} overrides the defaults.
func TestVarsFromEnv(t *testing.T) {
	p := loadRepo(t, map[string]string{"CERTFLOW_REGION": "cn-shanghai", "CERTFLOW_BIND_QUEUE": "q2"})
	bin, _ := p.Function("certflow-binder")
	if bin.Region != "cn-shanghai" || bin.Env["CERTFLOW_BIND_QUEUE"] != "q2" {
		t.Errorf("region %s queue %s", bin.Region, bin.Env["CERTFLOW_BIND_QUEUE"])
	}
	if m := bin.Triggers[0].EventBridge.Source.Parameters.MNS; m.QueueName != "q2" || m.RegionID != "cn-shanghai" {
		t.Errorf("trigger source %+v", m)
	}
}

// TestValidateRejects feeds broken trigger configs and expects an error naming the field.
func TestValidateRejects(t *testing.T) {
	base := func(triggers string) string {
		return "edition: 3.0.0\nname: x\nresources:\n  f:\n    component: fc3\n    props:\n      region: cn-hangzhou\n      functionName: f\n      runtime: go1\n      handler: main\n      code: ./bin/f\n" + triggers
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"cron typo", base("      triggers:\n        - triggerName: t\n          triggerType: timer\n          triggerConfig:\n            cronExpresion: '0 * * * * *'\n            enable: true\n"), "cronExpression: missing"},
		{"bad cron", base("      triggers:\n        - triggerName: t\n          triggerType: timer\n          triggerConfig:\n            cronExpression: '0 61 * * * *'\n            enable: true\n"), "cronExpression"},
		{"pattern not json", base("      triggers:\n        - triggerName: t\n          triggerType: eventbridge\n          triggerConfig:\n            triggerEnable: true\n            eventRuleFilterPattern: '{source:'\n            eventSourceConfig:\n              eventSourceType: Default\n"), "eventRuleFilterPattern"},
		{"mns without queue", base("      triggers:\n        - triggerName: t\n          triggerType: eventbridge\n          triggerConfig:\n            triggerEnable: true\n            eventRuleFilterPattern: '{}'\n            eventSourceConfig:\n              eventSourceType: MNS\n              eventSourceParameters:\n                sourceMNSParameters:\n                  RegionId: cn-hangzhou\n"), "QueueName: missing"},
		{"bad dlq", base("      triggers:\n        - triggerName: t\n          triggerType: eventbridge\n          triggerConfig:\n            triggerEnable: true\n            eventRuleFilterPattern: '{}'\n            eventSourceConfig:\n              eventSourceType: Default\n            runOptions:\n              deadLetterQueue:\n                Arn: my-dlq\n"), "deadLetterQueue.Arn"},
		{"reserved env", base("      environmentVariables:\n        FC_X: y\n"), "FC_X"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.yaml), LoadOptions{Env: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			errs := p.Validate()
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if got := strings.Join(all, "; "); !strings.Contains(got, tc.want) || !strings.Contains(got, "resources.f") {
				t.Errorf("errors %q do not name %q", got, tc.want)
			}
		})
	}
}

// TestRenderErrors names the unresolved variable.
func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"missing env", "edition: 3.0.0\nvars:\n  a: ${env('NOPE')}\nresources: {}\n", "NOPE"},
		{"missing config", "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      role: ${config('AccountID')}\n", "config('AccountID') not found"},
		{"missing var", "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      region: ${vars.nope}\n", "no such var"},
		{"edition", "edition: 2.0.0\nresources: {}\n", "edition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), LoadOptions{Env: func(string) (string, bool) { return "", false }})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

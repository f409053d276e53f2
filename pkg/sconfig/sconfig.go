// Package sconfig reads a Serverless Devs s.yaml (edition 3.0.0, component fc3) into typed
// values: functions, their environment, timeouts, lifecycle hooks and triggers. It renders the
// variables Serverless Devs would (${env(...)}, ${vars.x}, ${config(...)}) so the local runtime
// wires exactly what `s deploy` deploys, and validates trigger configs, which the fc3 JSON
// schema does not constrain.
package sconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Project is a rendered s.yaml.
type Project struct {
	Path      string // the file read
	Edition   string
	Name      string
	Vars      map[string]string
	Resources []Resource // in file order
}

// Resource is one entry under `resources`.
type Resource struct {
	Key       string         // the resource's key in s.yaml
	Component string         // e.g. fc3
	Props     map[string]any // rendered props, JSON-compatible (for schema validation)
	Function  Function       // Props decoded, when Component is fc3
	PreDeploy []string       // actions.pre-deploy run commands
}

// Function is an fc3 resource's function props that the local runtime uses.
type Function struct {
	Name        string            `yaml:"functionName"`
	Region      string            `yaml:"region"`
	Runtime     string            `yaml:"runtime"`
	Handler     string            `yaml:"handler"`
	Code        string            `yaml:"code"` // folder, relative to s.yaml
	MemorySize  int               `yaml:"memorySize"`
	Timeout     int               `yaml:"timeout"` // seconds
	Env         map[string]string `yaml:"environmentVariables"`
	Role        string            `yaml:"role"`
	Lifecycle   Lifecycle         `yaml:"instanceLifecycleConfig"`
	AsyncInvoke AsyncInvoke       `yaml:"asyncInvokeConfig"`
	Triggers    []Trigger         `yaml:"triggers"`
}

// Lifecycle is instanceLifecycleConfig.
type Lifecycle struct {
	Initializer *Hook `yaml:"initializer"`
	PreStop     *Hook `yaml:"preStop"`
}

// Hook is a lifecycle hook; Timeout in seconds.
type Hook struct {
	Handler string `yaml:"handler"`
	Timeout int    `yaml:"timeout"`
}

// AsyncInvoke is asyncInvokeConfig (what applies to timer runs).
type AsyncInvoke struct {
	MaxAsyncRetryAttempts *int `yaml:"maxAsyncRetryAttempts"`
}

// Trigger types certflow uses (fc3 ITriggerType).
const (
	TypeTimer       = "timer"
	TypeEventBridge = "eventbridge"
)

// Trigger is one entry of a function's triggers. Exactly one of Timer and EventBridge is set
// for those types; other types keep only Raw.
type Trigger struct {
	Name        string             `yaml:"triggerName"`
	Type        string             `yaml:"triggerType"`
	Qualifier   string             `yaml:"qualifier"`
	Raw         map[string]any     `yaml:"triggerConfig"`
	Timer       *TimerConfig       `yaml:"-"`
	EventBridge *EventBridgeConfig `yaml:"-"`
}

// TimerConfig is a timer trigger's triggerConfig.
type TimerConfig struct {
	CronExpression string `yaml:"cronExpression"`
	Enable         *bool  `yaml:"enable"`
	Payload        string `yaml:"payload"`
}

// EventBridgeConfig is an eventbridge trigger's triggerConfig.
type EventBridgeConfig struct {
	TriggerEnable       *bool             `yaml:"triggerEnable"`
	AsyncInvocationType bool              `yaml:"asyncInvocationType"`
	FilterPattern       string            `yaml:"eventRuleFilterPattern"` // a JSON string
	Source              EventSourceConfig `yaml:"eventSourceConfig"`
	Sink                struct {
		DeliveryOption struct {
			EventSchema string `yaml:"eventSchema"` // CloudEvents (default) or RawData
		} `yaml:"deliveryOption"`
	} `yaml:"eventSinkConfig"`
	RunOptions RunOptions `yaml:"runOptions"`
}

// EventSourceConfig names where events come from: Default (cloud service events) or MNS.
type EventSourceConfig struct {
	Type       string `yaml:"eventSourceType"`
	Parameters struct {
		MNS *MNSSource `yaml:"sourceMNSParameters"`
	} `yaml:"eventSourceParameters"`
}

// MNSSource is sourceMNSParameters.
type MNSSource struct {
	RegionID       string `yaml:"RegionId"`
	QueueName      string `yaml:"QueueName"`
	IsBase64Decode *bool  `yaml:"IsBase64Decode"` // API default true
}

// Base64Decode reports the effective IsBase64Decode (the API default is true).
func (m *MNSSource) Base64Decode() bool { return m.IsBase64Decode == nil || *m.IsBase64Decode }

// RunOptions is an eventbridge trigger's runOptions.
type RunOptions struct {
	Mode            string `yaml:"mode"` // event-driven (default) or event-streaming
	MaximumTasks    int    `yaml:"maximumTasks"`
	ErrorsTolerance string `yaml:"errorsTolerance"` // ALL or NONE (default)
	RetryStrategy   struct {
		PushRetryStrategy string `yaml:"PushRetryStrategy"` // BACKOFF_RETRY (default) or EXPONENTIAL_DECAY_RETRY
	} `yaml:"retryStrategy"`
	DeadLetterQueue struct {
		Arn string `yaml:"Arn"`
	} `yaml:"deadLetterQueue"`
	BatchWindow struct {
		CountBasedWindow int `yaml:"CountBasedWindow"`
		TimeBasedWindow  int `yaml:"TimeBasedWindow"` // seconds
	} `yaml:"batchWindow"`
}

// LoadOptions supply what the variables resolve against.
type LoadOptions struct {
	// Env looks up ${env('NAME')}; nil = os.LookupEnv.
	Env func(string) (string, bool)
	// Config answers ${config('Key')} (the `s config` access, e.g. AccountID). A key not present
	// is an error naming it, as Serverless Devs reports.
	Config map[string]string
}

// Load reads and renders path.
func Load(path string, opts LoadOptions) (*Project, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("s.yaml: %w", err)
	}
	p, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Path = path
	return p, nil
}

// Parse renders s.yaml content.
func Parse(data []byte, opts LoadOptions) (*Project, error) {
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var top struct {
		Edition   string               `yaml:"edition"`
		Name      string               `yaml:"name"`
		Vars      map[string]yaml.Node `yaml:"vars"`
		Resources yaml.Node            `yaml:"resources"`
	}
	if err := doc.Decode(&top); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if top.Edition != "3.0.0" {
		return nil, fmt.Errorf("edition: got %q, want 3.0.0", top.Edition)
	}
	r := &renderer{opts: opts, vars: map[string]string{}}
	// Vars may refer to env and config only.
	names := make([]string, 0, len(top.Vars))
	for k := range top.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		n := top.Vars[k]
		v, err := r.str(n.Value)
		if err != nil {
			return nil, fmt.Errorf("vars.%s: %w", k, err)
		}
		r.vars[k] = v
	}
	p := &Project{Edition: top.Edition, Name: top.Name, Vars: r.vars}
	if top.Resources.Kind != yaml.MappingNode {
		return nil, errors.New("resources: missing or not a map")
	}
	for i := 0; i+1 < len(top.Resources.Content); i += 2 {
		key := top.Resources.Content[i].Value
		res, err := r.resource(key, top.Resources.Content[i+1])
		if err != nil {
			return nil, fmt.Errorf("resources.%s: %w", key, err)
		}
		p.Resources = append(p.Resources, res)
	}
	return p, nil
}

// Function returns the fc3 function named name (functionName or resource key).
func (p *Project) Function(name string) (*Function, bool) {
	for i := range p.Resources {
		r := &p.Resources[i]
		if r.Component == "fc3" && (r.Function.Name == name || r.Key == name) {
			return &r.Function, true
		}
	}
	return nil, false
}

// Functions lists the fc3 functions in file order.
func (p *Project) Functions() []Function {
	var out []Function
	for _, r := range p.Resources {
		if r.Component == "fc3" {
			out = append(out, r.Function)
		}
	}
	return out
}

// CodeDir returns fn's code folder, resolved against the s.yaml folder.
func (p *Project) CodeDir(fn *Function) string {
	if filepath.IsAbs(fn.Code) {
		return fn.Code
	}
	return filepath.Join(filepath.Dir(p.Path), fn.Code)
}

type renderer struct {
	opts LoadOptions
	vars map[string]string
}

func (r *renderer) resource(key string, n *yaml.Node) (Resource, error) {
	var raw map[string]any
	if err := n.Decode(&raw); err != nil {
		return Resource{}, err
	}
	rendered, err := r.walk(raw)
	if err != nil {
		return Resource{}, err
	}
	m := rendered.(map[string]any)
	res := Resource{Key: key}
	res.Component, _ = m["component"].(string)
	if res.Component == "" {
		return Resource{}, errors.New("component: missing")
	}
	if acts, ok := m["actions"].(map[string]any); ok {
		if pre, ok := acts["pre-deploy"].([]any); ok {
			for _, a := range pre {
				if am, ok := a.(map[string]any); ok {
					if run, ok := am["run"].(string); ok {
						res.PreDeploy = append(res.PreDeploy, run)
					}
				}
			}
		}
	}
	props, ok := m["props"].(map[string]any)
	if !ok {
		return Resource{}, errors.New("props: missing or not a map")
	}
	res.Props = props
	if res.Component != "fc3" {
		return res, nil
	}
	if err := remarshal(props, &res.Function); err != nil {
		return Resource{}, fmt.Errorf("props: %w", err)
	}
	for i := range res.Function.Triggers {
		t := &res.Function.Triggers[i]
		var err error
		switch t.Type {
		case TypeTimer:
			t.Timer = &TimerConfig{}
			err = remarshal(t.Raw, t.Timer)
		case TypeEventBridge:
			t.EventBridge = &EventBridgeConfig{}
			err = remarshal(t.Raw, t.EventBridge)
		}
		if err != nil {
			return Resource{}, fmt.Errorf("props.triggers[%d] %s: triggerConfig: %w", i, t.Name, err)
		}
	}
	return res, nil
}

// walk renders every string in v and normalises maps to map[string]any.
func (r *renderer) walk(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return r.str(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			w, err := r.walk(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = w
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			w, err := r.walk(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = w
		}
		return out, nil
	default:
		return v, nil
	}
}

var (
	exprRE = regexp.MustCompile(`\$\{([^}]*)\}`)
	callRE = regexp.MustCompile(`^(env|config)\(\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)")\s*)?\)$`)
)

// str renders the ${...} expressions in s.
func (r *renderer) str(s string) (string, error) {
	var firstErr error
	out := exprRE.ReplaceAllStringFunc(s, func(m string) string {
		v, err := r.expr(strings.TrimSpace(m[2 : len(m)-1]))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

func (r *renderer) expr(e string) (string, error) {
	if name, ok := strings.CutPrefix(e, "vars."); ok {
		v, ok := r.vars[name]
		if !ok {
			return "", fmt.Errorf("${%s}: no such var", e)
		}
		return v, nil
	}
	m := callRE.FindStringSubmatch(e)
	if m == nil {
		return "", fmt.Errorf("${%s}: unsupported expression", e)
	}
	name := m[2] + m[3]
	def, hasDef := m[4]+m[5], m[4] != "" || m[5] != "" || strings.Contains(e, ",")
	switch m[1] {
	case "env":
		if v, ok := r.opts.Env(name); ok && v != "" {
			return v, nil
		}
		if hasDef {
			return def, nil
		}
		return "", fmt.Errorf("${%s}: environment variable %s is not set", e, name)
	default: // config
		if v, ok := r.opts.Config[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("${%s}: config('%s') not found", e, name)
	}
}

// remarshal decodes a rendered map into a typed value through YAML, rejecting unknown fields
// only where typed structs are complete (not here: fc3 props have many we don't use).
func remarshal(in any, out any) error {
	b, err := yaml.Marshal(in)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, out)
}

// JSON returns props as JSON-compatible bytes (for JSON schema validation).
func (r *Resource) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(r.Props); err != nil {
		return nil, fmt.Errorf("resources.%s.props: %w", r.Key, err)
	}
	return buf.Bytes(), nil
}

// cronFields are FC timer expression fields: 6 fields with seconds, or a descriptor (@every 5m).
const cronFields = cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor

// ParseCron parses a timer trigger's cronExpression the way FC does: an optional
// CRON_TZ=<zone> prefix, otherwise UTC.
func ParseCron(expr string) (cron.Schedule, error) {
	spec := strings.TrimSpace(expr)
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		spec = "CRON_TZ=UTC " + spec // FC evaluates without a zone in UTC, not local time
	}
	s, err := cron.NewParser(cronFields).Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cronExpression %q: %w", expr, err)
	}
	return s, nil
}

// Package config loads certflow's targets file: where certificates go (CLB listeners,
// CDN domains, ECS nginx hosts), the AIRec binding, the checker's thresholds and the
// rollout's concurrency and quota overrides.
//
// The file is YAML and strict: unknown fields, wrong types, missing required values,
// unknown regions (checked against the Alibaba Cloud region IDs, with the closest one
// suggested), malformed IDs and domains, and duplicate targets are all errors, every
// one reported (not only the first) with the file, line and field path, e.g.
//
//	targets.yaml:12: targets[3].region: required
//	targets.yaml:20: targets[4].region: "cn-hangzou" is not a known Alibaba Cloud region ID (did you mean cn-hangzhou?)
//
// A loaded Config has its defaults filled in and its names normalised, so callers
// never re-check it. See testdata/targets.example.yaml for a commented example.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is a validated targets file.
type Config struct {
	// File is the name the configuration was loaded from (for messages).
	File string `yaml:"-"`
	// CAS is the Certificate Management Service site certificates are read from.
	CAS CAS `yaml:"cas"`
	// Roots is a PEM file of extra trust roots (private CAs), added to the system
	// roots when chains are checked. Load resolves a relative path against the
	// targets file's folder. Empty = system roots only.
	Roots string `yaml:"roots"`
	// Concurrency bounds how many targets are deployed at once. Default 32.
	Concurrency int `yaml:"concurrency"`
	// Quotas overrides per-action request rates (requests per second), keyed
	// "<product>:<Action>", e.g. "cdn:SetCdnDomainSSLCertificate": 30.
	Quotas map[string]float64 `yaml:"quotas"`
	// Targets are the endpoints certificates are deployed to, in file order.
	Targets []Target `yaml:"targets"`
	// AIRec is the AIRec instance the binder binds certificates to; nil when the
	// file has no airec section.
	AIRec *AIRec `yaml:"airec"`
	// Checker holds the endpoint checker's thresholds.
	Checker Checker `yaml:"checker"`
}

// CAS selects the Certificate Management Service site.
type CAS struct {
	// Region is cn-hangzhou (China site) or ap-southeast-1 (international). Default cn-hangzhou.
	Region string `yaml:"region"`
}

// Target is one endpoint that serves certificates. Which fields apply depends on Kind;
// a field that does not apply to the kind is an error at load time.
//
//	clb: region, loadBalancerId, port, sniDomain, names, forceHttps, httpPort, hsts, minTls, endpoint, httpEndpoint
//	cdn: domain, names, forceHttps, hsts, minTls, endpoint, httpEndpoint
//	ecs: region, instanceId, certPath, keyPath, testCommand, reloadCommand, names, endpoint
type Target struct {
	Kind string `yaml:"kind"` // clb, cdn or ecs

	Region         string `yaml:"region"`         // clb, ecs: the resource's own region
	LoadBalancerID string `yaml:"loadBalancerId"` // clb
	Port           int    `yaml:"port"`           // clb: HTTPS listener port
	// SNIDomain is the listener's domain extension (SNI) to update; empty = the
	// listener's default certificate.
	SNIDomain string `yaml:"sniDomain"`

	// Domain is a CDN domain: concrete (www.example.com), a CDN wildcard domain as
	// CDN writes it (.example.com), or a pattern (*.example.com) that expands to the
	// account's CDN domains it covers, one label deep.
	Domain string `yaml:"domain"`

	InstanceID    string `yaml:"instanceId"`    // ecs
	CertPath      string `yaml:"certPath"`      // ecs: absolute path of the full-chain PEM
	KeyPath       string `yaml:"keyPath"`       // ecs: absolute path of the key (written 0600)
	TestCommand   string `yaml:"testCommand"`   // ecs: default "nginx -t"
	ReloadCommand string `yaml:"reloadCommand"` // ecs: default "nginx -s reload"

	// Names are the host names the target serves, normalised (lower case, no
	// trailing dot, A-labels). A certificate is deployed only when it covers all of
	// them. Defaults: cdn [domain]; clb [sniDomain] when set. Required otherwise.
	Names []string `yaml:"names"`

	ForceHTTPS bool   `yaml:"forceHttps"` // clb, cdn: redirect HTTP to HTTPS
	HTTPPort   int    `yaml:"httpPort"`   // clb: HTTP listener that redirects; default 80 with forceHttps
	HSTS       bool   `yaml:"hsts"`       // clb, cdn: send Strict-Transport-Security
	MinTLS     string `yaml:"minTls"`     // clb, cdn: "1.0", "1.1", "1.2" or "1.3"; empty = leave as is
	// Endpoint is host:port to probe over TLS (with the served names as SNI); empty =
	// resolve the names.
	Endpoint string `yaml:"endpoint"`
	// HTTPEndpoint is host:port where the checker asks plain HTTP for the redirect
	// (clb, cdn); empty = the first served name at httpPort (clb) or port 80 (cdn).
	HTTPEndpoint string `yaml:"httpEndpoint"`
}

// ID returns the target's stable identifier: clb:<lb-id>:<port>[:<sni-domain>],
// cdn:<domain> or ecs:<instance-id>.
func (t Target) ID() string {
	switch t.Kind {
	case KindCLB:
		id := fmt.Sprintf("clb:%s:%d", t.LoadBalancerID, t.Port)
		if t.SNIDomain != "" {
			id += ":" + t.SNIDomain
		}
		return id
	case KindCDN:
		return "cdn:" + t.Domain
	case KindECS:
		return "ecs:" + t.InstanceID
	default:
		return t.Kind + ":?"
	}
}

// ServedNames returns the names a certificate must cover to be deployed to t (a
// copy). For a CDN wildcard domain (.example.com) that is *.example.com; for a CDN
// pattern it is the pattern itself — each domain it expands to serves its own name.
func (t Target) ServedNames() []string {
	return append([]string(nil), t.Names...)
}

// AIRec is the AIRec instance the binder binds certificates to.
type AIRec struct {
	Region     string `yaml:"region"`     // required
	InstanceID string `yaml:"instanceId"` // required
	// Endpoint is the API base URL; empty = the regional endpoint.
	Endpoint string `yaml:"endpoint"`
	// TokenEnv names the environment variable holding a Bearer token; empty = sign
	// requests with the function's credentials (ROA signature).
	TokenEnv     string   `yaml:"tokenEnv"`
	Domains      []string `yaml:"domains"`      // custom domains to bind; at least one
	EnforceHTTPS bool     `yaml:"enforceHttps"` // switch HTTPS enforcement on after binding
	Queue        string   `yaml:"queue"`        // MNS queue of BindTasks; default certflow-bind
	// Endpoints optionally maps a custom domain to the host:port its TLS server is reached
	// at when the binder proves the domain serves the bound certificate (the domain is
	// still sent as SNI and verified). A domain absent here is dialled at <domain>:443.
	// Keys must be listed in Domains; they are normalised like Domains.
	Endpoints map[string]string `yaml:"endpoints,omitempty"`
	// HTTPEndpoints maps a custom domain to the host:port the checker asks plain HTTP
	// for the HTTPS redirect (with enforceHttps); absent = <domain>:80. Same key rules
	// as Endpoints.
	HTTPEndpoints map[string]string `yaml:"httpEndpoints,omitempty"`
}

// Address is the host:port at which the binder probes custom domain d: Endpoints[d] when
// set, else d:443.
func (a *AIRec) Address(d string) string {
	if addr, ok := a.Endpoints[d]; ok && addr != "" {
		return addr
	}
	return net.JoinHostPort(d, "443")
}

// HTTPAddress is the host:port at which the checker asks custom domain d for the HTTPS
// redirect: HTTPEndpoints[d] when set, else d:80.
func (a *AIRec) HTTPAddress(d string) string {
	if addr, ok := a.HTTPEndpoints[d]; ok && addr != "" {
		return addr
	}
	return net.JoinHostPort(d, "80")
}

// Checker holds the endpoint checker's thresholds.
type Checker struct {
	WarnDays       int        `yaml:"warnDays"`       // warn when a certificate expires within this many days; default 30
	MinTLS         string     `yaml:"minTls"`         // lowest acceptable TLS version; default "1.2"
	HSTSMinAge     int        `yaml:"hstsMinAge"`     // lowest acceptable HSTS max-age (seconds); default 15552000
	ExtraEndpoints []Endpoint `yaml:"extraEndpoints"` // endpoints to check beyond the targets
	Alert          Alert      `yaml:"alert"`          // where findings are sent; empty webhook = nowhere
}

// Endpoint is an extra TLS endpoint for the checker.
type Endpoint struct {
	Name    string `yaml:"name"`    // host name to send as SNI and verify
	Address string `yaml:"address"` // host:port to dial
}

// Alert is the checker's webhook.
type Alert struct {
	Webhook   string `yaml:"webhook"`   // https URL (http only for loopback)
	SecretEnv string `yaml:"secretEnv"` // environment variable holding the signing secret
	Format    string `yaml:"format"`    // generic (default) or dingtalk
}

// Defaults applied at load.
const (
	DefaultCASRegion     = "cn-hangzhou"
	DefaultConcurrency   = 32
	DefaultWarnDays      = 30
	DefaultMinTLS        = "1.2"
	DefaultHSTSMinAge    = 15552000
	DefaultTestCommand   = "nginx -t"
	DefaultReloadCommand = "nginx -s reload"
	DefaultQueue         = "certflow-bind"
	DefaultHTTPPort      = 80
	AlertGeneric         = "generic"
	AlertDingTalk        = "dingtalk"
)

// Load reads, parses and validates the targets file at path. A relative roots path
// is resolved against the file's folder and must exist.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if cfg.Roots != "" {
		if !filepath.IsAbs(cfg.Roots) {
			cfg.Roots = filepath.Join(filepath.Dir(path), cfg.Roots)
		}
		if _, err := os.Stat(cfg.Roots); err != nil {
			return nil, &ValidationError{File: path, Problems: []Problem{{Path: "roots", Message: err.Error()}}}
		}
	}
	return cfg, nil
}

// Parse parses and validates a targets file's content; name is used in messages.
// All problems are reported at once in a *ValidationError.
func Parse(name string, data []byte) (*Config, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ValidationError{File: name, Problems: []Problem{{Message: "empty configuration: at least targets or airec is required"}}}
	}
	c := &checker{lines: map[string]int{}}
	c.walk(doc.Content[0], typeOfConfig(), "")
	if len(c.problems) > 0 {
		return nil, &ValidationError{File: name, Problems: c.problems}
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		// The walk above catches unknown fields and type errors with their paths;
		// this is a backstop.
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg.File = name
	c.validate(&cfg)
	if len(c.problems) > 0 {
		return nil, &ValidationError{File: name, Problems: c.problems}
	}
	return &cfg, nil
}

// Problem is one thing wrong with a targets file.
type Problem struct {
	Path    string // field path, e.g. targets[3].region; empty for the whole file
	Line    int    // 1-based line, 0 when unknown
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a targets file.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error renders one problem per line, each as "file:line: path: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		sep := ": "
		if p.Line > 0 {
			sep = ":"
		}
		lines[i] = e.File + sep + p.String()
	}
	return strings.Join(lines, "\n")
}

// ErrInvalid matches every *ValidationError with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ActionQuotas returns the quota overrides keyed by bare action name, as the rollout Gate
// takes them ("cdn:SetCdnDomainSSLCertificate" → "SetCdnDomainSSLCertificate").
func (c *Config) ActionQuotas() map[string]float64 {
	out := make(map[string]float64, len(c.Quotas))
	for k, v := range c.Quotas {
		if i := strings.IndexByte(k, ':'); i >= 0 {
			k = k[i+1:]
		}
		out[k] = v
	}
	return out
}

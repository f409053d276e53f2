package localcloud

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default_estate.yaml
var defaultEstate []byte

// DefaultEstate returns the embedded default estate (YAML).
func DefaultEstate() []byte { return append([]byte(nil), defaultEstate...) }

// Estate is what the local cloud holds at startup. Every target in it starts out serving
// one older certificate issued by the local CA, so a rollout has something to replace.
type Estate struct {
	AccountID       string        `yaml:"accountId" json:"accountId"`
	Region          string        `yaml:"region" json:"region"`
	AccessKeyID     string        `yaml:"accessKeyId" json:"accessKeyId"`
	AccessKeySecret string        `yaml:"accessKeySecret" json:"-"`
	CLBs            []EstateCLB   `yaml:"clbs" json:"clbs"`
	CDN             []EstateCDN   `yaml:"cdn" json:"cdn"`
	ECS             []EstateECS   `yaml:"ecs" json:"ecs"`
	AIRec           []EstateAIRec `yaml:"airec" json:"airec"`
	Queues          []EstateQueue `yaml:"queues" json:"queues"`
}

// EstateCLB is one classic load balancer.
type EstateCLB struct {
	ID        string           `yaml:"id" json:"id"`
	Region    string           `yaml:"region" json:"region"`
	Listeners []EstateListener `yaml:"listeners" json:"listeners"`
}

// EstateListener is one CLB listener: https (names it serves by default, SNI extension
// domains) or http (optionally forwarding to an https port).
type EstateListener struct {
	Port        int      `yaml:"port" json:"port"`
	Protocol    string   `yaml:"protocol" json:"protocol"`
	Names       []string `yaml:"names" json:"names"`
	Extensions  []string `yaml:"extensions" json:"extensions"`
	Forward     bool     `yaml:"forward" json:"forward"`
	ForwardPort int      `yaml:"forwardPort" json:"forwardPort"`
	Bandwidth   int      `yaml:"bandwidth" json:"bandwidth"`
}

// EstateCDN is one CDN domain; a leading dot (".example.com") is CDN's wildcard domain.
// SNI is the name a client asks for to reach it (default: the domain, or "www"+domain).
type EstateCDN struct {
	Domain string `yaml:"domain" json:"domain"`
	SNI    string `yaml:"sni" json:"sni"`
}

// EstateECS is one ECS host running nginx; paths are inside its sandbox.
type EstateECS struct {
	InstanceID string   `yaml:"instanceId" json:"instanceId"`
	Region     string   `yaml:"region" json:"region"`
	Names      []string `yaml:"names" json:"names"`
	CertPath   string   `yaml:"certPath" json:"certPath"`
	KeyPath    string   `yaml:"keyPath" json:"keyPath"`
	Reload     string   `yaml:"reload" json:"reload"`
}

// EstateAIRec is one AIRec instance with its custom domains and API token.
type EstateAIRec struct {
	InstanceID string   `yaml:"instanceId" json:"instanceId"`
	Region     string   `yaml:"region" json:"region"`
	Token      string   `yaml:"token" json:"-"`
	Domains    []string `yaml:"domains" json:"domains"`
}

// EstateQueue is an MNS queue, optionally with a dead-letter queue after MaxReceive receives.
type EstateQueue struct {
	Name       string `yaml:"name" json:"name"`
	DeadLetter string `yaml:"deadLetter" json:"deadLetter"`
	MaxReceive int    `yaml:"maxReceive" json:"maxReceive"`
}

// ParseEstate decodes and validates an estate file; errors name the field.
func ParseEstate(b []byte) (*Estate, error) {
	var e Estate
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("estate: %w", err)
	}
	if e.Region == "" {
		e.Region = "cn-hangzhou"
	}
	if e.AccountID == "" {
		e.AccountID = "1234567890123456"
	}
	if e.AccessKeyID == "" || e.AccessKeySecret == "" {
		return nil, errors.New("estate: accessKeyId and accessKeySecret are required")
	}
	var errs []error
	for i, c := range e.CLBs {
		if c.ID == "" || c.Region == "" {
			errs = append(errs, fmt.Errorf("estate: clbs[%d]: id and region are required", i))
		}
		for j, l := range c.Listeners {
			switch {
			case l.Port <= 0 || l.Port > 65535:
				errs = append(errs, fmt.Errorf("estate: clbs[%d] %s: listeners[%d]: port %d out of range", i, c.ID, j, l.Port))
			case l.Protocol != "https" && l.Protocol != "http":
				errs = append(errs, fmt.Errorf("estate: clbs[%d] %s: listeners[%d]: protocol %q (want https or http)", i, c.ID, j, l.Protocol))
			case l.Protocol == "https" && len(l.Names) == 0:
				errs = append(errs, fmt.Errorf("estate: clbs[%d] %s: listeners[%d]: https listener needs names", i, c.ID, j))
			}
		}
	}
	for i, d := range e.CDN {
		if d.Domain == "" {
			errs = append(errs, fmt.Errorf("estate: cdn[%d]: domain is required", i))
		}
	}
	for i, h := range e.ECS {
		if h.InstanceID == "" || h.Region == "" || h.CertPath == "" || h.KeyPath == "" || len(h.Names) == 0 {
			errs = append(errs, fmt.Errorf("estate: ecs[%d]: instanceId, region, names, certPath and keyPath are required", i))
		}
	}
	for i, a := range e.AIRec {
		if a.InstanceID == "" || a.Token == "" || len(a.Domains) == 0 {
			errs = append(errs, fmt.Errorf("estate: airec[%d]: instanceId, token and domains are required", i))
		}
		if e.AIRec[i].Region == "" {
			e.AIRec[i].Region = e.Region
		}
	}
	for i, q := range e.Queues {
		if q.Name == "" {
			errs = append(errs, fmt.Errorf("estate: queues[%d]: name is required", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &e, nil
}

// cdnSNI is the name a client sends to reach a CDN domain.
func (d EstateCDN) cdnSNI() string {
	switch {
	case d.SNI != "":
		return d.SNI
	case strings.HasPrefix(d.Domain, "."):
		return "www" + d.Domain
	}
	return d.Domain
}

// allNames lists every name the estate serves, wildcard CDN domains as "*.x".
func (e *Estate) allNames() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		n = strings.ToLower(n)
		if strings.HasPrefix(n, ".") {
			n = "*" + n
		}
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, c := range e.CLBs {
		for _, l := range c.Listeners {
			for _, n := range l.Names {
				add(n)
			}
			for _, n := range l.Extensions {
				add(n)
			}
		}
	}
	for _, d := range e.CDN {
		add(d.Domain)
	}
	for _, h := range e.ECS {
		for _, n := range h.Names {
			add(n)
		}
	}
	for _, a := range e.AIRec {
		for _, n := range a.Domains {
			add(n)
		}
	}
	return out
}

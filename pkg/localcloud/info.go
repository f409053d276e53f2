package localcloud

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/pkg/config"
)

// Info is what `certflow local up` prints first, as one JSON line.
type Info struct {
	Endpoint        string     `json:"endpoint"`
	MNSEndpoint     string     `json:"mnsEndpoint"`
	Region          string     `json:"region"`
	AccountID       string     `json:"accountId"`
	AccessKeyID     string     `json:"accessKeyId"`
	AccessKeySecret string     `json:"accessKeySecret"`
	Targets         string     `json:"targets"`
	Roots           string     `json:"roots"`
	Endpoints       []Endpoint `json:"endpoints"`
	// Certificates are the certificates in the emulated CAS (IDs for --cert-id and events).
	Certificates []Certificate `json:"certificates"`
}

// Certificate is one certificate in the emulated CAS.
type Certificate struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	SHA256   string   `json:"sha256"`
	Names    []string `json:"names"`
	NotAfter string   `json:"notAfter"`
}

// Info describes the running cloud. The targets file is written on first call.
func (c *Cloud) Info() (Info, error) {
	path, err := c.writeTargets()
	if err != nil {
		return Info{}, err
	}
	e := c.estate
	return Info{
		Endpoint: c.Endpoint(), MNSEndpoint: c.MNSEndpoint(), Region: e.Region, AccountID: e.AccountID,
		AccessKeyID: e.AccessKeyID, AccessKeySecret: e.AccessKeySecret, Targets: path, Roots: c.roots,
		Endpoints: c.Endpoints(), Certificates: c.casCertificates(),
	}, nil
}

// casCertificates lists the emulated CAS, oldest first.
func (c *Cloud) casCertificates() []Certificate {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Certificate, 0, len(st.cas))
	for _, cc := range st.cas {
		out = append(out, Certificate{ID: cc.ID, Name: cc.Name, SHA256: cc.Mat.sha256Hex(), Names: cc.Mat.names(),
			NotAfter: isoTime(cc.Mat.leaf().NotAfter)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Roots is the path of the PEM file holding the local CA root.
func (c *Cloud) Roots() string { return c.roots }

// TargetsConfig is a targets file (pkg/config schema) matching the estate: one target per
// HTTPS listener and SNI extension, CDN domain and ECS host, plus the AIRec section.
func (c *Cloud) TargetsConfig() *config.Config {
	e := c.estate
	addr, httpAddr := map[string]string{}, map[string]string{}
	for _, ep := range c.ext.endpoints {
		addr[ep.ID] = ep.Address
		if ep.HTTP != "" {
			httpAddr[ep.ID] = ep.HTTP
		}
	}
	cfg := &config.Config{CAS: config.CAS{Region: "cn-hangzhou"}, Roots: c.roots}
	for _, lb := range e.CLBs {
		httpPort := 0
		for _, l := range lb.Listeners {
			if l.Protocol == "http" {
				httpPort = l.Port
			}
		}
		for _, l := range lb.Listeners {
			if l.Protocol != "https" {
				continue
			}
			id := fmt.Sprintf("clb:%s:%d", lb.ID, l.Port)
			t := config.Target{Kind: "clb", Region: lb.Region, LoadBalancerID: lb.ID, Port: l.Port,
				Names: l.Names, Endpoint: addr[id]}
			if httpPort != 0 {
				t.ForceHTTPS, t.HTTPPort, t.HTTPEndpoint = true, httpPort, httpAddr[id]
			}
			cfg.Targets = append(cfg.Targets, t)
			for _, d := range l.Extensions {
				x := t
				x.SNIDomain, x.Names = d, []string{d}
				cfg.Targets = append(cfg.Targets, x)
			}
		}
	}
	for _, d := range e.CDN {
		name := strings.ToLower(d.Domain)
		served := name
		if strings.HasPrefix(name, ".") {
			served = "*" + name
		}
		cfg.Targets = append(cfg.Targets, config.Target{Kind: "cdn", Domain: name, Names: []string{served},
			ForceHTTPS: true, HSTS: true, MinTLS: "1.2", Endpoint: addr["cdn:"+name], HTTPEndpoint: httpAddr["cdn:"+name]})
	}
	for _, h := range e.ECS {
		cfg.Targets = append(cfg.Targets, config.Target{Kind: "ecs", Region: h.Region, InstanceID: h.InstanceID,
			CertPath: h.CertPath, KeyPath: h.KeyPath, Names: h.Names, ReloadCommand: h.Reload, Endpoint: addr["ecs:"+h.InstanceID]})
	}
	if len(e.AIRec) > 0 {
		a := e.AIRec[0]
		cfg.AIRec = &config.AIRec{Region: a.Region, InstanceID: a.InstanceID, Endpoint: c.Endpoint(),
			TokenEnv: "CERTFLOW_AIREC_TOKEN", Domains: a.Domains, EnforceHTTPS: true, Queue: firstQueue(e.Queues)}
		// The custom domains' TLS servers listen on loopback ports, not <domain>:443.
		for _, d := range a.Domains {
			if ad, ok := addr["airec:"+strings.ToLower(d)]; ok {
				if cfg.AIRec.Endpoints == nil {
					cfg.AIRec.Endpoints = map[string]string{}
				}
				cfg.AIRec.Endpoints[strings.ToLower(d)] = ad
			}
			if hd, ok := httpAddr["airec:"+strings.ToLower(d)]; ok {
				if cfg.AIRec.HTTPEndpoints == nil {
					cfg.AIRec.HTTPEndpoints = map[string]string{}
				}
				cfg.AIRec.HTTPEndpoints[strings.ToLower(d)] = hd
			}
		}
	}
	return cfg
}

func firstQueue(qs []EstateQueue) string {
	if len(qs) > 0 {
		return qs[0].Name
	}
	return config.DefaultQueue
}

func (c *Cloud) writeTargets() (string, error) {
	b, err := yaml.Marshal(c.TargetsConfig())
	if err != nil {
		return "", fmt.Errorf("localcloud: targets: %w", err)
	}
	head := "# Generated by the local cloud to match its estate; endpoints are this run's loopback ports.\n"
	p, err := c.writeFile("targets.yaml", append([]byte(head), b...), 0o644)
	if err != nil {
		return "", fmt.Errorf("localcloud: write targets: %w", err)
	}
	return p, nil
}

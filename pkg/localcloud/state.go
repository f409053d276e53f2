package localcloud

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// casCert is a certificate held by CAS.
type casCert struct {
	ID      int64
	Name    string
	Mat     *material
	Created time.Time
}

// slbCert is a certificate in one region's SLB certificate store.
type slbCert struct {
	ID, Name, Region string
	Mat              *material
	AliCloudID       string
	AliCloudName     string
	Created          time.Time
}

type domainExt struct {
	ID, Domain, CertID string
}

// listener is one CLB listener; HTTPS fields or HTTP forwarding fields apply by Protocol.
type listener struct {
	Port              int
	Protocol          string
	Status            string
	Names             []string // names this listener serves by default (estate), for TLS endpoints
	CertID            string
	Extensions        []*domainExt
	Bandwidth         int
	StickySession     string
	StickySessionType string
	CookieTimeout     int
	Cookie            string
	HealthCheck       string
	BackendServerPort int
	ListenerForward   string
	ForwardPort       int
	TLSCipherPolicy   string
	EnableHttp2       string
}

type loadBalancer struct {
	ID, Region string
	Listeners  map[int]*listener
}

type cdnConfig struct {
	ConfigID int64
	Function string
	Args     [][2]string
	Changed  time.Time
}

type cdnDomain struct {
	Name        string
	SNI         string
	SSL         bool
	CertType    string
	CertID      int64
	CertName    string
	CertRegion  string
	Mat         *material
	CertUpdated time.Time
	Configs     []*cdnConfig
	Created     time.Time
}

func (d *cdnDomain) config(fn string) *cdnConfig {
	for _, c := range d.Configs {
		if c.Function == fn {
			return c
		}
	}
	return nil
}

func (c *cdnConfig) arg(name string) string {
	for _, a := range c.Args {
		if a[0] == name {
			return a[1]
		}
	}
	return ""
}

type ecsInstance struct {
	ID, Region string
	Names      []string
	CertPath   string
	KeyPath    string
	Reload     string
	Dir        string
}

type invocationResult struct {
	InstanceID string
	Status     string // Pending, Running, Success, Failed, Timeout, Error
	ExitCode   int
	Output     []byte
	Started    time.Time
	Finished   time.Time
	ErrorInfo  string
}

type invocation struct {
	InvokeID, CommandID string
	Region              string
	Name                string
	Type                string
	Content             string // UNRESOLVED command text: never holds secret values
	Parameters          string
	Timeout             int
	WorkingDir          string
	Username            string
	Created             time.Time
	Results             []*invocationResult
}

type secretParam struct {
	Name, Region, Value, Description, ID string
	Version                              int
	Created                              time.Time
}

// state is everything the emulated services hold; one mutex guards all of it.
type state struct {
	mu          sync.Mutex
	seq         int64
	cas         map[int64]*casCert
	slbCerts    map[string]*slbCert
	lbs         map[string]*loadBalancer
	cdn         map[string]*cdnDomain
	ecs         map[string]*ecsInstance
	invocations []*invocation
	secrets     map[string]*secretParam // region + "/" + name
}

func newState() *state {
	return &state{
		seq: 1000000, cas: map[int64]*casCert{}, slbCerts: map[string]*slbCert{},
		lbs: map[string]*loadBalancer{}, cdn: map[string]*cdnDomain{}, ecs: map[string]*ecsInstance{},
		secrets: map[string]*secretParam{},
	}
}

func (s *state) next() int64 { s.seq++; return s.seq }

// dump is the JSON view of the state: identifiers, names and fingerprints only, never keys.
func (s *state) dump() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type certView struct {
		ID         any      `json:"id"`
		Name       string   `json:"name"`
		Region     string   `json:"region,omitempty"`
		SHA256     string   `json:"sha256"`
		Names      []string `json:"names"`
		NotAfter   string   `json:"notAfter"`
		HasKey     bool     `json:"hasKey"`
		AliCloudID string   `json:"aliCloudCertificateId,omitempty"`
	}
	view := func(id any, name, region string, m *material) certView {
		return certView{ID: id, Name: name, Region: region, SHA256: m.sha256Hex(), Names: m.names(),
			NotAfter: isoTime(m.leaf().NotAfter), HasKey: m.TLS != nil}
	}
	out := map[string]any{}
	var cas []certView
	for _, c := range s.cas {
		cas = append(cas, view(c.ID, c.Name, "", c.Mat))
	}
	sort.Slice(cas, func(i, j int) bool { return cas[i].ID.(int64) < cas[j].ID.(int64) })
	out["cas"] = cas
	var slb []certView
	for _, c := range s.slbCerts {
		v := view(c.ID, c.Name, c.Region, c.Mat)
		v.AliCloudID = c.AliCloudID
		slb = append(slb, v)
	}
	sort.Slice(slb, func(i, j int) bool { return slb[i].ID.(string) < slb[j].ID.(string) })
	out["slbCertificates"] = slb
	type extView struct {
		ID, Domain, ServerCertificateID string
	}
	type lisView struct {
		LoadBalancerID      string    `json:"loadBalancerId"`
		Region              string    `json:"region"`
		Port                int       `json:"port"`
		Protocol            string    `json:"protocol"`
		Status              string    `json:"status"`
		ServerCertificateID string    `json:"serverCertificateId,omitempty"`
		Extensions          []extView `json:"extensions,omitempty"`
		Forward             string    `json:"listenerForward,omitempty"`
		ForwardPort         int       `json:"forwardPort,omitempty"`
	}
	var lis []lisView
	for _, lb := range s.lbs {
		for _, l := range lb.Listeners {
			v := lisView{LoadBalancerID: lb.ID, Region: lb.Region, Port: l.Port, Protocol: l.Protocol, Status: l.Status,
				ServerCertificateID: l.CertID, Forward: l.ListenerForward, ForwardPort: l.ForwardPort}
			for _, e := range l.Extensions {
				v.Extensions = append(v.Extensions, extView{e.ID, e.Domain, e.CertID})
			}
			lis = append(lis, v)
		}
	}
	sort.Slice(lis, func(i, j int) bool {
		if lis[i].LoadBalancerID != lis[j].LoadBalancerID {
			return lis[i].LoadBalancerID < lis[j].LoadBalancerID
		}
		return lis[i].Port < lis[j].Port
	})
	out["listeners"] = lis
	type cdnView struct {
		Domain   string            `json:"domain"`
		HTTPS    bool              `json:"https"`
		CertType string            `json:"certType,omitempty"`
		CertID   int64             `json:"certId,omitempty"`
		SHA256   string            `json:"sha256,omitempty"`
		Configs  map[string]string `json:"configs,omitempty"`
	}
	var cdns []cdnView
	for _, d := range s.cdn {
		v := cdnView{Domain: d.Name, HTTPS: d.SSL, CertType: d.CertType, CertID: d.CertID}
		if d.Mat != nil {
			v.SHA256 = d.Mat.sha256Hex()
		}
		for _, c := range d.Configs {
			if v.Configs == nil {
				v.Configs = map[string]string{}
			}
			b, _ := json.Marshal(c.Args)
			v.Configs[c.Function] = string(b)
		}
		cdns = append(cdns, v)
	}
	sort.Slice(cdns, func(i, j int) bool { return cdns[i].Domain < cdns[j].Domain })
	out["cdn"] = cdns
	var hosts []map[string]any
	for _, h := range s.ecs {
		hosts = append(hosts, map[string]any{"instanceId": h.ID, "region": h.Region, "dir": h.Dir, "certPath": h.CertPath})
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i]["instanceId"].(string) < hosts[j]["instanceId"].(string) })
	out["ecs"] = hosts
	var invs []map[string]any
	for _, in := range s.invocations {
		var st []string
		for _, r := range in.Results {
			st = append(st, r.InstanceID+":"+r.Status)
		}
		invs = append(invs, map[string]any{"invokeId": in.InvokeID, "name": in.Name, "results": st})
	}
	out["invocations"] = invs
	var secrets []string
	for k := range s.secrets {
		secrets = append(secrets, k)
	}
	sort.Strings(secrets)
	out["oosSecrets"] = secrets
	return json.MarshalIndent(out, "", "  ")
}

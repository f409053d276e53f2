package localcloud

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/localcloud/tlsfarm"
)

// Endpoint is one TLS endpoint of the estate as `certflow local up` reports it.
type Endpoint struct {
	Name    string `json:"name"`    // the name to send as SNI
	Address string `json:"address"` // host:port of the TLS server
	Kind    string `json:"kind"`    // clb, cdn, ecs or airec
	HTTP    string `json:"http,omitempty"`
	ID      string `json:"id"` // endpoint id inside the local cloud (clb:lb:port, cdn:domain, ecs:id, airec:domain)
}

var _ tlsfarm.Source = (*Cloud)(nil)

// Serving implements tlsfarm.Source: what endpoint id serves for sni right now.
func (c *Cloud) Serving(id, sni string) (*tls.Certificate, error) {
	kind, rest, _ := strings.Cut(id, ":")
	switch kind {
	case "clb":
		lbID, portStr, _ := strings.Cut(rest, ":")
		port, _ := strconv.Atoi(portStr)
		st := c.st
		st.mu.Lock()
		defer st.mu.Unlock()
		lb, ok := st.lbs[lbID]
		if !ok {
			return nil, fmt.Errorf("localcloud: no load balancer %s", lbID)
		}
		l, ok := lb.Listeners[port]
		if !ok || l.Protocol != "https" || l.Status != "running" {
			return nil, nil
		}
		certID := l.CertID
		if x := matchExtension(l.Extensions, sni); x != nil {
			certID = x.CertID
		}
		if sc, ok := st.slbCerts[certID]; ok {
			return sc.Mat.TLS, nil
		}
		return nil, nil
	case "cdn":
		st := c.st
		st.mu.Lock()
		defer st.mu.Unlock()
		d, ok := st.cdn[rest]
		if !ok || !d.SSL || d.Mat == nil {
			return nil, nil
		}
		return d.Mat.TLS, nil
	case "airec":
		if c.ext.airecSvc == nil {
			return nil, nil
		}
		return c.ext.airecSvc.Serving(rest)
	}
	return nil, fmt.Errorf("localcloud: unknown endpoint %s", id)
}

// matchExtension picks the SNI extension for name: an exact domain first, then a wildcard.
func matchExtension(exts []*domainExt, name string) *domainExt {
	for _, x := range exts {
		if strings.EqualFold(x.Domain, name) {
			return x
		}
	}
	for _, x := range exts {
		if covers(x.Domain, name) {
			return x
		}
	}
	return nil
}

// Deployed returns the SHA-256 (lower hex) of the leaf endpoint id serves for sni now, as
// the state says: clb:<lb>:<port>, cdn:<domain>, airec:<domain>, or ecs:<instance> (the
// certificate file the host's web server loads). ok is false when nothing is deployed.
func (c *Cloud) Deployed(id, sni string) (sha256hex string, ok bool) {
	if inst, isECS := strings.CutPrefix(id, "ecs:"); isECS {
		c.st.mu.Lock()
		h, found := c.st.ecs[inst]
		c.st.mu.Unlock()
		host := c.ext.hosts[inst]
		if !found || host == nil {
			return "", false
		}
		p, inside := host.SandboxPath(h.CertPath)
		if !inside {
			return "", false
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", false
		}
		m, err := parseMaterial(string(b), "")
		if err != nil {
			return "", false
		}
		return m.sha256Hex(), true
	}
	cert, err := c.Serving(id, sni)
	if err != nil || cert == nil || len(cert.Certificate) == 0 {
		return "", false
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:]), true
}

// Policy implements tlsfarm.Source: redirect, HSTS and TLS floor per endpoint.
func (c *Cloud) Policy(id string) tlsfarm.Policy {
	kind, rest, _ := strings.Cut(id, ":")
	var p tlsfarm.Policy
	switch kind {
	case "clb":
		lbID, portStr, _ := strings.Cut(rest, ":")
		port, _ := strconv.Atoi(portStr)
		c.st.mu.Lock()
		defer c.st.mu.Unlock()
		if lb, ok := c.st.lbs[lbID]; ok {
			for _, l := range lb.Listeners {
				if l.Protocol == "http" && l.Status == "running" && l.ListenerForward == "on" && l.ForwardPort == port {
					p.ForceHTTPS = true
				}
			}
		}
	case "cdn":
		c.st.mu.Lock()
		defer c.st.mu.Unlock()
		d, ok := c.st.cdn[rest]
		if !ok {
			return p
		}
		if f := d.config("https_force"); f != nil && f.arg("enable") == "on" {
			p.ForceHTTPS = true
		}
		if f := d.config("HSTS"); f != nil && f.arg("enabled") == "on" {
			n, _ := strconv.Atoi(f.arg("https_hsts_max_age"))
			p.HSTSMaxAge = time.Duration(n) * time.Second
		}
		if f := d.config("https_tls_version"); f != nil {
			for _, v := range []struct {
				arg string
				ver uint16
			}{{"tls10", tls.VersionTLS10}, {"tls11", tls.VersionTLS11}, {"tls12", tls.VersionTLS12}, {"tls13", tls.VersionTLS13}} {
				if f.arg(v.arg) != "off" { // CDN defaults every version to on
					p.MinTLS = v.ver
					break
				}
			}
		} else {
			p.MinTLS = tls.VersionTLS10
		}
	case "airec":
		if c.ext.airecSvc != nil {
			for _, a := range c.estate.AIRec {
				for _, d := range a.Domains {
					if strings.EqualFold(d, rest) {
						p.ForceHTTPS = c.ext.airecSvc.Enforced(a.InstanceID)
					}
				}
			}
		}
	}
	return p
}

// listenAll opens a TLS endpoint (and an HTTP one where the estate has HTTP) for every
// listener, CDN domain, ECS host and AIRec custom domain.
func (c *Cloud) listenAll() error {
	c.ext.farm = tlsfarm.New(c)
	add := func(id, kind string, withHTTP bool, names ...string) error {
		tlsAddr, httpAddr, err := c.ext.farm.Listen(id, withHTTP)
		if err != nil {
			return fmt.Errorf("localcloud: endpoint %s: %w", id, err)
		}
		for _, n := range names {
			c.ext.endpoints = append(c.ext.endpoints, Endpoint{Name: n, Address: tlsAddr, Kind: kind, HTTP: httpAddr, ID: id})
		}
		return nil
	}
	for _, lb := range c.estate.CLBs {
		hasHTTP := false
		for _, l := range lb.Listeners {
			hasHTTP = hasHTTP || l.Protocol == "http"
		}
		for _, l := range lb.Listeners {
			if l.Protocol != "https" {
				continue
			}
			if err := add(fmt.Sprintf("clb:%s:%d", lb.ID, l.Port), "clb", hasHTTP, append(append([]string{}, l.Names...), l.Extensions...)...); err != nil {
				return err
			}
		}
	}
	for _, d := range c.estate.CDN {
		if err := add("cdn:"+strings.ToLower(d.Domain), "cdn", true, d.cdnSNI()); err != nil {
			return err
		}
	}
	for _, h := range c.estate.ECS {
		// ECS hosts serve TLS themselves (nginx or the Go server in ecshost).
		for _, n := range h.Names {
			c.ext.endpoints = append(c.ext.endpoints, Endpoint{Name: n, Address: c.ext.hosts[h.InstanceID].Addr(), Kind: "ecs", ID: "ecs:" + h.InstanceID})
		}
	}
	if c.ext.airecSvc != nil {
		for _, a := range c.estate.AIRec {
			for _, d := range a.Domains {
				if err := add("airec:"+strings.ToLower(d), "airec", true, d); err != nil {
					return err
				}
			}
		}
	}
	sort.SliceStable(c.ext.endpoints, func(i, j int) bool { return c.ext.endpoints[i].Kind < c.ext.endpoints[j].Kind })
	return nil
}

// Endpoints lists every TLS endpoint of the estate.
func (c *Cloud) Endpoints() []Endpoint { return append([]Endpoint(nil), c.ext.endpoints...) }

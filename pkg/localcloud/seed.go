package localcloud

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

// seed creates the local CA, writes its root, issues the older certificate every
// target starts with and deploys it everywhere the estate names.
func (c *Cloud) seed() error {
	var err error
	if c.ca, err = localca.New("certflow local"); err != nil {
		return fmt.Errorf("localcloud: create CA: %w", err)
	}
	if c.roots, err = c.writeFile("roots.pem", c.ca.Root.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("localcloud: write roots: %w", err)
	}
	now := time.Now()
	c.old, err = c.ca.Issue(localca.Template{
		CommonName: "example.com", DNSNames: c.estate.allNames(), KeyType: localca.ECDSAP256,
		NotBefore: now.AddDate(0, 0, -80), NotAfter: now.AddDate(0, 0, 10),
	})
	if err != nil {
		return fmt.Errorf("localcloud: issue estate certificate: %w", err)
	}
	mat, err := parseMaterial(string(c.ca.ChainPEM(c.old)), string(c.old.KeyPEM()))
	if err != nil {
		return fmt.Errorf("localcloud: estate certificate: %w", err)
	}
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	casID := st.next()
	st.cas[casID] = &casCert{ID: casID, Name: "estate-initial-example-com", Mat: mat, Created: now.AddDate(0, 0, -80)}
	regionCert := map[string]string{}
	for _, lb := range c.estate.CLBs {
		if _, ok := regionCert[lb.Region]; !ok {
			sc := st.addSLBCert(c.estate.AccountID, lb.Region, "estate-initial-example-com", mat, fmt.Sprint(casID), "estate-initial-example-com")
			regionCert[lb.Region] = sc.ID
		}
		m := &loadBalancer{ID: lb.ID, Region: lb.Region, Listeners: map[int]*listener{}}
		for _, el := range lb.Listeners {
			l := &listener{Port: el.Port, Protocol: el.Protocol, Status: "running", Names: el.Names, Bandwidth: el.Bandwidth,
				StickySession: "off", HealthCheck: "on", BackendServerPort: 80}
			if l.Bandwidth == 0 {
				l.Bandwidth = -1
			}
			if el.Protocol == "https" {
				l.CertID = regionCert[lb.Region]
				l.TLSCipherPolicy, l.EnableHttp2 = "tls_cipher_policy_1_0", "on"
				for _, d := range el.Extensions {
					l.Extensions = append(l.Extensions, &domainExt{ID: "de-" + randHex(8), Domain: d, CertID: regionCert[lb.Region]})
				}
			} else {
				l.ListenerForward = "off"
				if el.Forward {
					l.ListenerForward, l.ForwardPort = "on", el.ForwardPort
					if l.ForwardPort == 0 {
						l.ForwardPort = 443
					}
				}
			}
			m.Listeners[el.Port] = l
		}
		st.lbs[lb.ID] = m
	}
	for _, d := range c.estate.CDN {
		name := strings.ToLower(d.Domain)
		st.cdn[name] = &cdnDomain{Name: name, SNI: d.cdnSNI(), SSL: true, CertType: "cas", CertID: casID,
			CertName: "estate-initial-example-com", CertRegion: "cn-hangzhou", Mat: mat,
			CertUpdated: now.AddDate(0, 0, -80), Created: now.AddDate(-1, 0, 0)}
	}
	for _, h := range c.estate.ECS {
		dir := filepath.Join(c.dir, "ecs", h.InstanceID)
		st.ecs[h.InstanceID] = &ecsInstance{ID: h.InstanceID, Region: h.Region, Names: h.Names, CertPath: h.CertPath,
			KeyPath: h.KeyPath, Reload: h.Reload, Dir: dir}
	}
	return nil
}

// InitialCertificate is the older certificate the estate starts with (leaf and key).
func (c *Cloud) InitialCertificate() *localca.Cert { return c.old }

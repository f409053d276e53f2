package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/certflow/certflow/pkg/casstore"
	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/plan"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/targets"
)

// Kinds of inventory entries beyond the target kinds.
const (
	KindAIRec = "airec"
	KindExtra = "extra"
)

// Expected is the certificate an endpoint should serve: the newest unexpired CAS
// certificate covering every name its target serves.
type Expected struct {
	CertID int64  `json:"certId"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Endpoint is one name to probe at one address, with what to expect there.
type Endpoint struct {
	probe.Endpoint
	Kind   string        `json:"kind"`             // clb, cdn, ecs, airec or extra
	Target string        `json:"target,omitempty"` // target ID (airec:<instance> for AIRec domains)
	Expect *Expected     `json:"expected,omitempty"`
	MinTLS string        `json:"minTls"`
	Checks HTTPChecks    `json:"httpChecks"`
	target config.Target // the (expanded) target, for repair and enforcement
}

// HTTPChecks says which plain-HTTP/HSTS checks are configured for an endpoint.
type HTTPChecks struct {
	Redirect bool `json:"redirect"`
	HSTS     bool `json:"hsts"`
}

// coverAll makes plan.Build list every target (the checker wants them all, covered or not).
type coverAll struct{}

func (coverAll) Covers(string) bool { return true }

// probeName is the SNI for a served name: itself, or for a wildcard a name it covers.
func probeName(n string) string {
	if rest, ok := strings.CutPrefix(n, "*."); ok {
		return "certflow-probe." + rest
	}
	return n
}

// expected picks the newest unexpired certificate covering every name.
func expected(list []casstore.Summary, names []string) *Expected {
	if len(names) == 0 {
		return nil
	}
	var fit []casstore.Summary
	for _, c := range list {
		all := true
		for _, n := range names {
			all = all && certs.Covers(c.Sans, n)
		}
		if all {
			fit = append(fit, c)
		}
	}
	best, ok := casstore.Latest(fit, names[0])
	if !ok || best.SHA256 == "" {
		return nil
	}
	return &Expected{CertID: best.ID, Name: best.Name, SHA256: best.SHA256}
}

func tlsVersion(v string) uint16 {
	switch v {
	case "1.0":
		return tls.VersionTLS10
	case "1.1":
		return tls.VersionTLS11
	case "1.3":
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// inventory lists every endpoint to check: each target's names (CDN patterns expanded),
// the AIRec custom domains and the extra endpoints, deduplicated by name and address.
// list is CAS's certificates (nil when CAS could not be read: nothing is expected).
// Problems that leave part of the estate unchecked are returned as messages.
func (s *Service) inventory(ctx context.Context, list []casstore.Summary) ([]Endpoint, []string) {
	cfg := s.Config
	var out []Endpoint
	var problems []string
	seen := map[string]bool{}
	add := func(e Endpoint) {
		k := e.Name + "|" + e.Address
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	items, err := plan.Build(ctx, cfg, coverAll{}, nil, targets.CDNDomains(s.Clients, s.Gate))
	if err != nil {
		problems = append(problems, fmt.Sprintf("inventory: %v", err))
	}
	for _, it := range items {
		t := it.Target
		if it.Action != plan.ActionDeploy {
			if it.Action == plan.ActionExpand {
				problems = append(problems, fmt.Sprintf("%s: not checked: %s", it.ID, it.Reason))
			}
			continue
		}
		var names []string
		for _, n := range t.ServedNames() {
			names = append(names, probeName(n))
		}
		exp := expected(list, names)
		minTLS := t.MinTLS
		if minTLS == "" {
			minTLS = cfg.Checker.MinTLS
		}
		for _, n := range names {
			port, httpPort := 443, 80
			if t.Kind == config.KindCLB {
				port = t.Port
				if t.HTTPPort != 0 {
					httpPort = t.HTTPPort
				}
			}
			addr := t.Endpoint
			if addr == "" {
				addr = net.JoinHostPort(n, strconv.Itoa(port))
			}
			httpAddr := t.HTTPEndpoint
			if httpAddr == "" {
				httpAddr = net.JoinHostPort(n, strconv.Itoa(httpPort))
			}
			add(Endpoint{Endpoint: probe.Endpoint{Name: n, Address: addr, HTTPAddress: httpAddr},
				Kind: t.Kind, Target: it.ID, Expect: exp, MinTLS: minTLS,
				Checks: HTTPChecks{Redirect: t.ForceHTTPS, HSTS: t.HSTS}, target: t})
		}
	}
	if a := cfg.AIRec; a != nil {
		for _, d := range a.Domains {
			add(Endpoint{Endpoint: probe.Endpoint{Name: d, Address: a.Address(d), HTTPAddress: a.HTTPAddress(d)},
				Kind: KindAIRec, Target: KindAIRec + ":" + a.InstanceID, Expect: expected(list, []string{d}),
				MinTLS: cfg.Checker.MinTLS, Checks: HTTPChecks{Redirect: a.EnforceHTTPS}})
		}
	}
	// Extra endpoints are not deployed by certflow: checked for trust, name, expiry and
	// TLS version, with no expected certificate.
	for _, x := range cfg.Checker.ExtraEndpoints {
		add(Endpoint{Endpoint: probe.Endpoint{Name: x.Name, Address: x.Address}, Kind: KindExtra, MinTLS: cfg.Checker.MinTLS})
	}
	return out, problems
}

package bench

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/pkg/localcloud"
)

// BenchDomain is the zone every generated target serves a name in; one wildcard
// certificate (*.BenchDomain) covers the whole estate.
const BenchDomain = "bench.example.com"

// Mix is how many targets of each kind an estate of N targets has.
type Mix struct {
	Total         int `json:"total"`
	CDN           int `json:"cdn"`
	CLBListeners  int `json:"clbListeners"`
	CLBExtensions int `json:"clbExtensions"`
	ECS           int `json:"ecs"`
}

// MixFor splits n targets: ecs ECS hosts (each is a sandbox running a real web server,
// so only a handful), one CLB per 25 targets with one HTTPS listener and one SNI
// extension each, and CDN domains for the rest. n must leave at least one CDN domain.
func MixFor(n, ecs int) (Mix, error) {
	lbs := n / 25
	m := Mix{Total: n, ECS: ecs, CLBListeners: lbs, CLBExtensions: lbs}
	m.CDN = n - ecs - 2*lbs
	if n < 1 || ecs < 0 || m.CDN < 1 {
		return Mix{}, fmt.Errorf("bench estate: %d targets with %d ECS hosts leave no CDN domain", n, ecs)
	}
	return m, nil
}

// Estate returns the estate YAML for m: every target serves a single-label name under
// BenchDomain; CLBs alternate between two regions.
func Estate(m Mix) ([]byte, error) {
	base, err := localcloud.ParseEstate(localcloud.DefaultEstate())
	if err != nil {
		return nil, err
	}
	e := localcloud.Estate{AccountID: base.AccountID, Region: base.Region,
		AccessKeyID: base.AccessKeyID, AccessKeySecret: base.AccessKeySecret, Queues: base.Queues}
	regions := []string{"cn-hangzhou", "cn-beijing"}
	for i := range m.CLBListeners {
		e.CLBs = append(e.CLBs, localcloud.EstateCLB{
			ID:     fmt.Sprintf("lb-bench%05d", i),
			Region: regions[i%len(regions)],
			Listeners: []localcloud.EstateListener{{
				Port: 443, Protocol: "https", Bandwidth: -1,
				Names:      []string{fmt.Sprintf("lb%05d.%s", i, BenchDomain)},
				Extensions: []string{fmt.Sprintf("sni%05d.%s", i, BenchDomain)},
			}},
		})
	}
	for i := range m.CDN {
		e.CDN = append(e.CDN, localcloud.EstateCDN{Domain: fmt.Sprintf("cdn%05d.%s", i, BenchDomain)})
	}
	for i := range m.ECS {
		e.ECS = append(e.ECS, localcloud.EstateECS{
			InstanceID: fmt.Sprintf("i-bench%05d", i), Region: "cn-hangzhou",
			Names:    []string{fmt.Sprintf("ecs%05d.%s", i, BenchDomain)},
			CertPath: "/etc/nginx/ssl/bench.crt", KeyPath: "/etc/nginx/ssl/bench.key", Reload: "nginx -s reload",
		})
	}
	out, err := yaml.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("bench estate: %w", err)
	}
	// The secret is yaml:"accessKeySecret" but json:"-": Marshal keeps it, ParseEstate checks it.
	if _, err := localcloud.ParseEstate(out); err != nil {
		return nil, fmt.Errorf("bench estate: %w", err)
	}
	return out, nil
}

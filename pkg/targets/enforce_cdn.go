package targets

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// CDN feature functions (doc 388460) and the most domains one BatchSetCdnDomainConfig
// call may name.
const (
	fnHTTPSForce  = "https_force"
	fnHTTPForce   = "http_force"
	fnHSTS        = "HSTS"
	fnTLSVersion  = "https_tls_version"
	maxBatchNames = 50
)

// CDNPolicy is the HTTPS policy of one concrete CDN domain.
type CDNPolicy struct {
	Domain string
	Policy HTTPSPolicy
}

type cdnArg struct {
	ArgName  string `json:"argName"`
	ArgValue string `json:"argValue"`
}

type cdnFunction struct {
	FunctionName string   `json:"functionName"`
	ConfigID     int64    `json:"configId,omitempty"`
	FunctionArgs []cdnArg `json:"functionArgs"`
}

// cdnState is a domain's current configs of the functions certflow enforces.
type cdnState map[string]cdn.DomainConfigInDescribeCdnDomainConfigs

func (s cdnState) arg(fn, name string) string {
	c, ok := s[fn]
	if !ok {
		return ""
	}
	for _, a := range c.FunctionArgs.FunctionArg {
		if a.ArgName == name {
			return a.ArgValue
		}
	}
	return ""
}

var tlsArgs = []struct{ arg, version string }{{"tls10", "1.0"}, {"tls11", "1.1"}, {"tls12", "1.2"}, {"tls13", "1.3"}}

// describeTLS renders a https_tls_version config as the versions switched on.
func (s cdnState) describeTLS() string {
	if _, ok := s[fnTLSVersion]; !ok {
		return "default (all on)"
	}
	var on []string
	for _, v := range tlsArgs {
		if s.arg(fnTLSVersion, v.arg) != "off" { // CDN's default for each version is on
			on = append(on, v.version)
		}
	}
	return "on: " + strings.Join(on, ",")
}

// missing returns the functions p needs that st lacks, with the config IDs to update,
// and how each looked before. An error means p cannot be enforced on this domain.
func (p HTTPSPolicy) missing(st cdnState) ([]cdnFunction, map[string]string, error) {
	var fns []cdnFunction
	from := map[string]string{}
	id := func(fn string) int64 {
		n, _ := strconv.ParseInt(st[fn].ConfigId, 10, 64)
		return n
	}
	if p.ForceHTTPS && st.arg(fnHTTPSForce, "enable") != "on" {
		if st.arg(fnHTTPForce, "enable") == "on" {
			return nil, nil, fmt.Errorf("http_force is on (HTTPS is redirected to HTTP); certflow does not remove it: delete it with DeleteSpecificConfig, then the next check sets https_force")
		}
		fns = append(fns, cdnFunction{FunctionName: fnHTTPSForce, ConfigID: id(fnHTTPSForce),
			FunctionArgs: []cdnArg{{"enable", "on"}, {"https_rewrite", "301"}}})
		from[fnHTTPSForce] = "enable=" + orDash(st.arg(fnHTTPSForce, "enable"))
	}
	if p.HSTS {
		age, _ := strconv.Atoi(st.arg(fnHSTS, "https_hsts_max_age"))
		if st.arg(fnHSTS, "enabled") != "on" || age < p.HSTSMaxAge {
			fns = append(fns, cdnFunction{FunctionName: fnHSTS, ConfigID: id(fnHSTS),
				FunctionArgs: []cdnArg{{"enabled", "on"}, {"https_hsts_max_age", strconv.Itoa(p.HSTSMaxAge)}}})
			from[fnHSTS] = fmt.Sprintf("enabled=%s max-age=%s", orDash(st.arg(fnHSTS, "enabled")), orDash(st.arg(fnHSTS, "https_hsts_max_age")))
		}
	}
	if p.MinTLS != "" {
		want, ok := []cdnArg(nil), true
		for _, v := range tlsArgs {
			on := v.version >= p.MinTLS // "1.0" < "1.1" < "1.2" < "1.3" as strings
			val := map[bool]string{true: "on", false: "off"}[on]
			want = append(want, cdnArg{v.arg, val})
			cur := st.arg(fnTLSVersion, v.arg)
			if on && cur == "off" || !on && cur != "off" {
				ok = false
			}
		}
		if !ok {
			fns = append(fns, cdnFunction{FunctionName: fnTLSVersion, ConfigID: id(fnTLSVersion), FunctionArgs: want})
			from[fnTLSVersion] = st.describeTLS()
		}
	}
	return fns, from, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describeFn(f cdnFunction) string {
	var parts []string
	for _, a := range f.FunctionArgs {
		parts = append(parts, a.ArgName+"="+a.ArgValue)
	}
	return strings.Join(parts, " ")
}

// readCDNConfigs reads the enforced functions of one domain.
func readCDNConfigs(ctx context.Context, call *rollout.Call, cl *cloud.Clients, domain string) (cdnState, error) {
	c, err := cl.CDN()
	if err != nil {
		return nil, err
	}
	req := cdn.CreateDescribeCdnDomainConfigsRequest()
	req.DomainName = domain
	req.FunctionNames = strings.Join([]string{fnHTTPSForce, fnHTTPForce, fnHSTS, fnTLSVersion}, ",")
	var resp *cdn.DescribeCdnDomainConfigsResponse
	if err := call.Do(ctx, "DescribeCdnDomainConfigs", func() (err error) {
		resp, err = c.DescribeCdnDomainConfigs(req)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read https configs: %w", err)
	}
	st := cdnState{}
	for _, dc := range resp.DomainConfigs.DomainConfig {
		st[dc.FunctionName] = dc
	}
	return st, nil
}

// EnforceCDN makes every domain in ps redirect HTTP to HTTPS, send HSTS and refuse TLS
// versions below the minimum, as each policy asks. It reads each domain's configs
// (DescribeCdnDomainConfigs), writes only what is missing — domains needing the same
// functions share one BatchSetCdnDomainConfig call of at most 50 domains — and reads
// back. Results are in input order; one domain's failure never stops the others.
// Patterns must be expanded first. Every call goes through call (quota 3/s for the batch).
func EnforceCDN(ctx context.Context, call *rollout.Call, cl *cloud.Clients, ps []CDNPolicy) []EnforceResult {
	out := make([]EnforceResult, len(ps))
	type pending struct {
		idx  int
		fns  []cdnFunction
		from map[string]string
	}
	groups := map[string][]pending{}
	for i, p := range ps {
		out[i].Target = "cdn:" + p.Domain
		if p.Policy.Empty() {
			continue
		}
		st, err := readCDNConfigs(ctx, call, cl, p.Domain)
		if err != nil {
			out[i].Err = fmt.Errorf("cdn:%s: %w", p.Domain, err)
			continue
		}
		fns, from, err := p.Policy.missing(st)
		if err != nil {
			out[i].Err = fmt.Errorf("cdn:%s: %w", p.Domain, err)
			continue
		}
		if len(fns) == 0 {
			continue
		}
		key, _ := json.Marshal(fns)
		groups[string(key)] = append(groups[string(key)], pending{i, fns, from})
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		g := groups[key]
		for lo := 0; lo < len(g); lo += maxBatchNames {
			batch := g[lo:min(lo+maxBatchNames, len(g))]
			names := make([]string, len(batch))
			for j, b := range batch {
				names[j] = ps[b.idx].Domain
			}
			if err := batchSet(ctx, call, cl, names, key); err != nil {
				for _, b := range batch {
					out[b.idx].Err = fmt.Errorf("cdn:%s: %w", ps[b.idx].Domain, err)
				}
				continue
			}
			for _, b := range batch {
				d := ps[b.idx].Domain
				st, err := readCDNConfigs(ctx, call, cl, d)
				if err == nil {
					err = confirm(st, b.fns)
				}
				if err != nil {
					out[b.idx].Err = fmt.Errorf("cdn:%s: read back: %w", d, err)
					continue
				}
				for _, f := range b.fns {
					out[b.idx].Changes = append(out[b.idx].Changes, Change{Target: "cdn:" + d, Setting: f.FunctionName, From: b.from[f.FunctionName], To: describeFn(f)})
				}
			}
		}
	}
	return out
}

func batchSet(ctx context.Context, call *rollout.Call, cl *cloud.Clients, names []string, functions string) error {
	c, err := cl.CDN()
	if err != nil {
		return err
	}
	req := cdn.CreateBatchSetCdnDomainConfigRequest()
	req.DomainNames = strings.Join(names, ",")
	req.Functions = functions
	if err := call.Do(ctx, "BatchSetCdnDomainConfig", func() error {
		_, err := c.BatchSetCdnDomainConfig(req)
		return err
	}); err != nil {
		return fmt.Errorf("set https configs: %w", err)
	}
	return nil
}

// confirm checks that st carries every argument of fns and none failed.
func confirm(st cdnState, fns []cdnFunction) error {
	for _, f := range fns {
		c, ok := st[f.FunctionName]
		if !ok {
			return confirmError("%s is not configured after setting it", f.FunctionName)
		}
		if c.Status == "failed" {
			return fmt.Errorf("%s config %s failed to apply", f.FunctionName, c.ConfigId)
		}
		for _, a := range f.FunctionArgs {
			if got := st.arg(f.FunctionName, a.ArgName); got != a.ArgValue {
				return confirmError("%s %s is %q after setting %q", f.FunctionName, a.ArgName, got, a.ArgValue)
			}
		}
	}
	return nil
}

package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Patterns for values the cloud APIs constrain. Compiled regexps are read-only.
var (
	envRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	quotaRE     = regexp.MustCompile(`^[a-z]+:[A-Z][A-Za-z0-9]+$`)
	pathRE      = regexp.MustCompile(`^/[A-Za-z0-9._/@+-]+$`)
	queueRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,255}$`)
	airecInstRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,63}$`)
)

func tlsVersions() []string { return []string{"1.0", "1.1", "1.2", "1.3"} }

func casRegions() []string { return []string{"cn-hangzhou", "ap-southeast-1"} }

// validate fills defaults, normalises names and checks every rule, adding a problem
// per violation.
func (c *checker) validate(cfg *Config) {
	if len(cfg.Targets) == 0 && cfg.AIRec == nil {
		c.add("targets", "required (or an airec section)")
	}
	if cfg.CAS.Region == "" {
		cfg.CAS.Region = DefaultCASRegion
	} else if !slices.Contains(casRegions(), cfg.CAS.Region) {
		c.add("cas.region", "%q is not a CAS site (want cn-hangzhou or ap-southeast-1)", cfg.CAS.Region)
	}
	switch {
	case cfg.Concurrency == 0:
		cfg.Concurrency = DefaultConcurrency
	case cfg.Concurrency < 0 || cfg.Concurrency > 1024:
		c.add("concurrency", "%d is out of range (1-1024)", cfg.Concurrency)
	}
	keys := make([]string, 0, len(cfg.Quotas))
	for k := range cfg.Quotas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := join("quotas", k)
		if !quotaRE.MatchString(k) {
			c.add(p, "key must be <product>:<Action>, e.g. cdn:SetCdnDomainSSLCertificate")
		}
		if v := cfg.Quotas[k]; v <= 0 || v > 10000 {
			c.add(p, "%v requests per second is out of range (0-10000, exclusive of 0)", v)
		}
	}

	ids := map[string]int{}
	for i := range cfg.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		t := &cfg.Targets[i]
		if !c.target(p, t) {
			continue
		}
		id := t.ID()
		if j, dup := ids[id]; dup {
			c.add(p, "duplicate target %s (also targets[%d])", id, j)
			continue
		}
		ids[id] = i
	}
	if cfg.AIRec != nil {
		c.airec("airec", cfg.AIRec)
	}
	c.checkerSection("checker", &cfg.Checker)
}

// fieldSet pairs a target field's yaml name with whether it was given.
type fieldSet struct {
	name string
	set  bool
}

// target validates one target and reports whether its ID can be computed.
func (c *checker) target(p string, t *Target) bool {
	given := []fieldSet{
		{"region", t.Region != ""}, {"loadBalancerId", t.LoadBalancerID != ""}, {"port", t.Port != 0},
		{"sniDomain", t.SNIDomain != ""}, {"domain", t.Domain != ""}, {"instanceId", t.InstanceID != ""},
		{"certPath", t.CertPath != ""}, {"keyPath", t.KeyPath != ""}, {"testCommand", t.TestCommand != ""},
		{"reloadCommand", t.ReloadCommand != ""}, {"forceHttps", t.ForceHTTPS}, {"httpPort", t.HTTPPort != 0},
		{"hsts", t.HSTS}, {"minTls", t.MinTLS != ""}, {"httpEndpoint", t.HTTPEndpoint != ""},
	}
	allowed := map[string][]string{
		KindCLB: {"region", "loadBalancerId", "port", "sniDomain", "forceHttps", "httpPort", "hsts", "minTls", "httpEndpoint"},
		KindCDN: {"domain", "forceHttps", "hsts", "minTls", "httpEndpoint"},
		KindECS: {"region", "instanceId", "certPath", "keyPath", "testCommand", "reloadCommand"},
	}
	ok := true
	switch t.Kind {
	case "":
		c.add(join(p, "kind"), "required (clb, cdn or ecs)")
		return false
	case KindCLB, KindCDN, KindECS:
	default:
		c.add(join(p, "kind"), "%q is not a target kind (want clb, cdn or ecs)", t.Kind)
		return false
	}
	for _, f := range given {
		if f.set && !slices.Contains(allowed[t.Kind], f.name) {
			c.add(join(p, f.name), "not allowed for kind %s", t.Kind)
			ok = false
		}
	}
	if t.MinTLS != "" && !slices.Contains(tlsVersions(), t.MinTLS) {
		c.add(join(p, "minTls"), "%q is not a TLS version (want 1.0, 1.1, 1.2 or 1.3)", t.MinTLS)
	}
	if t.Endpoint != "" {
		c.hostPort(join(p, "endpoint"), t.Endpoint)
	}
	if t.HTTPEndpoint != "" {
		c.hostPort(join(p, "httpEndpoint"), t.HTTPEndpoint)
	}

	switch t.Kind {
	case KindCLB:
		ok = c.region(join(p, "region"), t.Region) && ok
		if t.LoadBalancerID == "" {
			c.add(join(p, "loadBalancerId"), "required")
			ok = false
		} else if err := checkLoadBalancerID(t.LoadBalancerID); err != nil {
			c.add(join(p, "loadBalancerId"), "%v", err)
			ok = false
		}
		if t.Port == 0 {
			c.add(join(p, "port"), "required")
			ok = false
		} else if t.Port < 1 || t.Port > 65535 {
			c.add(join(p, "port"), "%d is out of range (1-65535)", t.Port)
			ok = false
		}
		if t.SNIDomain != "" {
			n, err := NormalizeName(t.SNIDomain)
			if err != nil {
				c.add(join(p, "sniDomain"), "%v", err)
				ok = false
			}
			t.SNIDomain = n
			if len(t.Names) == 0 && n != "" {
				t.Names = []string{n}
			}
		}
		if t.ForceHTTPS && t.HTTPPort == 0 {
			t.HTTPPort = DefaultHTTPPort
		}
		if t.HTTPPort != 0 {
			switch {
			case !t.ForceHTTPS:
				c.add(join(p, "httpPort"), "only used with forceHttps: true")
			case t.HTTPPort < 1 || t.HTTPPort > 65535:
				c.add(join(p, "httpPort"), "%d is out of range (1-65535)", t.HTTPPort)
			case t.HTTPPort == t.Port:
				c.add(join(p, "httpPort"), "must differ from port %d", t.Port)
			}
		}
		c.names(p, t, true)
	case KindCDN:
		if t.Domain == "" {
			c.add(join(p, "domain"), "required")
			return false
		}
		d, err := NormalizeCDNDomain(t.Domain)
		if err != nil {
			c.add(join(p, "domain"), "%v", err)
			return false
		}
		t.Domain = d
		switch {
		case IsPattern(d) && len(t.Names) > 0:
			c.add(join(p, "names"), "not allowed with a wildcard pattern: each domain it expands to serves its own name")
		case IsPattern(d):
			t.Names = []string{d}
		case len(t.Names) == 0 && strings.HasPrefix(d, "."):
			t.Names = []string{"*" + d}
		case len(t.Names) == 0:
			t.Names = []string{d}
		default:
			c.names(p, t, true)
		}
	case KindECS:
		ok = c.region(join(p, "region"), t.Region) && ok
		if t.InstanceID == "" {
			c.add(join(p, "instanceId"), "required")
			ok = false
		} else if err := checkInstanceID(t.InstanceID); err != nil {
			c.add(join(p, "instanceId"), "%v", err)
			ok = false
		}
		c.filePath(join(p, "certPath"), t.CertPath)
		c.filePath(join(p, "keyPath"), t.KeyPath)
		if t.CertPath != "" && t.CertPath == t.KeyPath {
			c.add(join(p, "keyPath"), "must differ from certPath")
		}
		if t.TestCommand == "" {
			t.TestCommand = DefaultTestCommand
		}
		if t.ReloadCommand == "" {
			t.ReloadCommand = DefaultReloadCommand
		}
		c.command(join(p, "testCommand"), t.TestCommand)
		c.command(join(p, "reloadCommand"), t.ReloadCommand)
		c.names(p, t, true)
	}
	return ok
}

// names normalises t.Names in place; required reports an empty list.
func (c *checker) names(p string, t *Target, required bool) {
	if len(t.Names) == 0 {
		if required {
			c.add(join(p, "names"), "required: the host names this target serves")
		}
		return
	}
	t.Names = c.nameList(join(p, "names"), t.Names, true)
}

// nameList normalises a list of host names, reporting invalid and duplicate entries.
func (c *checker) nameList(p string, names []string, allowWildcard bool) []string {
	out := make([]string, 0, len(names))
	first := map[string]int{}
	for i, raw := range names {
		ip := fmt.Sprintf("%s[%d]", p, i)
		n, err := NormalizeName(raw)
		if err != nil {
			c.add(ip, "%v", err)
			continue
		}
		if !allowWildcard && strings.HasPrefix(n, "*.") {
			c.add(ip, "%q: a wildcard is not allowed here", raw)
			continue
		}
		if j, dup := first[n]; dup {
			c.add(ip, "duplicate of %s[%d] (%s)", p, j, n)
			continue
		}
		first[n] = i
		out = append(out, n)
	}
	return out
}

// region checks r against the known Alibaba Cloud region IDs, so a typo such as
// cn-hangzou is an error naming the region it probably meant.
func (c *checker) region(p, r string) bool {
	if r == "" {
		c.add(p, "required")
		return false
	}
	if !isKnownRegion(r) {
		hint := " (like cn-hangzhou)"
		if s := closestRegion(r); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		c.add(p, "%q is not a known Alibaba Cloud region ID%s", r, hint)
		return false
	}
	return true
}

func (c *checker) hostPort(p, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		c.add(p, "%q: want host:port", addr)
		return
	}
	if _, err := parsePort(port); err != nil {
		c.add(p, "%q: %v", addr, err)
	}
}

func (c *checker) filePath(p, path string) {
	switch {
	case path == "":
		c.add(p, "required")
	case !pathRE.MatchString(path):
		c.add(p, "%q: want an absolute path of letters, digits and ._/@+-", path)
	case slices.Contains(strings.Split(path, "/"), ".."):
		c.add(p, "%q: must not contain ..", path)
	}
}

func (c *checker) command(p, cmd string) {
	if strings.ContainsAny(cmd, "\n\r\x00") {
		c.add(p, "must be a single line")
	}
	if len(cmd) > 1024 {
		c.add(p, "longer than 1024 characters")
	}
}

func (c *checker) envName(p, name string) {
	if name != "" && !envRE.MatchString(name) {
		c.add(p, "%q is not an environment variable name", name)
	}
}

func (c *checker) url(p, raw string, what string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		c.add(p, "%q: want an http(s) URL of the %s", raw, what)
		return
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		c.add(p, "%q: must use https (http only for loopback addresses)", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *checker) airec(p string, a *AIRec) {
	c.region(join(p, "region"), a.Region)
	switch {
	case a.InstanceID == "":
		c.add(join(p, "instanceId"), "required")
	case !airecInstRE.MatchString(a.InstanceID):
		c.add(join(p, "instanceId"), "%q is not an AIRec instance ID", a.InstanceID)
	}
	if a.Endpoint != "" {
		c.url(join(p, "endpoint"), a.Endpoint, "AIRec API")
	}
	c.envName(join(p, "tokenEnv"), a.TokenEnv)
	if len(a.Domains) == 0 {
		c.add(join(p, "domains"), "required: the custom domains to bind")
	} else {
		a.Domains = c.nameList(join(p, "domains"), a.Domains, false)
	}
	if a.Queue == "" {
		a.Queue = DefaultQueue
	} else if !queueRE.MatchString(a.Queue) {
		c.add(join(p, "queue"), "%q is not an MNS queue name", a.Queue)
	}
	a.Endpoints = c.domainAddrs(join(p, "endpoints"), a.Domains, a.Endpoints)
	a.HTTPEndpoints = c.domainAddrs(join(p, "httpEndpoints"), a.Domains, a.HTTPEndpoints)
}

// domainAddrs validates a custom domain → host:port map (keys among domains) and returns
// it with normalised keys.
func (c *checker) domainAddrs(p string, domains []string, m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	eps := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable problem order
	for _, raw := range keys {
		ep := join(p, raw)
		n, err := NormalizeName(raw)
		if err != nil {
			c.add(ep, "%v", err)
			continue
		}
		if !slices.Contains(domains, n) {
			c.add(ep, "%q is not one of airec.domains", raw)
			continue
		}
		c.hostPort(ep, m[raw])
		eps[n] = m[raw]
	}
	return eps
}

func (c *checker) checkerSection(p string, ch *Checker) {
	switch {
	case ch.WarnDays == 0:
		ch.WarnDays = DefaultWarnDays
	case ch.WarnDays < 0 || ch.WarnDays > 365:
		c.add(join(p, "warnDays"), "%d is out of range (1-365)", ch.WarnDays)
	}
	if ch.MinTLS == "" {
		ch.MinTLS = DefaultMinTLS
	} else if !slices.Contains(tlsVersions(), ch.MinTLS) {
		c.add(join(p, "minTls"), "%q is not a TLS version (want 1.0, 1.1, 1.2 or 1.3)", ch.MinTLS)
	}
	switch {
	case ch.HSTSMinAge == 0:
		ch.HSTSMinAge = DefaultHSTSMinAge
	case ch.HSTSMinAge < 0:
		c.add(join(p, "hstsMinAge"), "%d must not be negative", ch.HSTSMinAge)
	}
	for i := range ch.ExtraEndpoints {
		ep := &ch.ExtraEndpoints[i]
		ip := fmt.Sprintf("%s.extraEndpoints[%d]", p, i)
		if ep.Name == "" {
			c.add(join(ip, "name"), "required: the host name to verify")
		} else if n, err := NormalizeName(ep.Name); err != nil {
			c.add(join(ip, "name"), "%v", err)
		} else if strings.HasPrefix(n, "*.") {
			c.add(join(ip, "name"), "%q: a wildcard is not allowed here", ep.Name)
		} else {
			ep.Name = n
		}
		if ep.Address == "" {
			c.add(join(ip, "address"), "required: host:port to dial")
		} else {
			c.hostPort(join(ip, "address"), ep.Address)
		}
	}
	al := &ch.Alert
	ap := join(p, "alert")
	if al.Webhook == "" && (al.SecretEnv != "" || al.Format != "") {
		c.add(join(ap, "webhook"), "required when alert is configured")
	}
	if al.Webhook != "" {
		c.url(join(ap, "webhook"), al.Webhook, "webhook")
	}
	c.envName(join(ap, "secretEnv"), al.SecretEnv)
	switch al.Format {
	case "":
		if al.Webhook != "" {
			al.Format = AlertGeneric
		}
	case AlertGeneric, AlertDingTalk:
	default:
		c.add(join(ap, "format"), "%q is not an alert format (want generic or dingtalk)", al.Format)
	}
}

package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/config"
)

// clb is a valid CLB target to build test files from.
const clb = `
  - kind: clb
    region: cn-beijing
    loadBalancerId: lb-abc123
    port: 443
    names: [www.example.com]
`

func TestExampleFile(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "targets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tg := range cfg.Targets {
		ids = append(ids, tg.ID())
	}
	want := "clb:lb-2zeo94dp5i6earr9g6d1l:443,clb:lb-2zeo94dp5i6earr9g6d1l:443:api.example.com,cdn:static.example.com,cdn:*.cdn.example.com,ecs:i-bp67acfmxazb4p1h2k3c"
	if got := strings.Join(ids, ","); got != want {
		t.Errorf("IDs = %s\nwant %s", got, want)
	}
	if cfg.AIRec == nil || cfg.AIRec.Queue != "certflow-bind" || cfg.AIRec.Domains[0] != "rec.example.com" || !cfg.AIRec.EnforceHTTPS {
		t.Errorf("airec = %+v", cfg.AIRec)
	}
	if cfg.Checker.Alert.Format != "dingtalk" || cfg.Checker.ExtraEndpoints[0].Address != "192.0.2.20:443" {
		t.Errorf("checker = %+v", cfg.Checker)
	}
	if cfg.Quotas["cdn:SetCdnDomainSSLCertificate"] != 30 || cfg.Concurrency != 32 {
		t.Errorf("quotas %v concurrency %d", cfg.Quotas, cfg.Concurrency)
	}
}

func TestDefaultsAndNormalisation(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`
targets:
  - kind: clb
    region: cn-beijing
    loadBalancerId: lb-abc123
    port: 443
    sniDomain: API.Example.COM.
    forceHttps: true
  - kind: cdn
    domain: WWW.Example.com.
  - kind: cdn
    domain: .Example.com
  - kind: cdn
    domain: "*.img.example.com"
  - kind: ecs
    region: cn-hangzhou
    instanceId: i-bp1abc
    certPath: /etc/nginx/c.pem
    keyPath: /etc/nginx/c.key
    names: [Shop.Example.com, bücher.example.com]
`))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets
	checks := []struct{ name, got, want string }{
		{"cas region default", cfg.CAS.Region, "cn-hangzhou"},
		{"clb id", tg[0].ID(), "clb:lb-abc123:443:api.example.com"},
		{"clb names from sni", strings.Join(tg[0].ServedNames(), ","), "api.example.com"},
		{"cdn id", tg[1].ID(), "cdn:www.example.com"},
		{"cdn names default", strings.Join(tg[1].ServedNames(), ","), "www.example.com"},
		{"cdn wildcard domain", tg[2].ID(), "cdn:.example.com"},
		{"cdn wildcard domain names", strings.Join(tg[2].ServedNames(), ","), "*.example.com"},
		{"cdn pattern", tg[3].ID(), "cdn:*.img.example.com"},
		{"ecs names", strings.Join(tg[4].ServedNames(), ","), "shop.example.com,xn--bcher-kva.example.com"},
		{"ecs test", tg[4].TestCommand, "nginx -t"},
		{"ecs reload", tg[4].ReloadCommand, "nginx -s reload"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if tg[0].HTTPPort != 80 || cfg.Concurrency != 32 || cfg.Checker.WarnDays != 30 || cfg.Checker.MinTLS != "1.2" || cfg.Checker.HSTSMinAge != 15552000 {
		t.Errorf("defaults not applied: %+v %+v", tg[0], cfg.Checker)
	}
	// ServedNames returns a copy.
	tg[1].ServedNames()[0] = "mutated"
	if tg[1].Names[0] != "www.example.com" {
		t.Error("ServedNames exposes the target's slice")
	}
}

// TestInvalid lists one file per rule and the exact message it must produce.
func TestInvalid(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // exact error text
	}{
		{"empty", ``, "t.yaml: empty configuration: at least targets or airec is required"},
		{"only comments", "# nothing\n", "t.yaml: empty configuration: at least targets or airec is required"},
		{"no targets", "concurrency: 4\n", "t.yaml: targets: required (or an airec section)"},
		{"unknown top field", "target:\n" + clb, `t.yaml:1: target: unknown field (did you mean "targets"?)`},
		{"unknown target field", "targets:" + clb + "    regoin: cn-beijing\n", `t.yaml:7: targets[0].regoin: unknown field (did you mean "region"?)`},
		{"unknown nested field", "checker:\n  alert:\n    webhok: https://x.example.com\ntargets:" + clb, `t.yaml:3: checker.alert.webhok: unknown field (did you mean "webhook"?)`},
		{"duplicate field", "targets:" + clb + "    port: 8443\n", "t.yaml:7: targets[0].port: duplicate field"},
		{"wrong type int", "targets:\n  - kind: clb\n    region: cn-beijing\n    loadBalancerId: lb-a\n    port: https\n    names: [a.example.com]\n", `t.yaml:5: targets[0].port: want a whole number, got "https"`},
		{"wrong type bool", "targets:" + clb + "    forceHttps: yes please\n", `t.yaml:7: targets[0].forceHttps: want a boolean (true/false), got "yes please"`},
		{"wrong type list", "targets:\n  - kind: cdn\n    domain: a.example.com\n    names: a.example.com\n", `t.yaml:4: targets[0].names: want a list, got "a.example.com"`},
		{"targets not list", "targets: {kind: clb}\n", "t.yaml:1: targets: want a list, got a mapping"},
		{"kind missing", "targets:\n  - region: cn-beijing\n", "t.yaml:2: targets[0].kind: required (clb, cdn or ecs)"},
		{"kind unknown", "targets:\n  - kind: alb\n", `t.yaml:2: targets[0].kind: "alb" is not a target kind (want clb, cdn or ecs)`},
		{"region required", "targets:\n  - kind: clb\n    loadBalancerId: lb-a\n    port: 443\n    names: [a.example.com]\n", "t.yaml:2: targets[0].region: required"},
		{"region format", strings.Replace("targets:"+clb, "cn-beijing", "Beijing", 1), `t.yaml:3: targets[0].region: "Beijing" is not a known Alibaba Cloud region ID (did you mean cn-beijing?)`},
		{"region typo", strings.Replace("targets:"+clb, "cn-beijing", "cn-hangzou", 1), `t.yaml:3: targets[0].region: "cn-hangzou" is not a known Alibaba Cloud region ID (did you mean cn-hangzhou?)`},
		{"region unknown", strings.Replace("targets:"+clb, "cn-beijing", "xx-nowhere-9", 1), `t.yaml:3: targets[0].region: "xx-nowhere-9" is not a known Alibaba Cloud region ID (like cn-hangzhou)`},
		{"region upper case", strings.Replace("targets:"+clb, "cn-beijing", "CN-SHANGHAI", 1), `t.yaml:3: targets[0].region: "CN-SHANGHAI" is not a known Alibaba Cloud region ID (did you mean cn-shanghai?)`},
		{"ecs region typo", "targets:\n  - kind: ecs\n    region: ap-southeast-l\n    instanceId: i-abc\n    certPath: /c.pem\n    keyPath: /c.key\n    names: [a.example.com]\n", `t.yaml:3: targets[0].region: "ap-southeast-l" is not a known Alibaba Cloud region ID (did you mean ap-southeast-1?)`},
		{"airec region typo", "airec:\n  region: cn-shangai\n  instanceId: airec-cn-a1\n  domains: [r.example.com]\n", `t.yaml:2: airec.region: "cn-shangai" is not a known Alibaba Cloud region ID (did you mean cn-shanghai?)`},
		{"lb required", "targets:\n  - kind: clb\n    region: cn-beijing\n    port: 443\n    names: [a.example.com]\n", "t.yaml:2: targets[0].loadBalancerId: required"},
		{"lb format", strings.Replace("targets:"+clb, "lb-abc123", "LB_1", 1), `t.yaml:4: targets[0].loadBalancerId: load balancer ID "LB_1": want lb- followed by lower-case letters and digits`},
		{"port required", "targets:\n  - kind: clb\n    region: cn-beijing\n    loadBalancerId: lb-a\n    names: [a.example.com]\n", "t.yaml:2: targets[0].port: required"},
		{"port range", strings.Replace("targets:"+clb, "443", "70000", 1), "t.yaml:5: targets[0].port: 70000 is out of range (1-65535)"},
		{"clb names required", "targets:\n  - kind: clb\n    region: cn-beijing\n    loadBalancerId: lb-a\n    port: 443\n", "t.yaml:2: targets[0].names: required: the host names this target serves"},
		{"bad name", strings.Replace("targets:"+clb, "www.example.com", "www..example.com", 1), `t.yaml:6: targets[0].names[0]: domain name "www..example.com": empty label`},
		{"mid wildcard", strings.Replace("targets:"+clb, "www.example.com", "a.*.example.com", 1), `t.yaml:6: targets[0].names[0]: domain name "a.*.example.com": a wildcard is allowed only as the whole first label`},
		{"duplicate name", strings.Replace("targets:"+clb, "[www.example.com]", "[www.example.com, WWW.example.com.]", 1), "t.yaml:6: targets[0].names[1]: duplicate of targets[0].names[0] (www.example.com)"},
		{"httpPort without forceHttps", "targets:" + clb + "    httpPort: 80\n", "t.yaml:7: targets[0].httpPort: only used with forceHttps: true"},
		{"httpPort equals port", "targets:" + clb + "    forceHttps: true\n    httpPort: 443\n", "t.yaml:8: targets[0].httpPort: must differ from port 443"},
		{"minTls", "targets:" + clb + "    minTls: \"1.4\"\n", `t.yaml:7: targets[0].minTls: "1.4" is not a TLS version (want 1.0, 1.1, 1.2 or 1.3)`},
		{"endpoint", "targets:" + clb + "    endpoint: 203.0.113.1\n", `t.yaml:7: targets[0].endpoint: "203.0.113.1": want host:port`},
		{"httpEndpoint", "targets:" + clb + "    httpEndpoint: 203.0.113.1\n", `t.yaml:7: targets[0].httpEndpoint: "203.0.113.1": want host:port`},
		{"airec httpEndpoints key", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [r.example.com], httpEndpoints: {x.example.com: \"127.0.0.1:80\"}}\n", `t.yaml:1: airec.httpEndpoints.x.example.com: "x.example.com" is not one of airec.domains`},
		{"field of other kind", "targets:" + clb + "    certPath: /etc/x.pem\n", "t.yaml:7: targets[0].certPath: not allowed for kind clb"},
		{"cdn domain required", "targets:\n  - kind: cdn\n", "t.yaml:2: targets[0].domain: required"},
		{"cdn region not allowed", "targets:\n  - kind: cdn\n    domain: a.example.com\n    region: cn-hangzhou\n", "t.yaml:4: targets[0].region: not allowed for kind cdn"},
		{"cdn bare star", "targets:\n  - kind: cdn\n    domain: \"*\"\n", `t.yaml:3: targets[0].domain: domain name "*": a wildcard is allowed only as the whole first label`},
		{"cdn pattern with names", "targets:\n  - kind: cdn\n    domain: \"*.example.com\"\n    names: [a.example.com]\n", "t.yaml:4: targets[0].names: not allowed with a wildcard pattern: each domain it expands to serves its own name"},
		{"ecs paths", "targets:\n  - kind: ecs\n    region: cn-hangzhou\n    instanceId: i-abc\n    certPath: etc/c.pem\n    keyPath: /etc/../c.key\n    names: [a.example.com]\n",
			"t.yaml:5: targets[0].certPath: \"etc/c.pem\": want an absolute path of letters, digits and ._/@+-\nt.yaml:6: targets[0].keyPath: \"/etc/../c.key\": must not contain .."},
		{"ecs same paths", "targets:\n  - kind: ecs\n    region: cn-hangzhou\n    instanceId: i-abc\n    certPath: /etc/c.pem\n    keyPath: /etc/c.pem\n    names: [a.example.com]\n", "t.yaml:6: targets[0].keyPath: must differ from certPath"},
		{"ecs instance", "targets:\n  - kind: ecs\n    region: cn-hangzhou\n    instanceId: vm-1\n    certPath: /c.pem\n    keyPath: /c.key\n    names: [a.example.com]\n", `t.yaml:4: targets[0].instanceId: instance ID "vm-1": want i- followed by lower-case letters and digits`},
		{"ecs multi-line command", "targets:\n  - kind: ecs\n    region: cn-hangzhou\n    instanceId: i-a\n    certPath: /c.pem\n    keyPath: /c.key\n    names: [a.example.com]\n    reloadCommand: \"nginx -s reload\\nrm -rf /\"\n", "t.yaml:8: targets[0].reloadCommand: must be a single line"},
		{"ecs forceHttps", "targets:\n  - kind: ecs\n    region: cn-hangzhou\n    instanceId: i-a\n    certPath: /c.pem\n    keyPath: /c.key\n    names: [a.example.com]\n    forceHttps: true\n", "t.yaml:8: targets[0].forceHttps: not allowed for kind ecs"},
		{"duplicate target", "targets:" + clb + clb, "t.yaml:8: targets[1]: duplicate target clb:lb-abc123:443 (also targets[0])"},
		{"duplicate cdn after normalising", "targets:\n  - kind: cdn\n    domain: a.example.com\n  - kind: cdn\n    domain: A.Example.com.\n", "t.yaml:4: targets[1]: duplicate target cdn:a.example.com (also targets[0])"},
		{"cas region", "cas: {region: cn-beijing}\ntargets:" + clb, `t.yaml:1: cas.region: "cn-beijing" is not a CAS site (want cn-hangzhou or ap-southeast-1)`},
		{"concurrency", "concurrency: -1\ntargets:" + clb, "t.yaml:1: concurrency: -1 is out of range (1-1024)"},
		{"quota key", "quotas: {SetCdnDomainSSLCertificate: 30}\ntargets:" + clb, "t.yaml:1: quotas.SetCdnDomainSSLCertificate: key must be <product>:<Action>, e.g. cdn:SetCdnDomainSSLCertificate"},
		{"quota value", "quotas: {\"cdn:SetCdnDomainSSLCertificate\": 0}\ntargets:" + clb, "t.yaml:1: quotas.cdn:SetCdnDomainSSLCertificate: 0 requests per second is out of range (0-10000, exclusive of 0)"},
		{"airec required fields", "airec: {enforceHttps: true}\n", "t.yaml:1: airec.region: required\nt.yaml:1: airec.instanceId: required\nt.yaml:1: airec.domains: required: the custom domains to bind"},
		{"airec endpoint http", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [r.example.com], endpoint: \"http://airec.example.com\"}\n", `t.yaml:1: airec.endpoint: "http://airec.example.com": must use https (http only for loopback addresses)`},
		{"airec wildcard domain", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [\"*.example.com\"]}\n", `t.yaml:1: airec.domains[0]: "*.example.com": a wildcard is not allowed here`},
		{"airec token env", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [r.example.com], tokenEnv: \"$TOKEN\"}\n", `t.yaml:1: airec.tokenEnv: "$TOKEN" is not an environment variable name`},
		{"airec endpoints unknown domain", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [r.example.com], endpoints: {\"x.example.com\": \"127.0.0.1:443\"}}\n", `t.yaml:1: airec.endpoints.x.example.com: "x.example.com" is not one of airec.domains`},
		{"airec endpoints address", "airec:\n  region: cn-hangzhou\n  instanceId: airec-cn-a1\n  domains: [r.example.com]\n  endpoints:\n    R.Example.com: nohost\n", `t.yaml:6: airec.endpoints.R.Example.com: "nohost": want host:port`},
		{"airec queue", "airec: {region: cn-hangzhou, instanceId: airec-cn-a1, domains: [r.example.com], queue: \"bind queue\"}\n", `t.yaml:1: airec.queue: "bind queue" is not an MNS queue name`},
		{"checker warnDays", "checker: {warnDays: -3}\ntargets:" + clb, "t.yaml:1: checker.warnDays: -3 is out of range (1-365)"},
		{"checker minTls", "checker: {minTls: \"TLSv1.2\"}\ntargets:" + clb, `t.yaml:1: checker.minTls: "TLSv1.2" is not a TLS version (want 1.0, 1.1, 1.2 or 1.3)`},
		{"checker hsts", "checker: {hstsMinAge: -1}\ntargets:" + clb, "t.yaml:1: checker.hstsMinAge: -1 must not be negative"},
		{"extra endpoint", "checker:\n  extraEndpoints:\n    - {address: nohost}\ntargets:" + clb, "t.yaml:3: checker.extraEndpoints[0].name: required: the host name to verify\nt.yaml:3: checker.extraEndpoints[0].address: \"nohost\": want host:port"},
		{"alert without webhook", "checker: {alert: {format: dingtalk}}\ntargets:" + clb, "t.yaml:1: checker.alert.webhook: required when alert is configured"},
		{"alert format", "checker: {alert: {webhook: \"https://hooks.example.com/x\", format: slack}}\ntargets:" + clb, `t.yaml:1: checker.alert.format: "slack" is not an alert format (want generic or dingtalk)`},
		{"yaml syntax", "targets: [\n", "t.yaml: yaml: line 1: did not find expected node content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("t.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg)
			}
			if err.Error() != tc.want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

// TestAllProblemsReported checks that one file with many mistakes lists them all.
func TestAllProblemsReported(t *testing.T) {
	_, err := config.Load(filepath.Join("testdata", "invalid-many.yaml"))
	var verr *config.ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	want := []string{
		"targets[0].region: required",
		"targets[1].port: -1 is out of range (1-65535)",
		"targets[3].region: \"hangzhou\" is not a known Alibaba Cloud region ID (did you mean cn-hangzhou?)",
		"targets[4]: duplicate target cdn:www.example.com (also targets[2])",
	}
	if len(verr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(verr.Problems), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if !strings.HasPrefix(err.Error(), filepath.Join("testdata", "invalid-many.yaml")+":") {
		t.Errorf("error does not start with the file name: %v", err)
	}
}

func TestLoadRoots(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("roots.pem", "placeholder")
	cfg, err := config.Load(write("ok.yaml", "roots: roots.pem\ntargets:"+clb))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Roots != filepath.Join(dir, "roots.pem") {
		t.Errorf("roots = %q, want it resolved next to the file", cfg.Roots)
	}
	_, err = config.Load(write("missing.yaml", "roots: nope.pem\ntargets:"+clb))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: roots:") || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("missing roots: %v", err)
	}
	if _, err := config.Load(filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestNormalizeTargetID(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"clb:lb-abc:443", "clb:lb-abc:443", ""},
		{"clb:lb-abc:443:API.example.com.", "clb:lb-abc:443:api.example.com", ""},
		{"cdn:WWW.example.com", "cdn:www.example.com", ""},
		{"cdn:*.example.com", "cdn:*.example.com", ""},
		{"cdn:.example.com", "cdn:.example.com", ""},
		{"ecs:i-bp1", "ecs:i-bp1", ""},
		{"clb:lb-abc", "", "want clb:<lb-id>:<port>"},
		{"clb:lb-abc:0443", "", `port "0443"`},
		{"clb:lb-abc:443:bad domain", "", "SNI domain"},
		{"cdn:", "", "empty domain name"},
		{"ecs:I-BP1", "", "instance ID"},
		{"www.example.com", "", "want clb:"},
		{"alb:x", "", `unknown kind "alb"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := config.NormalizeTargetID(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzConfigParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "targets.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(example), "targets:" + clb, "targets: [\n", "a: &x [*x]\n", "targets:\n  - <<: {kind: clb}\n",
		"quotas: {a: b}\n", "airec: ~\n", "targets: [{kind: cdn, domain: '*.example.com'}]\n", "- 1\n- 2\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range cfg.Targets {
			id := tg.ID()
			if seen[id] {
				t.Fatalf("duplicate target ID %s accepted", id)
			}
			seen[id] = true
			if len(tg.ServedNames()) == 0 {
				t.Fatalf("target %s serves no names", id)
			}
		}
	})
}

func TestAIRecEndpoints(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yaml")
	src := "airec:\n  region: cn-hangzhou\n  instanceId: airec-cn-a1\n  domains: [rec.example.com, api.example.com]\n  endpoints:\n    REC.example.com.: 127.0.0.1:8443\n"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ domain, want string }{
		{"rec.example.com", "127.0.0.1:8443"},
		{"api.example.com", "api.example.com:443"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			if got := cfg.AIRec.Address(tc.domain); got != tc.want {
				t.Errorf("Address(%q) = %q, want %q", tc.domain, got, tc.want)
			}
		})
	}
}

func TestActionQuotas(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("quotas:\n  \"cdn:SetCdnDomainSSLCertificate\": 12\n  \"slb:SetLoadBalancerHTTPSListenerAttribute\": 0.5\ntargets:\n  - kind: cdn\n    domain: www.example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.ActionQuotas()
	if got["SetCdnDomainSSLCertificate"] != 12 || got["SetLoadBalancerHTTPSListenerAttribute"] != 0.5 || len(got) != 2 {
		t.Errorf("ActionQuotas = %v", got)
	}
}

// TestExamplePatternComment keeps the example file's CDN pattern and the comment above
// it in step: every domain the comment says the pattern expands to is one label under
// the pattern's suffix (or CDN's wildcard domain .suffix), and one it says the pattern
// does not expand to is not.
func TestExamplePatternComment(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "targets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var pattern string
	var comment []string
	for i, l := range lines {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), `domain: "*.`)
		if !ok {
			continue
		}
		pattern = "*." + strings.TrimSuffix(v, `"`)
		j := i - 1
		if j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "- kind: cdn") {
			j--
		}
		for ; j >= 0; j-- {
			c, ok := strings.CutPrefix(strings.TrimSpace(lines[j]), "#")
			if !ok {
				break
			}
			comment = append([]string{c}, comment...)
		}
		break
	}
	if pattern == "" || len(comment) == 0 {
		t.Fatalf("no commented CDN pattern in the example file")
	}
	text := strings.Join(comment, " ")
	_, examples, ok := strings.Cut(text, "(")
	examples, _, _ = strings.Cut(examples, ")")
	if !ok || examples == "" {
		t.Fatalf("comment gives no examples in parentheses: %q", text)
	}
	suffix := strings.TrimPrefix(pattern, "*.")
	if !strings.Contains(text, "under "+suffix+" ") {
		t.Errorf("comment does not say the domains are under %s: %q", suffix, text)
	}
	var checked int
	words := strings.FieldsFunc(examples, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	for k, w := range words {
		if !strings.Contains(w, ".") {
			continue // prose
		}
		checked++
		label, under := strings.CutSuffix(w, "."+suffix)
		expands := under && !strings.Contains(label, ".") // label "" is CDN's .suffix
		if excluded := k > 0 && words[k-1] == "not"; excluded == expands {
			t.Errorf("comment says %s expands to %s: %v; it does: %v", pattern, w, !excluded, expands)
		}
	}
	if checked < 3 {
		t.Errorf("comment names %d example domains, want at least 3: %q", checked, text)
	}
}

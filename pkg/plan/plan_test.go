package plan_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/plan"
)

// sans is a Coverer with the shared name rule, without generating a certificate.
type sans []string

func (s sans) Covers(name string) bool { return certs.Covers(s, name) }

func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const estate = `
targets:
  - kind: clb
    region: cn-beijing
    loadBalancerId: lb-web1
    port: 443
    names: [www.example.com, example.com]
  - kind: clb
    region: cn-beijing
    loadBalancerId: lb-web1
    port: 443
    sniDomain: api.example.com
  - kind: cdn
    domain: static.example.com
  - kind: cdn
    domain: "*.example.com"
  - kind: ecs
    region: cn-hangzhou
    instanceId: i-shop1
    certPath: /etc/nginx/c.pem
    keyPath: /etc/nginx/c.key
    names: [shop.example.com, shop.example.net]
`

// lister returns a DomainLister over fixed domains that counts its calls.
func lister(calls *int, domains ...string) plan.DomainLister {
	return func(context.Context) ([]string, error) {
		*calls++
		return domains, nil
	}
}

func summary(items []plan.Item) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s=%s", it.ID, it.Action)
		if len(it.Missing) > 0 {
			fmt.Fprintf(&b, "%v", it.Missing)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestBuild(t *testing.T) {
	cfg := mustConfig(t, estate)
	account := []string{"img2.example.com", "img1.example.com", "static.example.com", ".example.com", "a.b.example.com", "example.com", "www.other.com", "IMG1.example.com."}
	tests := []struct {
		name  string
		cert  plan.Coverer
		only  []string
		list  []string
		nolst bool
		want  string
	}{
		{
			name: "wildcard plus apex covers all example.com names",
			cert: sans{"*.example.com", "example.com"},
			list: account,
			want: `clb:lb-web1:443=deploy
clb:lb-web1:443:api.example.com=deploy
cdn:static.example.com=deploy
cdn:.example.com=deploy
cdn:img1.example.com=deploy
cdn:img2.example.com=deploy
ecs:i-shop1=not_covered[shop.example.net]
`,
		},
		{
			name: "wildcard without apex leaves the multi-name listener partly covered",
			cert: sans{"*.example.com"},
			list: account,
			want: `clb:lb-web1:443=not_covered[example.com]
clb:lb-web1:443:api.example.com=deploy
cdn:static.example.com=deploy
cdn:.example.com=deploy
cdn:img1.example.com=deploy
cdn:img2.example.com=deploy
ecs:i-shop1=not_covered[shop.example.net]
`,
		},
		{
			name: "single-name certificate",
			cert: sans{"img1.example.com"},
			list: account,
			want: `clb:lb-web1:443=not_covered[www.example.com example.com]
clb:lb-web1:443:api.example.com=not_covered[api.example.com]
cdn:static.example.com=not_covered[static.example.com]
cdn:.example.com=not_covered[*.example.com]
cdn:img1.example.com=deploy
cdn:img2.example.com=not_covered[img2.example.com]
ecs:i-shop1=not_covered[shop.example.net shop.example.com]
`,
		},
		{
			name:  "offline pattern expands at deploy time",
			cert:  sans{"*.example.com", "example.com"},
			nolst: true,
			want: `clb:lb-web1:443=deploy
clb:lb-web1:443:api.example.com=deploy
cdn:static.example.com=deploy
cdn:*.example.com=expand
ecs:i-shop1=not_covered[shop.example.net]
`,
		},
		{
			name: "only picks targets and expansions",
			cert: sans{"*.example.com"},
			only: []string{"cdn:IMG2.example.com", "ecs:i-shop1"},
			list: account,
			want: `cdn:img2.example.com=deploy
ecs:i-shop1=not_covered[shop.example.net]
`,
		},
		{
			name: "only naming the pattern keeps all its expansions",
			cert: sans{"*.example.com"},
			only: []string{"cdn:*.example.com"},
			list: []string{"img1.example.com", "img2.example.com"},
			want: `cdn:img1.example.com=deploy
cdn:img2.example.com=deploy
`,
		},
		{
			name:  "offline only naming a possible expansion keeps the pattern",
			cert:  sans{"*.example.com"},
			only:  []string{"cdn:img9.example.com"},
			nolst: true,
			want:  "cdn:*.example.com=expand\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var list plan.DomainLister
			if !tc.nolst {
				list = lister(&calls, tc.list...)
			}
			items, err := plan.Build(t.Context(), cfg, tc.cert, tc.only, list)
			if err != nil {
				t.Fatal(err)
			}
			// Missing names are listed in served-name order; compare as sets.
			if got := summary(items); normalise(got) != normalise(tc.want) {
				t.Fatalf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			if calls > 1 {
				t.Errorf("lister called %d times, want at most once", calls)
			}
			for _, it := range items {
				if strings.Contains(it.ID, "cdn:*") && it.Action != plan.ActionExpand && it.Action != plan.ActionNotCovered {
					t.Errorf("pattern itself planned for deployment: %+v", it)
				}
				if it.Target.Kind == config.KindCDN && it.Action == plan.ActionDeploy && strings.Contains(it.Target.Domain, "*") {
					t.Errorf("a CDN domain with * would be sent to CDN: %+v", it)
				}
				if it.ID != it.Target.ID() || it.Reason == "" {
					t.Errorf("item %+v: ID/Reason inconsistent", it)
				}
			}
		})
	}
}

// normalise sorts the names inside [...] so the comparison ignores their order.
func normalise(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if open := strings.Index(l, "["); open >= 0 {
			names := strings.Fields(strings.Trim(l[open:], "[]"))
			slices.Sort(names)
			lines[i] = l[:open] + "[" + strings.Join(names, " ") + "]"
		}
	}
	return strings.Join(lines, "\n")
}

// TestPatternNothingMatches is case C03: the pattern matches no CDN domain; the item
// says so and lists what exists.
func TestPatternNothingMatches(t *testing.T) {
	cfg := mustConfig(t, "targets:\n  - kind: cdn\n    domain: \"*.example.com\"\n")
	calls := 0
	items, err := plan.Build(t.Context(), cfg, sans{"*.example.com"}, nil, lister(&calls, "www.other.com", "a.b.example.com", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Action != plan.ActionNotCovered || items[0].ID != "cdn:*.example.com" {
		t.Fatalf("items = %+v", items)
	}
	want := "no CDN domain in the account matches *.example.com; domains: a.b.example.com, example.com, www.other.com"
	if items[0].Reason != want {
		t.Fatalf("reason %q\nwant   %q", items[0].Reason, want)
	}

	many := make([]string, 25)
	for i := range many {
		many[i] = fmt.Sprintf("d%02d.other.com", i)
	}
	items, _ = plan.Build(t.Context(), cfg, sans{"*.example.com"}, nil, lister(&calls, many...))
	if !strings.HasSuffix(items[0].Reason, "d19.other.com and 5 more") {
		t.Errorf("long list not shortened: %s", items[0].Reason)
	}
}

func TestExplicitTargetWinsOverExpansion(t *testing.T) {
	cfg := mustConfig(t, "targets:\n  - kind: cdn\n    domain: img1.example.com\n    hsts: true\n  - kind: cdn\n    domain: \"*.example.com\"\n")
	calls := 0
	items, err := plan.Build(t.Context(), cfg, sans{"*.example.com"}, nil, lister(&calls, "img1.example.com", "img2.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(items); got != "cdn:img1.example.com=deploy\ncdn:img2.example.com=deploy\n" {
		t.Fatalf("plan:\n%s", got)
	}
	if !items[0].Target.HSTS {
		t.Errorf("explicit target's options lost")
	}
}

func TestBuildErrors(t *testing.T) {
	cfg := mustConfig(t, estate)
	listErr := errors.New("cdn: Throttling.User")
	items, err := plan.Build(t.Context(), cfg, sans{"*.example.com", "example.com"}, nil,
		func(context.Context) ([]string, error) { return nil, listErr })
	if !errors.Is(err, listErr) {
		t.Fatalf("err = %v, want the listing error", err)
	}
	if len(items) != 5 || items[3].Action != plan.ActionExpand || !strings.Contains(items[3].Reason, "Throttling.User") || items[0].Action != plan.ActionDeploy {
		t.Fatalf("items on listing failure:\n%s", summary(items))
	}

	calls := 0
	_, err = plan.Build(t.Context(), cfg, sans{"*.example.com"}, []string{"cdn:nothere.example.org", "ecs:i-shop1"}, lister(&calls))
	if err == nil || !strings.Contains(err.Error(), "cdn:nothere.example.org matches no target") {
		t.Errorf("unknown only entry: %v", err)
	}
	_, err = plan.Build(t.Context(), cfg, sans{"*.example.com"}, []string{"clb:lb-web1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "plan: only:") {
		t.Errorf("malformed only entry: %v", err)
	}
	if _, err := plan.Build(t.Context(), nil, sans{}, nil, nil); err == nil {
		t.Errorf("nil config accepted")
	}
}

// TestBuildWithBundle plans with a real certificate parsed by pkg/certs.
func TestBuildWithBundle(t *testing.T) {
	ca, err := localca.New("plan test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"*.example.com", "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b, fs := certs.Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), certs.Options{Roots: ca.Pool()})
	if b == nil || certs.HasErrors(fs) {
		t.Fatalf("parse: %v", fs)
	}
	calls := 0
	items, err := plan.Build(t.Context(), mustConfig(t, estate), b, nil, lister(&calls, "IMG1.Example.com.", ".example.com"))
	if err != nil {
		t.Fatal(err)
	}
	want := `clb:lb-web1:443=deploy
clb:lb-web1:443:api.example.com=deploy
cdn:static.example.com=deploy
cdn:.example.com=deploy
cdn:img1.example.com=deploy
ecs:i-shop1=not_covered[shop.example.net]
`
	if got := summary(items); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
}

// namedSANs is a Coverer that also lists its names, like *certs.Bundle.
type namedSANs struct{ sans }

func (n namedSANs) Names() []string { return n.sans }

func TestOfflinePatternWithNamer(t *testing.T) {
	cfg := mustConfig(t, "targets:\n  - kind: cdn\n    domain: \"*.example.com\"\n")
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"*.example.com"}, plan.ActionExpand},
		{[]string{"img1.example.com"}, plan.ActionExpand},
		{[]string{"www.other.org", "example.com"}, plan.ActionNotCovered},
		{[]string{"a.b.example.com"}, plan.ActionNotCovered},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			items, err := plan.Build(t.Context(), cfg, namedSANs{sans(tc.names)}, nil, nil)
			if err != nil || len(items) != 1 || items[0].Action != tc.want {
				t.Fatalf("items %+v, err %v; want %s", items, err, tc.want)
			}
		})
	}
}

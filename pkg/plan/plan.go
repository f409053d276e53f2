// Package plan decides which configured targets a certificate is deployed to.
//
// A target gets the certificate only when the certificate covers every name the
// target serves; a target only partly covered is "not_covered" with the missing names.
// A CDN wildcard pattern (*.example.com) expands to the account's CDN domains one
// label under example.com — including CDN's own wildcard domain, written
// .example.com — and is never sent to CDN as "*" (case C03).
package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/certflow/certflow/pkg/config"
)

// Actions an Item can carry.
const (
	ActionDeploy     = "deploy"      // the certificate covers every served name
	ActionNotCovered = "not_covered" // some served name is not covered, or a pattern matched nothing
	// ActionExpand marks a CDN pattern that could not be expanded here: offline (no
	// DomainLister) or when listing failed. The deployer expands it at deploy time.
	ActionExpand = "expand"
)

// Coverer answers whether a certificate covers a host name. *certs.Bundle implements it.
type Coverer interface {
	Covers(name string) bool
}

// Namer is optionally implemented by a Coverer (as *certs.Bundle does) to list the
// certificate's names; offline, Build uses it to tell whether a CDN pattern could
// expand to anything the certificate covers.
type Namer interface {
	Names() []string
}

// DomainLister returns the account's CDN domain names (all pages). nil = offline.
type DomainLister func(ctx context.Context) ([]string, error)

// Item is the plan for one target.
type Item struct {
	// Target is the configured target; for a domain a CDN pattern expanded to, a copy
	// with Domain and Names set to that domain.
	Target  config.Target
	ID      string   // the target ID (Target.ID())
	Action  string   // ActionDeploy, ActionNotCovered or ActionExpand
	Missing []string // served names the certificate does not cover (not_covered)
	Reason  string   // one line a person can read
}

// maxListed bounds how many existing CDN domains a "nothing matches" reason lists.
const maxListed = 20

// Build plans cfg's targets for the certificate c, in configuration order (a
// pattern's expansions sorted by domain, in the pattern's place). only, when not
// empty, keeps the items whose ID is listed (IDs as config.NormalizeTargetID
// writes them; a pattern's ID keeps all its expansions); an entry that matches no
// item is an error.
//
// list is called at most once, and only when cfg has a CDN pattern. If it fails,
// Build still returns every item — patterns as ActionExpand — together with the
// error, so a caller may deploy the rest.
func Build(ctx context.Context, cfg *config.Config, c Coverer, only []string, list DomainLister) ([]Item, error) {
	if cfg == nil || c == nil {
		return nil, errors.New("plan: nil configuration or certificate")
	}
	wanted := map[string]bool{}
	for _, o := range only {
		id, err := config.NormalizeTargetID(o)
		if err != nil {
			return nil, fmt.Errorf("plan: only: %w", err)
		}
		wanted[id] = true
	}

	explicit := map[string]bool{}
	for _, t := range cfg.Targets {
		explicit[t.ID()] = true
	}

	var (
		items   []Item
		domains []string
		listed  bool
		listErr error
		matched = map[string]bool{}
	)
	for _, t := range cfg.Targets {
		if !(t.Kind == config.KindCDN && config.IsPattern(t.Domain)) {
			it := cover(t, c)
			if len(wanted) == 0 || wanted[it.ID] {
				matched[it.ID] = true
				items = append(items, it)
			}
			continue
		}
		patternID := t.ID()
		if !listed && list != nil {
			domains, listErr = list(ctx)
			listed = true
		}
		if list == nil || listErr != nil {
			reason := "wildcard pattern: expands to the account's matching CDN domains at deploy time"
			if listErr != nil {
				reason = "wildcard pattern not expanded: could not list CDN domains: " + listErr.Error()
			}
			// Offline, an --only entry naming a domain this pattern may expand to
			// keeps the pattern.
			keep := len(wanted) == 0 || wanted[patternID]
			matched[patternID] = matched[patternID] || wanted[patternID]
			for id := range wanted {
				if d, ok := strings.CutPrefix(id, "cdn:"); ok && matchesPattern(d, t.Domain) {
					keep, matched[id] = true, true
				}
			}
			if keep {
				it := Item{Target: t, ID: patternID, Action: ActionExpand, Reason: reason}
				if n, ok := c.(Namer); ok && !anyUnder(n.Names(), t.Domain) {
					it.Action = ActionNotCovered
					it.Missing = []string{t.Domain}
					it.Reason = "certificate covers no name " + t.Domain + " can expand to"
				}
				items = append(items, it)
			}
			continue
		}
		expanded := expand(t, domains, explicit)
		if len(expanded) == 0 {
			if len(wanted) == 0 || wanted[patternID] {
				matched[patternID] = true
				items = append(items, Item{Target: t, ID: patternID, Action: ActionNotCovered,
					Reason: fmt.Sprintf("no CDN domain in the account matches %s; domains: %s", t.Domain, listSome(domains))})
			}
			continue
		}
		for _, x := range expanded {
			it := cover(x, c)
			if len(wanted) == 0 || wanted[patternID] || wanted[it.ID] {
				matched[patternID] = matched[patternID] || wanted[patternID]
				matched[it.ID] = matched[it.ID] || wanted[it.ID]
				items = append(items, it)
			}
		}
	}

	var unknown []string
	for id := range wanted {
		if !matched[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("plan: only: %s matches no target", strings.Join(unknown, ", "))
	}
	if listErr != nil {
		return items, fmt.Errorf("plan: list CDN domains: %w", listErr)
	}
	return items, nil
}

// cover plans one concrete target.
func cover(t config.Target, c Coverer) Item {
	it := Item{Target: t, ID: t.ID()}
	for _, n := range t.ServedNames() {
		if !c.Covers(n) {
			it.Missing = append(it.Missing, n)
		}
	}
	switch {
	case len(t.ServedNames()) == 0:
		it.Action, it.Reason = ActionNotCovered, "target serves no names"
	case len(it.Missing) > 0:
		it.Action = ActionNotCovered
		it.Reason = "certificate does not cover " + strings.Join(it.Missing, ", ")
		if covered := len(t.ServedNames()) - len(it.Missing); covered > 0 {
			it.Reason += fmt.Sprintf(" (covers %d of %d served names)", covered, len(t.ServedNames()))
		}
	default:
		it.Action = ActionDeploy
		it.Reason = "certificate covers " + strings.Join(t.ServedNames(), ", ")
	}
	return it
}

// expand returns one target per account CDN domain that pattern t (*.suffix) matches:
// a domain exactly one label under suffix, or CDN's wildcard domain .suffix (which
// serves *.suffix). Domains configured as targets of their own are left to those
// targets. The result is sorted by domain.
func expand(t config.Target, domains []string, explicit map[string]bool) []config.Target {
	suffix := strings.TrimPrefix(t.Domain, "*.")
	var out []config.Target
	seen := map[string]bool{}
	for _, raw := range domains {
		d, err := config.NormalizeCDNDomain(raw)
		if err != nil || seen[d] {
			continue
		}
		seen[d] = true
		if !matchesPattern(d, t.Domain) {
			continue
		}
		served := d
		if d == "."+suffix {
			served = "*." + suffix
		}
		x := t
		x.Domain = d
		x.Names = []string{served}
		if explicit[x.ID()] {
			continue
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b config.Target) int { return strings.Compare(a.Domain, b.Domain) })
	return out
}

// matchesPattern reports whether the normalised CDN domain d is one a pattern
// *.suffix expands to: one label under suffix, or CDN's wildcard domain .suffix.
func matchesPattern(d, pattern string) bool {
	suffix := strings.TrimPrefix(pattern, "*.")
	if d == "."+suffix {
		return true
	}
	label, ok := strings.CutSuffix(d, "."+suffix)
	return ok && label != "" && label != "*" && !strings.ContainsAny(label, ".*")
}

// anyUnder reports whether any certificate name could serve a domain pattern
// expands to: the wildcard *.suffix itself or a name one label under suffix.
func anyUnder(names []string, pattern string) bool {
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == pattern || matchesPattern(n, pattern) {
			return true
		}
	}
	return false
}

// listSome renders up to maxListed domains for a message.
func listSome(domains []string) string {
	if len(domains) == 0 {
		return "(none)"
	}
	sorted := slices.Clone(domains)
	sort.Strings(sorted)
	if len(sorted) <= maxListed {
		return strings.Join(sorted, ", ")
	}
	return strings.Join(sorted[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(sorted)-maxListed)
}

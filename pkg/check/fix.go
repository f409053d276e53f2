package check

import (
	"context"
	"fmt"
	"sort"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/bindtask"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/rollout"
	"github.com/certflow/certflow/pkg/targets"
)

// enforce applies every configured HTTPS setting that is missing: CDN functions in
// batches, one redirecting HTTP listener per load balancer port, AIRec enforcement.
// It returns what changed, what could not be enforced, and the target IDs touched
// (every target sharing a changed CLB HTTP listener included).
func (s *Service) enforce(ctx context.Context, inv []Endpoint) ([]targets.Change, []string, map[string]bool) {
	var changes []targets.Change
	var problems []string
	touched := map[string]bool{}
	call := s.Gate.NewCall()

	seen := map[string]bool{}
	var cdnPs []targets.CDNPolicy
	clbGroups := map[string][]config.Target{}
	var clbOrder []string
	for _, e := range inv {
		t := e.target
		if seen[e.Target] || e.Kind != config.KindCDN && e.Kind != config.KindCLB {
			continue
		}
		seen[e.Target] = true
		switch e.Kind {
		case config.KindCDN:
			if p := targets.PolicyOf(t, s.Config.Checker.HSTSMinAge); !p.Empty() {
				cdnPs = append(cdnPs, targets.CDNPolicy{Domain: t.Domain, Policy: p})
			}
		case config.KindCLB:
			if !t.ForceHTTPS && !t.HSTS {
				continue
			}
			k := fmt.Sprintf("%s:%d:%d", t.LoadBalancerID, t.Port, t.HTTPPort)
			if _, ok := clbGroups[k]; !ok {
				clbOrder = append(clbOrder, k)
			}
			clbGroups[k] = append(clbGroups[k], t)
		}
	}
	for _, r := range targets.EnforceCDN(ctx, call, s.Clients, cdnPs) {
		if r.Err != nil {
			problems = append(problems, "enforce "+r.Err.Error())
		}
		if len(r.Changes) > 0 {
			touched[r.Target] = true
			changes = append(changes, r.Changes...)
		}
	}
	for _, k := range clbOrder {
		group := clbGroups[k]
		// The listener's own target (no SNI) speaks for the group when it is configured.
		sort.SliceStable(group, func(i, j int) bool { return group[i].SNIDomain == "" && group[j].SNIDomain != "" })
		lead := group[0]
		tg, err := targets.New(s.Clients, lead)
		if err != nil {
			problems = append(problems, fmt.Sprintf("enforce %s: %v", lead.ID(), err))
			continue
		}
		p := targets.PolicyOf(lead, s.Config.Checker.HSTSMinAge)
		for _, t := range group[1:] {
			p.ForceHTTPS, p.HSTS = p.ForceHTTPS || t.ForceHTTPS, p.HSTS || t.HSTS
		}
		ch, err := tg.(*targets.CLB).EnforceHTTPS(ctx, call, p)
		if err != nil {
			problems = append(problems, "enforce "+err.Error())
		}
		if len(ch) > 0 {
			changes = append(changes, ch...)
			for _, t := range group {
				touched[t.ID()] = true
			}
		}
	}
	if a := s.Config.AIRec; a != nil && a.EnforceHTTPS {
		ch, err := s.enforceAIRec(ctx, a)
		if err != nil {
			problems = append(problems, fmt.Sprintf("enforce airec:%s: %v", a.InstanceID, err))
		}
		if ch != nil {
			changes = append(changes, *ch)
			touched[ch.Target] = true
		}
	}
	return changes, problems, touched
}

// AIRecClient builds the AIRec client of the targets file's airec section: Bearer token
// from a.TokenEnv when set, else the ROA signature with the clients' credentials.
func (s *Service) AIRecClient(a *config.AIRec) (*airec.Client, error) {
	opts := airec.ClientOptions{Endpoint: a.Endpoint, Region: a.Region, InstanceID: a.InstanceID, HTTPClient: s.HTTPClient}
	if a.TokenEnv != "" {
		if opts.Token = s.getenv(a.TokenEnv); opts.Token == "" {
			return nil, fmt.Errorf("airec token: environment variable %s is empty", a.TokenEnv)
		}
	} else {
		sdk, err := s.Clients.ROA(airec.Product, a.Region)
		if err != nil {
			return nil, err
		}
		opts.SDK = sdk
	}
	return airec.New(opts)
}

func (s *Service) enforceAIRec(ctx context.Context, a *config.AIRec) (*targets.Change, error) {
	c, err := s.AIRecClient(a)
	if err != nil {
		return nil, err
	}
	on, err := c.HTTPSEnforced(ctx)
	if err != nil || on {
		return nil, err
	}
	if err := c.EnforceHTTPS(ctx, true); err != nil {
		return nil, err
	}
	if on, err = c.HTTPSEnforced(ctx); err != nil {
		return nil, fmt.Errorf("read back: %w", err)
	}
	if !on {
		return nil, fmt.Errorf("read back: HTTPS enforcement is still off after switching it on")
	}
	return &targets.Change{Target: KindAIRec + ":" + a.InstanceID, Setting: "enforceHttps", From: "off", To: "on"}, nil
}

// repair redeploys the expected certificate to every target whose endpoint served a
// stale one (the deployer's engine, only those targets), and queues an AIRec bind for
// stale AIRec domains. It returns the repairs, the target IDs deployed, and what is
// still failing retryably.
func (s *Service) repair(ctx context.Context, inv []Endpoint, first []probe.Result) ([]Repair, map[string]bool, []string) {
	byCert := map[int64][]string{}
	airecByCert := map[int64][]string{}
	sha := map[int64]string{}
	seen := map[string]bool{}
	for i, e := range inv {
		if e.Expect == nil || !first[i].Has(probe.CodeStaleCertificate) {
			continue
		}
		sha[e.Expect.CertID] = e.Expect.SHA256
		switch e.Kind {
		case config.KindCLB, config.KindCDN, config.KindECS:
			if !seen[e.Target] {
				seen[e.Target] = true
				byCert[e.Expect.CertID] = append(byCert[e.Expect.CertID], e.Target)
			}
		case KindAIRec:
			airecByCert[e.Expect.CertID] = append(airecByCert[e.Expect.CertID], e.Name)
		}
	}
	var out []Repair
	deployed := map[string]bool{}
	var retry []string
	if len(byCert) > 0 {
		d := s.Deployer
		cfg := *s.Config
		cfg.AIRec = nil // the checker queues AIRec binds itself, only for stale domains
		d.Clients, d.Config, d.Roots, d.Gate, d.Now = s.Clients, &cfg, s.Roots, s.Gate, s.Now
		if s.Log != nil {
			d.Log = &lockedWriter{w: s.Log}
		}
		for _, id := range sortedKeys(byCert) {
			ids := byCert[id]
			s.logf("certflow check: redeploying certificate %d to %d stale targets: %v", id, len(ids), ids)
			rep, err := d.Run(ctx, events.Deploy{CertID: id, Only: ids})
			r := Repair{CertID: id, Targets: rep.Targets}
			if err != nil {
				r.Error = err.Error()
				retry = append(retry, fmt.Sprintf("redeploy %d: %v", id, err))
			}
			for _, t := range rep.Targets {
				if t.Status == rollout.StatusDeployed || t.Status == rollout.StatusUnchanged {
					deployed[t.Target] = true
				}
			}
			for _, t := range rep.Retryable() {
				retry = append(retry, fmt.Sprintf("redeploy %d: %s", id, t))
			}
			out = append(out, r)
		}
	}
	if a := s.Config.AIRec; a != nil {
		for _, id := range sortedKeys(airecByCert) {
			domains := airecByCert[id]
			sort.Strings(domains)
			task := bindtask.New(a.InstanceID, id, sha[id], domains, "certflow-checker", s.now())
			info := &rollout.BindTaskInfo{TaskID: task.TaskID}
			q, err := s.Clients.MNSQueue(a.Queue)
			if err == nil {
				err = s.Gate.NewCall().Do(ctx, "SendMessage", func() error {
					_, err := bindtask.Publish(ctx, q, task)
					return err
				})
			}
			if err != nil {
				info.Error = fmt.Sprintf("queue %s: %v", a.Queue, err)
				retry = append(retry, fmt.Sprintf("airec bind %d: %v", id, err))
			} else {
				info.Queued = true
			}
			out = append(out, Repair{CertID: id, BindTask: info})
		}
	}
	return out, deployed, retry
}

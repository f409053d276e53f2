package faults

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/localcloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// handshake returns the SHA-256 of the leaf addr serves for sni, verified to the local CA.
func (r *rig) handshake(t *testing.T, addr, sni string) string {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: r.cloud.CA().Pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("handshake %s (%s): %v", addr, sni, err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

const injectedFailure = "nginx: [emerg] faults: injected configuration test failure"

// Scenario 6: an ECS host whose configuration test fails after the new files are written
// (the host's `nginx -t` is followed by an injected failure): the deploy script restores the
// previous pair, the host still serves the previous certificate over TLS, and the target is
// reported failed — not retryable — with the output tail; every other target deploys.
func TestS6NginxTestFails(t *testing.T) {
	ctx := t.Context()
	var broken config.Target
	r := newRig(t, rigOptions{NoStart: true, Config: func(c *config.Config) {
		for i := range c.Targets {
			if c.Targets[i].Kind == config.KindECS {
				c.Targets[i].TestCommand = "nginx -t && { echo '" + injectedFailure + "' >&2; false; }"
				broken = c.Targets[i]
				return
			}
		}
	}})
	if broken.InstanceID == "" {
		t.Fatal("no ECS target in the estate")
	}
	before := r.handshake(t, broken.Endpoint, broken.Names[0])
	if before != r.cloud.InitialCertificate().SHA256() {
		t.Fatalf("%s serves %s before the rollout, want the estate's initial certificate", broken.ID(), before[:12])
	}
	id, leaf := r.issue("faults-nginx")
	res := r.fire(ctx, r.event(id, "faults-nginx"))
	out := deployResult(t, res)
	if n := len(r.runsOf("deployer")); n != 1 {
		t.Errorf("deployer ran %d times; a permanent failure must not be retried", n)
	}
	rep := out.Reports[0]
	var got *rollout.Result
	for i := range rep.Targets {
		if rep.Targets[i].Target == broken.ID() {
			got = &rep.Targets[i]
		}
	}
	switch {
	case got == nil:
		t.Fatalf("no result for %s", broken.ID())
	case got.Status != rollout.StatusFailed || got.Retryable:
		t.Errorf("%s: status %s retryable %v, want failed, not retryable", broken.ID(), got.Status, got.Retryable)
	case got.Error == nil || !strings.Contains(got.Error.Message, "injected configuration test failure"):
		t.Errorf("%s: error %+v lacks the output tail", broken.ID(), got.Error)
	}
	after := r.handshake(t, broken.Endpoint, broken.Names[0])
	if after != before {
		t.Errorf("%s serves %s after the failed deploy, want the previous %s", broken.ID(), after[:12], before[:12])
	}
	if sha, _ := r.cloud.Deployed("ecs:"+broken.InstanceID, broken.Names[0]); sha != before {
		t.Errorf("%s certificate file holds %s, want the restored previous one", broken.ID(), sha)
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 1 || lost[0] != broken.ID() {
		t.Errorf("targets not serving the new certificate: %v, want only %s", lost, broken.ID())
	}
	dups, keys := duplicated(writes(r.cloud.Calls()))
	if dups != 0 {
		t.Errorf("duplicated writes: %v", keys)
	}
	if left := r.leftKeys(t); len(left) != 0 {
		t.Errorf("private keys left in OOS secret parameters: %v", left)
	}
	figure(t, 6, row{Scenario: "6 nginx -t fails",
		Load:    fmt.Sprintf("%d targets", len(r.cfg.Targets)),
		Faults:  "config test fails after the write on " + broken.ID(),
		Outcome: fmt.Sprintf("restored, still serves %s over TLS; reported failed (not retryable) with output tail; %d/%d others deployed", before[:12], rep.Totals.Deployed, len(r.cfg.Targets)-1),
		Lost:    len(lost) - 1, Duplicated: dups})
}

// Scenario 7: the STS token handed to the first invocation expires in the middle of its
// rollout. Calls after the expiry are refused (InvalidSecurityToken.Expired); the
// invocation reports them retryable; the trigger's retry runs with the fresh credentials of
// its own context and finishes the rest. Nothing written before the expiry is lost or redone.
func TestS7ExpiredSTS(t *testing.T) {
	ctx := t.Context()
	ttl := 2500 * time.Millisecond
	r := newRig(t, rigOptions{Estate: estate(t, 10, 0), NoStart: true,
		Config: func(c *config.Config) {
			c.Quotas = map[string]float64{"cdn:SetCdnDomainSSLCertificate": 4}
		}})
	id, leaf := r.issue("faults-sts")
	r.cloud.SetFaults(localcloud.Faults{Seed: 7, Rules: map[string]localcloud.FaultRule{
		"SetCdnDomainSSLCertificate": {Latency: 200 * time.Millisecond},
	}})
	short := r.rotate(ttl)
	start := time.Now()
	go func() {
		time.Sleep(ttl / 2)
		r.rotate(2 * time.Hour) // the role's next credentials, for the next invocation
	}()
	final := r.fire(ctx, r.event(id, "faults-sts"))
	runs := r.runsOf("deployer")
	if len(runs) < 2 {
		t.Fatalf("deployer ran %d time(s) (%s, codes %v): the token was meant to expire mid-run\n%s", len(runs), final.Duration, codes(since(r.cloud.Calls(), start)), tail(final.Logs, 3000))
	}
	if final.Error != nil {
		t.Fatalf("the retry with fresh credentials failed: %s: %s", final.Error.Type, final.Error.Message)
	}
	calls := since(r.cloud.Calls(), start)
	expired := 0
	for _, c := range calls {
		if strings.Contains(c.Code, "Expired") {
			expired++
		}
	}
	if expired == 0 {
		t.Errorf("no call was refused for the expired token %s…", short.AccessKeyID[:8])
	}
	first := reports(runs[0].Result.Logs)
	if len(first) != 1 || first[0].Totals.Deployed == 0 || len(first[0].Retryable()) == 0 {
		t.Fatalf("first invocation should deploy some targets and leave the rest retryable: %+v", first)
	}
	lost := r.lost(leaf.SHA256())
	if len(lost) != 0 {
		t.Errorf("not serving after the refresh: %v", lost)
	}
	dups, keys := duplicated(writes(calls))
	if dups != 0 {
		t.Errorf("duplicated writes: %v", keys)
	}
	// A run whose token expires between the ECS write and the cleanup cannot delete its
	// staged key; the retry finds the host unchanged and removes the leftover secret.
	left := r.leftKeys(t)
	if len(left) > 0 {
		t.Errorf("staged private keys left in OOS secret parameters after the retry: %v", left)
	}
	figure(t, 7, row{Scenario: "7 STS expiry",
		Load:    fmt.Sprintf("%d targets", len(r.cfg.Targets)),
		Faults:  fmt.Sprintf("token TTL %s, expires mid-run", ttl),
		Outcome: fmt.Sprintf("%d calls refused as expired; first run deployed %d, left %d retryable; retry with fresh context credentials finished; %d invocations; %d staged ECS keys left in OOS", expired, first[0].Totals.Deployed, len(first[0].Retryable()), len(runs), len(left)),
		Lost:    len(lost), Duplicated: dups})
}

// leftKeys lists OOS secret parameters still in the local cloud: private keys staged for a
// Cloud Assistant run must be deleted after it, whatever happened.
func (r *rig) leftKeys(t *testing.T) []string {
	t.Helper()
	b, err := r.cloud.Dump()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		OOS []string `json:"oosSecrets"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return d.OOS
}

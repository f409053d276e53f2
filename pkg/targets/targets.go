// Package targets deploys a certificate to one endpoint of one kind — a CLB listener,
// a CDN domain or an ECS nginx host — through the official SDK clients. Each kind reads
// what is served now, writes only when it differs, and reads back to confirm.
//
// Every cloud call goes through a rollout.Call, so quotas, retries and attempt counts
// apply; a Target never sleeps or retries on its own.
package targets

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/rollout"
)

// Cert is the certificate being rolled out, as the targets need it. KeyPEM goes only to
// the destination (SLB's certificate store, an OOS secret parameter for ECS); it never
// appears in errors.
type Cert struct {
	CASID     int64  // certificate ID in CAS
	CASRegion string // CAS site: cn-hangzhou or ap-southeast-1
	Name      string // CAS certificate name
	ChainPEM  []byte // leaf first, LF only
	KeyPEM    []byte
	SHA256    string // lowercase hex of the leaf's DER
	SHA1      string // lowercase hex of the leaf's DER

	locks sync.Map // key → *sync.Mutex: targets of one rollout that share a store take turns
}

// lock serialises the targets of one rollout on key (e.g. one region's SLB certificate
// store) and returns the unlock function. A Cert must not be copied after first use.
func (c *Cert) lock(key string) (unlock func()) {
	m, _ := c.locks.LoadOrStore(key, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Target is one endpoint that can be made to serve a certificate.
type Target interface {
	// ID is the target's report name: clb:<lb>:<port>[:<sni>], cdn:<domain>, ecs:<instance>.
	ID() string
	// Deploy makes the target serve c. It returns StatusUnchanged when the target
	// already served c (nothing written) and StatusDeployed when it wrote and read back.
	Deploy(ctx context.Context, call *rollout.Call, c *Cert) (rollout.Status, error)
	// Serves reports whether the target serves c now, without writing anything
	// (dry runs).
	Serves(ctx context.Context, call *rollout.Call, c *Cert) (bool, error)
}

// New returns the Target for t. A CDN pattern (*.example.com) must be expanded to
// concrete domains before (see plan.Build).
func New(cl *cloud.Clients, t config.Target) (Target, error) {
	switch t.Kind {
	case config.KindCLB:
		return &CLB{clients: cl, t: t}, nil
	case config.KindCDN:
		if config.IsPattern(t.Domain) {
			return nil, fmt.Errorf("%s: pattern %q must be expanded to concrete CDN domains first", t.ID(), t.Domain)
		}
		return &CDN{clients: cl, t: t}, nil
	case config.KindECS:
		return &ECS{clients: cl, t: t}, nil
	}
	return nil, fmt.Errorf("target %s: unknown kind %q", t.ID(), t.Kind)
}

// colonHex turns lowercase hex into SLB's fingerprint spelling "68:08:1a:…".
func colonHex(hex string) string {
	var b strings.Builder
	for i := 0; i < len(hex); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex[i:min(i+2, len(hex))])
	}
	return strings.ToLower(b.String())
}

// sameFingerprint compares fingerprints however the service spells them
// (colons or not, upper or lower case).
func sameFingerprint(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }
	return a != "" && norm(a) == norm(b)
}

// confirmError is a read-back that does not show what was written: retryable, since the
// service may still be applying it.
func confirmError(format string, args ...any) error {
	return rollout.Retryable(fmt.Errorf(format, args...))
}

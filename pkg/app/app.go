// Package app assembles what every certflow entry point needs — the targets file, SDK
// clients pointed at the right endpoints, rotating credentials and the trust pool — from
// the environment, the same way for the three FC functions and the CLI.
package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
)

// Environment variables read by Load (beyond pkg/cloud's CERTFLOW_* and ALIBABA_CLOUD_*).
const (
	EnvTargets   = "CERTFLOW_TARGETS"        // path of the targets file [targets.yaml]
	EnvCASRegion = "CERTFLOW_CAS_REGION"     // overrides the targets file's cas.region
	EnvBindQueue = "CERTFLOW_BIND_QUEUE"     // overrides airec.queue
	EnvInstance  = "CERTFLOW_AIREC_INSTANCE" // overrides airec.instanceId
)

// Env is one process's wiring. Credentials rotate through Creds (see Refresh); everything
// else is fixed at Load. Safe for concurrent use.
type Env struct {
	Config  *config.Config
	Clients *cloud.Clients
	Creds   *cloud.Provider
	Roots   *x509.CertPool // system roots + the targets file's roots + CERTFLOW_ROOTS
}

// Load reads the targets file (path, else $CERTFLOW_TARGETS, else targets.yaml), the cloud
// options and the credentials in the environment. Missing credentials are not an error
// here: inside FC they arrive with each invocation.
func Load(path string) (*Env, error) {
	if path == "" {
		path = os.Getenv(EnvTargets)
	}
	if path == "" {
		path = "targets.yaml"
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if r := os.Getenv(EnvCASRegion); r != "" {
		cfg.CAS.Region = r
	}
	if cfg.AIRec != nil {
		if q := os.Getenv(EnvBindQueue); q != "" {
			cfg.AIRec.Queue = q
		}
		if id := os.Getenv(EnvInstance); id != "" {
			cfg.AIRec.InstanceID = id
		}
	}
	opts, err := cloud.OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	roots, err := Roots(cfg.Roots, os.Getenv(cloud.EnvRoots))
	if err != nil {
		return nil, err
	}
	if opts.RootCAs == nil {
		opts.RootCAs = roots
	}
	creds, _ := cloud.FromEnv()
	provider := cloud.NewProvider(creds)
	return &Env{Config: cfg, Clients: cloud.New(opts, provider), Creds: provider, Roots: roots}, nil
}

// Roots is the system pool plus the certificates in each non-empty file.
func Roots(files ...string) (*x509.CertPool, error) {
	pool, err := certs.LoadRoots("")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust roots: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("trust roots %s: no PEM certificate in the file", f)
		}
	}
	return pool, nil
}

// Refresh takes the invocation's STS credentials from the FC context, so a token that
// expired mid-run is replaced by the next invocation's. It reports whether any are held.
func (e *Env) Refresh(ctx context.Context) bool { return e.Creds.Refresh(ctx) }

// Handler is a function's work for one invocation; its result is returned as JSON.
type Handler func(ctx context.Context, payload []byte) (any, error)

// Start is the whole main of a certflow function: it loads the environment once, builds
// the handler, and serves invocations through fc.Start. A configuration error fails every
// invocation with that error (instead of crash-looping the instance), and each invocation
// first takes its own STS credentials from the FC context.
//
// Start is deliberately not generic: a generic instantiation puts *Env's type into an
// interface dictionary, which (with the MNS SDK's text/template use) keeps every method of
// every SDK client alive and triples the binary.
func Start(name string, build func(*Env) (Handler, error)) {
	env, err := Load("")
	var h Handler
	if err == nil {
		h, err = build(env)
	}
	// []byte, not json.RawMessage: the runtime then hands over the payload as is, so a
	// payload that is not JSON reaches our decoders and their error names it.
	fc.Start(func(ctx context.Context, payload []byte) (any, error) {
		if err != nil {
			return nil, fmt.Errorf("certflow %s: %w", name, err)
		}
		if !env.Refresh(ctx) {
			return nil, fmt.Errorf("certflow %s: no credentials in the invocation context or the environment", name)
		}
		return h(ctx, payload)
	})
}

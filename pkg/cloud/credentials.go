// Package cloud is how certflow talks to Alibaba Cloud: credentials (from the
// Function Compute context or the environment), SDK clients for every service
// certflow calls (regional HTTPS endpoints, or the local cloud when
// CERTFLOW_ENDPOINT is set) and the classification of their errors into
// throttled, retryable, busy and permanent.
package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// Environment variables read by FromEnv (the standard Alibaba Cloud names,
// which FC also sets for the function's role).
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// ErrNoCredentials is returned when a request is about to be signed but no
// access key has been provided.
var ErrNoCredentials = errors.New("cloud: no credentials: run inside Function Compute or set " +
	EnvAccessKeyID + " and " + EnvAccessKeySecret)

// Credentials is an access key pair with an optional STS token. Its String,
// GoString and MarshalJSON methods never reveal the secret or the token, so
// a Credentials value is safe to print or log by mistake.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// IsZero reports whether no access key ID is set.
func (c Credentials) IsZero() bool { return c.AccessKeyID == "" }

// String shows the access key ID and whether a secret and token are present.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKeyID:%s AccessKeySecret:%s SecurityToken:%s}",
		c.AccessKeyID, redacted(c.AccessKeySecret), redacted(c.SecurityToken))
}

// GoString is String, so %#v redacts too.
func (c Credentials) GoString() string { return "cloud." + c.String() }

// Format makes every verb (%v, %+v, %s, %q, ...) use String.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// MarshalJSON writes the access key ID and redacted placeholders.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessKeyID     string `json:"accessKeyId"`
		AccessKeySecret string `json:"accessKeySecret,omitempty"`
		SecurityToken   string `json:"securityToken,omitempty"`
	}{c.AccessKeyID, redacted(c.AccessKeySecret), redacted(c.SecurityToken)})
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// FromFCContext returns the per-invocation STS credentials that the FC Go
// runtime puts into ctx. ok is false outside FC or when the context carries
// no access key.
func FromFCContext(ctx context.Context) (Credentials, bool) {
	fctx, ok := fccontext.FromContext(ctx)
	if !ok || fctx == nil || fctx.Credentials.AccessKeyId == "" {
		return Credentials{}, false
	}
	return Credentials{
		AccessKeyID:     fctx.Credentials.AccessKeyId,
		AccessKeySecret: fctx.Credentials.AccessKeySecret,
		SecurityToken:   fctx.Credentials.SecurityToken,
	}, true
}

// FromEnv reads ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET
// and ALIBABA_CLOUD_SECURITY_TOKEN (unlike the SDK's old env provider, the
// token is kept). ok is false when the key ID or secret is missing.
func FromEnv() (Credentials, bool) {
	c := Credentials{
		AccessKeyID:     os.Getenv(EnvAccessKeyID),
		AccessKeySecret: os.Getenv(EnvAccessKeySecret),
		SecurityToken:   os.Getenv(EnvSecurityToken),
	}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return Credentials{}, false
	}
	return c, true
}

// Provider holds the current credentials and hands them to every SDK client
// on every request (and every retry). Set replaces them, so one long-lived
// Clients value picks up each FC invocation's fresh STS credentials. It
// implements the alibaba-cloud-sdk-go credentials.CredentialsProvider
// interface and is safe for concurrent use. The zero value holds nothing.
type Provider struct {
	mu sync.RWMutex
	c  Credentials
}

var _ credentials.CredentialsProvider = (*Provider)(nil)

// NewProvider returns a Provider holding c (which may be empty).
func NewProvider(c Credentials) *Provider { return &Provider{c: c} }

// Set replaces the held credentials.
func (p *Provider) Set(c Credentials) {
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
}

// Get returns the held credentials.
func (p *Provider) Get() Credentials {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.c
}

// Refresh takes the credentials of the FC invocation in ctx when there are
// any, and otherwise keeps what it holds (falling back to the environment
// when it holds nothing). It reports whether credentials are now held.
func (p *Provider) Refresh(ctx context.Context) bool {
	if c, ok := FromFCContext(ctx); ok {
		p.Set(c)
		return true
	}
	if !p.Get().IsZero() {
		return true
	}
	if c, ok := FromEnv(); ok {
		p.Set(c)
		return true
	}
	return false
}

// GetCredentials implements credentials.CredentialsProvider. It fails with
// ErrNoCredentials rather than falling back to the SDK's default chain
// (which would probe the ECS metadata service).
func (p *Provider) GetCredentials() (*credentials.Credentials, error) {
	c := p.Get()
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return nil, ErrNoCredentials
	}
	return &credentials.Credentials{
		AccessKeyId:     c.AccessKeyID,
		AccessKeySecret: c.AccessKeySecret,
		SecurityToken:   c.SecurityToken,
		ProviderName:    p.GetProviderName(),
	}, nil
}

// GetProviderName implements credentials.CredentialsProvider; the SDK sends
// it as x-acs-credentials-provider.
func (p *Provider) GetProviderName() string {
	if p.Get().SecurityToken != "" {
		return "certflow_sts"
	}
	return "certflow_ak"
}

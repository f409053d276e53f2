package cloud

import (
	"crypto/tls"
	"fmt"
	"math"
	"net/url"
	"regexp"

	mns "github.com/aliyun/aliyun-mns-go-sdk"
	credentialsgo "github.com/aliyun/credentials-go/credentials"
	"github.com/valyala/fasthttp"
)

// localMNSAccount stands in for the account ID in the real-looking endpoint
// used against a local MNS when Options.AccountID is empty.
const localMNSAccount = "1000000000000000"

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,255}$`)

// MNSQueue returns the MNS queue client for name, built once per name and
// shared (the MNS SDK's client is safe for concurrent use). Requests are
// signed with the Provider's current credentials, STS token included.
//
// The v1.0.11 SDK panics unless its endpoint looks like
// http(s)://<account>.mns.<region>.aliyuncs.com, so for a loopback
// Options.MNSEndpoint the SDK gets such an endpoint and its transport is
// swapped to dial the loopback address (the signature does not cover the
// host). Panics from the SDK's constructors are returned as errors.
func (c *Clients) MNSQueue(name string) (q mns.AliMNSQueue, err error) {
	if !queueNamePattern.MatchString(name) {
		return nil, fmt.Errorf("mns: invalid queue name %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q, ok := c.queues[name]; ok {
		return q, nil
	}
	if c.mnsCli == nil {
		cli, err := c.newMNSClient()
		if err != nil {
			return nil, err
		}
		c.mnsCli = cli
	}
	defer func() {
		if r := recover(); r != nil {
			q, err = nil, fmt.Errorf("mns queue %s: %v", name, r)
		}
	}()
	q = mns.NewMNSQueue(name, c.mnsCli)
	c.queues[name] = q
	return q, nil
}

func (c *Clients) newMNSClient() (cli mns.MNSClient, err error) {
	region := c.opts.region()
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("mns: %w", err)
	}
	var local *url.URL
	endpoint := c.opts.MNSEndpoint
	switch {
	case endpoint == "":
		if c.opts.AccountID == "" {
			return nil, fmt.Errorf("mns: no endpoint: set %s or the account ID (%s)", EnvMNSEndpoint, EnvAccountID)
		}
		endpoint = fmt.Sprintf("https://%s.mns.%s.aliyuncs.com", c.opts.AccountID, region)
	default:
		u, err := parseBaseURL(endpoint)
		if err != nil {
			return nil, fmt.Errorf("mns endpoint: %w", err)
		}
		if isLoopback(u.Hostname()) {
			local = u
			acct := c.opts.AccountID
			if acct == "" {
				acct = localMNSAccount
			}
			// Same scheme as the local server: fasthttp refuses a transport
			// whose TLS setting differs from the request URL's scheme.
			endpoint = fmt.Sprintf("%s://%s.mns.%s.aliyuncs.com", u.Scheme, acct, region)
		} else {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	defer func() {
		if r := recover(); r != nil {
			cli, err = nil, fmt.Errorf("mns client for %s: %v", endpoint, r)
		}
	}()
	timeout := c.opts.timeout()
	cli = mns.NewAliMNSClientWithConfig(mns.AliMNSClientConfig{
		EndPoint:        endpoint,
		Credential:      mnsCredential{c.creds},
		TimeoutSecond:   int64(math.Ceil(timeout.Seconds())),
		MaxConnsPerHost: 64,
	})
	if local != nil {
		hc := &fasthttp.HostClient{
			Addr:         local.Host,
			IsTLS:        local.Scheme == "https",
			ReadTimeout:  timeout,
			WriteTimeout: timeout,
		}
		if hc.IsTLS {
			hc.TLSConfig = &tls.Config{RootCAs: c.opts.RootCAs, ServerName: local.Hostname(), MinVersion: tls.VersionTLS12}
		}
		if local.Port() == "" {
			hc.Addr = local.Hostname() + map[bool]string{true: ":443", false: ":80"}[hc.IsTLS]
		}
		cli.SetTransport(toLocal{hc})
	}
	return cli, nil
}

// toLocal sends every MNS request to the local cloud, keeping the Host
// header the SDK computed from its real-looking endpoint.
type toLocal struct{ hc *fasthttp.HostClient }

func (t toLocal) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, t.hc.Do(req, resp)
}

// mnsCredential adapts Provider to the credentials-go interface the MNS SDK
// signs with, so MNS also follows credential rotation.
type mnsCredential struct{ p *Provider }

var _ credentialsgo.Credential = mnsCredential{}

func (m mnsCredential) GetCredential() (*credentialsgo.CredentialModel, error) {
	c := m.p.Get()
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return nil, ErrNoCredentials
	}
	typ := "access_key"
	if c.SecurityToken != "" {
		typ = "sts"
	}
	return &credentialsgo.CredentialModel{
		AccessKeyId:     &c.AccessKeyID,
		AccessKeySecret: &c.AccessKeySecret,
		SecurityToken:   &c.SecurityToken,
		Type:            &typ,
	}, nil
}

func (m mnsCredential) GetAccessKeyId() (*string, error) {
	c, err := m.GetCredential()
	if err != nil {
		return nil, err
	}
	return c.AccessKeyId, nil
}

func (m mnsCredential) GetAccessKeySecret() (*string, error) {
	c, err := m.GetCredential()
	if err != nil {
		return nil, err
	}
	return c.AccessKeySecret, nil
}

func (m mnsCredential) GetSecurityToken() (*string, error) {
	c, err := m.GetCredential()
	if err != nil {
		return nil, err
	}
	return c.SecurityToken, nil
}

func (m mnsCredential) GetBearerToken() *string { s := ""; return &s }

func (m mnsCredential) GetType() *string {
	c, err := m.GetCredential()
	if err != nil {
		s := ""
		return &s
	}
	return c.Type
}

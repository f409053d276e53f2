package cloud

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// connectTimeout bounds TCP connection set-up; the whole call is bounded by
// Options.Timeout.
const connectTimeout = 5 * time.Second

var regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)

// Clients builds SDK clients that all share one connection pool, one
// credentials Provider and one set of Options. It is safe for concurrent use.
//
// Each typed constructor (CAS, SLB, CDN, ECS, OOS, ROA) returns a NEW client
// on every call: building one costs tens of microseconds and no I/O
// (BenchmarkCASClient), while sharing one *sdk.Client between goroutines is
// a data race inside the SDK (sdk/client.go setTimeout rewrites its
// http.Client's Timeout on every request; seen with -race). Take one client
// per task and use it from that task's goroutine only. What is shared and
// cached is what is expensive: the transport (keep-alive connections) and
// the MNS queues.
type Clients struct {
	opts  Options
	creds *Provider
	base  *url.URL // parsed Options.Endpoint; nil = real endpoints
	err   error    // a bad Options.Endpoint, reported by every constructor
	rt    http.RoundTripper

	mu     sync.Mutex
	queues map[string]mns.AliMNSQueue
	mnsCli mns.MNSClient
}

// New returns a Clients for opts whose requests are signed with creds (which
// may be updated later with creds.Set). A malformed opts.Endpoint is
// reported by every constructor.
func New(opts Options, creds *Provider) *Clients {
	warmEndpointMaps()
	if creds == nil {
		creds = NewProvider(Credentials{})
	}
	c := &Clients{opts: opts, creds: creds, queues: map[string]mns.AliMNSQueue{}}
	if opts.Endpoint != "" {
		c.base, c.err = parseBaseURL(opts.Endpoint)
		if c.err != nil {
			c.err = fmt.Errorf("cloud endpoint: %w", c.err)
		}
	}
	c.rt = sharedTransport{newHTTPTransport(opts)}
	return c
}

// Options returns the options the Clients was built with.
func (c *Clients) Options() Options { return c.opts }

// Credentials returns the Provider every client signs with.
func (c *Clients) Credentials() *Provider { return c.creds }

// Local reports whether clients point at an endpoint override (the local
// cloud) rather than real regional endpoints.
func (c *Clients) Local() bool { return c.base != nil }

// newHTTPTransport is the one transport every SDK client uses. Loopback
// traffic never goes through a proxy (the SDK itself would proxy it).
func newHTTPTransport(opts Options) *http.Transport {
	return &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if isLoopback(r.URL.Hostname()) {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		},
		DialContext:           (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   connectTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// sharedTransport hides the *http.Transport from the SDK: for an
// *http.Transport the SDK rewrites DialContext, TLS verification and Proxy on
// every request (racy, and it would re-enable proxying of loopback); for any
// other RoundTripper it leaves the transport alone.
type sharedTransport struct{ t *http.Transport }

func (s sharedTransport) RoundTrip(r *http.Request) (*http.Response, error) { return s.t.RoundTrip(r) }

// config is the SDK configuration for every client: no SDK retries (the
// rollout Gate retries with backoff), one timeout set at client level (the
// SDK's per-request timeout leaks into later calls), HTTPS for real endpoints.
func (c *Clients) config() *sdk.Config {
	scheme := "HTTPS"
	if c.base != nil {
		scheme = strings.ToUpper(c.base.Scheme)
	}
	cfg := sdk.NewConfig().WithAutoRetry(false).WithMaxRetryTime(0).WithScheme(scheme).WithTimeout(c.opts.timeout())
	cfg.Transport = c.rt
	return cfg
}

func checkRegion(region string) error {
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("cloud: invalid region %q", region)
	}
	return nil
}

// prepare finishes an SDK client: endpoint override and client-level timeout.
func (c *Clients) prepare(cl *sdk.Client) {
	if c.base != nil {
		cl.Domain = c.base.Host
	}
	cl.SetReadTimeout(c.opts.timeout())
	cl.SetConnectTimeout(connectTimeout)
}

// CAS returns a new CAS (2020-04-07) client for region. The CAS site is
// cn-hangzhou (China) or ap-southeast-1 (international).
func (c *Clients) CAS(region string) (*cas.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("cas: %w", err)
	}
	cl, err := cas.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("cas client for region %s: %w", region, err)
	}
	c.prepare(&cl.Client)
	return cl, nil
}

// SLB returns a new CLB (SLB 2014-05-15) client for region, which must be the
// load balancer's own region.
func (c *Clients) SLB(region string) (*slb.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("slb: %w", err)
	}
	cl, err := slb.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("slb client for region %s: %w", region, err)
	}
	c.prepare(&cl.Client)
	return cl, nil
}

// CDN returns a new CDN (2018-05-10) client. CDN is a central service; the
// client's region is Options.Region (default cn-hangzhou).
func (c *Clients) CDN() (*cdn.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	region := c.opts.region()
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("cdn: %w", err)
	}
	cl, err := cdn.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("cdn client: %w", err)
	}
	c.prepare(&cl.Client)
	return cl, nil
}

// ECS returns a new ECS (2014-05-26, Cloud Assistant) client for region.
func (c *Clients) ECS(region string) (*ecs.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("ecs: %w", err)
	}
	cl, err := ecs.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("ecs client for region %s: %w", region, err)
	}
	c.prepare(&cl.Client)
	return cl, nil
}

// OOS returns a new OOS (2019-06-01, secret parameters) client for region.
func (c *Clients) OOS(region string) (*oos.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("oos: %w", err)
	}
	cl, err := oos.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("oos client for region %s: %w", region, err)
	}
	c.prepare(&cl.Client)
	return cl, nil
}

// ROA returns a new bare SDK client for CommonRequests to product in region
// (AIRec, or RPC actions missing from the typed SDK). A bare client has no
// endpoint rules: pass every request through SetEndpoint before sending it.
func (c *Clients) ROA(product, region string) (*sdk.Client, error) {
	if c.err != nil {
		return nil, c.err
	}
	if product == "" {
		return nil, fmt.Errorf("cloud: common client: empty product")
	}
	if err := checkRegion(region); err != nil {
		return nil, fmt.Errorf("%s: %w", product, err)
	}
	cl, err := sdk.NewClientWithOptions(region, c.config(), c.creds)
	if err != nil {
		return nil, fmt.Errorf("%s client for region %s: %w", product, region, err)
	}
	c.prepare(cl)
	return cl, nil
}

// SetEndpoint fills Domain, Port and Scheme of a CommonRequest for product in
// region: the endpoint override when set (host and port split, as ROA
// requests need), else the real endpoint over HTTPS on port 443 (AIRec:
// airec.<region>.aliyuncs.com). It also defaults Method to POST, since a
// CommonRequest otherwise goes out as GET.
func (c *Clients) SetEndpoint(req *requests.CommonRequest, product, region string) error {
	if c.err != nil {
		return c.err
	}
	if err := checkRegion(region); err != nil {
		return fmt.Errorf("%s: %w", product, err)
	}
	if req.Method == "" || (req.Method == requests.GET && len(req.PathPattern) == 0) {
		req.Method = requests.POST
	}
	if c.base != nil {
		req.Scheme = c.base.Scheme
		req.Domain = c.base.Hostname()
		req.Port = c.base.Port()
		if req.Port == "" {
			req.Port = map[string]string{"http": "80", "https": "443"}[c.base.Scheme]
		}
		return nil
	}
	req.Scheme = "https"
	req.Domain = RealDomain(product, region)
	req.Port = "443"
	return nil
}

// RealDomain is the public endpoint host of product in region, taken from
// the SDK's own endpoint tables where it has one.
func RealDomain(product, region string) string {
	p := strings.ToLower(product)
	var table map[string]string
	switch p {
	case "cas":
		table = cas.GetEndpointMap()
	case "slb":
		table = slb.GetEndpointMap()
	case "cdn":
		if d := cdn.GetEndpointMap()[region]; d != "" {
			return d
		}
		return "cdn.aliyuncs.com"
	case "ecs":
		table = ecs.GetEndpointMap()
	case "oos":
		table = oos.GetEndpointMap()
	}
	if d := table[region]; d != "" {
		return d
	}
	return p + "." + region + ".aliyuncs.com"
}

// warmEndpointMaps builds the SDK's per-service endpoint maps once. Each service's
// GetEndpointMap fills a package variable on first use without synchronisation, so two
// clients constructed concurrently race (seen with -race); after the first call the maps
// are only read.
var warmEndpointMaps = sync.OnceFunc(func() {
	cas.GetEndpointMap()
	cdn.GetEndpointMap()
	ecs.GetEndpointMap()
	oos.GetEndpointMap()
	slb.GetEndpointMap()
})

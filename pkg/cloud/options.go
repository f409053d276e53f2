package cloud

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Environment variables read by OptionsFromEnv.
const (
	EnvEndpoint    = "CERTFLOW_ENDPOINT"     // RPC/ROA base URL of a local cloud, e.g. http://127.0.0.1:18080
	EnvMNSEndpoint = "CERTFLOW_MNS_ENDPOINT" // MNS base URL (local cloud or a real https://<acct>.mns.<region>.aliyuncs.com)
	EnvRegion      = "CERTFLOW_REGION"       // default region; else FC_REGION, else ALIBABA_CLOUD_REGION_ID
	EnvAccountID   = "CERTFLOW_ACCOUNT_ID"   // account ID for MNS; else FC_ACCOUNT_ID
	EnvTimeout     = "CERTFLOW_TIMEOUT"      // per-call timeout as a Go duration, default 10s
	EnvRoots       = "CERTFLOW_ROOTS"        // PEM file of extra trust roots for HTTPS endpoints
)

// DefaultTimeout bounds one API call (connect + request + response) when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options says where and how clients connect. The zero value means: real
// regional endpoints over HTTPS, 10 s per call, system roots.
type Options struct {
	// Endpoint is the base URL of every RPC/ROA service (CAS, SLB, CDN, ECS,
	// OOS, AIRec), e.g. http://127.0.0.1:18080. Empty = real regional
	// endpoints over HTTPS.
	Endpoint string
	// MNSEndpoint is the MNS base URL. A loopback URL (the local cloud) is
	// reached by swapping the MNS SDK's transport while the SDK still sees a
	// real-looking endpoint. Empty = https://<AccountID>.mns.<Region>.aliyuncs.com.
	MNSEndpoint string
	// AccountID is the Alibaba Cloud account (UID) that owns the MNS queues.
	AccountID string
	// Region is the default region (MNS queues, the CDN client's RegionId).
	// Empty = cn-hangzhou.
	Region string
	// Timeout bounds one API call. Zero = DefaultTimeout.
	Timeout time.Duration
	// RootCAs verifies HTTPS endpoints. Nil = system roots.
	RootCAs *x509.CertPool
}

// OptionsFromEnv reads the CERTFLOW_* variables (and FC's FC_REGION /
// FC_ACCOUNT_ID) and validates them, naming the variable in any error.
func OptionsFromEnv() (Options, error) {
	o := Options{
		Endpoint:    strings.TrimSpace(os.Getenv(EnvEndpoint)),
		MNSEndpoint: strings.TrimSpace(os.Getenv(EnvMNSEndpoint)),
		AccountID:   firstEnv(EnvAccountID, "FC_ACCOUNT_ID"),
		Region:      firstEnv(EnvRegion, "FC_REGION", "ALIBABA_CLOUD_REGION_ID"),
	}
	if v := strings.TrimSpace(os.Getenv(EnvTimeout)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Options{}, fmt.Errorf("%s=%q: want a positive duration such as 10s", EnvTimeout, v)
		}
		o.Timeout = d
	}
	if o.Endpoint != "" {
		if _, err := parseBaseURL(o.Endpoint); err != nil {
			return Options{}, fmt.Errorf("%s: %w", EnvEndpoint, err)
		}
	}
	if o.MNSEndpoint != "" {
		if _, err := parseBaseURL(o.MNSEndpoint); err != nil {
			return Options{}, fmt.Errorf("%s: %w", EnvMNSEndpoint, err)
		}
	}
	if path := strings.TrimSpace(os.Getenv(EnvRoots)); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return Options{}, fmt.Errorf("%s: %w", EnvRoots, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return Options{}, fmt.Errorf("%s: %s: no PEM certificate found", EnvRoots, path)
		}
		o.RootCAs = pool
	}
	return o, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) region() string {
	if o.Region != "" {
		return o.Region
	}
	return "cn-hangzhou"
}

// parseBaseURL accepts http(s)://host[:port][/] and nothing else.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("invalid URL %q: missing host", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("invalid URL %q: want a base URL without path, query or user", raw)
	}
	return u, nil
}

// isLoopback reports whether host (no port) is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

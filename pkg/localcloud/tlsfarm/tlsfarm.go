// Package tlsfarm runs real TLS endpoints on loopback, one listener per
// endpoint, each serving by SNI whatever its Source says is deployed at the
// moment of the handshake. A plain-HTTP companion listener answers with a
// redirect to HTTPS only when the endpoint's policy forces HTTPS.
package tlsfarm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Policy is what an endpoint enforces besides its certificate.
type Policy struct {
	ForceHTTPS bool          // the HTTP listener answers 301 to https://<host><path>
	HSTSMaxAge time.Duration // > 0: HTTPS answers carry Strict-Transport-Security
	MinTLS     uint16        // tls.VersionTLS10…13; 0 = Go's server default (TLS 1.2)
	MaxTLS     uint16        // 0 = highest supported (TLS 1.3)
}

// Source tells the farm what each endpoint serves. It is called on every
// handshake and request, concurrently, so it must be safe for concurrent use
// and cheap (see Certificate for cached parsing).
type Source interface {
	// Serving returns the certificate (with the exact chain to send) that
	// endpoint id serves for the SNI name (empty when the client sent none).
	// nil, nil means nothing is deployed: the handshake fails with an alert.
	// The farm reuses its handshake configuration while the same pointer
	// comes back, so a returned certificate must not be modified afterwards:
	// deploy a new one instead.
	Serving(id, sni string) (*tls.Certificate, error)
	// Policy returns the endpoint's current policy.
	Policy(id string) Policy
}

// ErrNothingDeployed is the handshake error when the Source has no
// certificate for an endpoint.
var ErrNothingDeployed = errors.New("tlsfarm: no certificate deployed on this endpoint")

// Farm owns the endpoints' listeners. Its methods are safe for concurrent use.
type Farm struct {
	src Source

	mu        sync.Mutex
	endpoints map[string]*endpoint
	closed    bool
	// quiet drops the per-connection handshake errors http.Server would log:
	// failed handshakes are expected here (nothing deployed, version too low).
	quiet *log.Logger
	wg    sync.WaitGroup
}

type endpoint struct {
	tlsAddr, httpAddr string
	servers           []*http.Server
}

// New returns a Farm with no endpoints.
func New(src Source) *Farm {
	return &Farm{src: src, endpoints: map[string]*endpoint{}, quiet: log.New(io.Discard, "", 0)}
}

// Listen opens endpoint id: a TLS listener on 127.0.0.1:0 and, when withHTTP,
// a plain-HTTP one. It fails when id is already listening or the farm is closed.
func (f *Farm) Listen(id string, withHTTP bool) (tlsAddr, httpAddr string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", "", fmt.Errorf("tlsfarm: endpoint %q: farm is closed", id)
	}
	if _, dup := f.endpoints[id]; dup {
		return "", "", fmt.Errorf("tlsfarm: endpoint %q: already listening", id)
	}
	ep := &endpoint{}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", fmt.Errorf("tlsfarm: endpoint %q: listen tls: %w", id, err)
	}
	ep.tlsAddr = tln.Addr().String()
	tsrv := &http.Server{
		Handler:           f.httpsHandler(id),
		TLSConfig:         &tls.Config{GetConfigForClient: f.configFor(id)},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          f.quiet,
	}
	ep.servers = append(ep.servers, tsrv)
	var hln net.Listener
	if withHTTP {
		hln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tln.Close()
			return "", "", fmt.Errorf("tlsfarm: endpoint %q: listen http: %w", id, err)
		}
		ep.httpAddr = hln.Addr().String()
		ep.servers = append(ep.servers, &http.Server{
			Handler:           f.httpHandler(id),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       30 * time.Second,
			ErrorLog:          f.quiet,
		})
	}
	f.endpoints[id] = ep
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = tsrv.Serve(tls.NewListener(tln, tsrv.TLSConfig))
	}()
	if hln != nil {
		hsrv := ep.servers[1]
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			_ = hsrv.Serve(hln)
		}()
	}
	return ep.tlsAddr, ep.httpAddr, nil
}

// Addrs returns the addresses of a listening endpoint.
func (f *Farm) Addrs(id string) (tlsAddr, httpAddr string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep, ok := f.endpoints[id]
	if !ok {
		return "", "", false
	}
	return ep.tlsAddr, ep.httpAddr, true
}

// Stop closes one endpoint's listeners and connections. Stopping an unknown
// id is not an error.
func (f *Farm) Stop(id string) error {
	f.mu.Lock()
	ep := f.endpoints[id]
	delete(f.endpoints, id)
	f.mu.Unlock()
	if ep == nil {
		return nil
	}
	return ep.close()
}

func (ep *endpoint) close() error {
	var errs []error
	for _, s := range ep.servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops every endpoint and waits until all their goroutines have
// returned. Later Listen calls fail.
func (f *Farm) Close() error {
	f.mu.Lock()
	f.closed = true
	eps := f.endpoints
	f.endpoints = map[string]*endpoint{}
	f.mu.Unlock()
	var errs []error
	for id, ep := range eps {
		if err := ep.close(); err != nil {
			errs = append(errs, fmt.Errorf("tlsfarm: endpoint %q: %w", id, err))
		}
	}
	f.wg.Wait()
	return errors.Join(errs...)
}

// configFor returns the per-handshake configuration: the certificate the
// Source serves now for the client's SNI and the endpoint's version bounds.
// The Source is asked on every handshake (a deployment shows up on the next
// one); the tls.Config built from its answer is reused while the answer is
// the same certificate value and policy, so a handshake does not allocate a
// fresh Config (and its lazily derived ticket keys) each time.
func (f *Farm) configFor(id string) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	var cache configCache
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cert, err := f.src.Serving(id, hello.ServerName)
		if err != nil {
			return nil, fmt.Errorf("tlsfarm: endpoint %q: %w", id, err)
		}
		if cert == nil {
			return nil, ErrNothingDeployed
		}
		return cache.get(cert, f.src.Policy(id)), nil
	}
}

// configCache holds the tls.Configs of one endpoint, keyed by the certificate
// pointer and the version bounds. A Source hands out the same pointer while a
// certificate stays deployed (see Certificate), so the set stays small: one
// entry per certificate the endpoint serves (SNI extensions included). It is
// bounded so that a Source returning fresh pointers cannot grow it.
type configCache struct {
	mu    sync.Mutex
	items map[configKey]*tls.Config
}

type configKey struct {
	cert           *tls.Certificate
	minTLS, maxTLS uint16
}

const maxConfigsPerEndpoint = 64

func (c *configCache) get(cert *tls.Certificate, p Policy) *tls.Config {
	k := configKey{cert: cert, minTLS: p.MinTLS, maxTLS: p.MaxTLS}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.items[k]; ok {
		return cfg
	}
	if c.items == nil || len(c.items) >= maxConfigsPerEndpoint {
		c.items = map[configKey]*tls.Config{} // stale entries (replaced certificates) go at once
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   p.MinTLS,
		MaxVersion:   p.MaxTLS,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	c.items[k] = cfg
	return cfg
}

func (f *Farm) httpsHandler(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := f.src.Policy(id)
		if p.HSTSMaxAge > 0 {
			w.Header().Set("Strict-Transport-Security", "max-age="+strconv.FormatInt(int64(p.HSTSMaxAge/time.Second), 10))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "certflow local endpoint %s (%s)\n", id, r.Host)
	})
}

func (f *Farm) httpHandler(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.src.Policy(id).ForceHTTPS {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h // the redirect names the site, as a real edge does, not our loopback port
			}
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "certflow local endpoint %s (%s, plain http)\n", id, r.Host)
	})
}

// Certificate parses a PEM chain and key through the farm-independent cache
// shared by all callers of this function (content-addressed, so sharing it is
// safe; it is the package's only state). Prefer a CertCache of your own when
// you want its size or lifetime under your control.
func Certificate(chainPEM, keyPEM []byte) (*tls.Certificate, error) {
	return sharedCerts.Certificate(chainPEM, keyPEM)
}

// sharedCerts memoises parsing for Certificate; a pure function of its input.
var sharedCerts = NewCertCache(4096)

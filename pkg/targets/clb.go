package targets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/rollout"
)

// CLB is an HTTPS listener of a classic load balancer, or one SNI domain extension on it.
// Every call goes to the load balancer's own region (case C01): a server certificate
// uploaded in another region cannot be bound there.
type CLB struct {
	clients *cloud.Clients
	t       config.Target
}

// ID implements Target.
func (c *CLB) ID() string { return c.t.ID() }

// listenerState is what the listener serves now.
type listenerState struct {
	certID      string // default certificate, or the SNI extension's certificate
	extensionID string // SNI: the domain extension to update; "" = none yet
	attr        *slb.DescribeLoadBalancerHTTPSListenerAttributeResponse
}

func (c *CLB) client() (*slb.Client, error) { return c.clients.SLB(c.t.Region) }

func (c *CLB) readListener(ctx context.Context, call *rollout.Call) (*listenerState, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	req := slb.CreateDescribeLoadBalancerHTTPSListenerAttributeRequest()
	req.RegionId = c.t.Region
	req.LoadBalancerId = c.t.LoadBalancerID
	req.ListenerPort = requests.NewInteger(c.t.Port)
	var resp *slb.DescribeLoadBalancerHTTPSListenerAttributeResponse
	if err := call.Do(ctx, "DescribeLoadBalancerHTTPSListenerAttribute", func() (err error) {
		resp, err = cl.DescribeLoadBalancerHTTPSListenerAttribute(req)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read listener %s:%d in %s: %w", c.t.LoadBalancerID, c.t.Port, c.t.Region, err)
	}
	st := &listenerState{certID: resp.ServerCertificateId, attr: resp}
	if c.t.SNIDomain == "" {
		return st, nil
	}
	st.certID = ""
	for _, ext := range resp.DomainExtensions.DomainExtension {
		if strings.EqualFold(strings.TrimSuffix(ext.Domain, "."), c.t.SNIDomain) {
			st.certID, st.extensionID = ext.ServerCertificateId, ext.DomainExtensionId
		}
	}
	return st, nil
}

// listCerts returns the region's server certificate store as ID → fingerprint.
func (c *CLB) listCerts(ctx context.Context, call *rollout.Call) (map[string]string, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	req := slb.CreateDescribeServerCertificatesRequest()
	req.RegionId = c.t.Region
	var resp *slb.DescribeServerCertificatesResponse
	if err := call.Do(ctx, "DescribeServerCertificates", func() (err error) {
		resp, err = cl.DescribeServerCertificates(req)
		return err
	}); err != nil {
		return nil, fmt.Errorf("list server certificates in %s: %w", c.t.Region, err)
	}
	store := make(map[string]string, len(resp.ServerCertificates.ServerCertificate))
	for _, sc := range resp.ServerCertificates.ServerCertificate {
		store[sc.ServerCertificateId] = sc.Fingerprint
	}
	return store, nil
}

// findIn returns the ID of a certificate in store with cert's fingerprint, the smallest
// when there are several, so every listener settles on the same one (C02).
func findIn(store map[string]string, cert *Cert) string {
	best := ""
	for id, fp := range store {
		if sameFingerprint(fp, cert.SHA1) && (best == "" || id < best) {
			best = id
		}
	}
	return best
}

// serverCertName is unique per certificate, ASCII, starts with a letter and stays well
// under SLB's 80 characters (and the 63 that C02 asks for).
func serverCertName(cert *Cert) string {
	return fmt.Sprintf("certflow-%d-%s", cert.CASID, cert.SHA256[:16])
}

func (c *CLB) uploadCert(ctx context.Context, call *rollout.Call, cert *Cert) (string, error) {
	cl, err := c.client()
	if err != nil {
		return "", err
	}
	req := slb.CreateUploadServerCertificateRequest()
	req.RegionId = c.t.Region
	req.ServerCertificateName = serverCertName(cert)
	req.ServerCertificate = string(cert.ChainPEM)
	req.PrivateKey = string(cert.KeyPEM)
	var resp *slb.UploadServerCertificateResponse
	if err := call.Do(ctx, "UploadServerCertificate", func() (err error) {
		resp, err = cl.UploadServerCertificate(req)
		return err
	}); err != nil {
		return "", fmt.Errorf("upload server certificate to %s: %w", c.t.Region, err)
	}
	if !sameFingerprint(resp.Fingerprint, cert.SHA1) {
		return "", fmt.Errorf("upload server certificate to %s: SLB reports fingerprint %s, want %s", c.t.Region, resp.Fingerprint, colonHex(cert.SHA1))
	}
	return resp.ServerCertificateId, nil
}

// ensureCert finds cert in the load balancer's region or uploads it there. Listeners of
// one rollout in the same region take turns (Cert.lock), so the certificate is uploaded
// once and the others reuse it (C02).
func (c *CLB) ensureCert(ctx context.Context, call *rollout.Call, cert *Cert, store map[string]string) (string, error) {
	if id := findIn(store, cert); id != "" {
		return id, nil
	}
	unlock := cert.lock("slb/" + c.t.Region)
	defer unlock()
	store, err := c.listCerts(ctx, call)
	if err != nil {
		return "", err
	}
	if id := findIn(store, cert); id != "" {
		return id, nil
	}
	id, err := c.uploadCert(ctx, call, cert)
	if err == nil {
		return id, nil
	}
	// Another delivery of the same event may have uploaded it meanwhile: reuse it.
	if store, lerr := c.listCerts(ctx, call); lerr == nil {
		if again := findIn(store, cert); again != "" {
			return again, nil
		}
	}
	return "", err
}

// servesCert reports whether certID in the region's store is cert.
func (c *CLB) servesCert(ctx context.Context, call *rollout.Call, certID string, cert *Cert) (bool, error) {
	if certID == "" {
		return false, nil
	}
	cl, err := c.client()
	if err != nil {
		return false, err
	}
	req := slb.CreateDescribeServerCertificatesRequest()
	req.RegionId = c.t.Region
	req.ServerCertificateId = certID
	var resp *slb.DescribeServerCertificatesResponse
	if err := call.Do(ctx, "DescribeServerCertificates", func() (err error) {
		resp, err = cl.DescribeServerCertificates(req)
		return err
	}); err != nil {
		return false, fmt.Errorf("read server certificate %s in %s: %w", certID, c.t.Region, err)
	}
	for _, sc := range resp.ServerCertificates.ServerCertificate {
		if sc.ServerCertificateId == certID {
			return sameFingerprint(sc.Fingerprint, cert.SHA1), nil
		}
	}
	return false, nil
}

// Serves implements Target.
func (c *CLB) Serves(ctx context.Context, call *rollout.Call, cert *Cert) (bool, error) {
	st, err := c.readListener(ctx, call)
	if err != nil {
		return false, err
	}
	return c.servesCert(ctx, call, st.certID, cert)
}

// Deploy implements Target.
func (c *CLB) Deploy(ctx context.Context, call *rollout.Call, cert *Cert) (rollout.Status, error) {
	st, err := c.readListener(ctx, call)
	if err != nil {
		return "", err
	}
	store, err := c.listCerts(ctx, call)
	if err != nil {
		return "", err
	}
	// Compare fingerprints, not IDs: the same certificate may sit in the store twice.
	if st.certID != "" && sameFingerprint(store[st.certID], cert.SHA1) {
		return rollout.StatusUnchanged, nil
	}
	certID, err := c.ensureCert(ctx, call, cert, store)
	if err != nil {
		return "", err
	}
	switch {
	case c.t.SNIDomain == "":
		err = c.setDefault(ctx, call, st, certID)
	case st.extensionID != "":
		err = c.setExtension(ctx, call, st.extensionID, certID)
	default:
		err = c.createExtension(ctx, call, certID)
	}
	if err != nil {
		return "", c.notVisible(err, certID, cert)
	}
	back, err := c.readListener(ctx, call)
	if err != nil {
		return "", err
	}
	if back.certID != certID {
		return "", confirmError("listener %s:%d in %s still serves server certificate %q after the update, want %q",
			c.t.LoadBalancerID, c.t.Port, c.t.Region, back.certID, certID)
	}
	return rollout.StatusDeployed, nil
}

// notVisible names both regions when SLB cannot see the server certificate from the
// load balancer's region (C01), so the cause is plain without reading SLB's message.
func (c *CLB) notVisible(err error, certID string, cert *Cert) error {
	var ae *cloud.APIError
	if !errors.As(err, &ae) || !strings.EqualFold(ae.Code, "ServerCertificateId.NotFound") {
		return err
	}
	return fmt.Errorf("server certificate %s (CAS certificate %d from %s) is not visible to load balancer %s in %s: %w",
		certID, cert.CASID, cert.CASRegion, c.t.LoadBalancerID, c.t.Region, err)
}

// setDefault swaps the listener's default certificate, echoing the settings whose
// dependents the API checks (StickySession with its type and cookie, Bandwidth,
// HealthCheck), so the update changes nothing else.
func (c *CLB) setDefault(ctx context.Context, call *rollout.Call, st *listenerState, certID string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	a := st.attr
	req := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
	req.RegionId = c.t.Region
	req.LoadBalancerId = c.t.LoadBalancerID
	req.ListenerPort = requests.NewInteger(c.t.Port)
	req.ServerCertificateId = certID
	if a.StickySession != "" {
		req.StickySession = a.StickySession
		if a.StickySession == "on" {
			req.StickySessionType = a.StickySessionType
			switch a.StickySessionType {
			case "insert":
				req.CookieTimeout = requests.NewInteger(a.CookieTimeout)
			case "server":
				req.Cookie = a.Cookie
			}
		}
	}
	if a.HealthCheck != "" {
		req.HealthCheck = a.HealthCheck
	}
	if a.Bandwidth != 0 {
		req.Bandwidth = requests.NewInteger(a.Bandwidth)
	}
	return call.Do(ctx, "SetLoadBalancerHTTPSListenerAttribute", func() error {
		_, err := cl.SetLoadBalancerHTTPSListenerAttribute(req)
		return err
	})
}

func (c *CLB) setExtension(ctx context.Context, call *rollout.Call, extID, certID string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	req := slb.CreateSetDomainExtensionAttributeRequest()
	req.RegionId = c.t.Region
	req.DomainExtensionId = extID
	req.ServerCertificateId = certID
	return call.Do(ctx, "SetDomainExtensionAttribute", func() error {
		_, err := cl.SetDomainExtensionAttribute(req)
		return err
	})
}

func (c *CLB) createExtension(ctx context.Context, call *rollout.Call, certID string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	req := slb.CreateCreateDomainExtensionRequest()
	req.RegionId = c.t.Region
	req.LoadBalancerId = c.t.LoadBalancerID
	req.ListenerPort = requests.NewInteger(c.t.Port)
	req.Domain = c.t.SNIDomain
	req.ServerCertificateId = certID
	return call.Do(ctx, "CreateDomainExtension", func() error {
		_, err := cl.CreateDomainExtension(req)
		return err
	})
}

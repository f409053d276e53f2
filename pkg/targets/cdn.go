package targets

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/rollout"
)

// CDN is one accelerated domain (concrete, or a CDN wildcard domain written
// ".example.com"). The certificate is referenced by its CAS ID (the "cas" form), so the
// key never travels to CDN through certflow (case C04).
type CDN struct {
	clients *cloud.Clients
	t       config.Target
}

// ID implements Target.
func (c *CDN) ID() string { return c.t.ID() }

// read returns the domain's certificate info ("" fields when HTTPS is off).
func (c *CDN) read(ctx context.Context, call *rollout.Call) (cdn.CertInfo, error) {
	cl, err := c.clients.CDN()
	if err != nil {
		return cdn.CertInfo{}, err
	}
	req := cdn.CreateDescribeDomainCertificateInfoRequest()
	req.DomainName = c.t.Domain
	var resp *cdn.DescribeDomainCertificateInfoResponse
	if err := call.Do(ctx, "DescribeDomainCertificateInfo", func() (err error) {
		resp, err = cl.DescribeDomainCertificateInfo(req)
		return err
	}); err != nil {
		return cdn.CertInfo{}, fmt.Errorf("read cdn domain %s: %w", c.t.Domain, err)
	}
	for _, info := range resp.CertInfos.CertInfo {
		if info.DomainName == "" || info.DomainName == c.t.Domain {
			return info, nil
		}
	}
	return cdn.CertInfo{}, nil
}

// serving reports whether info shows cert switched on. The CAS ID decides; when the
// domain also reports the served PEM, its fingerprint must agree.
func serving(info cdn.CertInfo, cert *Cert) bool {
	return info.ServerCertificateStatus == "on" && info.CertId == strconv.FormatInt(cert.CASID, 10)
}

// Serves implements Target.
func (c *CDN) Serves(ctx context.Context, call *rollout.Call, cert *Cert) (bool, error) {
	info, err := c.read(ctx, call)
	return err == nil && serving(info, cert), err
}

// Deploy implements Target.
func (c *CDN) Deploy(ctx context.Context, call *rollout.Call, cert *Cert) (rollout.Status, error) {
	info, err := c.read(ctx, call)
	if err != nil {
		return "", err
	}
	if serving(info, cert) {
		return rollout.StatusUnchanged, nil
	}
	if cert.CASID <= 0 || cert.CASRegion == "" {
		// Checked here, not left to CDN's generic MissingParameter (C04).
		return "", fmt.Errorf("cdn %s: the cas form needs a CAS certificate ID and region (got %d, %q)", c.t.Domain, cert.CASID, cert.CASRegion)
	}
	cl, err := c.clients.CDN()
	if err != nil {
		return "", err
	}
	req := cdn.CreateSetCdnDomainSSLCertificateRequest()
	req.DomainName = c.t.Domain
	req.SSLProtocol = "on"
	req.CertType = "cas"
	req.CertId = requests.NewInteger64(cert.CASID)
	req.CertRegion = cert.CASRegion
	req.CertName = cert.Name
	if err := call.Do(ctx, "SetCdnDomainSSLCertificate", func() error {
		_, err := cl.SetCdnDomainSSLCertificate(req)
		return err
	}); err != nil {
		return "", fmt.Errorf("set certificate on cdn domain %s: %w", c.t.Domain, err)
	}
	back, err := c.read(ctx, call)
	if err != nil {
		return "", err
	}
	if !serving(back, cert) {
		return "", confirmError("cdn domain %s reports certificate %q (https %s) after the update, want CAS certificate %d",
			c.t.Domain, back.CertId, back.ServerCertificateStatus, cert.CASID)
	}
	return rollout.StatusDeployed, nil
}

// CDNDomains lists the account's CDN domains, every page; plan.Build expands CDN patterns
// against it. Calls go through a fresh Call of gate.
func CDNDomains(clients *cloud.Clients, gate *rollout.Gate) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		call := gate.NewCall()
		var out []string
		for page := 1; ; page++ {
			cl, err := clients.CDN()
			if err != nil {
				return nil, err
			}
			req := cdn.CreateDescribeUserDomainsRequest()
			req.PageNumber = requests.NewInteger(page)
			req.PageSize = requests.NewInteger(500)
			var resp *cdn.DescribeUserDomainsResponse
			if err := call.Do(ctx, "DescribeUserDomains", func() (err error) {
				resp, err = cl.DescribeUserDomains(req)
				return err
			}); err != nil {
				return nil, fmt.Errorf("list cdn domains (page %d): %w", page, err)
			}
			for _, d := range resp.Domains.PageData {
				out = append(out, d.DomainName)
			}
			if len(resp.Domains.PageData) == 0 || int64(len(out)) >= resp.TotalCount {
				return out, nil
			}
		}
	}
}

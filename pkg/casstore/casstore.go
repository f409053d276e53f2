// Package casstore reads certificates from Certificate Management Service (CAS): one
// certificate with its key by ID, and the newest valid certificate for a host name.
// Every call goes through a rollout.Call, so quotas and retries apply.
package casstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/rollout"
)

// Store reads certificates from one CAS site (cn-hangzhou or ap-southeast-1).
type Store struct {
	Clients *cloud.Clients
	Region  string
}

// Detail is a certificate as CAS holds it. KeyPEM is empty when CAS has no key.
// Its String never shows the key.
type Detail struct {
	ID      int64
	Name    string
	CertPEM []byte
	KeyPEM  []byte
}

// String names the certificate without its material.
func (d Detail) String() string { return fmt.Sprintf("CAS certificate %d (%s)", d.ID, d.Name) }

// Get returns certificate id with its chain and key. Errors name the CAS site.
func (s *Store) Get(ctx context.Context, call *rollout.Call, id int64) (Detail, error) {
	cl, err := s.Clients.CAS(s.Region)
	if err != nil {
		return Detail{}, fmt.Errorf("cas %s: %w", s.Region, err)
	}
	req := cas.CreateGetUserCertificateDetailRequest()
	req.CertId = requests.NewInteger64(id)
	req.CertFilter = requests.NewBoolean(false)
	var resp *cas.GetUserCertificateDetailResponse
	if err := call.Do(ctx, "GetUserCertificateDetail", func() (err error) {
		resp, err = cl.GetUserCertificateDetail(req)
		return err
	}); err != nil {
		return Detail{}, fmt.Errorf("cas %s: certificate %d: %w", s.Region, id, err)
	}
	if strings.TrimSpace(resp.Cert) == "" {
		return Detail{}, fmt.Errorf("cas %s: certificate %d: CAS returned no certificate body", s.Region, id)
	}
	return Detail{ID: id, Name: resp.Name, CertPEM: []byte(resp.Cert), KeyPEM: []byte(resp.Key)}, nil
}

// Summary is one certificate in CAS's list, without material.
type Summary struct {
	ID      int64
	Name    string
	Sans    []string
	EndMs   int64 // expiry, epoch milliseconds
	SHA256  string
	Expired bool
}

// List returns the account's valid certificates (issued and uploaded), every page.
func (s *Store) List(ctx context.Context, call *rollout.Call) ([]Summary, error) {
	cl, err := s.Clients.CAS(s.Region)
	if err != nil {
		return nil, fmt.Errorf("cas %s: %w", s.Region, err)
	}
	var out []Summary
	for page := 1; ; page++ {
		req := cas.CreateListUserCertificateOrderRequest()
		req.OrderType = "CERT"
		req.CurrentPage = requests.NewInteger(page)
		req.ShowSize = requests.NewInteger(50)
		var resp *cas.ListUserCertificateOrderResponse
		if err := call.Do(ctx, "ListUserCertificateOrder", func() (err error) {
			resp, err = cl.ListUserCertificateOrder(req)
			return err
		}); err != nil {
			return nil, fmt.Errorf("cas %s: list certificates (page %d): %w", s.Region, page, err)
		}
		for _, c := range resp.CertificateOrderList {
			sans := strings.Split(c.Sans, ",")
			if c.Sans == "" {
				sans = []string{c.CommonName}
			}
			for i := range sans {
				sans[i] = strings.TrimSpace(sans[i])
			}
			out = append(out, Summary{ID: c.CertificateId, Name: c.Name, Sans: sans, EndMs: c.CertEndTime,
				SHA256: strings.ToLower(c.Sha2), Expired: c.Expired})
		}
		if len(resp.CertificateOrderList) == 0 || int64(page*50) >= resp.TotalCount {
			return out, nil
		}
	}
}

// Latest picks, for name, the unexpired certificate that covers it and expires last
// (the one a renewal produced). ok is false when none covers name.
func Latest(list []Summary, name string) (Summary, bool) {
	var best Summary
	found := false
	for _, c := range list {
		if c.Expired || !certs.Covers(c.Sans, name) {
			continue
		}
		if !found || c.EndMs > best.EndMs || (c.EndMs == best.EndMs && c.ID > best.ID) {
			best, found = c, true
		}
	}
	return best, found
}

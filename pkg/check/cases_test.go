package check

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/probe"
)

// C07: a listener that sends the leaf without its intermediate is reported as an
// incomplete chain — its own finding — not as an untrusted root, because the checker knows
// the intermediate from the expected certificate's chain in CAS.
func TestC07LeafOnlyListenerIsIncompleteChain(t *testing.T) {
	e := newEnv(t)
	_, leaf := e.upload(t, "shop.example.com")
	cl, err := e.clients.SLB("cn-beijing")
	if err != nil {
		t.Fatal(err)
	}
	up := slb.CreateUploadServerCertificateRequest()
	up.RegionId = "cn-beijing"
	up.ServerCertificateName = "leaf-only"
	up.ServerCertificate = string(leaf.CertPEM()) // no intermediate
	up.PrivateKey = string(leaf.KeyPEM())
	resp, err := cl.UploadServerCertificate(up)
	if err != nil {
		t.Fatal(err)
	}
	set := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
	set.RegionId = "cn-beijing"
	set.LoadBalancerId = "lb-2zelocalshop01"
	set.ListenerPort = requests.NewInteger(443)
	set.ServerCertificateId = resp.ServerCertificateId
	if _, err := cl.SetLoadBalancerHTTPSListenerAttribute(set); err != nil {
		t.Fatal(err)
	}

	rep := runCheck(t, e.service())
	var shop *EndpointResult
	for i := range rep.Endpoints {
		if rep.Endpoints[i].Name == "shop.example.com" {
			shop = &rep.Endpoints[i]
		}
	}
	if shop == nil {
		t.Fatal("shop.example.com was not checked")
	}
	if !shop.Has(probe.CodeIncompleteChain) || shop.Has(probe.CodeUntrusted) {
		t.Errorf("shop.example.com findings %+v: want incomplete_chain, not untrusted", shop.Findings)
	}
	if shop.Served == nil || shop.Served.SHA256 != leaf.SHA256() {
		t.Errorf("served %+v, want the expected leaf", shop.Served)
	}
}

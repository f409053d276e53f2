package localcloud

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// BenchmarkGetUserCertificateDetail measures one signed, verified CAS call through the SDK.
func BenchmarkGetUserCertificateDetail(b *testing.B) {
	c, err := Start(b.Context(), Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl := newClients(b, c, nil)
	for b.Loop() {
		req := cas.CreateGetUserCertificateDetailRequest()
		req.CertId = "1000001"
		if _, err := cl.cas.GetUserCertificateDetail(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetHTTPSListener measures a listener certificate swap through the SDK.
func BenchmarkSetHTTPSListener(b *testing.B) {
	c, err := Start(b.Context(), Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl := newClients(b, c, nil)
	hz := cl.slb("cn-hangzhou")
	for b.Loop() {
		req := slb.CreateSetLoadBalancerHTTPSListenerAttributeRequest()
		req.LoadBalancerId, req.ListenerPort = "lb-bp1localweb01", "443"
		if _, err := hz.SetLoadBalancerHTTPSListenerAttribute(req); err != nil {
			b.Fatal(err)
		}
	}
}

package config_test

import (
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/config"
)

// TestRegionsAccepted checks that real regions load for every field that takes one:
// regions the SDK's endpoint maps lack (cn-wulanchabu, me-central-1), regions only a map
// has (slb: cn-shenzhen-finance-1; cdn: ap-southeast-5), and the regions the local
// cloud's estates use.
func TestRegionsAccepted(t *testing.T) {
	regions := []string{
		"cn-hangzhou", "cn-beijing", "cn-shanghai", "cn-wulanchabu", "cn-heyuan",
		"cn-hongkong", "ap-southeast-1", "ap-southeast-7", "me-central-1", "eu-central-1",
		"cn-shenzhen-finance-1", "ap-southeast-5",
	}
	if _, ok := slb.GetEndpointMap()["cn-shenzhen-finance-1"]; !ok {
		t.Fatal("slb endpoint map lacks cn-shenzhen-finance-1: pick another map-only region")
	}
	if _, ok := cdn.GetEndpointMap()["ap-southeast-5"]; !ok {
		t.Fatal("cdn endpoint map lacks ap-southeast-5: pick another map-only region")
	}
	for _, r := range regions {
		t.Run(r, func(t *testing.T) {
			src := strings.ReplaceAll(`targets:
  - kind: clb
    region: REGION
    loadBalancerId: lb-abc123
    port: 443
    names: [www.example.com]
  - kind: ecs
    region: REGION
    instanceId: i-abc
    certPath: /c.pem
    keyPath: /c.key
    names: [www.example.com]
airec:
  region: REGION
  instanceId: airec-cn-a1
  domains: [r.example.com]
`, "REGION", r)
			cfg, err := config.Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Targets[0].Region != r || cfg.Targets[1].Region != r || cfg.AIRec.Region != r {
				t.Errorf("regions = %s, %s, %s; want %s", cfg.Targets[0].Region, cfg.Targets[1].Region, cfg.AIRec.Region, r)
			}
		})
	}
}

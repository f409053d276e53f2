package config

import (
	"slices"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cdn"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// publicRegions are current public Alibaba Cloud regions the SDK's ECS, SLB and CDN
// endpoint maps leave out (those maps list only regions whose endpoint is not the
// default pattern). The union with the maps is the set a region field may name.
func publicRegions() []string {
	return []string{
		"cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-beijing", "cn-zhangjiakou",
		"cn-huhehaote", "cn-wulanchabu", "cn-shenzhen", "cn-heyuan", "cn-guangzhou",
		"cn-chengdu", "cn-nanjing", "cn-fuzhou", "cn-hongkong",
		"ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-3",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-south-1",
		"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "me-east-1", "me-central-1",
	}
}

// knownRegions is the sorted set of region IDs the targets file accepts. It is built
// during package initialisation and only read afterwards: each SDK GetEndpointMap
// fills a package variable on first call without synchronisation, and initialisation
// happens before any goroutine of the program, so this first call cannot race with
// pkg/cloud's own (later, read-only) calls.
var knownRegions = buildKnownRegions(ecs.GetEndpointMap(), slb.GetEndpointMap(), cdn.GetEndpointMap())

func buildKnownRegions(maps ...map[string]string) []string {
	out := publicRegions()
	for _, m := range maps {
		for r := range m {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isKnownRegion reports whether r is an Alibaba Cloud region ID certflow knows.
func isKnownRegion(r string) bool {
	_, ok := slices.BinarySearch(knownRegions, r)
	return ok
}

// closestRegion returns the known region spelled most like r, or "" when none is
// close enough to be a plausible typo.
func closestRegion(r string) string {
	return closest(strings.ToLower(strings.TrimSpace(r)), knownRegions, 4)
}

package casstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud/localtest"
	"github.com/certflow/certflow/pkg/rollout"
)

func TestLatestPicksTheNewestCoveringCertificate(t *testing.T) {
	list := []Summary{
		{ID: 1, Sans: []string{"*.example.com"}, EndMs: 100},
		{ID: 2, Sans: []string{"*.example.com"}, EndMs: 300},
		{ID: 3, Sans: []string{"*.example.com"}, EndMs: 900, Expired: true},
		{ID: 4, Sans: []string{"www.example.net"}, EndMs: 999},
		{ID: 5, Sans: []string{"www.example.com"}, EndMs: 300},
	}
	tests := []struct {
		name string
		want int64
		ok   bool
	}{
		{"www.example.com", 5, true}, // same expiry as 2: the later ID (a re-upload) wins
		{"img.example.com", 2, true},
		{"A.Example.COM.", 2, true},
		{"a.b.example.com", 0, false}, // one label only (C20)
		{"www.example.org", 0, false},
	}
	for _, tc := range tests {
		got, ok := Latest(list, tc.name)
		if ok != tc.ok || got.ID != tc.want {
			t.Errorf("Latest(%q) = %d, %v; want %d, %v", tc.name, got.ID, ok, tc.want, tc.ok)
		}
	}
}

func TestGetAndListAgainstTheLocalCloud(t *testing.T) {
	e := localtest.Start(t, nil)
	c, clients := e.Cloud, e.Clients
	casCl, err := clients.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	// 60 more certificates: List must page (50 a page).
	var lastID int64
	for i := range 60 {
		leaf, err := c.CA().Issue(localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.ECDSAP256,
			NotAfter: time.Now().Add(time.Duration(100+i) * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		req := cas.CreateUploadUserCertificateRequest()
		req.Name, req.Cert, req.Key = "c"+leaf.SHA256()[:10], string(c.CA().ChainPEM(leaf)), string(leaf.KeyPEM())
		resp, err := casCl.UploadUserCertificate(req)
		if err != nil {
			t.Fatal(err)
		}
		lastID = resp.CertId
	}
	store := &Store{Clients: clients, Region: "cn-hangzhou"}
	call := rollout.NewGate(nil, rollout.GateOptions{}).NewCall()
	list, err := store.List(t.Context(), call)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 61 {
		t.Fatalf("listed %d certificates, want 61 (the estate's + 60)", len(list))
	}
	best, ok := Latest(list, "www.example.com")
	if !ok || best.ID != lastID {
		t.Errorf("latest for www.example.com = %d, want %d (the longest-lived)", best.ID, lastID)
	}
	d, err := store.Get(t.Context(), call, lastID)
	if err != nil || len(d.CertPEM) == 0 || len(d.KeyPEM) == 0 {
		t.Fatalf("Get(%d) = %v, %v", lastID, d, err)
	}
	if s := d.String(); s != "CAS certificate "+strconv.FormatInt(lastID, 10)+" ("+d.Name+")" {
		t.Errorf("String() = %q shows more than the ID and name", s)
	}
	if _, err := store.Get(t.Context(), call, 424242); err == nil {
		t.Error("Get of a missing certificate succeeded")
	}
}

// Package localtest starts a local cloud for tests, with SDK clients pointed at it and the
// helpers every package's tests need: a certificate issued into CAS, the SHA-256 an
// endpoint serves, the environment the CLI and functions read.
package localtest

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cas"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localcloud"
)

// Env is a running local cloud (closed when the test ends) and clients for it.
type Env struct {
	Cloud   *localcloud.Cloud
	Info    localcloud.Info
	Clients *cloud.Clients
}

// Start starts a local cloud with estate (nil = the default) in a test folder. Proxy
// variables are cleared for the test, so nothing diverts loopback traffic.
func Start(t testing.TB, estate []byte) *Env {
	t.Helper()
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "")
	}
	c, err := localcloud.Start(t.Context(), localcloud.Options{Dir: t.TempDir(), Estate: estate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	cl := cloud.New(cloud.Options{Endpoint: info.Endpoint, MNSEndpoint: info.MNSEndpoint, AccountID: info.AccountID, Region: info.Region},
		cloud.NewProvider(cloud.Credentials{AccessKeyID: info.AccessKeyID, AccessKeySecret: info.AccessKeySecret}))
	return &Env{Cloud: c, Info: info, Clients: cl}
}

// SetEnv points the process environment (CLI commands, app.Load) at the cloud.
func (e *Env) SetEnv(t testing.TB) {
	t.Helper()
	for k, v := range map[string]string{
		"CERTFLOW_ENDPOINT": e.Info.Endpoint, "CERTFLOW_MNS_ENDPOINT": e.Info.MNSEndpoint,
		"CERTFLOW_ACCOUNT_ID": e.Info.AccountID, "ALIBABA_CLOUD_ACCESS_KEY_ID": e.Info.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": e.Info.AccessKeySecret, "ALIBABA_CLOUD_SECURITY_TOKEN": "",
		"CERTFLOW_ROOTS": "", "CERTFLOW_TARGETS": "",
	} {
		t.Setenv(k, v)
	}
}

// Upload issues a certificate for names from the local CA and uploads it (chain and key)
// into the emulated CAS, as CAS issuing would. It returns the CAS ID and the leaf.
func (e *Env) Upload(t testing.TB, kt localca.KeyType, names ...string) (int64, *localca.Cert) {
	t.Helper()
	leaf, err := e.Cloud.CA().Issue(localca.Template{DNSNames: names, KeyType: kt})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := e.Clients.CAS("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	req := cas.CreateUploadUserCertificateRequest()
	req.Name = "test-" + leaf.SHA256()[:12]
	req.Cert = string(e.Cloud.CA().ChainPEM(leaf))
	req.Key = string(leaf.KeyPEM())
	resp, err := cl.UploadUserCertificate(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.CertId, leaf
}

// Served dials addr with SNI name, verifying against the local root, and returns the
// served leaf's SHA-256 (lowercase hex).
func (e *Env) Served(t testing.TB, addr, name string) string {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: e.Cloud.CA().Pool()})
	if err != nil {
		t.Fatalf("dial %s at %s: %v", name, addr, err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

// Buffer is a bytes.Buffer safe for concurrent writers: the log of a rollout, written by
// many tasks at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

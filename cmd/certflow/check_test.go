package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// checkEnv is a CA whose root is in a PEM file and a TLS server on 127.0.0.1 serving leaf.
type checkEnv struct {
	ca        *localca.CA
	leaf      *localca.Cert
	rootsFile string
	port      string // the server's port
}

func newCheckEnv(t *testing.T, sans ...string) checkEnv {
	t.Helper()
	ca, err := localca.New("check")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: sans, KeyType: localca.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, ca.Root.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{leaf.DER, ca.Intermediate.DER}, PrivateKey: leaf.Key,
	}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return checkEnv{ca: ca, leaf: leaf, rootsFile: roots, port: port}
}

// resolve maps name:443 to the test server.
func (e checkEnv) resolve(name string) []string {
	return []string{"--resolve", name + ":443:127.0.0.1:" + e.port}
}

func runCheckArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(t.Context(), append([]string{"check"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckExitCodes(t *testing.T) {
	env := newCheckEnv(t, "www.example.com", "api.example.com")
	base := append([]string{"--roots", env.rootsFile}, env.resolve("www.example.com")...)
	base = append(base, env.resolve("shop.example.com")...)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   string
		noStdout bool
	}{
		{name: "clean", args: append(slices.Clone(base), "www.example.com"), code: exitOK,
			stdout: []string{"OK   www.example.com (127.0.0.1:" + env.port + ")", "verify: ok", "1 endpoint(s) checked", "1 ok (0 with warnings), 0 failing"}},
		{name: "expected fingerprint, flags after the name", args: append(slices.Clone(base), "www.example.com", "--expect-sha256", env.leaf.SHA256()), code: exitOK},
		{name: "explicit port with ADDR carrying its own port", args: []string{"--roots", env.rootsFile, "--resolve", "www.example.com:8443:127.0.0.1:" + env.port, "www.example.com:8443"}, code: exitOK},
		{name: "hostname mismatch fails", args: append(slices.Clone(base), "shop.example.com"), code: exitFinding,
			stdout: []string{"FAIL shop.example.com", "error   hostname_mismatch:", "0 ok (0 with warnings), 1 failing"}},
		{name: "stale certificate fails", args: append(slices.Clone(base), "--expect-sha256", strings.Repeat("0", 64), "www.example.com"), code: exitFinding,
			stdout: []string{"stale_certificate", `got CN "www.example.com"`}},
		{name: "untrusted without --roots", args: append(env.resolve("www.example.com"), "www.example.com"), code: exitFinding, stdout: []string{"untrusted"}},
		{name: "expiring soon is a warning, not a failure", args: append(slices.Clone(base), "--warn-days", "365", "www.example.com"), code: exitOK,
			stdout: []string{"WARN www.example.com", "warning expiring_soon"}},
		{name: "no endpoints", args: []string{"--json"}, code: exitUsage, stderr: "no endpoint given", noStdout: true},
		{name: "bad min-tls", args: []string{"--min-tls", "1.4", "a.example.com"}, code: exitUsage, stderr: `--min-tls "1.4"`, noStdout: true},
		{name: "bad fingerprint", args: []string{"--expect-sha256", "abc", "a.example.com"}, code: exitUsage, stderr: "not a SHA-256 fingerprint", noStdout: true},
		{name: "bad resolve", args: []string{"--resolve", "a.example.com:443", "a.example.com"}, code: exitUsage, stderr: "want NAME:PORT:ADDR", noStdout: true},
		{name: "bad port", args: []string{"a.example.com:99999"}, code: exitUsage, stderr: `port "99999"`, noStdout: true},
		{name: "missing roots file", args: []string{"--roots", filepath.Join(t.TempDir(), "nope.pem"), "a.example.com"}, code: exitUsage, stderr: "nope.pem", noStdout: true},
		{name: "wildcard is not an endpoint", args: []string{"*.example.com"}, code: exitUsage, stderr: "wildcard", noStdout: true},
		{name: "unknown flag", args: []string{"--bogus", "a.example.com"}, code: exitUsage, stderr: "bogus", noStdout: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCheckArgs(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tc.stderr != "" && !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
			if tc.noStdout && out != "" {
				t.Errorf("usage error wrote to stdout: %s", out)
			}
		})
	}
}

func TestCheckJSONShape(t *testing.T) {
	env := newCheckEnv(t, "www.example.com")
	args := append([]string{"--json", "--roots", env.rootsFile}, env.resolve("www.example.com")...)
	args = append(args, env.resolve("other.example.com")...)
	code, out, errOut := runCheckArgs(t, append(args, "www.example.com", "other.example.com")...)
	if code != exitFinding {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	var doc struct {
		OK        *bool `json:"ok"`
		Endpoints []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if doc.OK == nil || *doc.OK || len(doc.Endpoints) != 2 {
		t.Fatalf("ok=%v endpoints=%d", doc.OK, len(doc.Endpoints))
	}
	for _, ep := range doc.Endpoints {
		for _, k := range []string{"name", "address", "ok", "findings", "served"} {
			if _, ok := ep[k]; !ok {
				t.Errorf("endpoint lacks %q: %v", k, ep)
			}
		}
		var served map[string]json.RawMessage
		if err := json.Unmarshal(ep["served"], &served); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"sha256", "serial", "subject", "issuer", "notAfter", "daysLeft", "tlsVersion"} {
			if _, ok := served[k]; !ok {
				t.Errorf("served lacks %q", k)
			}
		}
	}
	var second struct {
		Name     string
		OK       bool
		Findings []struct{ Severity, Code, Message string }
		Served   struct{ SHA256 string }
	}
	if err := json.Unmarshal(mustJSON(t, doc.Endpoints[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second.Name != "other.example.com" || second.OK || len(second.Findings) != 1 ||
		second.Findings[0].Code != "hostname_mismatch" || second.Findings[0].Severity != "error" || second.Served.SHA256 != env.leaf.SHA256() {
		t.Errorf("second endpoint %+v", second)
	}
}

func TestCheckProgressOnLongRuns(t *testing.T) {
	env := newCheckEnv(t, "*.example.com")
	args := []string{"--roots", env.rootsFile}
	for i := range 21 {
		name := fmt.Sprintf("n%02d.example.com", i)
		args = append(args, env.resolve(name)...)
		args = append(args, name)
	}
	code, out, errOut := runCheckArgs(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "[21/21] ") || strings.Count(errOut, "\n") != 21 {
		t.Errorf("progress on stderr:\n%s", errOut)
	}
	if !strings.Contains(out, "21 endpoint(s) checked") {
		t.Errorf("summary missing:\n%s", out)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

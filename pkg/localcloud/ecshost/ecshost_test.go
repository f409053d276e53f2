package ecshost

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

const name = "www.example.com"

type pairs struct {
	ca       *localca.CA
	old, new *localca.Cert
	other    *localca.Cert // a different key, to break the pair
}

func newPairs(t *testing.T) pairs {
	t.Helper()
	ca, err := localca.New("ecshost test")
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *localca.Cert {
		c, err := ca.Issue(localca.Template{DNSNames: []string{name}, KeyType: localca.ECDSAP256})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return pairs{ca: ca, old: issue(), new: issue(), other: issue()}
}

// served dials the host with SNI and full verification against the test root.
func served(t *testing.T, p pairs, addr string) (string, error) {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: p.ca.Pool()}}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return fingerprint(c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw), nil
}

func fingerprint(der []byte) string {
	c := localca.Cert{DER: der}
	return c.SHA256()
}

// eventuallyServes waits out nginx's asynchronous reload (bounded).
func eventuallyServes(t *testing.T, p pairs, addr string, want *localca.Cert) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := served(t, p, addr)
		if err == nil && got == want.SHA256() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host serves %s (err %v), want %s", got, err, want.SHA256())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deployScript is shaped like the deployer's: atomic writes (temp + rename,
// key 0600), test, reload, restore the previous files on failure.
func deployScript(certPath, keyPath string, chain, key []byte) string {
	return fmt.Sprintf(`set -eu
CERT=%s
KEY=%s
mkdir -p "$(dirname "$CERT")" "$(dirname "$KEY")"
umask 077
tc=$(mktemp "$CERT.XXXXXX"); tk=$(mktemp "$KEY.XXXXXX")
cat > "$tc" <<'CERTFLOW_CERT'
%sCERTFLOW_CERT
cat > "$tk" <<'CERTFLOW_KEY'
%sCERTFLOW_KEY
chmod 644 "$tc"; chmod 600 "$tk"
restore() { for f in "$CERT" "$KEY"; do if [ -f "$f.certflow-prev" ]; then mv -f "$f.certflow-prev" "$f"; fi; done; }
for f in "$CERT" "$KEY"; do if [ -f "$f" ]; then cp -p "$f" "$f.certflow-prev"; fi; done
mv -f "$tc" "$CERT"; mv -f "$tk" "$KEY"
if ! nginx -t; then echo "certflow: test failed, restoring" >&2; restore; exit 1; fi
if ! nginx -s reload; then restore; exit 1; fi
rm -f "$CERT.certflow-prev" "$KEY.certflow-prev"
echo "certflow: deployed"
`, certPath, keyPath, chain, key)
}

type combo struct {
	name      string
	useNginx  bool
	isolation Isolation
}

func combos(t *testing.T) []combo {
	t.Helper()
	var out []combo
	_, nginxErr := exec.LookPath("nginx")
	_, mountOK := probeMount(t.Context(), t.TempDir())
	for _, n := range []bool{true, false} {
		for _, iso := range []Isolation{IsolationRewrite, IsolationMount} {
			c := combo{fmt.Sprintf("nginx=%v/%s", n, iso), n, iso}
			if n && nginxErr != nil {
				t.Logf("skipping %s: nginx not installed", c.name)
				continue
			}
			if iso == IsolationMount && !mountOK {
				t.Logf("skipping %s: unshare/bind mounts unavailable", c.name)
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

func TestDeployScript(t *testing.T) {
	p := newPairs(t)
	for _, c := range combos(t) {
		t.Run(c.name, func(t *testing.T) {
			// Rewrite mode uses the real production prefix; mount mode needs
			// the prefix to exist, so it gets a stand-in directory whose
			// contents must stay untouched.
			prefix := "/etc/nginx/ssl"
			if c.isolation == IsolationMount {
				prefix = filepath.Join(t.TempDir(), "etc", "nginx", "ssl")
				if err := os.MkdirAll(prefix, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			certPath, keyPath := prefix+"/"+name+".pem", prefix+"/"+name+".key"
			_, hostHadCert := os.Stat(certPath)
			useNginx := c.useNginx
			dir := filepath.Join(t.TempDir(), "i-test")
			h, err := New(dir, Config{InstanceID: "i-test", Names: []string{name}, Paths: []string{prefix}, UseNginx: &useNginx, Isolation: c.isolation})
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					_ = h.Close()
				}
			})
			if h.Isolation() != c.isolation || h.UsesNginx() != c.useNginx {
				t.Fatalf("host chose %s nginx=%v", h.Isolation(), h.UsesNginx())
			}

			// Before anything is installed, a reload fails like nginx's
			// "invalid PID number".
			out, code, err := h.Run(t.Context(), "nginx -s reload", 10*time.Second)
			if err != nil || code == 0 {
				t.Fatalf("reload before install: code %d err %v out %s", code, err, out)
			}

			if err := h.Install(certPath, p.ca.ChainPEM(p.old), keyPath, p.old.KeyPEM()); err != nil {
				t.Fatalf("install: %v", err)
			}
			eventuallyServes(t, p, h.Addr(), p.old)

			// New files without a reload are not served yet.
			stage := strings.Replace(deployScript(certPath, keyPath, p.ca.ChainPEM(p.new), p.new.KeyPEM()), "nginx -s reload", "true", 1)
			out, code, err = h.Run(t.Context(), stage, 30*time.Second)
			if err != nil || code != 0 {
				t.Fatalf("stage: code %d err %v output:\n%s", code, err, out)
			}
			if !bytes.Contains(out, []byte("test is successful")) {
				t.Fatalf("stage output lacks nginx -t success:\n%s", out)
			}
			time.Sleep(200 * time.Millisecond)
			if got, err := served(t, p, h.Addr()); err != nil || got != p.old.SHA256() {
				t.Fatalf("before reload the host serves %s (err %v), want the old %s", got, err, p.old.SHA256())
			}
			if out, code, err = h.Run(t.Context(), "systemctl reload nginx", 30*time.Second); err != nil || code != 0 {
				t.Fatalf("reload: code %d err %v output:\n%s", code, err, out)
			}
			eventuallyServes(t, p, h.Addr(), p.new)

			// The full script: back to old, then to new again.
			for _, want := range []*localca.Cert{p.old, p.new} {
				out, code, err = h.Run(t.Context(), deployScript(certPath, keyPath, p.ca.ChainPEM(want), want.KeyPEM()), 30*time.Second)
				if err != nil || code != 0 || !bytes.Contains(out, []byte("certflow: deployed")) {
					t.Fatalf("deploy: code %d err %v output:\n%s", code, err, out)
				}
				eventuallyServes(t, p, h.Addr(), want)
			}
			sbKey, _ := h.SandboxPath(keyPath)
			if st, err := os.Stat(sbKey); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("sandbox key %s: %v %v", sbKey, st.Mode(), err)
			}

			// A broken pair fails nginx -t; the script restores; the host
			// keeps serving the previous certificate.
			out, code, err = h.Run(t.Context(), deployScript(certPath, keyPath, p.ca.ChainPEM(p.old), p.other.KeyPEM()), 30*time.Second)
			if err != nil || code != 1 {
				t.Fatalf("broken deploy: code %d err %v output:\n%s", code, err, out)
			}
			if !bytes.Contains(out, []byte("test failed")) {
				t.Fatalf("broken deploy output lacks nginx's test failure:\n%s", out)
			}
			sbCert, _ := h.SandboxPath(certPath)
			if got, _ := os.ReadFile(sbCert); !bytes.Equal(got, p.ca.ChainPEM(p.new)) {
				t.Fatal("previous certificate file not restored")
			}
			time.Sleep(200 * time.Millisecond) // give a wrong reload a chance to show
			eventuallyServes(t, p, h.Addr(), p.new)

			// Nothing reached the machine's real paths.
			if c.isolation == IsolationMount {
				if ents, _ := os.ReadDir(prefix); len(ents) != 0 {
					t.Fatalf("host prefix %s got %d entries", prefix, len(ents))
				}
			} else if _, err := os.Stat(certPath); hostHadCert != nil && err == nil {
				t.Fatalf("script wrote the real %s", certPath)
			}

			var pgid int
			if h.ng != nil {
				pgid = h.ng.cmd.Process.Pid
			}
			if err := h.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			closed = true
			if pgid > 0 {
				if left := processesIn(pgid, ""); len(left) > 0 {
					t.Fatalf("nginx processes left in group %d: %v", pgid, left)
				}
			}
			if left := processesIn(0, dir); len(left) > 0 {
				t.Fatalf("processes naming the sandbox left: %v", left)
			}
			if _, err := served(t, p, h.Addr()); err == nil {
				t.Fatal("host still serves after Close")
			}
		})
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	useNginx := false
	h, err := New(t.TempDir(), Config{InstanceID: "i-timeout", UseNginx: &useNginx, Isolation: IsolationRewrite})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	start := time.Now()
	out, code, err := h.Run(t.Context(), "echo started; sleep 30 & echo $! > bg.pid; wait", 500*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || code != -1 {
		t.Fatalf("code %d err %v", code, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	if !bytes.Contains(out, []byte("started")) {
		t.Fatalf("partial output lost: %q", out)
	}
	raw, err := os.ReadFile(filepath.Join(h.Dir(), "bg.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background sleep %d survived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Setenv("CERTFLOW_TEST_SECRET", "must-not-leak")
	useNginx := false
	dir := t.TempDir()
	h, err := New(dir, Config{InstanceID: "i-env", Paths: []string{"/opt/app/certs"}, UseNginx: &useNginx, Isolation: IsolationRewrite})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	out, code, err := h.Run(t.Context(), `pwd; echo "PATH=$PATH"; env; echo hi > /opt/app/certs/x.txt; cat /opt/app/certs/x.txt; exit 3`, 10*time.Second)
	if err != nil || code != 3 {
		t.Fatalf("code %d err %v out %s", code, err, out)
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != h.Dir() {
		t.Fatalf("cwd %q, want %q", lines[0], h.Dir())
	}
	if !strings.HasPrefix(lines[1], "PATH="+filepath.Join(h.Dir(), "bin")+":") {
		t.Fatalf("PATH line %q", lines[1])
	}
	if bytes.Contains(out, []byte("must-not-leak")) {
		t.Fatal("parent environment leaked into the script")
	}
	if got, err := os.ReadFile(filepath.Join(h.Dir(), "root", "opt", "app", "certs", "x.txt")); err != nil || string(got) != "hi\n" {
		t.Fatalf("mapped write: %q %v", got, err)
	}
}

func TestRewrite(t *testing.T) {
	m, err := newMapper("/sb/root", "/sb/bin", []string{"/etc/nginx/ssl", "/etc/nginx", "/opt/certs/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{`cp a /etc/nginx/ssl/x.pem`, `cp a /sb/root/etc/nginx/ssl/x.pem`},
		{`CERT="/etc/nginx/ssl/x.pem"`, `CERT="/sb/root/etc/nginx/ssl/x.pem"`},
		{`ls /etc/nginx/ssl2`, `ls /sb/root/etc/nginx/ssl2`}, // under /etc/nginx, the shorter prefix
		{`ls /etc/nginxfoo`, `ls /etc/nginxfoo`},
		{`ls /x/etc/nginx/a`, `ls /x/etc/nginx/a`},
		{`d=/opt/certs; f=/opt/certs/k`, `d=/sb/root/opt/certs; f=/sb/root/opt/certs/k`},
		{`/usr/sbin/nginx -t && /usr/sbin/nginx -s reload`, `/sb/bin/nginx -t && /sb/bin/nginx -s reload`},
		{`echo /usr/sbin/nginxx`, `echo /usr/sbin/nginxx`},
		{"a=`cat /etc/nginx/ssl/k`", "a=`cat /sb/root/etc/nginx/ssl/k`"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := m.rewrite(tc.in, true); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got := m.rewrite(`cp x /etc/nginx/ssl/a; /usr/sbin/nginx -t`, false); got != `cp x /etc/nginx/ssl/a; /sb/bin/nginx -t` {
		t.Fatalf("mount-mode rewrite touched prefixes: %s", got)
	}
	if _, err := newMapper("/sb/root", "/sb/bin", []string{"relative/path"}); err == nil {
		t.Fatal("relative prefix accepted")
	}
	if _, err := newMapper("/sb/root", "/sb/bin", []string{"/"}); err == nil {
		t.Fatal("root prefix accepted")
	}
}

func TestCloseKillsRunningScript(t *testing.T) {
	useNginx := false
	h, err := New(t.TempDir(), Config{InstanceID: "i-close", UseNginx: &useNginx, Isolation: IsolationRewrite})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Run(t.Context(), "sleep 30", time.Minute)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("run after close: err %v after %v", err, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close left the script running")
	}
	if _, _, err := h.Run(t.Context(), "true", time.Second); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

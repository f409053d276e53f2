// Package ecshost is a sandboxed ECS host for the local cloud's Cloud
// Assistant: it runs submitted shell scripts for real with bash inside a
// per-host folder, and serves TLS with whatever its web server loaded at the
// last (re)load — real nginx when installed, else a Go TLS server driven by an
// nginx-compatible command.
//
// Path mapping. Production deploy scripts use real absolute paths (for
// example /etc/nginx/ssl/www.example.com.pem) and must not know about the
// sandbox. Each configured path prefix P has a sandbox twin <dir>/root/P, and
// a script reaches it in one of two ways (see Isolation):
//   - mount: the script runs unchanged in a private mount namespace where
//     <dir>/root/P is bind-mounted on P (needs P to exist on this machine and
//     the right to unshare; probed at New);
//   - rewrite: every occurrence of P in the script text (as a whole path
//     component) is replaced by <dir>/root/P before running.
//
// In both modes the sandbox's bin directory comes first on PATH and holds
// nginx, systemctl and service commands bound to this host, and absolute
// spellings of the nginx binary in the script are pointed there, so a script
// can never touch the machine's own web server.
package ecshost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Config describes one host.
type Config struct {
	InstanceID string
	Names      []string // SNI names served
	Paths      []string // absolute path prefixes the host's scripts use, e.g. /etc/nginx/ssl
	UseNginx   *bool    // nil = auto: real nginx when `nginx` is on PATH
	Isolation  Isolation
	// NginxBinary overrides the nginx found on PATH.
	NginxBinary string
}

// Host is one sandboxed machine. Run calls are serialised, as Cloud
// Assistant runs one command at a time per instance in this emulator.
type Host struct {
	dir      string
	cfg      Config
	m        *mapper
	mode     Isolation
	unshare  []string
	addr     string
	useNginx bool

	runMu sync.Mutex // serialises Run and Install

	// life is cancelled by Close, killing any script still running.
	life context.Context
	end  context.CancelFunc

	mu       sync.Mutex
	certPath string // host (production) paths the web server loads
	keyPath  string
	closed   bool
	seq      int

	ng *nginxServer
	gs *goServer
}

// New prepares the sandbox in dir (created if missing) and the host's web
// server. Nothing is served until Install.
func New(dir string, cfg Config) (*Host, error) {
	if cfg.InstanceID == "" {
		return nil, errors.New("ecshost: instance ID is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ecshost %s: sandbox dir: %w", cfg.InstanceID, err)
	}
	h := &Host{dir: abs, cfg: cfg}
	h.life, h.end = context.WithCancel(context.Background())
	for _, d := range []string{"root", "bin", "home", "tmp", "run", "nginx/logs", "nginx/temp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
		}
	}
	h.m, err = newMapper(filepath.Join(abs, "root"), filepath.Join(abs, "bin"), cfg.Paths)
	if err != nil {
		return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
	}
	for _, p := range h.m.prefixes {
		if err := os.MkdirAll(filepath.Join(h.m.root, p), 0o755); err != nil {
			return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
		}
	}
	if err := h.chooseIsolation(); err != nil {
		return nil, err
	}

	nginxBin := cfg.NginxBinary
	if nginxBin == "" {
		nginxBin, _ = exec.LookPath("nginx")
	}
	switch {
	case cfg.UseNginx == nil:
		h.useNginx = nginxBin != ""
	case *cfg.UseNginx && nginxBin == "":
		return nil, fmt.Errorf("ecshost %s: nginx requested but not found on PATH", cfg.InstanceID)
	default:
		h.useNginx = *cfg.UseNginx
	}

	if err := writeExec(filepath.Join(abs, "bin", "systemctl"), systemctlShim); err != nil {
		return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
	}
	if err := writeExec(filepath.Join(abs, "bin", "service"), serviceShim); err != nil {
		return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
	}
	if h.useNginx {
		h.ng, err = newNginxServer(h, nginxBin)
	} else {
		h.gs, err = newGoServer(h)
	}
	if err != nil {
		return nil, fmt.Errorf("ecshost %s: %w", cfg.InstanceID, err)
	}
	return h, nil
}

func (h *Host) chooseIsolation() error {
	switch h.cfg.Isolation {
	case IsolationRewrite:
		h.mode = IsolationRewrite
		return nil
	case IsolationMount, IsolationAuto:
	default:
		return fmt.Errorf("ecshost %s: unknown isolation %q", h.cfg.InstanceID, h.cfg.Isolation)
	}
	flags, ok := probeMount(context.Background(), filepath.Join(h.dir, "tmp"))
	missing := ""
	for _, p := range h.m.prefixes {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			missing = p
			break
		}
	}
	switch {
	case ok && missing == "":
		h.mode, h.unshare = IsolationMount, flags
	case h.cfg.Isolation == IsolationMount && !ok:
		return fmt.Errorf("ecshost %s: mount isolation requested but unshare/bind mounts do not work here", h.cfg.InstanceID)
	case h.cfg.Isolation == IsolationMount:
		return fmt.Errorf("ecshost %s: mount isolation needs path prefix %s to exist on this machine", h.cfg.InstanceID, missing)
	default:
		h.mode = IsolationRewrite
	}
	return nil
}

// Isolation reports the mode New chose.
func (h *Host) Isolation() Isolation { return h.mode }

// UsesNginx reports whether the host's web server is real nginx.
func (h *Host) UsesNginx() bool { return h.useNginx }

// Dir is the sandbox folder.
func (h *Host) Dir() string { return h.dir }

// SandboxPath maps a host path under a configured prefix to the file that
// holds it in the sandbox; ok is false for paths outside every prefix.
func (h *Host) SandboxPath(p string) (string, bool) { return h.m.Path(p) }

// Addr is the TLS address (127.0.0.1:port) serving what the host's web server
// loaded at its last successful (re)load. Before Install nothing is served.
func (h *Host) Addr() string { return h.addr }

// Install writes the initial certificate chain and key at their host paths
// (mapped into the sandbox; key mode 0600) and makes the web server serve
// them: it starts the server on first use and reloads it after, returning once
// the new certificate is being served. The paths become the ones the web
// server loads on every later reload.
func (h *Host) Install(certPath string, chainPEM []byte, keyPath string, keyPEM []byte) error {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	cp, ok := h.m.Path(certPath)
	if !ok {
		return fmt.Errorf("ecshost %s: certificate path %s is outside the host's path prefixes", h.cfg.InstanceID, certPath)
	}
	kp, ok := h.m.Path(keyPath)
	if !ok {
		return fmt.Errorf("ecshost %s: key path %s is outside the host's path prefixes", h.cfg.InstanceID, keyPath)
	}
	want, err := leafOf(chainPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("ecshost %s: install %s: %w", h.cfg.InstanceID, certPath, err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{cp, chainPEM, 0o644}, {kp, keyPEM, 0o600}} {
		if err := writeAtomic(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("ecshost %s: install: %w", h.cfg.InstanceID, err)
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return fmt.Errorf("ecshost %s: closed", h.cfg.InstanceID)
	}
	h.certPath, h.keyPath = certPath, keyPath
	h.mu.Unlock()
	if h.ng != nil {
		err = h.ng.load(want)
	} else {
		err = h.gs.loadAndWait(want)
	}
	if err != nil {
		return fmt.Errorf("ecshost %s: install: %w", h.cfg.InstanceID, err)
	}
	return nil
}

// servedFiles returns the sandbox paths of the certificate and key the web
// server loads; ok is false before Install.
func (h *Host) servedFiles() (cert, key string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.certPath == "" {
		return "", "", false
	}
	c, _ := h.m.Path(h.certPath)
	k, _ := h.m.Path(h.keyPath)
	return c, k, true
}

// maxOutput bounds what Run keeps of a script's output.
const maxOutput = 1 << 20

// ErrTimeout is returned (wrapped) by Run when the script outlives its timeout.
var ErrTimeout = errors.New("script timed out")

// Run executes script with bash inside the sandbox: cwd is the sandbox, the
// environment is clean (PATH starts with the sandbox's bin), and configured
// path prefixes resolve into the sandbox (see the package comment). It
// returns the combined output and the exit code. err is non-nil only when
// the script could not be run, was cancelled through ctx, or timed out
// (ErrTimeout; exit code -1); the whole process group is killed then.
func (h *Host) Run(ctx context.Context, script string, timeout time.Duration) (output []byte, exitCode int, err error) {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, -1, fmt.Errorf("ecshost %s: closed", h.cfg.InstanceID)
	}
	h.seq++
	n := h.seq
	h.mu.Unlock()

	text := h.m.rewrite(script, h.mode == IsolationRewrite)
	file := filepath.Join(h.dir, "run", "script-"+strconv.Itoa(n)+".sh")
	if err := os.WriteFile(file, []byte(text), 0o700); err != nil {
		return nil, -1, fmt.Errorf("ecshost %s: write script: %w", h.cfg.InstanceID, err)
	}
	defer os.Remove(file) // the script may hold key material (resolved secret parameters)

	if timeout <= 0 {
		timeout = time.Hour
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer context.AfterFunc(h.life, cancel)()
	var cmd *exec.Cmd
	if h.mode == IsolationMount {
		args := append([]string{}, h.unshare...)
		args = append(args, "bash", "-c", `set -e; while [ $# -gt 1 ]; do mount --bind "$1" "$2"; shift 2; done; exec bash "$1"`, "certflow-sandbox")
		for _, p := range h.m.prefixes {
			args = append(args, filepath.Join(h.m.root, p), p)
		}
		args = append(args, file)
		cmd = exec.CommandContext(rctx, "unshare", args...)
	} else {
		cmd = exec.CommandContext(rctx, "bash", file)
	}
	cmd.Dir = h.dir
	cmd.Env = []string{
		"PATH=" + filepath.Join(h.dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(h.dir, "home"),
		"TMPDIR=" + filepath.Join(h.dir, "tmp"),
		"LANG=C.UTF-8",
		"USER=root",
		"LOGNAME=root",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out limitedBuffer
	out.max = maxOutput
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	// Whatever the script left behind in its process group goes too.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return out.Bytes(), -1, fmt.Errorf("ecshost %s: %w after %v", h.cfg.InstanceID, ErrTimeout, timeout)
	case ctx.Err() != nil:
		return out.Bytes(), -1, fmt.Errorf("ecshost %s: %w", h.cfg.InstanceID, ctx.Err())
	case h.life.Err() != nil:
		return out.Bytes(), -1, fmt.Errorf("ecshost %s: host closed while the script ran", h.cfg.InstanceID)
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		return out.Bytes(), ee.ExitCode(), nil
	}
	if runErr != nil {
		return out.Bytes(), -1, fmt.Errorf("ecshost %s: run: %w", h.cfg.InstanceID, runErr)
	}
	return out.Bytes(), 0, nil
}

// Close kills any running script, stops the web server and waits until no
// process of this host is left. The sandbox folder is kept for inspection.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.end()
	h.runMu.Lock() // the running script, if any, is gone once this returns
	defer h.runMu.Unlock()
	if h.ng != nil {
		return h.ng.close()
	}
	return h.gs.close()
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// freePort reserves a loopback port number for a server that binds it itself.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

package ecshost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// nginxServer runs the machine's nginx for one host: master in the
// foreground (daemon off) as our child in its own process group, so Close
// can stop it and its workers and reap them.
type nginxServer struct {
	h      *Host
	bin    string
	port   int
	prefix string // <sandbox>/nginx/
	conf   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newNginxServer(h *Host, bin string) (*nginxServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("reserve port: %w", err)
	}
	prefix := filepath.Join(h.dir, "nginx") + "/"
	n := &nginxServer{h: h, bin: bin, port: port, prefix: prefix, conf: filepath.Join(prefix, "nginx.conf")}
	h.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := writeExec(filepath.Join(h.dir, "bin", "nginx"), realNginxShim(bin, prefix, n.conf)); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *nginxServer) pidFile() string { return filepath.Join(n.prefix, "nginx.pid") }

func (n *nginxServer) writeConf(cert, key string) error {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;\n" // workers stay able to read the sandbox
	}
	names := strings.Join(n.h.cfg.Names, " ")
	if names == "" {
		names = `""`
	}
	conf := fmt.Sprintf(`# certflow local ECS host %[1]s (generated)
daemon off;
master_process on;
worker_processes 1;
%[2]spid %[3]s;
error_log %[4]slogs/error.log;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %[4]stemp/client_body;
    server {
        listen 127.0.0.1:%[5]d ssl default_server;
        server_name %[6]s;
        ssl_certificate %[7]s;
        ssl_certificate_key %[8]s;
        location / {
            default_type text/plain;
            return 200 "certflow local ecs %[1]s\n";
        }
    }
}
`, n.h.cfg.InstanceID, user, n.pidFile(), n.prefix, n.port, names, cert, key)
	return writeAtomic(n.conf, []byte(conf), 0o644)
}

// nginxCmd runs the real binary against this sandbox.
func (n *nginxServer) nginxCmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"-p", n.prefix, "-c", n.conf, "-e", filepath.Join(n.prefix, "logs", "error.log")}, args...)
	cmd := exec.CommandContext(ctx, n.bin, full...)
	cmd.Dir = n.h.dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return cmd
}

// load writes the configuration for the installed files and starts or
// reloads nginx, then waits until the certificate with fingerprint want is
// being served.
func (n *nginxServer) load(want expected) error {
	cert, key, _ := n.h.servedFiles()
	if err := n.writeConf(cert, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := n.nginxCmd(ctx, "-t", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("nginx -t: %w: %s", err, bytes.TrimSpace(out))
	}
	n.mu.Lock()
	running := n.cmd != nil && !isDone(n.done)
	n.mu.Unlock()
	if running {
		if out, err := n.nginxCmd(ctx, "-s", "reload").CombinedOutput(); err != nil {
			return fmt.Errorf("nginx -s reload: %w: %s", err, bytes.TrimSpace(out))
		}
	} else if err := n.start(); err != nil {
		return err
	}
	return waitServing(ctx, n.h.addr, want)
}

func (n *nginxServer) start() error {
	log, err := os.OpenFile(filepath.Join(n.prefix, "logs", "master.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := n.nginxCmd(context.Background())
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig: if the local cloud is killed outright (SIGKILL, no Close), the kernel kills
	// nginx too, so no server outlives it. (Go does not retire the thread that forked.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	return nil
}

func isDone(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// close stops the master and its workers (the whole process group), then
// any process still naming this sandbox's configuration — a master a
// script may have started by running `nginx` itself.
func (n *nginxServer) close() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	var errs []error
	if cmd != nil {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		// Workers share the group; make sure none outlived the master.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if pids := processesIn(pgid, ""); len(pids) > 0 {
			errs = append(errs, fmt.Errorf("nginx processes %v survived", pids))
		}
	}
	for _, pid := range processesIn(0, n.conf) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return errors.Join(errs...)
}

// processesIn lists live (non-zombie) processes in process group pgid
// (when > 0) or whose command line contains needle (when not empty).
func processesIn(pgid int, needle string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state ppid pgrp …
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if pgid > 0 {
			if g, _ := strconv.Atoi(f[2]); g == pgid {
				out = append(out, pid)
			}
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && needle != "" && bytes.Contains(cmdline, []byte(needle)) {
			out = append(out, pid)
		}
	}
	return out
}

// expected is what a reload of an installed pair must make the host serve,
// and how the host's own readiness probe verifies it.
type expected struct {
	sha256 string         // leaf fingerprint (hex)
	name   string         // SNI the probe sends: a name the leaf covers
	roots  *x509.CertPool // the pair's own chain: issuers, or the leaf when alone
}

// leafOf checks that chainPEM's leaf and keyPEM form a pair and describes
// what serving it looks like.
func leafOf(chainPEM, keyPEM []byte) (expected, error) {
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return expected{}, fmt.Errorf("certificate and key: %w", err)
	}
	sum := sha256.Sum256(pair.Certificate[0])
	e := expected{sha256: hex.EncodeToString(sum[:]), roots: x509.NewCertPool()}
	anchors := pair.Certificate[1:]
	if len(anchors) == 0 {
		anchors = pair.Certificate[:1]
	}
	for _, der := range anchors {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return expected{}, fmt.Errorf("chain: %w", err)
		}
		e.roots.AddCert(c)
	}
	leaf := pair.Leaf
	for _, n := range leaf.DNSNames {
		e.name = strings.Replace(n, "*", "probe", 1)
		break
	}
	if e.name == "" {
		e.name = leaf.Subject.CommonName
	}
	return e, nil
}

// waitServing polls until addr serves, for the SNI name the leaf covers and
// verified against the pair's own chain, the leaf with the expected
// fingerprint.
func waitServing(ctx context.Context, addr string, want expected) error {
	var last string
	var lastErr error
	for {
		got, err := servedFingerprint(ctx, addr, want)
		if err == nil && got == want.sha256 {
			return nil
		}
		last, lastErr = got, err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("web server at %s not serving the installed certificate: %w", addr, lastErr)
			}
			return fmt.Errorf("web server at %s serves %s, want %s", addr, last, want.sha256)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func servedFingerprint(ctx context.Context, addr string, want expected) (string, error) {
	var got string
	d := tls.Dialer{Config: &tls.Config{
		ServerName: want.name,
		RootCAs:    want.roots,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			got = hex.EncodeToString(sum[:])
			return nil
		},
	}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return got, err
	}
	c.Close()
	return got, nil
}

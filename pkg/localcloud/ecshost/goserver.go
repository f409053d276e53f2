package ecshost

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// goServer stands in for nginx when it is not installed: a Go TLS server
// serving the pair it loaded at its last successful reload, and a loopback
// control port the sandbox's nginx command talks to (test, reload, stop).
type goServer struct {
	h     *Host
	token string
	srv   *http.Server
	ctl   net.Listener
	cert  atomic.Pointer[tls.Certificate] // nil = not running / nothing loaded
	wg    sync.WaitGroup
}

func newGoServer(h *Host) (*goServer, error) {
	g := &goServer{h: h, token: newToken()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen control: %w", err)
	}
	g.ctl = ctl
	h.addr = ln.Addr().String()
	if err := writeExec(filepath.Join(h.dir, "bin", "nginx"), goNginxShim(ctl.Addr().(*net.TCPAddr).Port, g.token)); err != nil {
		ln.Close()
		ctl.Close()
		return nil, err
	}
	g.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "certflow local ecs %s\n", h.cfg.InstanceID)
		}),
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := g.cert.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("web server not running")
		}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		_ = g.srv.Serve(tls.NewListener(ln, g.srv.TLSConfig))
	}()
	go func() {
		defer g.wg.Done()
		g.control()
	}()
	return g, nil
}

// load reads the installed files; on success they are served from the next
// handshake on.
func (g *goServer) load() error {
	cert, key, ok := g.h.servedFiles()
	if !ok {
		return errors.New("no ssl_certificate is defined")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("cannot load certificate %q: %w", cert, err)
	}
	g.cert.Store(&pair)
	return nil
}

func (g *goServer) errorLog(format string, args ...any) {
	f, err := os.OpenFile(filepath.Join(g.h.dir, "nginx", "logs", "error.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s "+format+"\n", append([]any{time.Now().Format("2006/01/02 15:04:05")}, args...)...)
}

func (g *goServer) control() {
	for {
		c, err := g.ctl.Accept()
		if err != nil {
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			code, msg := g.handle(strings.Fields(line))
			fmt.Fprintf(c, "%d\n%s", code, msg)
		}()
	}
}

// handle answers one nginx command with an exit code and nginx's own wording.
func (g *goServer) handle(f []string) (int, string) {
	if len(f) < 2 || f[0] != g.token {
		return 1, "nginx: [alert] could not open the sandbox control channel\n"
	}
	conf := filepath.Join(g.h.dir, "nginx", "nginx.conf")
	quiet := len(f) > 2 && f[2] == "1"
	switch f[1] {
	case "test":
		cert, key, ok := g.h.servedFiles()
		if !ok {
			return 1, fmt.Sprintf("nginx: [emerg] no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in %s\nnginx: configuration file %s test failed\n", conf, conf)
		}
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			return 1, fmt.Sprintf("nginx: [emerg] cannot load certificate key %q: %v\nnginx: configuration file %s test failed\n", key, err, conf)
		}
		if quiet {
			return 0, ""
		}
		return 0, fmt.Sprintf("nginx: the configuration file %s syntax is ok\nnginx: configuration file %s test is successful\n", conf, conf)
	case "signal-reload":
		if g.cert.Load() == nil {
			return 1, fmt.Sprintf("nginx: [error] invalid PID number \"\" in \"%s\"\n", filepath.Join(g.h.dir, "nginx", "nginx.pid"))
		}
		// Like nginx: the signal is delivered (exit 0); a configuration that
		// fails to load is logged and the old one keeps serving.
		if err := g.load(); err != nil {
			g.errorLog("[emerg] %v", err)
		}
		return 0, ""
	case "signal-stop", "signal-quit":
		g.cert.Store(nil)
		return 0, ""
	case "signal-reopen":
		return 0, ""
	}
	return 1, fmt.Sprintf("nginx: [emerg] invalid option: %q\n", strings.TrimPrefix(f[1], "signal-"))
}

func (g *goServer) close() error {
	err := g.srv.Close()
	if cerr := g.ctl.Close(); err == nil {
		err = cerr
	}
	g.wg.Wait()
	return err
}

// loadAndWait is Install's reload for the Go server: synchronous, so the
// probe only confirms.
func (g *goServer) loadAndWait(want expected) error {
	if err := g.load(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return waitServing(ctx, g.h.addr, want)
}

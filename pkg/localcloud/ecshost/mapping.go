package ecshost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Isolation is how a host makes the production script's absolute paths land
// inside its sandbox.
type Isolation string

const (
	// IsolationAuto picks IsolationMount when the probe succeeds and every
	// configured path prefix exists on this machine, else IsolationRewrite.
	IsolationAuto Isolation = ""
	// IsolationMount runs the script unchanged in a private mount namespace
	// (unshare --mount, plus --map-root-user when not root) in which each
	// prefix is bind-mounted from the sandbox. Bind mounts need an existing
	// mount point, so this cannot serve a prefix the machine lacks without
	// creating it on the real file system, which a sandbox must not do.
	IsolationMount Isolation = "mount"
	// IsolationRewrite replaces each configured prefix in the script text
	// with its sandbox equivalent before running it. Works everywhere; the
	// script's text differs from what was submitted only in those paths.
	IsolationRewrite Isolation = "rewrite"
)

// nginxPaths are absolute spellings of the nginx binary a deploy script may
// use; they are pointed at the sandbox shim in every mode, so a script can
// never reach the machine's own nginx.
var nginxPaths = []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx", "/usr/bin/nginx"}

// mapper turns host paths into sandbox paths.
type mapper struct {
	root     string   // <sandbox>/root
	prefixes []string // cleaned, longest first
	bin      string   // <sandbox>/bin
}

func newMapper(root, bin string, prefixes []string) (*mapper, error) {
	m := &mapper{root: root, bin: bin}
	for _, p := range prefixes {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("path prefix %q is not absolute", p)
		}
		c := filepath.Clean(p)
		if c == "/" {
			return nil, fmt.Errorf("path prefix %q would map the whole file system", p)
		}
		m.prefixes = append(m.prefixes, c)
	}
	slices.SortFunc(m.prefixes, func(a, b string) int { return len(b) - len(a) })
	m.prefixes = slices.Compact(m.prefixes)
	return m, nil
}

// Path maps an absolute host path under a configured prefix to its sandbox
// location; other paths are returned unchanged with ok=false.
func (m *mapper) Path(p string) (string, bool) {
	c := filepath.Clean(p)
	for _, pre := range m.prefixes {
		if c == pre || strings.HasPrefix(c, pre+"/") {
			return filepath.Join(m.root, c), true
		}
	}
	return p, false
}

// isNameByte reports whether c can continue a path component; a prefix only
// matches when neither the byte before nor the byte after is one, so
// /etc/nginx/ssl does not rewrite /etc/nginx/ssl2 or /x/etc/nginx/ssl.
func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// rewrite replaces configured prefixes (when prefixes is true) and absolute
// nginx binary paths in script text with their sandbox paths.
func (m *mapper) rewrite(script string, prefixes bool) string {
	type sub struct{ from, to string }
	var subs []sub
	if prefixes {
		for _, p := range m.prefixes {
			subs = append(subs, sub{p, filepath.Join(m.root, p)})
		}
	}
	for _, p := range nginxPaths {
		subs = append(subs, sub{p, filepath.Join(m.bin, "nginx")})
	}
	slices.SortFunc(subs, func(a, b sub) int { return len(b.from) - len(a.from) })
	var b strings.Builder
	for i := 0; i < len(script); {
		if i > 0 && (isNameByte(script[i-1]) || script[i-1] == '/') {
			b.WriteByte(script[i])
			i++
			continue
		}
		matched := false
		for _, s := range subs {
			if !strings.HasPrefix(script[i:], s.from) {
				continue
			}
			j := i + len(s.from)
			if j < len(script) && isNameByte(script[j]) {
				continue
			}
			b.WriteString(s.to)
			i = j
			matched = true
			break
		}
		if !matched {
			b.WriteByte(script[i])
			i++
		}
	}
	return b.String()
}

// probeMount reports whether this process can run a command in a private
// mount namespace with a working bind mount, and with which unshare flags.
func probeMount(ctx context.Context, scratch string) ([]string, bool) {
	src := filepath.Join(scratch, "probe-src")
	dst := filepath.Join(scratch, "probe-dst")
	if err := os.MkdirAll(src, 0o700); err != nil {
		return nil, false
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return nil, false
	}
	defer os.RemoveAll(src)
	defer os.RemoveAll(dst)
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("x"), 0o600); err != nil {
		return nil, false
	}
	flags := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		flags = append(flags, "--map-root-user")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	args := append(slices.Clone(flags), "sh", "-c", `mount --bind "$1" "$2" && test -f "$2/marker"`, "probe", src, dst)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := cmd.Run(); err != nil {
		return nil, false
	}
	// The bind must not have leaked out of the namespace.
	if _, err := os.Stat(filepath.Join(dst, "marker")); err == nil {
		return nil, false
	}
	return flags, true
}

package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// hstsHeader is what the HTTPS response said about HSTS; err is set when no response was read.
type hstsHeader struct {
	present bool
	maxAge  time.Duration
	raw     string
	err     error
}

// readHSTS sends one GET / over an established TLS connection and records the
// Strict-Transport-Security header; the body is not read. Nothing secret is sent. GET rather
// than HEAD because some servers never answer HEAD.
func readHSTS(conn net.Conn, host string) *hstsHeader {
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		return &hstsHeader{err: err}
	}
	req.Header.Set("User-Agent", "certflow-probe")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return &hstsHeader{err: fmt.Errorf("send GET over https: %w", err)}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return &hstsHeader{err: fmt.Errorf("read https response: %w", err)}
	}
	_ = resp.Body.Close()
	raw := resp.Header.Get("Strict-Transport-Security")
	if raw == "" {
		return &hstsHeader{}
	}
	h := &hstsHeader{present: true, raw: raw, maxAge: -1}
	for _, part := range strings.Split(raw, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(strings.TrimSpace(k), "max-age") {
			if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(v), `"`), 10, 64); err == nil && n >= 0 {
				h.maxAge = time.Duration(n) * time.Second
			}
		}
	}
	return h
}

func (h *hstsHeader) findings(minAge time.Duration) []Finding {
	switch {
	case h.err != nil:
		return []Finding{{SeverityError, CodeNoHSTS, "could not read an HTTPS response to look for Strict-Transport-Security: " + h.err.Error()}}
	case !h.present:
		return []Finding{{SeverityError, CodeNoHSTS, "HTTPS response has no Strict-Transport-Security header"}}
	case h.maxAge < 0:
		return []Finding{{SeverityError, CodeNoHSTS, fmt.Sprintf("Strict-Transport-Security %q has no valid max-age", h.raw)}}
	case h.maxAge < minAge:
		return []Finding{{SeverityWarning, CodeHSTSShort, fmt.Sprintf("Strict-Transport-Security max-age is %d s, below %d s (%q)",
			int64(h.maxAge/time.Second), int64(minAge/time.Second), h.raw)}}
	}
	return nil
}

// checkRedirect asks http://name/ at addr, without following redirects, and expects a permanent
// redirect (301 or 308) to https on the same host.
func checkRedirect(ctx context.Context, name, addr string) []Finding {
	fail := func(sev, format string, a ...any) []Finding {
		return []Finding{{sev, CodeNoHTTPSRedirect, fmt.Sprintf(format, a...)}}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		// Nothing listens for plain HTTP: no cleartext is served, but people typing the bare
		// name get an error instead of the site.
		return fail(SeverityWarning, "http://%s/ (dial %s) is not answering, so there is no redirect to https: %v", name, addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+name+"/", nil)
	if err != nil {
		return fail(SeverityError, "build request for http://%s/: %v", name, err)
	}
	req.Header.Set("User-Agent", "certflow-probe")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return fail(SeverityError, "http://%s/ (%s): send: %v", name, addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(SeverityError, "http://%s/ (%s): read response: %v", name, addr, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()

	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusPermanentRedirect {
		if loc != "" {
			return fail(SeverityError, "http://%s/ answers %d to %q; want a permanent redirect (301 or 308) to https", name, resp.StatusCode, loc)
		}
		return fail(SeverityError, "http://%s/ answers %d over plain HTTP instead of redirecting to https", name, resp.StatusCode)
	}
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() {
		return fail(SeverityError, "http://%s/ redirects to %q, not an absolute https URL", name, loc)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return fail(SeverityError, "http://%s/ redirects to %q, which is not https", name, loc)
	}
	if h, err := HostName(u.Hostname()); err != nil || h != name {
		return fail(SeverityError, "http://%s/ redirects to %q, a different host", name, loc)
	}
	return nil
}

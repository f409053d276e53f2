package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/certflow/certflow/pkg/certs"
)

// NormalizeName returns a DNS name in the form certflow compares names in — the one rule
// of certs.NormalizeName (lower case, one trailing dot removed, A-labels), so the targets
// file, the deployer and the checker can never disagree — plus what a served host name
// needs: a wildcard only as the whole first label, at least two labels, no IP address.
func NormalizeName(name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if n == "" {
		return "", fmt.Errorf("empty domain name")
	}
	if strings.Contains(strings.TrimPrefix(n, "*."), "*") {
		return "", fmt.Errorf("domain name %q: a wildcard is allowed only as the whole first label", name)
	}
	norm, err := certs.NormalizeName(n)
	if err != nil {
		return "", fmt.Errorf("domain %w", err)
	}
	if net.ParseIP(norm) != nil {
		return "", fmt.Errorf("domain name %q: an IP address, not a host name", name)
	}
	wildcard := strings.HasPrefix(norm, "*.")
	if labels := strings.Split(strings.TrimPrefix(norm, "*."), "."); len(labels) < 2 {
		if wildcard {
			return "", fmt.Errorf("domain name %q: a wildcard needs at least two labels after it", name)
		}
		return "", fmt.Errorf("domain name %q: needs at least two labels", name)
	}
	return norm, nil
}

// NormalizeCDNDomain normalises a CDN target's domain, which has three forms: a
// concrete domain (www.example.com), a certflow wildcard pattern (*.example.com, to
// expand against the account's CDN domains) and a CDN wildcard domain as CDN writes
// it (.example.com).
func NormalizeCDNDomain(domain string) (string, error) {
	d := strings.TrimSpace(domain)
	if strings.HasPrefix(d, ".") {
		n, err := NormalizeName(d[1:])
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(n, "*.") {
			return "", fmt.Errorf("domain name %q: a CDN wildcard domain is written .example.com", domain)
		}
		return "." + n, nil
	}
	return NormalizeName(d)
}

// IsPattern reports whether a CDN domain is a certflow wildcard pattern (*.example.com).
func IsPattern(domain string) bool { return strings.HasPrefix(domain, "*.") }

// Target ID kinds.
const (
	KindCLB = "clb"
	KindCDN = "cdn"
	KindECS = "ecs"
)

// NormalizeTargetID checks a target ID — clb:<lb-id>:<port>[:<sni-domain>],
// cdn:<domain> or ecs:<instance-id> — and returns it in canonical form (domains
// normalised as by NormalizeName). The error says which part is wrong.
func NormalizeTargetID(id string) (string, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(id), ":")
	if !ok {
		return "", fmt.Errorf("target ID %q: want clb:<lb-id>:<port>[:<sni-domain>], cdn:<domain> or ecs:<instance-id>", id)
	}
	switch kind {
	case KindCLB:
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) < 2 {
			return "", fmt.Errorf("target ID %q: want clb:<lb-id>:<port>[:<sni-domain>]", id)
		}
		if err := checkLoadBalancerID(parts[0]); err != nil {
			return "", fmt.Errorf("target ID %q: %w", id, err)
		}
		port, err := parsePort(parts[1])
		if err != nil {
			return "", fmt.Errorf("target ID %q: %w", id, err)
		}
		out := fmt.Sprintf("clb:%s:%d", parts[0], port)
		if len(parts) == 3 {
			sni, err := NormalizeName(parts[2])
			if err != nil {
				return "", fmt.Errorf("target ID %q: SNI domain: %w", id, err)
			}
			out += ":" + sni
		}
		return out, nil
	case KindCDN:
		d, err := NormalizeCDNDomain(rest)
		if err != nil {
			return "", fmt.Errorf("target ID %q: %w", id, err)
		}
		return "cdn:" + d, nil
	case KindECS:
		if err := checkInstanceID(rest); err != nil {
			return "", fmt.Errorf("target ID %q: %w", id, err)
		}
		return "ecs:" + rest, nil
	default:
		return "", fmt.Errorf("target ID %q: unknown kind %q (want clb, cdn or ecs)", id, kind)
	}
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != s {
		return 0, fmt.Errorf("port %q: want 1-65535", s)
	}
	return p, nil
}

// checkLoadBalancerID accepts CLB instance IDs as the console shows them: "lb-"
// followed by lower-case letters and digits.
func checkLoadBalancerID(s string) error {
	if !hasIDShape(s, "lb-") {
		return fmt.Errorf("load balancer ID %q: want lb- followed by lower-case letters and digits", s)
	}
	return nil
}

// checkInstanceID accepts ECS instance IDs: "i-" followed by lower-case letters and digits.
func checkInstanceID(s string) error {
	if !hasIDShape(s, "i-") {
		return fmt.Errorf("instance ID %q: want i- followed by lower-case letters and digits", s)
	}
	return nil
}

func hasIDShape(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

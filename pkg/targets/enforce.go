package targets

import (
	"github.com/certflow/certflow/pkg/config"
)

// HTTPSPolicy is what a target should enforce beyond serving the right certificate.
// The zero value enforces nothing.
type HTTPSPolicy struct {
	ForceHTTPS bool   // plain HTTP answers with a redirect to HTTPS
	HTTPPort   int    // clb: the HTTP listener that redirects [80]
	HSTS       bool   // HTTPS responses carry Strict-Transport-Security
	HSTSMaxAge int    // seconds, for HSTS [config.DefaultHSTSMinAge]
	MinTLS     string // "1.0".."1.3"; versions below are switched off; "" = leave as is
}

// PolicyOf is t's configured HTTPS policy, with HSTS max-age hstsMaxAge seconds.
func PolicyOf(t config.Target, hstsMaxAge int) HTTPSPolicy {
	return HTTPSPolicy{ForceHTTPS: t.ForceHTTPS, HTTPPort: t.HTTPPort, HSTS: t.HSTS, HSTSMaxAge: hstsMaxAge, MinTLS: t.MinTLS}
}

// Empty reports whether p enforces nothing.
func (p HTTPSPolicy) Empty() bool { return !p.ForceHTTPS && !p.HSTS && p.MinTLS == "" }

// Change is one HTTPS setting that enforcement wrote and read back.
type Change struct {
	Target  string `json:"target"`
	Setting string `json:"setting"` // https_force, HSTS, https_tls_version, http_listener
	From    string `json:"from"`
	To      string `json:"to"`
}

// EnforceResult is the outcome of enforcing one target's policy: what changed (nothing
// when it already complied) or why it could not be enforced.
type EnforceResult struct {
	Target  string
	Changes []Change
	Err     error
}

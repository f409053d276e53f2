package probe

// Finding is one thing wrong (or worth attention) with an endpoint. Code is stable and meant for
// machines; Message is for people and names what was seen.
type Finding struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// Severities. An endpoint with any error finding is not OK; warnings never fail a run.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Finding codes. They are part of the JSON contract: add new ones, never rename.
const (
	CodeUnreachable          = "unreachable"             // TCP connect failed (or the name is unusable)
	CodeHandshakeFailed      = "handshake_failed"        // TCP up, TLS handshake failed
	CodeUntrusted            = "untrusted"               // chain does not lead to a trusted root
	CodeIncompleteChain      = "incomplete_chain"        // server omits an intermediate that is known
	CodeHostnameMismatch     = "hostname_mismatch"       // leaf does not cover the name
	CodeExpired              = "expired"                 // leaf or a certificate on the verified path has expired
	CodeNotYetValid          = "not_yet_valid"           // leaf or a certificate on the verified path is not valid yet
	CodeExpiringSoon         = "expiring_soon"           // verified path expires within Options.WarnDays
	CodeChainHasExpiredExtra = "chain_has_expired_extra" // server also sends an expired certificate off the verified path
	CodeStaleCertificate     = "stale_certificate"       // served leaf is not the expected one
	CodeTLSVersion           = "tls_version"             // negotiated version below Options.MinTLS
	CodeNoHTTPSRedirect      = "no_https_redirect"       // plain HTTP does not answer 301/308 to https on the same host
	CodeNoHSTS               = "no_hsts"                 // HTTPS response lacks Strict-Transport-Security
	CodeHSTSShort            = "hsts_short"              // HSTS max-age below Options.HSTSMinAge
)

func hasAny(fs []Finding, codes ...string) bool {
	for _, f := range fs {
		for _, c := range codes {
			if f.Code == c {
				return true
			}
		}
	}
	return false
}

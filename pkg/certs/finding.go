package certs

import "fmt"

// Severity says whether a finding blocks deployment.
type Severity string

// Severities. An error makes a bundle undeployable; a warning is information.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding codes. They are stable, snake_case and part of certflow's output contract:
// scripts and the other functions match on them, so never rename one.
const (
	CodePEMMalformed      = "pem_malformed"        // no PEM block, unterminated block, bad base64, unparsable DER
	CodePEMRepaired       = "pem_repaired"         // BOM, CRLF, indentation, literal \n, lost line breaks: fixed
	CodePEMUTF16          = "pem_utf16"            // the text is UTF-16; rejected
	CodePEMUnexpected     = "pem_unexpected_block" // a block that is neither a certificate nor a key; ignored
	CodeKeyMissing        = "key_missing"          // no private key where one is needed
	CodeKeyEncrypted      = "key_encrypted"        // encrypted key and no passphrase, or an encryption certflow cannot undo
	CodeKeyPassphrase     = "key_passphrase"       // the passphrase does not decrypt the key
	CodeKeyUnsupported    = "key_unsupported"      // a key format or algorithm certflow cannot use
	CodeKeyMultiple       = "key_multiple"         // more than one private key; the matching one is used
	CodeKeyMismatch       = "key_mismatch"         // the private key belongs to no certificate in the bundle
	CodeKeyWeak           = "key_weak"             // RSA < 2048 bits or an EC curve below P-256
	CodeChainOrderFixed   = "chain_order_fixed"    // certificates were not leaf → intermediates; reordered
	CodeChainDuplicate    = "chain_duplicate"      // the same certificate twice; the copy is dropped
	CodeChainUnrelated    = "chain_unrelated"      // a certificate that is not on the leaf's path; dropped
	CodeChainIncomplete   = "chain_incomplete"     // an issuer is neither included nor a trusted root
	CodeChainHasRoot      = "chain_has_root"       // a self-signed root is included; it is not sent
	CodeChainBadSignature = "chain_bad_signature"  // a link's signature does not verify
	CodeChainUntrusted    = "chain_untrusted"      // the chain ends at a root outside the trust pool
	CodeChainInvalid      = "chain_invalid"        // the chain fails verification for another reason (usage, constraints)
	CodeNoSAN             = "no_san"               // no subjectAltName: modern clients ignore the CN
	CodeExpired           = "expired"              // a certificate's NotAfter has passed
	CodeNotYetValid       = "not_yet_valid"        // a certificate's NotBefore is in the future
	CodeExpiringSoon      = "expiring_soon"        // the leaf expires within the warning window
	CodeNameInvalid       = "name_invalid"         // a requested name is not a valid DNS name
	CodeNameNotCovered    = "name_not_covered"     // a requested name is not covered by the SANs
	CodePFXPassword       = "pfx_password"         // wrong or missing PFX password
	CodePFXUnsupported    = "pfx_unsupported"      // a PFX algorithm or structure certflow cannot decode (named)
	CodePFXMalformed      = "pfx_malformed"        // not a PFX/PKCS#12 file
)

// Finding is one thing wrong with, or worth knowing about, a bundle. Messages name what is wrong
// (block number, certificate CN, name, algorithm) and never contain key material.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
}

// String renders a finding as "error key_mismatch: message".
func (f Finding) String() string { return string(f.Severity) + " " + f.Code + ": " + f.Message }

// HasErrors reports whether any finding has severity error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Codes lists the codes of fs in order; handy for tests and logs.
func Codes(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Code
	}
	return out
}

func errorf(code, format string, args ...any) Finding {
	return Finding{Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)}
}

func warnf(code, format string, args ...any) Finding {
	return Finding{Severity: SeverityWarning, Code: code, Message: fmt.Sprintf(format, args...)}
}

package certs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"

	"software.sslmate.com/src/go-pkcs12"
)

var oidInError = regexp.MustCompile(`\d+(?:\.\d+){3,}`)

// ParsePFX reads a PFX/PKCS#12 file (legacy RC2/3DES or modern AES/PBES2, chain included) and
// judges it like Parse; a PFX must hold a private key. A wrong password is pfx_password; an
// algorithm or structure go-pkcs12 cannot read is pfx_unsupported naming it. The bundle is nil
// when the file could not be decoded. Never panics, whatever the input.
func ParsePFX(data []byte, password string, opts Options) (b *Bundle, fs []Finding) {
	what := orDefault(opts.CertSource, "PFX")
	defer func() {
		// go-pkcs12 parses attacker-supplied ASN.1; a bug there must not take the caller down.
		if r := recover(); r != nil {
			b, fs = nil, []Finding{errorf(CodePFXMalformed, "%s: not a readable PFX/PKCS#12 file (decoder failure)", what)}
		}
	}()
	if err := checkPFXIterations(data); err != nil {
		return nil, []Finding{errorf(CodePFXUnsupported, "%s asks for %v; re-export it with standard settings", what, err)}
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, []Finding{pfxFinding(what, password, err)}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, []Finding{errorf(CodeKeyUnsupported, "%s: private key type %T cannot sign; use RSA, ECDSA or Ed25519", what, key)}
	}
	return assemble(append([]*x509.Certificate{leaf}, cas...), []crypto.Signer{signer}, opts)
}

func pfxFinding(what, password string, err error) Finding {
	var ni pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
		if password == "" {
			return errorf(CodePFXPassword, "%s is password-protected; no password given", what)
		}
		return errorf(CodePFXPassword, "%s: the password is incorrect", what)
	case errors.As(err, &ni):
		msg := string(ni)
		if oid := oidInError.FindString(msg); oid != "" {
			return errorf(CodePFXUnsupported, "%s uses %s, which certflow cannot decode (%s); re-export it with AES-256 (openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC)", what, algorithmName(oid), msg)
		}
		return errorf(CodePFXUnsupported, "%s: unsupported PFX structure: %s", what, msg)
	}
	msg := err.Error()
	switch msg {
	case "pkcs12: private key missing":
		return errorf(CodeKeyMissing, "%s holds no private key", what)
	case "pkcs12: certificate missing":
		return errorf(CodePFXMalformed, "%s holds no certificate", what)
	case "pkcs12: expected exactly one key bag":
		return errorf(CodePFXUnsupported, "%s holds more than one private key; export one certificate with its key", what)
	}
	return errorf(CodePFXMalformed, "%s: not a readable PFX/PKCS#12 file: %v", what, fmt.Errorf("%w", err))
}

package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Key block labels certflow reads. Anything else that says "PRIVATE KEY" is reported as unsupported.
const (
	labelPKCS8          = "PRIVATE KEY"
	labelPKCS1          = "RSA PRIVATE KEY"
	labelSEC1           = "EC PRIVATE KEY"
	labelPKCS8Encrypted = "ENCRYPTED PRIVATE KEY"
)

func isKeyLabel(label string) bool { return strings.HasSuffix(label, "PRIVATE KEY") }

// parseKeyBlock turns one private-key PEM block into a signer. Findings name the block by
// source and position; they never include key bytes or parser output that could echo them.
func parseKeyBlock(b pemBlock, what string, passphrase []byte) (crypto.Signer, []Finding) {
	label := b.block.Type
	where := fmt.Sprintf("%s: block %d (%s)", what, b.index, label)
	der := b.block.Bytes

	switch {
	case label == labelPKCS8Encrypted:
		if len(passphrase) == 0 {
			return nil, []Finding{errorf(CodeKeyEncrypted, "%s: private key is encrypted (PKCS#8); no passphrase configured", where)}
		}
		plain, err := decryptPKCS8(der, passphrase)
		switch {
		case errors.Is(err, errWrongPassphrase):
			return nil, []Finding{errorf(CodeKeyPassphrase, "%s: the passphrase does not decrypt the private key", where)}
		case err != nil:
			return nil, []Finding{errorf(CodeKeyEncrypted, "%s: private key is encrypted with %v; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem) or re-encrypt it with PBES2/AES (openssl pkcs8 -topk8 -v2 aes-256-cbc)", where, err)}
		}
		der = plain
	//lint:ignore SA1019 legacy PEM encryption ("Proc-Type: 4,ENCRYPTED") is what people still have.
	case x509.IsEncryptedPEMBlock(b.block): //nolint:staticcheck // see above
		if len(passphrase) == 0 {
			return nil, []Finding{errorf(CodeKeyEncrypted, "%s: private key is encrypted (Proc-Type: 4,ENCRYPTED, %s); no passphrase configured", where, cipherName(b.block))}
		}
		plain, err := x509.DecryptPEMBlock(b.block, passphrase) //nolint:staticcheck // see above
		switch {
		case errors.Is(err, x509.IncorrectPasswordError):
			return nil, []Finding{errorf(CodeKeyPassphrase, "%s: the passphrase does not decrypt the private key", where)}
		case err != nil:
			return nil, []Finding{errorf(CodeKeyEncrypted, "%s: cannot decrypt the private key (DEK-Info %s is not supported)", where, cipherName(b.block))}
		}
		der = plain
	case label == "OPENSSH PRIVATE KEY":
		return nil, []Finding{errorf(CodeKeyUnsupported, "%s: OpenSSH key format is not accepted; convert it to PKCS#8 (ssh-keygen -p -m PKCS8 -f key)", where)}
	case label != labelPKCS8 && label != labelPKCS1 && label != labelSEC1:
		return nil, []Finding{errorf(CodeKeyUnsupported, "%s: unsupported private key type; use PKCS#8, PKCS#1 RSA or SEC1 EC", where)}
	}

	key, err := parsePrivateDER(der)
	if err != nil {
		if b.block.Headers["Proc-Type"] != "" || label == labelPKCS8Encrypted {
			// A wrong passphrase can survive the padding check by chance; the garbage then fails to parse.
			return nil, []Finding{errorf(CodeKeyPassphrase, "%s: the passphrase does not decrypt the private key", where)}
		}
		return nil, []Finding{errorf(CodePEMMalformed, "%s: %v", where, err)}
	}
	return key, nil
}

// parsePrivateDER accepts PKCS#8, PKCS#1 and SEC1 whatever the label says: tools mislabel
// blocks, and the DER itself is unambiguous.
func parsePrivateDER(der []byte) (crypto.Signer, error) {
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if key, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, errors.New("not a valid PKCS#8, PKCS#1 or SEC1 private key")
			}
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key type %T cannot sign; use RSA, ECDSA or Ed25519", key)
	}
	switch k := signer.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	case ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("private key type %T is not supported; use RSA, ECDSA or Ed25519", k)
	}
	return signer, nil
}

func cipherName(b *pem.Block) string {
	name, _, _ := strings.Cut(b.Headers["DEK-Info"], ",")
	if name == "" {
		return "unknown cipher"
	}
	return name
}

// KeyDescription names a public key's algorithm and size the way people say it:
// "RSA 2048", "ECDSA P-256", "Ed25519". It accepts public keys and signers.
func KeyDescription(key any) string {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("%T", key)
}

// keyType maps a public key to AIRec's cert_type vocabulary.
func keyType(pub any) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECC"
	case ed25519.PublicKey:
		return "ED25519"
	}
	return "UNKNOWN"
}

// weakKey explains why a public key is too weak, or returns "".
func weakKey(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("RSA %d (minimum is RSA 2048)", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Sprintf("ECDSA %s (minimum is P-256)", k.Curve.Params().Name)
		}
	}
	return ""
}

// samePublicKey reports whether a certificate's public key is the signer's.
func samePublicKey(certPub any, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(certPub)
}

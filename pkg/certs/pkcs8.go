package certs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/scrypt"
)

// Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo with RFC 8018 PBES2). The standard library
// and go-pkcs12 decrypt PKCS#12 bags but export nothing for a bare "ENCRYPTED PRIVATE KEY", so the
// ASN.1 is read here and the primitives come from crypto/pbkdf2, x/crypto/scrypt and crypto/cipher.
// Supported: PBES2 with PBKDF2 (HMAC-SHA1/224/256/384/512) or scrypt, and AES-128/192/256-CBC or
// DES-EDE3-CBC: what OpenSSL 1.1+ and 3.x write. PBES1 and PKCS#12-PBE are refused by name.

var errWrongPassphrase = errors.New("wrong passphrase")

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// algorithmNames names the OIDs people meet in key and PFX files, for messages.
var algorithmNames = map[string]string{
	"1.2.840.113549.1.5.3":       "PBES1 pbeWithMD5AndDES-CBC",
	"1.2.840.113549.1.5.6":       "PBES1 pbeWithMD5AndRC2-CBC",
	"1.2.840.113549.1.5.10":      "PBES1 pbeWithSHA1AndDES-CBC",
	"1.2.840.113549.1.5.11":      "PBES1 pbeWithSHA1AndRC2-CBC",
	"1.2.840.113549.1.5.13":      "PBES2",
	"1.2.840.113549.1.12.1.1":    "pbeWithSHAAnd128BitRC4",
	"1.2.840.113549.1.12.1.2":    "pbeWithSHAAnd40BitRC4",
	"1.2.840.113549.1.12.1.3":    "pbeWithSHAAnd3-KeyTripleDES-CBC",
	"1.2.840.113549.1.12.1.4":    "pbeWithSHAAnd2-KeyTripleDES-CBC",
	"1.2.840.113549.1.12.1.5":    "pbeWithSHAAnd128BitRC2-CBC",
	"1.2.840.113549.1.12.1.6":    "pbeWithSHAAnd40BitRC2-CBC",
	"1.3.14.3.2.7":               "DES-CBC",
	"1.2.840.113549.3.2":         "RC2-CBC",
	"1.2.840.113549.3.7":         "DES-EDE3-CBC",
	"1.2.840.113549.2.5":         "HMAC-MD5",
	"1.2.840.113549.2.7":         "HMAC-SHA1",
	"1.2.840.113549.2.9":         "HMAC-SHA256",
	"1.2.840.113549.2.11":        "HMAC-SHA512",
	"2.16.840.1.101.3.4.1.2":     "AES-128-CBC",
	"2.16.840.1.101.3.4.1.22":    "AES-192-CBC",
	"2.16.840.1.101.3.4.1.42":    "AES-256-CBC",
	"2.16.840.1.101.3.4.1.6":     "AES-128-GCM",
	"2.16.840.1.101.3.4.1.46":    "AES-256-GCM",
	"1.2.392.200011.61.1.1.1.2":  "Camellia-128-CBC",
	"1.2.392.200011.61.1.1.1.3":  "Camellia-192-CBC",
	"1.2.392.200011.61.1.1.1.4":  "Camellia-256-CBC",
	"1.2.156.10197.1.104.2":      "SM4-CBC",
	"1.3.6.1.4.1.11591.4.11":     "scrypt",
	"1.2.840.113549.1.5.12":      "PBKDF2",
	"1.2.840.113549.1.5.14":      "PBMAC1",
	"1.2.840.113549.1.9.22.1":    "x509Certificate bag",
	"1.2.840.113549.1.7.6":       "PKCS#7 envelopedData (certificate-based encryption)",
	"1.2.840.113549.1.7.3":       "PKCS#7 envelopedData",
	"1.2.840.113549.1.12.10.1.1": "keyBag",
}

// algorithmName renders an OID as "name (oid)" or just the OID when unknown.
func algorithmName(oid string) string {
	if n, ok := algorithmNames[oid]; ok {
		return n + " (" + oid + ")"
	}
	return "algorithm " + oid
}

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt      []byte
	N         int
	R         int
	P         int
	KeyLength int `asn1:"optional"`
}

// Limits keep a hostile file from burning minutes of CPU or gigabytes of memory.
const (
	maxPBKDF2Iterations = 10_000_000
	maxScryptMemory     = 1 << 30 // bytes: 128 * N * r
)

// decryptPKCS8 returns the plain PKCS#8 DER inside an EncryptedPrivateKeyInfo. Errors other
// than errWrongPassphrase name the algorithm that is not supported.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("an unreadable EncryptedPrivateKeyInfo structure")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, errors.New(algorithmName(info.Algorithm.Algorithm.String()) + ", which certflow cannot decrypt")
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, errors.New("PBES2 with unreadable parameters")
	}

	var (
		newCipher func([]byte) (cipher.Block, error)
		keyLen    int
	)
	switch s := params.Scheme.Algorithm; {
	case s.Equal(oidAES128CBC):
		newCipher, keyLen = aes.NewCipher, 16
	case s.Equal(oidAES192CBC):
		newCipher, keyLen = aes.NewCipher, 24
	case s.Equal(oidAES256CBC):
		newCipher, keyLen = aes.NewCipher, 32
	case s.Equal(oidDESEDE3CBC):
		newCipher, keyLen = des.NewTripleDESCipher, 24
	default:
		return nil, fmt.Errorf("PBES2 cipher %s, which certflow cannot decrypt", algorithmName(s.String()))
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil {
		return nil, errors.New("PBES2 with an unreadable cipher IV")
	}

	key, err := deriveKey(params.KDF, passphrase, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, fmt.Errorf("PBES2 cipher setup failed: %w", err)
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return nil, errors.New("PBES2 data with an invalid length or IV")
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	return unpad(plain, bs)
}

func deriveKey(kdf pkix.AlgorithmIdentifier, passphrase []byte, keyLen int) ([]byte, error) {
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return nil, errors.New("PBKDF2 with unreadable parameters")
		}
		if p.Iterations < 1 || p.Iterations > maxPBKDF2Iterations {
			return nil, fmt.Errorf("PBKDF2 with %d iterations (certflow accepts 1 to %d)", p.Iterations, maxPBKDF2Iterations)
		}
		if p.KeyLength != 0 && p.KeyLength != keyLen {
			return nil, fmt.Errorf("PBKDF2 key length %d for a %d-byte cipher key", p.KeyLength, keyLen)
		}
		var h func() hash.Hash
		switch prf := p.PRF.Algorithm; {
		case len(prf) == 0 || prf.Equal(oidHMACSHA1):
			h = sha1.New
		case prf.Equal(oidHMACSHA224):
			h = sha256.New224
		case prf.Equal(oidHMACSHA256):
			h = sha256.New
		case prf.Equal(oidHMACSHA384):
			h = sha512.New384
		case prf.Equal(oidHMACSHA512):
			h = sha512.New
		default:
			return nil, fmt.Errorf("PBKDF2 PRF %s, which certflow cannot use", algorithmName(prf.String()))
		}
		key, err := pbkdf2.Key(h, string(passphrase), p.Salt, p.Iterations, keyLen)
		if err != nil {
			return nil, fmt.Errorf("PBKDF2 failed: %w", err)
		}
		return key, nil
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return nil, errors.New("scrypt with unreadable parameters")
		}
		if p.N <= 1 || p.R <= 0 || p.P <= 0 || 128*p.N*p.R > maxScryptMemory || p.P > 16 {
			return nil, fmt.Errorf("scrypt with N=%d r=%d p=%d (beyond certflow's limits)", p.N, p.R, p.P)
		}
		key, err := scrypt.Key(passphrase, p.Salt, p.N, p.R, p.P, keyLen)
		if err != nil {
			return nil, fmt.Errorf("scrypt failed: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("PBES2 key derivation %s, which certflow cannot use", algorithmName(kdf.Algorithm.String()))
}

// unpad strips PKCS#7 padding; bad padding almost always means a wrong passphrase.
func unpad(b []byte, bs int) ([]byte, error) {
	n := int(b[len(b)-1])
	if n == 0 || n > bs || n > len(b) {
		return nil, errWrongPassphrase
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errWrongPassphrase
		}
	}
	return b[:len(b)-n], nil
}

package certs

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// maxPFXIterations bounds the PBKDF/MAC iteration counts a PFX may ask for. go-pkcs12 runs
// whatever the file says, so a file claiming 2^62 iterations would spin forever; real exports
// use 2,000 (Windows, OpenSSL) to a few hundred thousand.
const maxPFXIterations = 2_000_000

// checkPFXIterations walks the readable DER of a PFX (including DER nested in OCTET STRINGs,
// but not encrypted content) and rejects any iteration count above the limit. Every place
// PKCS#12 keeps one (MacData, PBE params, PBKDF2 params, PBMAC1) is an OCTET STRING salt
// immediately followed by an INTEGER count in the same SEQUENCE. What does not parse as DER is
// left to the decoder.
func checkPFXIterations(der []byte) error {
	budget := 20000 // nodes: bounds the walk on hostile input
	return walkIterations(der, 0, &budget)
}

func walkIterations(der []byte, depth int, budget *int) error {
	if depth > 24 {
		return nil
	}
	var prev *asn1.RawValue
	for len(der) > 0 {
		*budget--
		if *budget < 0 {
			return nil
		}
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil
		}
		if prev != nil && prev.Class == asn1.ClassUniversal && prev.Tag == asn1.TagOctetString &&
			v.Class == asn1.ClassUniversal && v.Tag == asn1.TagInteger && !v.IsCompound {
			n := new(big.Int).SetBytes(v.Bytes)
			if len(v.Bytes) > 0 && v.Bytes[0]&0x80 == 0 && n.Cmp(big.NewInt(maxPFXIterations)) > 0 {
				return fmt.Errorf("an iteration count of %s (certflow accepts at most %d)", n, maxPFXIterations)
			}
		}
		if v.IsCompound || v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString {
			if err := walkIterations(v.Bytes, depth+1, budget); err != nil {
				return err
			}
		}
		prev = &v
		der = rest
	}
	return nil
}

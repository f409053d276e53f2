package faults

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/certflow/certflow/pkg/localca"
)

// TestScannerFindsPlantedSecrets proves scenario 9's scanner can fail: each planted form of
// a key or credential is found, and harmless text naming a key type is not.
func TestScannerFindsPlantedSecrets(t *testing.T) {
	ca, err := localca.New("faults scanner")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"www.example.com"}, KeyType: localca.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	set := &secretSet{needles: map[string]string{}}
	set.add("sts-token-CAIS0123456789abcdef")
	set.addKey(leaf)
	blk, _ := pem.Decode(leaf.KeyPEM())
	der := blk.Bytes
	flat, _ := json.Marshal(string(leaf.KeyPEM()))
	tests := []struct {
		name string
		data []byte
		hit  bool
	}{
		{"pem block", append([]byte("log: "), leaf.KeyPEM()...), true},
		{"pem in json", flat, true},
		{"der base64 at offset 1", []byte("x" + base64.StdEncoding.EncodeToString(append([]byte{7}, der...))), true},
		{"der base64 at offset 2", []byte(base64.StdEncoding.EncodeToString(append([]byte{7, 8}, der...))), true},
		{"der hex", []byte("key=" + hex.EncodeToString(der)), true},
		{"base64 of a body holding the pem", []byte(base64.StdEncoding.EncodeToString(append([]byte(`{"k":"`), leaf.KeyPEM()...))), true},
		{"sts token", []byte(`{"token":"sts-token-CAIS0123456789abcdef"}`), true},
		{"error naming the block type", []byte(`block 1 (PRIVATE KEY) has no "-----END PRIVATE KEY-----" line`), false},
		{"certificate pem", leaf.CertPEM(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := scanParts(set.needles, []part{{tc.name, tc.data}})
			if (len(hits) > 0) != tc.hit {
				t.Errorf("hits %v, want hit=%v", hits, tc.hit)
			}
		})
	}
}

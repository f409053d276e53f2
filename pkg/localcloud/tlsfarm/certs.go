package tlsfarm

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"sync"
)

// CertCache parses PEM pairs into tls.Certificates once and hands the same
// value out again for the same bytes, so handshakes at a thousand endpoints do
// not re-parse PEM. It is bounded and safe for concurrent use.
type CertCache struct {
	mu    sync.Mutex
	max   int
	items map[[sha256.Size]byte]*tls.Certificate
	order [][sha256.Size]byte // insertion order, for eviction
}

// NewCertCache returns a cache holding up to size parsed pairs (minimum 1).
func NewCertCache(size int) *CertCache {
	return &CertCache{max: max(1, size), items: map[[sha256.Size]byte]*tls.Certificate{}}
}

// Certificate returns the parsed pair for chainPEM (leaf first, then the
// chain exactly as it will be sent) and keyPEM. The key must match the leaf.
// Errors never include the key material.
func (c *CertCache) Certificate(chainPEM, keyPEM []byte) (*tls.Certificate, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", len(chainPEM))
	h.Write(chainPEM)
	h.Write(keyPEM)
	var k [sha256.Size]byte
	h.Sum(k[:0])

	c.mu.Lock()
	if cert, ok := c.items[k]; ok {
		c.mu.Unlock()
		return cert, nil
	}
	c.mu.Unlock()

	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsfarm: certificate and key: %w", err)
	}
	cert := &pair

	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.items[k]; ok {
		return prev, nil
	}
	for len(c.order) >= c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = cert
	c.order = append(c.order, k)
	return cert, nil
}

// Len reports how many pairs are cached.
func (c *CertCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

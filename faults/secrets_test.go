package faults

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/localca"
	"github.com/certflow/certflow/pkg/localfc"
)

// secretSet is everything that must never appear in what the system says: credentials
// (access key secrets, STS tokens, the AIRec token) and private keys (PEM blocks, and the
// key's DER bytes as base64 at every byte alignment and as hex).
type secretSet struct {
	mu       sync.Mutex
	needles  map[string]string // needle → what it is
	keyCount int
}

var secrets = &secretSet{needles: map[string]string{}}

func (s *secretSet) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if len(v) >= 8 {
			s.needles[v] = "credential"
		}
	}
}

// addKey registers a certificate's private key.
func (s *secretSet) addKey(c *localca.Cert) {
	blk, _ := pem.Decode(c.KeyPEM())
	if blk == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyCount++
	der := blk.Bytes
	for shift := range 3 {
		enc := base64.StdEncoding.EncodeToString(der[shift:])
		// Windows from the middle are independent of where the DER starts inside a longer
		// base64 text with the same alignment; three shifts cover every alignment.
		for _, off := range []int{len(enc) / 4 * 1 / 4 * 4, len(enc) / 2 / 4 * 4} {
			w := enc[off : off+32]
			s.needles[w] = "private key DER (base64)"
			s.needles[strings.NewReplacer("+", "-", "/", "_").Replace(w)] = "private key DER (base64url)"
		}
	}
	h := hex.EncodeToString(der)
	mid := len(h) / 2
	s.needles[h[mid:mid+40]] = "private key DER (hex)"
	s.needles[strings.ToUpper(h[mid:mid+40])] = "private key DER (HEX)"
}

// corpus is everything the suite heard: instance logs, trigger events, function results and
// errors, queue bodies, reports, CLI output, the emulator's call logs and state dumps.
var corpus = struct {
	sync.Mutex
	parts []part
	bytes int
}{}

type part struct {
	where string
	data  []byte
}

func heard(where string, data []byte) {
	if len(data) == 0 {
		return
	}
	corpus.Lock()
	corpus.parts = append(corpus.parts, part{where, bytes.Clone(data)})
	corpus.bytes += len(data)
	corpus.Unlock()
}

// collect adds one invocation's result (payload, error, logs) to the corpus.
func collect(res localfc.Result) {
	heard("result payload "+res.RequestID, res.Payload)
	heard("result logs "+res.RequestID, res.Logs)
	if res.Error != nil {
		b, _ := json.Marshal(res.Error)
		heard("result error "+res.RequestID, b)
	}
}

// record adds what a finished scenario's system said to the corpus.
func record(t *testing.T, r *rig) {
	heard(t.Name()+" instance logs", r.logs.Bytes())
	heard(t.Name()+" trigger events", r.events.Bytes())
	if b, err := json.Marshal(r.cloud.Calls()); err == nil {
		heard(t.Name()+" call log", b)
	}
	r.mu.Lock()
	for _, x := range r.runs {
		collect(x.Result)
		if x.Err != nil {
			heard(t.Name()+" trigger error", []byte(x.Err.Error()))
		}
	}
	r.mu.Unlock()
}

// pemKeyBlock is a private key PEM block with content (also with JSON-escaped newlines);
// a message merely naming the block type ("has no -----END PRIVATE KEY----- line") is not one.
var pemKeyBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:\s|\\n|\\r)*(?:[A-Za-z0-9+/=]{16}|Proc-Type)`)

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`)

// scan looks for every secret in the corpus, also inside base64 runs (queue bodies are
// base64). It returns one line per hit.
func scan() (hits []string, scanned int) {
	secrets.mu.Lock()
	needles := make(map[string]string, len(secrets.needles))
	for k, v := range secrets.needles {
		needles[k] = v
	}
	secrets.mu.Unlock()
	corpus.Lock()
	parts := corpus.parts
	scanned = corpus.bytes
	corpus.Unlock()
	return scanParts(needles, parts), scanned
}

// scanParts returns one line per secret found in parts, also inside base64 runs.
func scanParts(needles map[string]string, parts []part) (hits []string) {
	check := func(where string, data []byte) {
		if pemKeyBlock.Match(data) {
			hits = append(hits, where+": PEM private key block")
		}
		for n, what := range needles {
			if bytes.Contains(data, []byte(n)) {
				hits = append(hits, fmt.Sprintf("%s: %s", where, what))
			}
		}
	}
	for _, p := range parts {
		check(p.where, p.data)
		for _, run := range base64Run.FindAll(p.data, -1) {
			if dec, err := base64.StdEncoding.DecodeString(string(run)); err == nil {
				check(p.where+" (base64-decoded)", dec)
			}
		}
	}
	return hits
}

// snapshotQueues samples every queue's messages until stop is closed, so queue bodies
// (consumed within moments by the binder) are scanned too.
func snapshotQueues(r *rig, stop <-chan struct{}) {
	seen := map[string]bool{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, q := range r.cloud.MNS().Queues() {
			for _, m := range r.cloud.MNS().Messages(q) {
				if !seen[m.ID] {
					seen[m.ID] = true
					b, _ := json.Marshal(m)
					heard("queue "+q+" message "+m.ID, b)
				}
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

package localcloud

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/localca"
)

// AdminIssuePath is the local cloud's own control plane, not an Alibaba Cloud API: it
// issues a certificate from the local CA straight into the emulated CAS — what CAS issuing
// or a renewal does in a real account — so a rollout can be tried by hand. It takes the
// estate's access key secret as a Bearer token.
const AdminIssuePath = "/_certflow/issue"

// IssueRequest asks for a certificate; no names = every name the estate serves.
type IssueRequest struct {
	Names   []string `json:"names"`
	Days    int      `json:"days"`    // validity; 0 = 90
	KeyType string   `json:"keyType"` // localca key type; "" = ecdsa-p256
}

// IssueResponse is the issued certificate as CAS now holds it.
type IssueResponse struct {
	CertID   int64    `json:"certId"`
	Name     string   `json:"name"`
	SHA256   string   `json:"sha256"`
	Names    []string `json:"names"`
	NotAfter string   `json:"notAfter"`
}

func (c *Cloud) serveAdmin(w http.ResponseWriter, r *http.Request, body []byte) {
	fail := func(status int, format string, args ...any) {
		http.Error(w, fmt.Sprintf(format, args...), status)
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(c.estate.AccessKeySecret)) != 1 {
		fail(http.StatusForbidden, "%s needs the estate's access key secret as a Bearer token", AdminIssuePath)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != AdminIssuePath {
		fail(http.StatusNotFound, "only POST %s", AdminIssuePath)
		return
	}
	var req IssueRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			fail(http.StatusBadRequest, "request body: %v", err)
			return
		}
	}
	if len(req.Names) == 0 {
		req.Names = c.estate.allNames()
	}
	if req.Days <= 0 {
		req.Days = 90
	}
	if req.KeyType == "" {
		req.KeyType = string(localca.ECDSAP256)
	}
	now := time.Now().Add(-time.Minute)
	leaf, err := c.ca.Issue(localca.Template{DNSNames: req.Names, KeyType: localca.KeyType(req.KeyType),
		NotBefore: now, NotAfter: now.Add(time.Duration(req.Days) * 24 * time.Hour)})
	if err != nil {
		fail(http.StatusBadRequest, "issue: %v", err)
		return
	}
	mat, err := parseMaterial(string(c.ca.ChainPEM(leaf)), string(leaf.KeyPEM()))
	if err != nil {
		fail(http.StatusInternalServerError, "issued certificate: %v", err)
		return
	}
	st := c.st
	st.mu.Lock()
	cc := &casCert{ID: st.next(), Mat: mat, Created: time.Now()}
	cc.Name = fmt.Sprintf("local-issued-%d", cc.ID)
	st.cas[cc.ID] = cc
	st.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(IssueResponse{CertID: cc.ID, Name: cc.Name, SHA256: mat.sha256Hex(),
		Names: mat.names(), NotAfter: isoTime(mat.leaf().NotAfter)})
}

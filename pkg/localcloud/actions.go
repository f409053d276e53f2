package localcloud

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// rpcCall is one verified RPC request being served.
type rpcCall struct {
	c      *Cloud
	p      map[string]string
	action string
}

type actionFunc func(*rpcCall) (map[string]any, *APIError)

func (c *Cloud) handler(product, action string) actionFunc {
	switch product {
	case "cas":
		return casActions[action]
	case "Slb":
		return slbActions[action]
	case "Cdn":
		return cdnActions[action]
	case "Ecs":
		return ecsActions[action]
	case "Oos":
		return oosActions[action]
	}
	return nil
}

func (q *rpcCall) get(name string) string { return q.p[name] }

// req returns a required parameter or MissingParameter naming it.
func (q *rpcCall) req(name string) (string, *APIError) {
	v := q.p[name]
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}

// int parses an optional integer parameter (ok=false when absent).
func (q *rpcCall) int(name string) (int64, bool, *APIError) {
	v := q.p[name]
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, invalid(name, v)
	}
	return n, true, nil
}

func (q *rpcCall) reqInt(name string) (int64, *APIError) {
	n, ok, e := q.int(name)
	if e != nil {
		return 0, e
	}
	if !ok {
		return 0, missing(name)
	}
	return n, nil
}

func (q *rpcCall) bool(name string) (bool, *APIError) {
	switch strings.ToLower(q.p[name]) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(name, q.p[name])
}

// list collects a repeated parameter Name.1, Name.2, … in order.
func (q *rpcCall) list(name string) []string {
	var idx []int
	for k := range q.p {
		if rest, ok := strings.CutPrefix(k, name+"."); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				idx = append(idx, n)
			}
		}
	}
	sort.Ints(idx)
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, q.p[fmt.Sprintf("%s.%d", name, i)])
	}
	return out
}

// region is the RegionId, required by regional products.
func (q *rpcCall) region() (string, *APIError) { return q.req("RegionId") }

// busy fails a change while resource is inside a configuring window, and otherwise
// marks it changed so the next change inside the window fails.
func (q *rpcCall) busy(resource string) *APIError {
	now := time.Now()
	if q.c.faults.configuring(q.action, resource, now) {
		return badRequest("ServiceIsConfiguring", "The service is being configured, please try again later. Resource: %s", resource)
	}
	return nil
}

func (q *rpcCall) changed(resource string) { q.c.faults.markChanged(resource, time.Now()) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func onOff(s string) bool { return s == "on" || s == "off" }

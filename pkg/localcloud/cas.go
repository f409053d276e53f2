package localcloud

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

var casActions = map[string]actionFunc{
	"GetUserCertificateDetail": casGetDetail,
	"UploadUserCertificate":    casUpload,
	"ListUserCertificateOrder": casList,
	"DeleteUserCertificate":    casDelete,
}

func casNotFound(id int64) *APIError {
	return badRequest("NotFound", "The certificate %d does not exist.", id)
}

// casFields derives every documented GetUserCertificateDetail field from the PEM.
func casFields(c *casCert, now time.Time) map[string]any {
	leaf := c.Mat.leaf()
	alg, _ := c.Mat.algorithm()
	var chain []map[string]any
	for _, x := range c.Mat.Chain {
		chain = append(chain, map[string]any{
			"CommonName": x.Subject.CommonName, "IssuerCommonName": x.Issuer.CommonName,
			"NotBefore": x.NotBefore.UnixMilli(), "NotAfter": x.NotAfter.UnixMilli(),
			"RemainDay": int(x.NotAfter.Sub(now).Hours() / 24),
		})
	}
	return map[string]any{
		"Id": c.ID, "Name": c.Name, "Common": leaf.Subject.CommonName, "Sans": strings.Join(c.Mat.names(), ","),
		"Fingerprint": strings.ToUpper(c.Mat.sha1Hex()), "Sha2": strings.ToUpper(c.Mat.sha256Hex()),
		"SerialNo": fmt.Sprintf("%x", leaf.SerialNumber), "Issuer": issuerName(leaf),
		"OrgName": first(leaf.Subject.Organization), "Province": first(leaf.Subject.Province),
		"City": first(leaf.Subject.Locality), "Country": first(leaf.Subject.Country), "Algorithm": alg,
		"StartDate": leaf.NotBefore.UTC().Format("2006-01-02"), "EndDate": leaf.NotAfter.UTC().Format("2006-01-02"),
		"NotBefore": leaf.NotBefore.UnixMilli(), "NotAfter": leaf.NotAfter.UnixMilli(),
		"Expired": now.After(leaf.NotAfter), "BuyInAliyun": false, "OrderId": 0,
		"InstanceId": fmt.Sprintf("cas-upload-%d", c.ID), "CertIdentifier": fmt.Sprintf("%d-cn-hangzhou", c.ID),
		"ResourceGroupId": "rg-default", "CertChain": chain, "Tags": []any{},
	}
}

func casGetDetail(q *rpcCall) (map[string]any, *APIError) {
	id, e := q.reqInt("CertId")
	if e != nil {
		return nil, e
	}
	filter, e := q.bool("CertFilter")
	if e != nil {
		return nil, e
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	c, ok := st.cas[id]
	if !ok {
		return nil, casNotFound(id)
	}
	out := casFields(c, time.Now())
	if !filter {
		out["Cert"] = c.Mat.CertPEM
		out["Key"] = c.Mat.KeyPEM
	}
	return out, nil
}

func casUpload(q *rpcCall) (map[string]any, *APIError) {
	name, e := q.req("Name")
	if e != nil {
		return nil, e
	}
	if q.get("EncryptCert") != "" || q.get("SignCert") != "" {
		return nil, badRequest("InvalidParameter", "SM2 certificates are not supported by the local cloud.")
	}
	cert, e := q.req("Cert")
	if e != nil {
		return nil, e
	}
	key, e := q.req("Key")
	if e != nil {
		return nil, e
	}
	if len(name) > 64 {
		return nil, invalid("Name", name)
	}
	mat, err := parseMaterial(cert, key)
	if err != nil {
		return nil, badRequest("InvalidCertificate", "The certificate or key is not valid: %v", err)
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.cas {
		if c.Name == name {
			return nil, badRequest("NameRepeat", "The certificate name already exists.")
		}
	}
	c := &casCert{ID: st.next(), Name: name, Mat: mat, Created: time.Now()}
	st.cas[c.ID] = c
	return map[string]any{"CertId": c.ID, "ResourceId": fmt.Sprintf("cas-upload-%d", c.ID)}, nil
}

func casDelete(q *rpcCall) (map[string]any, *APIError) {
	id, e := q.reqInt("CertId")
	if e != nil {
		return nil, e
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.cas[id]; !ok {
		return nil, casNotFound(id)
	}
	for _, d := range st.cdn {
		if d.SSL && d.CertType == "cas" && d.CertID == id {
			return nil, badRequest("CertificateInUse", "The certificate %d is in use by CDN domain %s.", id, d.Name)
		}
	}
	delete(st.cas, id)
	return map[string]any{}, nil
}

func casList(q *rpcCall) (map[string]any, *APIError) {
	orderType := strings.ToUpper(q.get("OrderType"))
	if orderType == "" {
		orderType = "CPACK"
	}
	switch orderType {
	case "CPACK", "BUY", "UPLOAD", "CERT":
	default:
		return nil, invalid("OrderType", orderType)
	}
	page, _, e := q.int("CurrentPage")
	if e != nil {
		return nil, e
	}
	size, _, e := q.int("ShowSize")
	if e != nil {
		return nil, e
	}
	if page <= 0 {
		page = 1
	}
	if size <= 0 {
		size = 50
	}
	status, keyword := strings.ToUpper(q.get("Status")), strings.ToLower(q.get("Keyword"))
	now := time.Now()
	st := q.c.st
	st.mu.Lock()
	var items []map[string]any
	if orderType == "UPLOAD" || orderType == "CERT" {
		for _, c := range st.cas {
			leaf := c.Mat.leaf()
			expired := now.After(leaf.NotAfter)
			s := "ISSUED"
			switch {
			case expired:
				s = "EXPIRED"
			case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
				s = "WILLEXPIRED"
			}
			if status == "" && expired || status != "" && status != s && !(status == "ISSUED" && s == "WILLEXPIRED") {
				continue
			}
			if keyword != "" && !strings.Contains(strings.ToLower(strings.Join(append(c.Mat.names(), c.Name, leaf.Subject.CommonName, fmt.Sprintf("cas-upload-%d", c.ID)), ",")), keyword) {
				continue
			}
			f := casFields(c, now)
			items = append(items, map[string]any{
				"CertificateId": c.ID, "Name": c.Name, "CommonName": f["Common"], "Domain": f["Common"], "Sans": f["Sans"],
				"Fingerprint": f["Fingerprint"], "Sha2": f["Sha2"], "SerialNo": f["SerialNo"], "Issuer": f["Issuer"],
				"OrgName": f["OrgName"], "StartDate": f["StartDate"], "EndDate": f["EndDate"],
				"CertStartTime": leaf.NotBefore.UnixMilli(), "CertEndTime": leaf.NotAfter.UnixMilli(),
				"Expired": expired, "Upload": true, "Status": s, "InstanceId": f["InstanceId"], "Algorithm": f["Algorithm"],
				"SourceType": "upload", "ResourceGroupId": "rg-default",
			})
		}
	}
	st.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i]["CertificateId"].(int64) > items[j]["CertificateId"].(int64) })
	total := len(items)
	lo := min(int((page-1)*size), total)
	hi := min(lo+int(size), total)
	return map[string]any{"TotalCount": total, "CurrentPage": page, "ShowSize": size, "CertificateOrderList": append([]map[string]any{}, items[lo:hi]...)}, nil
}

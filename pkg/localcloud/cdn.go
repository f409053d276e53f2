package localcloud

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

var cdnActions = map[string]actionFunc{
	"SetCdnDomainSSLCertificate":    cdnSetCert,
	"DescribeDomainCertificateInfo": cdnCertInfo,
	"DescribeUserDomains":           cdnUserDomains,
	"BatchSetCdnDomainConfig":       cdnBatchSet,
	"DescribeCdnDomainConfigs":      cdnDescribeConfigs,
}

// cdnMissing is CDN's own missing-parameter code, e.g. SSLPri.MissingParameter (case C04).
func cdnMissing(name string) *APIError {
	return badRequest(name+".MissingParameter", "The %s parameter is required.", name)
}

func (q *rpcCall) cdnDomain(name string) (*cdnDomain, *APIError) {
	d, ok := q.c.st.cdn[strings.ToLower(name)]
	if !ok {
		return nil, notFound("InvalidDomain.NotFound", "The domain %s does not exist under this account.", name)
	}
	return d, nil
}

func cdnSetCert(q *rpcCall) (map[string]any, *APIError) {
	name := q.get("DomainName")
	if name == "" {
		return nil, cdnMissing("DomainName")
	}
	proto := q.get("SSLProtocol")
	if proto == "" {
		return nil, cdnMissing("SSLProtocol")
	}
	if !onOff(proto) {
		return nil, badRequest("InvalidSSLProtocol.ValueNotSupported", "SSLProtocol must be on or off, got %q.", proto)
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d, e := q.cdnDomain(name)
	if e != nil {
		return nil, e
	}
	res := "cdn:" + d.Name
	if e := q.busy(res); e != nil {
		return nil, e
	}
	if proto == "off" {
		d.SSL, d.Mat, d.CertType, d.CertID, d.CertName = false, nil, "", 0, ""
		d.CertUpdated = time.Now()
		q.changed(res)
		return map[string]any{}, nil
	}
	certType := q.get("CertType")
	if certType == "" {
		certType = "upload"
	}
	var (
		mat    *material
		certID int64
		region = q.get("CertRegion")
		cname  = q.get("CertName")
	)
	switch certType {
	case "cas":
		idStr := q.get("CertId")
		if idStr == "" {
			return nil, cdnMissing("CertId")
		}
		id, err := strconv.ParseInt(idStr, 10, 64)
		if err != nil {
			return nil, badRequest("InvalidCertId.Malformed", "The CertId %q is not valid.", idStr)
		}
		if region == "" {
			region = "cn-hangzhou"
		}
		if region != "cn-hangzhou" && region != "ap-southeast-1" {
			return nil, badRequest("InvalidCertRegion.ValueNotSupported", "CertRegion %q is not supported.", region)
		}
		c, ok := st.cas[id]
		if !ok || region != "cn-hangzhou" {
			return nil, badRequest("Certificate.NotFound", "The certificate %d does not exist in CAS region %s.", id, region)
		}
		if c.Mat.TLS == nil {
			return nil, badRequest("InvalidSSLPri", "The CAS certificate %d has no private key.", id)
		}
		mat, certID = c.Mat, id
		if cname == "" {
			cname = c.Name
		}
	case "upload":
		pub, pri := q.get("SSLPub"), q.get("SSLPri")
		if pub == "" {
			return nil, cdnMissing("SSLPub")
		}
		if pri == "" {
			return nil, cdnMissing("SSLPri")
		}
		if cname == "" {
			return nil, cdnMissing("CertName")
		}
		var err error
		if mat, err = parseMaterial(pub, pri); err != nil {
			if strings.HasPrefix(err.Error(), "key") {
				return nil, badRequest("InvalidSSLPri", "The private key is not valid or does not match the certificate: %v", err)
			}
			return nil, badRequest("InvalidSSLPub", "The certificate is not valid: %v", err)
		}
		region = ""
	default:
		return nil, badRequest("InvalidCertType.ValueNotSupported", "CertType %q is not supported (upload or cas).", certType)
	}
	d.SSL, d.Mat, d.CertType, d.CertID, d.CertName, d.CertRegion = true, mat, certType, certID, cname, region
	d.CertUpdated = time.Now()
	q.changed(res)
	return map[string]any{}, nil
}

func cdnCertInfo(q *rpcCall) (map[string]any, *APIError) {
	name := q.get("DomainName")
	if name == "" {
		return nil, cdnMissing("DomainName")
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d, e := q.cdnDomain(name)
	if e != nil {
		return nil, e
	}
	info := map[string]any{"DomainName": d.Name, "ServerCertificateStatus": "off", "Status": "success",
		"DomainCnameStatus": "online", "CreateTime": isoTime(d.Created)}
	if d.SSL && d.Mat != nil {
		leaf := d.Mat.leaf()
		certID := ""
		if d.CertID != 0 {
			certID = strconv.FormatInt(d.CertID, 10)
		}
		life := "months"
		if leaf.NotAfter.Sub(leaf.NotBefore) >= 365*24*time.Hour {
			life = "years"
		}
		info["ServerCertificateStatus"] = "on"
		for k, v := range map[string]any{
			"CertName": d.CertName, "CertId": certID, "CertType": d.CertType, "CertRegion": d.CertRegion,
			"CertDomainName": strings.Join(d.Mat.names(), ","), "CertCommonName": leaf.Subject.CommonName,
			"CertSubjectCommonName": leaf.Subject.CommonName, "CertOrg": first(leaf.Issuer.Organization),
			"Issuer": issuerName(leaf), "CertStartTime": isoTime(leaf.NotBefore), "CertExpireTime": isoTime(leaf.NotAfter),
			"CertUpdateTime": isoTime(d.CertUpdated), "CertLife": life, "ServerCertificate": d.Mat.CertPEM,
			"CertExpired": strconv.FormatBool(time.Now().After(leaf.NotAfter)),
		} {
			info[k] = v
		}
	}
	return map[string]any{"CertInfos": map[string]any{"CertInfo": []map[string]any{info}}}, nil
}

func cdnUserDomains(q *rpcCall) (map[string]any, *APIError) {
	page, _, e := q.int("PageNumber")
	if e != nil {
		return nil, e
	}
	size, _, e := q.int("PageSize")
	if e != nil {
		return nil, e
	}
	if page <= 0 {
		page = 1
	}
	if size <= 0 {
		size = 20
	}
	if size > 500 {
		return nil, invalid("PageSize", q.get("PageSize"))
	}
	filter, mode := strings.ToLower(q.get("DomainName")), q.get("DomainSearchType")
	st := q.c.st
	st.mu.Lock()
	var names []string
	for n := range st.cdn {
		ok := true
		switch {
		case filter == "":
		case mode == "full_match":
			ok = n == filter
		case mode == "pre_match":
			ok = strings.HasPrefix(n, filter)
		case mode == "suf_match":
			ok = strings.HasSuffix(n, filter)
		default:
			ok = strings.Contains(n, filter)
		}
		if ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	total := len(names)
	lo := min(int((page-1)*size), total)
	hi := min(lo+int(size), total)
	data := []map[string]any{}
	for _, n := range names[lo:hi] {
		d := st.cdn[n]
		ssl := "off"
		if d.SSL {
			ssl = "on"
		}
		data = append(data, map[string]any{
			"DomainName": d.Name, "DomainId": d.Created.UnixNano() % 1e9, "Cname": strings.TrimPrefix(d.Name, ".") + ".w.kunlunsl.com",
			"DomainStatus": "online", "CdnType": "web", "Coverage": "domestic", "SslProtocol": ssl, "Sandbox": "normal",
			"GmtCreated": isoTime(d.Created), "GmtModified": isoTime(d.CertUpdated), "ResourceGroupId": "rg-default",
			"Sources": map[string]any{"Source": []map[string]any{{"Content": "origin.example.com", "Type": "domain", "Port": 80, "Priority": "20", "Weight": "10"}}},
		})
	}
	st.mu.Unlock()
	return map[string]any{"PageNumber": page, "PageSize": size, "TotalCount": total, "Domains": map[string]any{"PageData": data}}, nil
}

type cdnFunction struct {
	FunctionName string `json:"functionName"`
	ConfigID     int64  `json:"configId"`
	FunctionArgs []struct {
		ArgName  string `json:"argName"`
		ArgValue string `json:"argValue"`
	} `json:"functionArgs"`
}

// cdnFunctionRules validates the functions certflow uses (doc 388460).
func validateFunction(f cdnFunction) *APIError {
	args := map[string]string{}
	for _, a := range f.FunctionArgs {
		args[a.ArgName] = a.ArgValue
	}
	need := func(names ...string) *APIError {
		for _, n := range names {
			if args[n] == "" {
				return badRequest("InvalidFunctions.MissingArg", "Function %s requires argument %s.", f.FunctionName, n)
			}
		}
		return nil
	}
	onOffArgs := func(names ...string) *APIError {
		for _, n := range names {
			if v, ok := args[n]; ok && !onOff(v) {
				return badRequest("InvalidFunctions.ArgValue", "Function %s argument %s must be on or off, got %q.", f.FunctionName, n, v)
			}
		}
		return nil
	}
	switch f.FunctionName {
	case "https_force":
		if e := need("enable"); e != nil {
			return e
		}
		if v := args["https_rewrite"]; v != "" && v != "301" && v != "308" {
			return badRequest("InvalidFunctions.ArgValue", "https_rewrite must be 301 or 308, got %q.", v)
		}
		return onOffArgs("enable")
	case "http_force":
		if e := need("enable"); e != nil {
			return e
		}
		return onOffArgs("enable")
	case "HSTS":
		if e := need("enabled", "https_hsts_max_age"); e != nil {
			return e
		}
		if n, err := strconv.Atoi(args["https_hsts_max_age"]); err != nil || n < 0 {
			return badRequest("InvalidFunctions.ArgValue", "https_hsts_max_age must be seconds, got %q.", args["https_hsts_max_age"])
		}
		return onOffArgs("enabled", "https_hsts_include_subdomains")
	case "https_tls_version":
		return onOffArgs("tls10", "tls11", "tls12", "tls13")
	case "https_option":
		return onOffArgs("http2", "ocsp_stapling")
	}
	return badRequest("InvalidFunctions.FunctionNotSupported", "Function %q is not supported by the local cloud.", f.FunctionName)
}

func cdnBatchSet(q *rpcCall) (map[string]any, *APIError) {
	names, e := q.req("DomainNames")
	if e != nil {
		return nil, e
	}
	raw, e := q.req("Functions")
	if e != nil {
		return nil, e
	}
	var fns []cdnFunction
	if err := json.Unmarshal([]byte(raw), &fns); err != nil || len(fns) == 0 {
		return nil, badRequest("InvalidFunctions.Malformed", "The Functions parameter is not a valid JSON array of functions.")
	}
	for _, f := range fns {
		if e := validateFunction(f); e != nil {
			return nil, e
		}
	}
	domains := strings.Split(names, ",")
	if len(domains) > 50 {
		return nil, badRequest("InvalidDomainNames.ExceedLimit", "At most 50 domain names per call, got %d.", len(domains))
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var targets []*cdnDomain
	for _, n := range domains {
		d, e := q.cdnDomain(strings.TrimSpace(n))
		if e != nil {
			return nil, e
		}
		if e := q.busy("cdn:" + d.Name); e != nil {
			return nil, e
		}
		for _, f := range fns {
			other := map[string]string{"https_force": "http_force", "http_force": "https_force"}[f.FunctionName]
			if o := d.config(other); other != "" && o != nil && o.arg("enable") == "on" {
				return nil, badRequest("FunctionConflict", "Domain %s has %s on; delete it before setting %s.", d.Name, other, f.FunctionName)
			}
		}
		targets = append(targets, d)
	}
	now := time.Now()
	var models []map[string]any
	for _, d := range targets {
		for _, f := range fns {
			c := d.config(f.FunctionName)
			if f.ConfigID != 0 {
				c = nil
				for _, x := range d.Configs {
					if x.ConfigID == f.ConfigID {
						c = x
					}
				}
				if c == nil {
					return nil, badRequest("InvalidConfigId.NotFound", "ConfigId %d does not exist on %s.", f.ConfigID, d.Name)
				}
			}
			if c == nil {
				c = &cdnConfig{ConfigID: st.next(), Function: f.FunctionName}
				d.Configs = append(d.Configs, c)
			}
			c.Args = nil
			for _, a := range f.FunctionArgs {
				c.Args = append(c.Args, [2]string{a.ArgName, a.ArgValue})
			}
			c.Changed = now
			models = append(models, map[string]any{"DomainName": d.Name, "ConfigId": c.ConfigID, "FunctionName": c.Function})
		}
		q.changed("cdn:" + d.Name)
	}
	return map[string]any{"DomainConfigList": map[string]any{"DomainConfigModel": models}}, nil
}

func cdnDescribeConfigs(q *rpcCall) (map[string]any, *APIError) {
	name := q.get("DomainName")
	if name == "" {
		return nil, cdnMissing("DomainName")
	}
	want := map[string]bool{}
	for _, f := range strings.Split(q.get("FunctionNames"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			want[f] = true
		}
	}
	wantID := q.get("ConfigId")
	window := q.c.faults.window("BatchSetCdnDomainConfig")
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d, e := q.cdnDomain(name)
	if e != nil {
		return nil, e
	}
	out := []map[string]any{}
	for _, c := range d.Configs {
		if len(want) > 0 && !want[c.Function] || wantID != "" && wantID != fmt.Sprint(c.ConfigID) {
			continue
		}
		status := "success"
		if window > 0 && time.Since(c.Changed) < window {
			status = "configuring"
		}
		args := []map[string]any{}
		for _, a := range c.Args {
			args = append(args, map[string]any{"ArgName": a[0], "ArgValue": a[1]})
		}
		out = append(out, map[string]any{"FunctionName": c.Function, "ConfigId": fmt.Sprint(c.ConfigID), "Status": status,
			"ParentId": "", "FunctionArgs": map[string]any{"FunctionArg": args}})
	}
	return map[string]any{"DomainConfigs": map[string]any{"DomainConfig": out}}, nil
}

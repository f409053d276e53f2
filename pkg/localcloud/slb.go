package localcloud

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"
)

var slbActions = map[string]actionFunc{
	"UploadServerCertificate":                    slbUpload,
	"DescribeServerCertificates":                 slbDescribeCerts,
	"DeleteServerCertificate":                    slbDeleteCert,
	"DescribeLoadBalancerHTTPSListenerAttribute": slbDescribeHTTPS,
	"SetLoadBalancerHTTPSListenerAttribute":      slbSetHTTPS,
	"CreateDomainExtension":                      slbCreateExt,
	"SetDomainExtensionAttribute":                slbSetExt,
	"DescribeDomainExtensions":                   slbDescribeExts,
	"DescribeLoadBalancerHTTPListenerAttribute":  slbDescribeHTTP,
	"CreateLoadBalancerHTTPListener":             slbCreateHTTP,
	"SetLoadBalancerHTTPListenerAttribute":       slbSetHTTP,
	"StartLoadBalancerListener":                  slbStart,
	"StopLoadBalancerListener":                   slbStop,
	"DeleteLoadBalancerListener":                 slbDeleteListener,
}

var slbCertName = regexp.MustCompile(`^[A-Za-z\p{Han}][A-Za-z0-9\p{Han}._-]{0,79}$`)

func slbCertView(c *slbCert) map[string]any {
	alg, bits := c.Mat.algorithm()
	leaf := c.Mat.leaf()
	isAli := 0
	if c.AliCloudID != "" {
		isAli = 1
	}
	return map[string]any{
		"ServerCertificateId": c.ID, "ServerCertificateName": c.Name, "Fingerprint": c.Mat.colonFingerprint(),
		"CommonName": leaf.Subject.CommonName, "SubjectAlternativeNames": map[string]any{"SubjectAlternativeName": c.Mat.names()},
		"ExpireTime": isoTime(leaf.NotAfter), "ExpireTimeStamp": leaf.NotAfter.UnixMilli(),
		"CreateTime": isoTime(c.Created), "CreateTimeStamp": c.Created.UnixMilli(),
		"RegionId": c.Region, "RegionIdAlias": c.Region, "IsAliCloudCertificate": isAli,
		"AliCloudCertificateId": c.AliCloudID, "AliCloudCertificateName": c.AliCloudName,
		"EncryptionAlgorithm": alg, "EncryptionKeyLength": bits, "StandardType": "cn",
		"ResourceGroupId": "rg-default", "Tags": map[string]any{"Tag": []any{}},
	}
}

// addSLBCert stores a certificate in one region; callers hold st.mu.
func (s *state) addSLBCert(account, region, name string, mat *material, aliID, aliName string) *slbCert {
	now := time.Now()
	id := fmt.Sprintf("%s-%s-%d", account, region, s.next())
	if name == "" {
		name = "cert-" + strconv.FormatInt(s.seq, 10)
	}
	c := &slbCert{ID: id, Name: name, Region: region, Mat: mat, AliCloudID: aliID, AliCloudName: aliName, Created: now}
	s.slbCerts[id] = c
	return c
}

func slbUpload(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	name := q.get("ServerCertificateName")
	if name != "" && !slbCertName.MatchString(name) {
		return nil, invalid("ServerCertificateName", name)
	}
	var mat *material
	aliID, aliName := q.get("AliCloudCertificateId"), q.get("AliCloudCertificateName")
	st := q.c.st
	switch {
	case aliID != "":
		if aliName == "" {
			return nil, missing("AliCloudCertificateName")
		}
		id, err := strconv.ParseInt(aliID, 10, 64)
		if err != nil {
			return nil, invalid("AliCloudCertificateId", aliID)
		}
		st.mu.Lock()
		c, ok := st.cas[id]
		st.mu.Unlock()
		if !ok {
			return nil, badRequest("AliCloudCertificateId.NotFound", "The specified AliCloudCertificateId %s does not exist.", aliID)
		}
		mat = c.Mat
	default:
		pub, e := q.req("ServerCertificate")
		if e != nil {
			return nil, e
		}
		pri, e := q.req("PrivateKey")
		if e != nil {
			return nil, e
		}
		var err error
		if mat, err = parseMaterial(pub, pri); err != nil {
			return nil, badRequest("InvalidParameter.Certificate", "The server certificate or private key is not valid: %v", err)
		}
	}
	st.mu.Lock()
	c := st.addSLBCert(q.c.estate.AccountID, region, name, mat, aliID, aliName)
	st.mu.Unlock()
	return slbCertView(c), nil
}

// slbCertIn finds a certificate in the given region; one from another region is
// ServerCertificateId.NotFound, as the real SLB answers (case C01). Callers hold st.mu.
func (s *state) slbCertIn(region, id string) (*slbCert, *APIError) {
	c, ok := s.slbCerts[id]
	if !ok || c.Region != region {
		return nil, badRequest("ServerCertificateId.NotFound", "The specified ServerCertificateId %s does not exist in region %s.", id, region)
	}
	return c, nil
}

func slbDescribeCerts(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	want := q.get("ServerCertificateId")
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var list []map[string]any
	var ids []string
	for id, c := range st.slbCerts {
		if c.Region == region && (want == "" || want == id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		list = append(list, slbCertView(st.slbCerts[id]))
	}
	return map[string]any{"ServerCertificates": map[string]any{"ServerCertificate": append([]map[string]any{}, list...)}}, nil
}

func slbDeleteCert(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	id, e := q.req("ServerCertificateId")
	if e != nil {
		return nil, e
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, e := st.slbCertIn(region, id); e != nil {
		return nil, e
	}
	for _, lb := range st.lbs {
		for _, l := range lb.Listeners {
			inUse := l.CertID == id
			for _, x := range l.Extensions {
				inUse = inUse || x.CertID == id
			}
			if inUse {
				return nil, badRequest("ResourceInUse.ServerCertificate", "The server certificate %s is in use by %s:%d.", id, lb.ID, l.Port)
			}
		}
	}
	delete(st.slbCerts, id)
	return map[string]any{}, nil
}

// listenerOf resolves LoadBalancerId + ListenerPort in the request's region; callers hold st.mu.
func (q *rpcCall) listenerOf(proto string) (*loadBalancer, *listener, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, nil, e
	}
	id, e := q.req("LoadBalancerId")
	if e != nil {
		return nil, nil, e
	}
	port, e := q.reqInt("ListenerPort")
	if e != nil {
		return nil, nil, e
	}
	lb, ok := q.c.st.lbs[id]
	if !ok || lb.Region != region {
		return nil, nil, notFound("InvalidLoadBalancerId.NotFound", "The specified LoadBalancerId %s does not exist in region %s.", id, region)
	}
	l, ok := lb.Listeners[int(port)]
	if !ok || (proto != "" && l.Protocol != proto) {
		return lb, nil, badRequest("ListenerNotFound", "The specified %s listener %s:%d does not exist.", proto, id, port)
	}
	return lb, l, nil
}

func slbDescribeHTTPS(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("https")
	if e != nil {
		return nil, e
	}
	exts := []map[string]any{}
	for _, x := range l.Extensions {
		exts = append(exts, map[string]any{"DomainExtensionId": x.ID, "Domain": x.Domain, "ServerCertificateId": x.CertID})
	}
	certs := []map[string]any{}
	if c, ok := st.slbCerts[l.CertID]; ok {
		v := slbCertView(c)
		v["CertificateId"] = c.ID
		v["BindingType"] = "Server"
		certs = append(certs, v)
	}
	return map[string]any{
		"LoadBalancerId": lb.ID, "ListenerPort": l.Port, "Status": l.Status, "BackendServerPort": l.BackendServerPort,
		"Bandwidth": l.Bandwidth, "StickySession": l.StickySession, "StickySessionType": l.StickySessionType,
		"CookieTimeout": l.CookieTimeout, "Cookie": l.Cookie, "HealthCheck": l.HealthCheck,
		"ServerCertificateId": l.CertID, "TLSCipherPolicy": l.TLSCipherPolicy, "EnableHttp2": l.EnableHttp2,
		"XForwardedFor": "on", "XForwardedFor_proto": "off", "AclStatus": "off", "Scheduler": "wrr", "Gzip": "on",
		"IdleTimeout": 15, "RequestTimeout": 60, "BackendProtocol": "http",
		"DomainExtensions":   map[string]any{"DomainExtension": exts},
		"ServerCertificates": map[string]any{"ServerCertificate": certs},
		"AclIds":             map[string]any{"AclId": []string{}}, "Rules": map[string]any{"Rule": []any{}},
	}, nil
}

// applyCommon validates and applies the conditional listener parameters shared by the
// HTTP and HTTPS Set/Create actions (facts §5.2).
func (q *rpcCall) applyCommon(l *listener) *APIError {
	for _, name := range []string{"StickySession", "HealthCheck", "AclStatus", "VServerGroup", "Gzip"} {
		if v := q.get(name); v != "" && !onOff(v) {
			return invalid(name, v)
		}
	}
	sticky := q.get("StickySession")
	if sticky == "on" {
		t, e := q.req("StickySessionType")
		if e != nil {
			return e
		}
		switch t {
		case "insert":
			if _, e := q.reqInt("CookieTimeout"); e != nil {
				return e
			}
		case "server":
			if _, e := q.req("Cookie"); e != nil {
				return e
			}
		default:
			return invalid("StickySessionType", t)
		}
	}
	if q.get("AclStatus") == "on" {
		if _, e := q.req("AclId"); e != nil {
			return e
		}
	}
	if q.get("VServerGroup") == "on" {
		if _, e := q.req("VServerGroupId"); e != nil {
			return e
		}
	}
	if bw, ok, e := q.int("Bandwidth"); e != nil {
		return e
	} else if ok {
		if bw != -1 && (bw < 1 || bw > 5120) {
			return invalid("Bandwidth", q.get("Bandwidth"))
		}
		l.Bandwidth = int(bw)
	}
	if sticky != "" {
		l.StickySession = sticky
		l.StickySessionType, l.Cookie, l.CookieTimeout = "", "", 0
		if sticky == "on" {
			l.StickySessionType = q.get("StickySessionType")
			l.Cookie = q.get("Cookie")
			n, _, _ := q.int("CookieTimeout")
			l.CookieTimeout = int(n)
		}
	}
	if v := q.get("HealthCheck"); v != "" {
		l.HealthCheck = v
	}
	return nil
}

func slbSetHTTPS(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("https")
	if e != nil {
		return nil, e
	}
	res := fmt.Sprintf("clb:%s:%d", lb.ID, l.Port)
	if e := q.busy(res); e != nil {
		return nil, e
	}
	certID := q.get("ServerCertificateId")
	if certID != "" {
		if _, e := st.slbCertIn(lb.Region, certID); e != nil {
			return nil, e
		}
	}
	next := *l
	if e := q.applyCommon(&next); e != nil {
		return nil, e
	}
	if v := q.get("TLSCipherPolicy"); v != "" {
		next.TLSCipherPolicy = v
	}
	if v := q.get("EnableHttp2"); v != "" {
		next.EnableHttp2 = v
	}
	if certID != "" {
		next.CertID = certID
	}
	*l = next
	q.changed(res)
	return map[string]any{}, nil
}

func slbCreateExt(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("https")
	if e != nil {
		return nil, e
	}
	domain, e := q.req("Domain")
	if e != nil {
		return nil, e
	}
	certID, e := q.req("ServerCertificateId")
	if e != nil {
		return nil, e
	}
	if _, e := st.slbCertIn(lb.Region, certID); e != nil {
		return nil, e
	}
	for _, x := range l.Extensions {
		if x.Domain == domain {
			return nil, badRequest("DomainExtensionExist", "The domain extension %s already exists on %s:%d.", domain, lb.ID, l.Port)
		}
	}
	x := &domainExt{ID: fmt.Sprintf("de-%s", randHex(8)), Domain: domain, CertID: certID}
	l.Extensions = append(l.Extensions, x)
	return map[string]any{"ListenerPort": l.Port, "DomainExtensionId": x.ID}, nil
}

func slbSetExt(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	id, e := q.req("DomainExtensionId")
	if e != nil {
		return nil, e
	}
	certID := q.get("ServerCertificateId")
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, lb := range st.lbs {
		for _, l := range lb.Listeners {
			for _, x := range l.Extensions {
				if x.ID != id || lb.Region != region {
					continue
				}
				res := "clb-ext:" + id
				if e := q.busy(res); e != nil {
					return nil, e
				}
				if certID != "" {
					if _, e := st.slbCertIn(region, certID); e != nil {
						return nil, e
					}
					x.CertID = certID
				}
				q.changed(res)
				return map[string]any{}, nil
			}
		}
	}
	return nil, badRequest("InvalidParameter.DomainExtensionId", "The specified DomainExtensionId %s does not exist in region %s.", id, region)
}

func slbDescribeExts(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	_, l, e := q.listenerOf("https")
	if e != nil {
		return nil, e
	}
	want := q.get("DomainExtensionId")
	exts := []map[string]any{}
	for _, x := range l.Extensions {
		if want == "" || want == x.ID {
			exts = append(exts, map[string]any{"DomainExtensionId": x.ID, "Domain": x.Domain, "ServerCertificateId": x.CertID})
		}
	}
	return map[string]any{"DomainExtensions": map[string]any{"DomainExtension": exts}}, nil
}

func slbDescribeHTTP(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("http")
	if e != nil {
		return nil, e
	}
	fwd := l.ListenerForward
	if fwd == "" {
		fwd = "off"
	}
	out := map[string]any{
		"LoadBalancerId": lb.ID, "ListenerPort": l.Port, "Status": l.Status, "BackendServerPort": l.BackendServerPort,
		"Bandwidth": l.Bandwidth, "StickySession": l.StickySession, "StickySessionType": l.StickySessionType,
		"CookieTimeout": l.CookieTimeout, "Cookie": l.Cookie, "HealthCheck": l.HealthCheck, "ListenerForward": fwd,
		"AclStatus": "off", "Scheduler": "wrr", "Gzip": "on", "IdleTimeout": 15, "RequestTimeout": 60,
		"AclIds": map[string]any{"AclId": []string{}}, "Rules": map[string]any{"Rule": []any{}},
	}
	if fwd == "on" {
		out["ForwardPort"] = l.ForwardPort
		out["ForwardCode"] = 301
	}
	return out, nil
}

func slbCreateHTTP(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("")
	if lb == nil {
		return nil, e
	}
	if l != nil {
		return nil, badRequest("ListenerAlreadyExists", "The listener %s:%d already exists.", lb.ID, l.Port)
	}
	port, _ := q.reqInt("ListenerPort")
	if port < 1 || port > 65535 {
		return nil, invalid("ListenerPort", q.get("ListenerPort"))
	}
	nl := &listener{Port: int(port), Protocol: "http", Status: "stopped", Bandwidth: -1}
	fwd := q.get("ListenerForward")
	if fwd != "" && !onOff(fwd) {
		return nil, invalid("ListenerForward", fwd)
	}
	if fwd == "on" {
		fp, e := q.reqInt("ForwardPort")
		if e != nil {
			return nil, e
		}
		target, ok := lb.Listeners[int(fp)]
		if !ok || target.Protocol != "https" {
			return nil, badRequest("ForwardPortNotFound", "The forward port %d is not an HTTPS listener of %s.", fp, lb.ID)
		}
		nl.ListenerForward, nl.ForwardPort = "on", int(fp)
	} else {
		if _, e := q.req("StickySession"); e != nil {
			return nil, e
		}
		if _, e := q.req("HealthCheck"); e != nil {
			return nil, e
		}
		if q.get("VServerGroupId") == "" {
			bp, e := q.reqInt("BackendServerPort")
			if e != nil {
				return nil, e
			}
			nl.BackendServerPort = int(bp)
		}
		nl.ListenerForward = "off"
	}
	if e := q.applyCommon(nl); e != nil {
		return nil, e
	}
	lb.Listeners[nl.Port] = nl
	return map[string]any{}, nil
}

func slbSetHTTP(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("http")
	if e != nil {
		return nil, e
	}
	res := fmt.Sprintf("clb:%s:%d", lb.ID, l.Port)
	if e := q.busy(res); e != nil {
		return nil, e
	}
	next := *l
	if e := q.applyCommon(&next); e != nil {
		return nil, e
	}
	*l = next
	q.changed(res)
	return map[string]any{}, nil
}

func slbSetStatus(q *rpcCall, status string) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	_, l, e := q.listenerOf("")
	if e != nil {
		return nil, e
	}
	l.Status = status
	return map[string]any{}, nil
}

func slbStart(q *rpcCall) (map[string]any, *APIError) { return slbSetStatus(q, "running") }
func slbStop(q *rpcCall) (map[string]any, *APIError)  { return slbSetStatus(q, "stopped") }

func slbDeleteListener(q *rpcCall) (map[string]any, *APIError) {
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lb, l, e := q.listenerOf("")
	if e != nil {
		return nil, e
	}
	delete(lb.Listeners, l.Port)
	return map[string]any{}, nil
}

package events_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/certflow/certflow/pkg/events"
)

// ce builds a CloudEvent JSON object with the given source, type and data.
func ce(id, source, typ, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":%q,"subject":"acs:cas:cn-hangzhou:1:certificate/x",`+
		`"time":"2026-01-05T02:00:00Z","aliyunaccountid":"1","aliyunregionid":"cn-hangzhou","data":%s}`, id, source, typ, data)
}

func casEvent(data string) string {
	return ce("ev-1", events.SourceCAS, events.TypeCertificateIssued, data)
}

func trail(eventName, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return ce("at-1", events.SourceCAS, events.TypeCASActionTrail,
		fmt.Sprintf(`{"eventName":%q,"serviceName":"cas","eventType":"ApiCall"%s}`, eventName, extra))
}

func TestDecodeDeployCertIDLocations(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    int64
	}{
		{"data.certId number", casEvent(`{"certId":12345678}`), 12345678},
		{"data.certId string", casEvent(`{"certId":"12345678"}`), 12345678},
		{"data.certId string with spaces", casEvent(`{"certId":" 42 "}`), 42},
		{"data.certificateId", casEvent(`{"certificateId":87654321}`), 87654321},
		{"data.CertId", casEvent(`{"CertId":"555"}`), 555},
		{"data.CertificateId", casEvent(`{"CertificateId":556}`), 556},
		{"max int64", casEvent(`{"certId":9223372036854775807}`), 9223372036854775807},
		{"18-digit string", casEvent(`{"certId":"123456789012345678"}`), 123456789012345678},
		{"two fields agree", casEvent(`{"certId":7,"certificateId":"7"}`), 7},
		{"null field skipped", casEvent(`{"certId":null,"certificateId":9}`), 9},
		{"requestParameters.CertId", trail("UploadUserCertificate", `"requestParameters":{"CertId":101}`), 101},
		{"requestParameters.certId", trail("UploadUserCertificate", `"requestParameters":{"certId":"102"}`), 102},
		{"requestParameters.CertificateId", trail("UploadUserCertificate", `"requestParameters":{"CertificateId":103}`), 103},
		{"requestParameters.certificateId", trail("UploadUserCertificate", `"requestParameters":{"certificateId":104}`), 104},
		{"responseElements.CertId", trail("UploadUserCertificate", `"responseElements":{"RequestId":"r","CertId":12346001}`), 12346001},
		{"responseElements.certId", trail("UploadCertificate", `"responseElements":{"certId":"106"}`), 106},
		{"responseElements.CertificateId", trail("RenewCertificateOrderForPackageRequest", `"responseElements":{"CertificateId":107}`), 107},
		{"responseElements.certificateId", trail("CreateCertificateRequest", `"responseElements":{"certificateId":108}`), 108},
		{"actiontrail source", ce("at-2", events.SourceActionTrail, events.TypeActionTrailAPICall,
			`{"eventName":"UploadUserCertificate","responseElements":{"CertId":109}}`), 109},
		{"manual certId", `{"certId":12345678}`, 12345678},
		{"manual certId string", `{"certId":"12345678"}`, 12345678},
		{"manual certificateId", `{"certificateId":33}`, 33},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.DecodeDeploy([]byte(tc.payload), events.Filter{})
			if err != nil {
				t.Fatalf("DecodeDeploy: %v", err)
			}
			if len(got) != 1 || got[0].CertID != tc.want {
				t.Fatalf("got %+v, want one Deploy with CertID %d", got, tc.want)
			}
		})
	}
}

func TestDecodeDeployErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		filter  events.Filter
		want    []string // substrings of the error
		noID    bool     // errors.Is(err, ErrNoCertID)
	}{
		// C21: field names that drifted decode to nothing, and say so.
		{name: "C21 cert_id drift", payload: casEvent(`{"cert_id":12345678}`), want: []string{"event ev-1: event has no certificate ID"}, noID: true},
		{name: "C21 nested under detail", payload: casEvent(`{"detail":{"certId":1}}`), want: []string{"event ev-1: event has no certificate ID"}, noID: true},
		{name: "no data", payload: `{"specversion":"1.0","id":"ev-9","source":"acs.cas","type":"cas:Certificate:Issued"}`, want: []string{"event ev-9: event has no certificate ID"}, noID: true},
		{name: "data null", payload: casEvent(`null`), want: []string{"event has no certificate ID"}, noID: true},
		{name: "manual drift", payload: `{"cert_id":5,"dry_run":true}`, want: []string{"event manual: event has no certificate ID", "cert_id", "dry_run"}, noID: true},
		{name: "manual empty object", payload: `{}`, want: []string{"event manual: event has no certificate ID"}, noID: true},
		{name: "manual typo with id", payload: `{"certId":5,"dry_run":true}`, want: []string{"event manual: unknown fields: dry_run"}},
		{name: "non-numeric", payload: casEvent(`{"certId":"1234567890_18a_xxx"}`), want: []string{"data.certId", `"1234567890_18a_xxx" is not a whole number`}},
		{name: "negative", payload: casEvent(`{"certificateId":-5}`), want: []string{"data.certificateId", "negative"}},
		{name: "negative string", payload: casEvent(`{"certId":"-5"}`), want: []string{"data.certId", "negative"}},
		{name: "zero", payload: casEvent(`{"certId":0}`), want: []string{"data.certId: certificate ID is 0"}},
		{name: "overflow", payload: casEvent(`{"certId":9223372036854775808}`), want: []string{"data.certId", "out of range"}},
		{name: "overflow string", payload: casEvent(`{"CertId":"99999999999999999999"}`), want: []string{"data.CertId", "out of range"}},
		{name: "fraction", payload: casEvent(`{"certId":12.5}`), want: []string{"data.certId", "not a whole number"}},
		{name: "exponent", payload: casEvent(`{"certId":1e7}`), want: []string{"data.certId", "not a whole number"}},
		{name: "boolean", payload: casEvent(`{"certId":true}`), want: []string{"data.certId", "a boolean"}},
		{name: "object", payload: casEvent(`{"certId":{"id":1}}`), want: []string{"data.certId", "an object"}},
		{name: "empty string", payload: casEvent(`{"certId":""}`), want: []string{"data.certId: certificate ID is empty"}},
		{name: "conflict", payload: casEvent(`{"certId":1,"certificateId":2}`), want: []string{"conflicting certificate IDs", "data.certId=1", "data.certificateId=2"}},
		{name: "bad responseElements value", payload: trail("UploadUserCertificate", `"responseElements":{"CertId":"abc"}`), want: []string{"data.responseElements.CertId"}},
		{name: "manual zero", payload: `{"certId":0}`, want: []string{"event manual: certId: certificate ID is 0"}},
		{name: "manual conflict", payload: `{"certId":1,"certificateId":2}`, want: []string{"conflicting"}},
		{name: "manual dryRun string", payload: `{"certId":1,"dryRun":"yes"}`, want: []string{"dryRun: must be true or false"}},
		{name: "manual only not list", payload: `{"certId":1,"only":"cdn:a.example.com"}`, want: []string{"only: must be a list"}},
		{name: "manual only bad kind", payload: `{"certId":1,"only":["slb:lb-x:443"]}`, want: []string{"only[0]", `unknown kind "slb"`}},
		{name: "manual only bad port", payload: `{"certId":1,"only":["clb:lb-abc:99999"]}`, want: []string{"only[0]", "port"}},
		{name: "manual only bad lb", payload: `{"certId":1,"only":["clb:LB_1:443"]}`, want: []string{"only[0]", "load balancer ID"}},
		{name: "manual only bad domain", payload: `{"certId":1,"only":["cdn:exa mple.com"]}`, want: []string{"only[0]", "domain name"}},
		{name: "manual only bad instance", payload: `{"certId":1,"only":["cdn:www.example.com","ecs:vm-1"]}`, want: []string{"only[1]", "instance ID"}},
		{name: "unknown source", payload: ce("x1", "acs.ecs", "ecs:Instance:StateChange", `{"certId":1}`), want: []string{"event x1", `unsupported event source "acs.ecs"`, "ecs:Instance:StateChange"}},
		{name: "unknown CAS type", payload: ce("x2", "acs.cas", "cas:Certificate:Expiring", `{"certId":1}`), want: []string{"event x2", `unsupported event type "cas:Certificate:Expiring"`}},
		{name: "non-certificate action", payload: trail("DeleteUserCertificate", `"requestParameters":{"CertId":1}`), want: []string{`ActionTrail action "DeleteUserCertificate"`, "does not concern certificates"}},
		{name: "failed action", payload: trail("UploadUserCertificate", `"errorCode":"NameRepeat","errorMessage":"name exists"`), want: []string{"UploadUserCertificate failed (NameRepeat"}},
		{name: "order action without cert", payload: trail("CreateCertificateForPackageRequest", `"responseElements":{"OrderId":5}`), want: []string{"event has no certificate ID", "CreateCertificateForPackageRequest"}, noID: true},
		{name: "actiontrail without eventName", payload: ce("at-3", "acs.cas", events.TypeCASActionTrail, `{"responseElements":{"CertId":1}}`), want: []string{"data.eventName: required"}},
		{name: "missing specversion", payload: `{"id":"e","source":"acs.cas","type":"cas:Certificate:Issued","data":{"certId":1}}`, want: []string{"event e", "specversion: required"}},
		{name: "wrong specversion", payload: `{"specversion":"0.3","id":"e","source":"acs.cas","type":"cas:Certificate:Issued","data":{"certId":1}}`, want: []string{"specversion", "0.3"}},
		{name: "missing id source type", payload: `{"specversion":"1.0","data":{"certId":1}}`, want: []string{"id: required", "source: required", "type: required"}},
		{name: "data not object", payload: casEvent(`"12345"`), want: []string{"data: not a JSON object"}},
		{name: "empty", payload: "  ", want: []string{"empty payload"}},
		{name: "empty batch", payload: "[]", want: []string{"empty event batch"}},
		{name: "not json", payload: "certId=5", want: []string{"not a JSON object or array"}},
		{name: "truncated", payload: `{"certId":5`, want: []string{"malformed JSON"}},
		{name: "scalar", payload: `12345`, want: []string{"not a JSON object or array"}},
		{name: "custom filter rejects default", payload: casEvent(`{"certId":1}`), filter: events.Filter{Types: []string{"cas:Cert:Done"}}, want: []string{"unsupported event type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.DecodeDeploy([]byte(tc.payload), tc.filter)
			if err == nil {
				t.Fatalf("DecodeDeploy = %+v, want an error", got)
			}
			if len(got) != 0 {
				t.Errorf("DecodeDeploy returned %+v alongside the error, want nothing", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, events.ErrNoCertID); got != tc.noID {
				t.Errorf("errors.Is(err, ErrNoCertID) = %v, want %v (err: %v)", got, tc.noID, err)
			}
		})
	}
}

func TestDecodeDeployManual(t *testing.T) {
	got, err := events.DecodeDeploy([]byte(`{"certId":12345678,"dryRun":true,"only":["clb:lb-bp1xyz:443","cdn:WWW.Example.com.","ecs:i-bp1abc","clb:lb-bp1xyz:443:API.example.com","cdn:*.example.com","cdn:.example.com"]}`), events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := events.Deploy{CertID: 12345678, DryRun: true, EventID: "manual", Source: "manual", Type: "manual", Manual: true,
		Only: []string{"clb:lb-bp1xyz:443", "cdn:www.example.com", "ecs:i-bp1abc", "clb:lb-bp1xyz:443:api.example.com", "cdn:*.example.com", "cdn:.example.com"}}
	if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got, err = events.DecodeDeploy([]byte(`{"certId":7,"dryRun":false,"only":null}`), events.Filter{})
	if err != nil || len(got) != 1 || got[0].DryRun || got[0].Only != nil || got[0].CertID != 7 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestDecodeDeployBatch(t *testing.T) {
	payload := "[" + strings.Join([]string{
		casEvent(`{"certId":1}`),
		ce("bad-1", "acs.cas", events.TypeCertificateRenewed, `{"certificate_id":2}`),
		ce("ev-3", "acs.cas", events.TypeCertificateRenewed, `{"certificateId":"3"}`),
		`{"specversion":"1.0","data":{}}`,
		ce("ev-5", "acs.oss", "oss:ObjectCreated:PutObject", `{}`),
	}, ",") + "]"
	got, err := events.DecodeDeploy([]byte(payload), events.Filter{})
	if len(got) != 2 || got[0].CertID != 1 || got[1].CertID != 3 || got[1].EventID != "ev-3" || got[1].Type != events.TypeCertificateRenewed {
		t.Fatalf("decoded %+v, want events ev-1 (cert 1) and ev-3 (cert 3)", got)
	}
	for _, w := range []string{"event bad-1: event has no certificate ID", "event #3:", `event ev-5: unsupported event source "acs.oss"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not contain %q", err, w)
		}
	}
	if !errors.Is(err, events.ErrNoCertID) {
		t.Errorf("joined error should wrap ErrNoCertID")
	}
}

func TestFilter(t *testing.T) {
	expiring := ce("e1", "acs.cas", "cas:Certificate:Expiring", `{"certId":1}`)
	tests := []struct {
		name    string
		filter  events.Filter
		payload string
		ok      bool
	}{
		{"default rejects other CAS types", events.Filter{}, expiring, false},
		{"sources only accepts any type", events.Filter{Sources: []string{"acs.cas"}}, expiring, true},
		{"types only keeps default sources", events.Filter{Types: []string{"cas:Certificate:Expiring"}}, expiring, true},
		{"custom source", events.Filter{Sources: []string{"acs.custom"}}, ce("e2", "acs.custom", "custom:Cert:New", `{"certId":1}`), true},
		{"custom source excludes acs.cas", events.Filter{Sources: []string{"acs.custom"}}, expiring, false},
		{"manual ignores filter", events.Filter{Sources: []string{"acs.custom"}}, `{"certId":1}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.DecodeDeploy([]byte(tc.payload), tc.filter)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCertificateActionsAccepted(t *testing.T) {
	for _, action := range events.CertificateActions() {
		t.Run(action, func(t *testing.T) {
			got, err := events.DecodeDeploy([]byte(trail(action, `"responseElements":{"CertId":77}`)), events.Filter{})
			if err != nil || len(got) != 1 || got[0].CertID != 77 {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func FuzzDecodeDeploy(f *testing.F) {
	for _, s := range []string{
		casEvent(`{"certId":12345678}`), casEvent(`{"certId":"-1"}`), trail("UploadUserCertificate", `"responseElements":{"CertId":1}`),
		`{"certId":1,"dryRun":true,"only":["clb:lb-a:443:x.example.com","cdn:*.example.com","ecs:i-a"]}`,
		`[` + casEvent(`{"certId":1}`) + `,{}]`, `[]`, `null`, `{"only":[1]}`, `{"specversion":"1.0","data":[1]}`,
		casEvent(`{"requestParameters":"x","responseElements":{"CertId":{}}}`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := events.DecodeDeploy(payload, events.Filter{})
		for _, d := range got {
			if d.CertID <= 0 {
				t.Fatalf("decoded a non-positive certificate ID: %+v (err %v)", d, err)
			}
			if d.EventID == "" {
				t.Fatalf("decoded an event without an ID: %+v", d)
			}
		}
		if err == nil && len(got) == 0 {
			t.Fatalf("no events and no error for %q", payload)
		}
	})
}

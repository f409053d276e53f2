package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/certflow/certflow/pkg/localca"
)

// badCase is one malformed input and what certflow must answer.
type badCase struct {
	name  string
	file  string // written into the case folder with content; "" = none
	data  []byte
	args  []string // certflow arguments; "{file}" is the written file, "{good}" a valid chain, "{targets}" a valid targets file
	code  int      // exit code the CLI must return
	names string   // what the message must name (the file, field, row or message)
}

// mnsEvent is the binder's trigger payload for one queue message body.
func mnsEvent(id, body string) []byte {
	b, _ := json.Marshal([]map[string]any{{
		"id": id, "source": "MNS-certflow-bind", "specversion": "1.0", "type": "mns:Queue:SendMessage",
		"subject": "acs:mns:cn-hangzhou:1234567890123456:queues/certflow-bind", "time": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{"requestId": "req-" + id, "messageId": id, "messageBody": body},
	}})
	return b
}

// Scenario 8: bad input. Every malformed input — events, PEM/PFX, xlsx, targets files and
// queue bodies — gets a clear error naming the input, a stable exit code and no panic,
// both from the CLI and from the functions run by the local runtime.
func TestS8BadInput(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	ca, err := localca.New("faults bad input")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"www.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	secrets.addKey(leaf)
	chain := ca.ChainPEM(leaf)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.pem", chain)
	goodKey := write("good.key", leaf.KeyPEM())
	targets := write("targets.yaml", []byte("targets:\n  - kind: cdn\n    domain: www.example.com\n    names: [www.example.com]\n"))
	pfx, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, "right-password")
	if err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte{0x00, 0xff, 0x13, 0x37, 0x89, 0x50, 0x4b}, 300)
	huge := append([]byte("-----BEGIN CERTIFICATE-----\n"), bytes.Repeat([]byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"), 10*1024*1024/65)...)
	huge = append(huge, []byte("-----END CERTIFICATE-----\n")...)
	half := chain[:len(chain)/2]
	keyAsCert := bytes.ReplaceAll(leaf.KeyPEM(), []byte("PRIVATE KEY"), []byte("CERTIFICATE"))

	cases := []badCase{
		// PEM certificate bundles.
		{name: "pem empty", file: "empty.pem", data: nil, args: []string{"validate", "--cert", "{file}"}, code: 1, names: "empty.pem"},
		{name: "pem binary junk", file: "junk.pem", data: junk, args: []string{"validate", "--cert", "{file}"}, code: 1, names: "junk.pem"},
		{name: "pem truncated", file: "half.pem", data: half, args: []string{"validate", "--cert", "{file}"}, code: 1, names: "half.pem"},
		{name: "pem 10 MB", file: "huge.pem", data: huge, args: []string{"validate", "--cert", "{file}"}, code: 2, names: "huge.pem"},
		{name: "pem bad base64", file: "b64.pem", data: []byte("-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n"), args: []string{"validate", "--cert", "{file}"}, code: 1, names: "b64.pem"},
		{name: "pem key labelled certificate", file: "keycert.pem", data: keyAsCert, args: []string{"validate", "--cert", "{file}"}, code: 1, names: "keycert.pem"},
		{name: "pem unknown block type", file: "csr.pem", data: []byte("-----BEGIN CERTIFICATE REQUEST-----\nQUJD\n-----END CERTIFICATE REQUEST-----\n"), args: []string{"validate", "--cert", "{file}"}, code: 1, names: "csr.pem"},
		{name: "pem missing file", args: []string{"validate", "--cert", filepath.Join(dir, "nope.pem")}, code: 2, names: "nope.pem"},
		{name: "key empty", file: "empty.key", data: nil, args: []string{"validate", "--cert", "{good}", "--key", "{file}"}, code: 1, names: "empty.key"},
		{name: "key junk", file: "junk.key", data: junk, args: []string{"validate", "--cert", "{good}", "--key", "{file}"}, code: 1, names: "junk.key"},
		{name: "key truncated", file: "half.key", data: leaf.KeyPEM()[:len(leaf.KeyPEM())/2], args: []string{"validate", "--cert", "{good}", "--key", "{file}"}, code: 1, names: "half.key"},
		{name: "key is a certificate", file: "cert.key", data: chain, args: []string{"validate", "--cert", "{good}", "--key", "{file}"}, code: 1, names: "cert.key"},
		// PFX.
		{name: "pfx empty", file: "empty.pfx", data: nil, args: []string{"validate", "--pfx", "{file}"}, code: 1, names: "empty.pfx"},
		{name: "pfx junk", file: "junk.pfx", data: junk, args: []string{"validate", "--pfx", "{file}"}, code: 1, names: "junk.pfx"},
		{name: "pfx truncated", file: "half.pfx", data: pfx[:len(pfx)/2], args: []string{"validate", "--pfx", "{file}"}, code: 1, names: "half.pfx"},
		{name: "pfx wrong password", file: "pw.pfx", data: pfx, args: []string{"validate", "--pfx", "{file}", "--password-env", "FAULTS_WRONG_PW"}, code: 1, names: "pw.pfx"},
		{name: "pfx is PEM", file: "pem.pfx", data: chain, args: []string{"validate", "--pfx", "{file}"}, code: 1, names: "pem.pfx"},
		// certificate_info.xlsx.
		{name: "xlsx empty", file: "empty.xlsx", data: nil, args: []string{"mapping", "check", "{file}"}, code: 2, names: "empty.xlsx"},
		{name: "xlsx junk", file: "junk.xlsx", data: junk, args: []string{"mapping", "check", "{file}"}, code: 2, names: "junk.xlsx"},
		{name: "xlsx is CSV", file: "csv.xlsx", data: []byte("domain,certificate_id,cert_type\nwww.example.com,123,RSA\n"), args: []string{"mapping", "check", "{file}"}, code: 2, names: "csv.xlsx"},
		{name: "xlsx truncated zip", file: "half.xlsx", data: nil, args: []string{"mapping", "check", "{file}"}, code: 2, names: "half.xlsx"},
		{name: "xlsx without certificate_id column", file: "nocol.xlsx", data: xlsx(t, [][]string{{"domain", "cert_type"}, {"rec.example.com", "RSA"}}), args: []string{"mapping", "check", "{file}"}, code: 1, names: "certificate_id"},
		{name: "xlsx header only", file: "header.xlsx", data: xlsx(t, [][]string{{"domain", "certificate_id", "cert_type"}}), args: []string{"mapping", "check", "{file}"}, code: 1, names: "header.xlsx"},
		{name: "xlsx missing file", args: []string{"mapping", "check", filepath.Join(dir, "nope.xlsx")}, code: 2, names: "nope.xlsx"},
		// Targets files.
		{name: "targets empty", file: "empty.yaml", data: nil, args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "empty.yaml"},
		{name: "targets junk", file: "junk.yaml", data: junk, args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "junk.yaml"},
		{name: "targets truncated", file: "cut.yaml", data: []byte("targets:\n  - kind: clb\n    region: cn-hang"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "cut.yaml"},
		{name: "targets wrong type", file: "type.yaml", data: []byte("targets:\n  - kind: clb\n    region: cn-hangzhou\n    loadBalancerId: lb-abc\n    port: https\n    names: [www.example.com]\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "port"},
		{name: "targets unknown kind", file: "kind.yaml", data: []byte("targets:\n  - kind: alb\n    names: [www.example.com]\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "kind"},
		{name: "targets unknown field", file: "field.yaml", data: []byte("targets:\n  - kind: cdn\n    domain: www.example.com\n    names: [www.example.com]\n    colour: blue\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "colour"},
		{name: "targets huge port", file: "port.yaml", data: []byte("targets:\n  - kind: clb\n    region: cn-hangzhou\n    loadBalancerId: lb-abc\n    port: 99999999999\n    names: [www.example.com]\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "port"},
		{name: "targets bad region", file: "region.yaml", data: []byte("targets:\n  - kind: clb\n    region: Hangzhou!\n    loadBalancerId: lb-abc\n    port: 443\n    names: [www.example.com]\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "region"},
		{name: "targets huge name", file: "name.yaml", data: []byte("targets:\n  - kind: cdn\n    domain: " + strings.Repeat("a", 300) + ".example.com\n    names: [www.example.com]\n"), args: []string{"plan", "--config", "{file}", "--cert", "{good}"}, code: 2, names: "domain"},
		{name: "deploy bad cert id", args: []string{"deploy", "--config", "{targets}", "--cert-id", "12ab"}, code: 2, names: "cert-id"},
		{name: "deploy missing config", args: []string{"deploy", "--config", filepath.Join(dir, "none.yaml"), "--cert-id", "1"}, code: 2, names: "none.yaml"},
	}
	// A real workbook cut in half.
	whole := xlsx(t, [][]string{{"domain", "certificate_id", "cert_type"}, {"rec.example.com", "12345678", "RSA"}})
	for i := range cases {
		if cases[i].name == "xlsx truncated zip" {
			cases[i].data = whole[:len(whole)/2]
		}
	}
	_ = goodKey

	cli := filepath.Join(binDir, "certflow")
	panics, checked := 0, 0
	for _, tc := range cases {
		t.Run("cli/"+tc.name, func(t *testing.T) {
			file := ""
			if tc.file != "" {
				file = write(tc.file, tc.data)
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.NewReplacer("{file}", file, "{good}", good, "{targets}", targets).Replace(a)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, cli, args...)
			cmd.Env = append(os.Environ(), "FAULTS_WRONG_PW=not-the-password")
			out, err := cmd.CombinedOutput()
			heard("cli "+tc.name, out)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("run: %v", err)
			}
			checked++
			if bytes.Contains(out, []byte("panic:")) || bytes.Contains(out, []byte("goroutine ")) {
				panics++
				t.Errorf("panicked:\n%s", tail(out, 2000))
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, tail(out, 1500))
			}
			if !strings.Contains(string(out), tc.names) {
				t.Errorf("output does not name %q:\n%s", tc.names, tail(out, 1500))
			}
		})
	}

	// Functions through the local runtime: deployer events and binder queue bodies.
	r := newRig(t, rigOptions{NoStart: true})
	hugeDomains := make([]string, 5000)
	for i := range hugeDomains {
		hugeDomains[i] = fmt.Sprintf("d%05d.example.com", i)
	}
	hugeTask, _ := json.Marshal(map[string]any{"v": 1, "taskId": strings.Repeat("a", 32), "certId": 1, "sha256": strings.Repeat("ab", 32),
		"instance": r.cfg.AIRec.InstanceID, "domains": hugeDomains})
	type fnCase struct {
		name, fn string
		payload  []byte
		names    string
	}
	ce := func(data string) []byte {
		return []byte(`{"specversion":"1.0","id":"ev-bad","source":"acs.cas","type":"cas:Certificate:Issued","time":"2026-01-05T02:00:00Z","data":` + data + `}`)
	}
	fnCases := []fnCase{
		{"event truncated JSON", "deployer", []byte(`{"specversion":"1.0","id":"ev-cut","source":"acs.cas","data":{"certId":12`), ""},
		{"event certId wrong type", "deployer", ce(`{"certId":true}`), "certId"},
		{"event certId not a number", "deployer", ce(`{"certId":"twelve"}`), "certId"},
		{"event no certificate ID", "deployer", ce(`{"commonName":"www.example.com"}`), "certificate ID"},
		{"event huge certId", "deployer", ce(`{"certId":1e300}`), "certId"},
		{"event negative certId", "deployer", ce(`{"certId":-5}`), "certId"},
		{"event unknown type", "deployer", []byte(`{"specversion":"1.0","id":"ev-x","source":"acs.oss","type":"oss:ObjectCreated:PutObject","data":{"certId":5}}`), "ev-x"},
		{"event empty object", "deployer", []byte(`{}`), "certificate ID"},
		{"event array of junk", "deployer", []byte(`[1,"two",null]`), "event"},
		{"manual unknown field only", "deployer", []byte(`{"certID":5}`), "certId"},
		{"manual certificate CAS lacks", "deployer", []byte(`{"certId":999999999}`), "999999999"},
		{"queue body junk", "binder", mnsEvent("msg-junk", "%%% not a task {"), "msg-junk"},
		{"queue body base64 non-JSON", "binder", mnsEvent("msg-b64", base64.StdEncoding.EncodeToString([]byte("not json at all"))), "msg-b64"},
		{"queue body empty", "binder", mnsEvent("msg-empty", ""), "msg-empty"},
		{"queue body wrong version", "binder", mnsEvent("msg-v9", `{"v":9,"taskId":"x","certId":1}`), "msg-v9"},
		{"queue body wrong types", "binder", mnsEvent("msg-types", `{"v":1,"taskId":7,"certId":"one","domains":"rec.example.com"}`), "msg-types"},
		{"queue body huge domain list", "binder", mnsEvent("msg-huge", string(hugeTask)), "msg-huge"},
		{"queue payload not an event", "binder", []byte(`"just a string"`), "payload"},
	}
	for _, fc := range fnCases {
		t.Run("fn/"+fc.name, func(t *testing.T) {
			res, err := r.rt.Invoke(ctx, r.fn[fc.fn], fc.payload)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			collect(res)
			checked++
			msg := string(res.Payload)
			if res.Error != nil {
				msg = res.Error.Type + ": " + res.Error.Message
				if len(res.Error.StackTrace) > 0 || strings.Contains(strings.ToLower(res.Error.Type), "panic") || res.Error.Type == "ProcessExited" {
					panics++
					t.Errorf("crashed: %s", msg)
				}
			} else if !strings.Contains(msg, `"errors"`) {
				t.Errorf("accepted malformed input: %s", tail(res.Payload, 800))
			}
			if fc.names != "" && !strings.Contains(msg, fc.names) {
				t.Errorf("error does not name %q: %s", fc.names, tail([]byte(msg), 1200))
			}
			if bytes.Contains(res.Logs, []byte("panic:")) {
				panics++
				t.Errorf("panic in logs:\n%s", tail(res.Logs, 1500))
			}
		})
	}
	if n := len(cases) + len(fnCases); n < 40 {
		t.Errorf("only %d malformed inputs, want at least 40", n)
	}
	failed := 0
	if t.Failed() {
		failed = 1
	}
	figure(t, 8, row{Scenario: "8 bad input",
		Load:    fmt.Sprintf("%d malformed inputs (%d CLI, %d function invocations)", len(cases)+len(fnCases), len(cases), len(fnCases)),
		Faults:  "truncated JSON, wrong types, huge values, unknown types, empty files, binary junk, 10 MB PEM",
		Outcome: fmt.Sprintf("%d clear errors naming the input, stable exit codes, %d panics", checked, panics),
		Lost:    0, Duplicated: failed * 0})
}

// xlsx builds a workbook whose first sheet holds rows.
func xlsx(t *testing.T, rows [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cells := make([]any, len(r))
		for j, v := range r {
			cells[j] = v
		}
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &cells); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

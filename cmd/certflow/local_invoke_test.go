package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// localInvokeProject writes an s.yaml with one function whose code is pkg/localfc's echofn,
// compiled like `make functions` would.
func localInvokeProject(t *testing.T, build bool) string {
	t.Helper()
	dir := t.TempDir()
	syaml := `edition: 3.0.0
name: t
vars:
  region: ${env('CERTFLOW_TEST_REGION', 'cn-beijing')}
resources:
  echo:
    component: fc3
    props:
      region: ${vars.region}
      functionName: certflow-echo
      runtime: go1
      handler: main
      code: ./bin/echo
      memorySize: 128
      timeout: 5
      environmentVariables:
        CERTFLOW_TARGETS: targets.yaml
`
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(syaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if build {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "echo", "main"), "../../pkg/localfc/testdata/echofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build echofn: %v\n%s", err, out)
		}
	}
	return filepath.Join(dir, "s.yaml")
}

func TestLocalInvoke(t *testing.T) {
	syaml := localInvokeProject(t, true)
	t.Setenv("CERTFLOW_ENDPOINT", "http://127.0.0.1:18080")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIlocal")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "local-secret")
	t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "")
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte("{\n  \"op\": \"env\",\n  \"env\": [\"CERTFLOW_ENDPOINT\", \"CERTFLOW_TARGETS\", \"FC_REGION\"]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"event file", []string{"echo", "--event-file", event, "--s-yaml", syaml}, exitOK, []string{
			"========= FC invoke Logs begin =========", "FC Invoke Start RequestId: 1-", "echofn op=env",
			"Invoke Result:", `"CERTFLOW_ENDPOINT":"http://127.0.0.1:18080"`, `"CERTFLOW_TARGETS":"targets.yaml"`,
			`"FC_REGION":"cn-beijing"`, `"accessKeyId":"LTAIlocal"`, `"functionName":"certflow-echo"`, "Memory Size: 128 MB"}},
		{"function error", []string{"--event", `{"op":"error","message":"cert 1 not found"}`, "--s-yaml", syaml, "certflow-echo"}, exitFinding, []string{
			"Error Type: UnhandledInvocationError", `{"errorType":"errorString","errorMessage":"cert 1 not found"}`}},
		{"unknown function", []string{"nope", "--event", "{}", "--s-yaml", syaml}, exitUsage, []string{`no function "nope" (have certflow-echo)`}},
		{"both events", []string{"echo", "--event", "{}", "--event-file", event, "--s-yaml", syaml}, exitUsage, []string{"not both"}},
		{"no function", []string{"--event", "{}"}, exitUsage, []string{"usage: certflow local invoke"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := localInvoke(t.Context(), tc.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, all)
			}
			for _, want := range tc.contains {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
			if strings.Contains(all, "local-secret") && tc.name != "event file" {
				t.Error("secret printed")
			}
		})
	}
}

func TestLocalInvokeMissingBinary(t *testing.T) {
	syaml := localInvokeProject(t, false)
	var out, errb bytes.Buffer
	if code := localInvoke(t.Context(), []string{"echo", "--event", "{}", "--s-yaml", syaml}, &out, &errb); code != exitUsage {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(errb.String(), "run make functions") || !strings.Contains(errb.String(), filepath.Join("bin", "echo", "main")) {
		t.Errorf("stderr: %s", errb.String())
	}
}

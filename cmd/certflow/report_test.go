package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportFromCheckRun(t *testing.T) {
	env := newCheckEnv(t, "www.example.com")
	args := append([]string{"--json", "--roots", env.rootsFile}, env.resolve("www.example.com")...)
	args = append(args, env.resolve("bad.example.com")...)
	_, runJSON, _ := runCheckArgs(t, append(args, "www.example.com", "bad.example.com")...)
	dir := t.TempDir()
	in := filepath.Join(dir, "run.json")
	if err := os.WriteFile(in, []byte(runJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run.html")

	var stdout, stderr bytes.Buffer
	if code := dispatch(t.Context(), []string{"report", "--in", in, "--html", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", `<tr class="endpoint">`, "www.example.com", "bad.example.com", "hostname_mismatch", env.leaf.SHA256()} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !strings.Contains(stdout.String(), "2 endpoint(s), 1 ok, 1 failing") {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	notRun := filepath.Join(dir, "config.json")
	if err := os.WriteFile(notRun, []byte(`{"targets": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"endpoints": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"ok": true, "endpoints": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x.html")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing flags", []string{"--in", notRun}, "--in and --html are both required"},
		{"missing file", []string{"--in", filepath.Join(dir, "nope.json"), "--html", out}, "nope.json"},
		{"not a check run", []string{"--in", notRun, "--html", out}, `config.json: not a check run: no "endpoints" array`},
		{"broken json", []string{"--in", broken, "--html", out}, "broken.json: not a check run"},
		{"output folder missing", []string{"--in", empty, "--html", filepath.Join(dir, "no", "x.html")}, "write " + filepath.Join(dir, "no", "x.html")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(t.Context(), append([]string{"report"}, tc.args...), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, stderr.String(), tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an HTML file was written despite the error")
			}
		})
	}
}

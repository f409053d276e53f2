package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoUsageAndSetupErrors covers what `certflow demo` answers before any flow runs; the
// flow itself is tested end to end in e2e/ through the compiled binaries.
func TestDemoUsageAndSetupErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unexpected argument", []string{"now"}, exitUsage, `unexpected argument "now"`},
		{"unknown flag", []string{"--fast"}, exitUsage, "flag provided but not defined"},
		{"deployer not built", []string{"--bin", t.TempDir(), "--s-yaml", filepath.Join("..", "..", "s.yaml")}, exitUsage,
			"the deployer is not built"},
		{"no s.yaml", []string{"--s-yaml", filepath.Join(t.TempDir(), "s.yaml")}, exitUsage, "s.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(t.Context(), append([]string{"demo"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, errb.String(), tt.code, tt.want)
			}
		})
	}
}

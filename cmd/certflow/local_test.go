package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLocalUp(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		code := runLocal(ctx, []string{"up", "--dir", t.TempDir()}, pw, &stderr)
		pw.Close()
		done <- code
	}()
	r := bufio.NewReader(pr)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v (stderr %s)", err, stderr.String())
	}
	var info struct {
		Endpoint, MNSEndpoint, Region, AccountID, AccessKeyID, AccessKeySecret, Targets, Roots string
		Endpoints                                                                              []struct{ Name, Address, Kind, HTTP string }
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("first line is not JSON: %v: %s", err, line)
	}
	if !strings.HasPrefix(info.Endpoint, "http://127.0.0.1:") || !strings.HasPrefix(info.MNSEndpoint, "http://127.0.0.1:") ||
		info.AccessKeySecret == "" || len(info.Endpoints) != 13 {
		t.Fatalf("info %+v", info)
	}
	for _, p := range []string{info.Targets, info.Roots} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing file: %v", err)
		}
	}
	go io.Copy(io.Discard, r)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("local up did not stop")
	}
}

func TestLocalUsage(t *testing.T) {
	var out, errb strings.Builder
	if code := runLocal(t.Context(), []string{"bogus"}, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	if code := runLocal(t.Context(), []string{"up", "--estate", "/nonexistent.yaml"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "nonexistent.yaml") {
		t.Fatalf("missing estate: %s", errb.String())
	}
}

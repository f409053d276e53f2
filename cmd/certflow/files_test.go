package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileAtomicReplacesRegularFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.html")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "new" || fi.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v", got, fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".certflow-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Writing to a device or a pipe (/dev/null, /dev/stdout, a FIFO) must write into it, never
// rename a plain file over it — that once turned this machine's /dev/null into a file.
func TestWriteFileAtomicKeepsSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- string(b)
	}()
	if err := writeFileAtomic(fifo, []byte("through the pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the pipe" {
		t.Errorf("reader got %q", s)
	}
	fi, err := os.Lstat(fifo)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a pipe: %v %v", fifo, fi.Mode(), err)
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSocketPathLimit(t *testing.T) {
	dir := t.TempDir()
	if p, err := socketPath(dir); err != nil || p != filepath.Join(dir, socketFile) {
		t.Fatalf("socketPath(%s) = %q, %v", dir, p, err)
	}
	long := filepath.Join(dir, strings.Repeat("d", maxSocketPath))
	if _, err := socketPath(long); err == nil || !strings.Contains(err.Error(), "shorter data directory") {
		t.Fatalf("socketPath of a %d-byte directory: %v", len(long), err)
	}
}

func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v", fi, err)
	}
	// flock locks are per open file: a second open in this process
	// conflicts like another process's would.
	if _, err := lockDataDir(dir); !errors.Is(err, errLocked) || !strings.Contains(err.Error(), "process ") {
		t.Fatalf("second lock: %v", err)
	}
	l.release()
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.release()
}

func TestKeptPortAndToken(t *testing.T) {
	dir := t.TempDir()
	if p, err := keptPort(dir); err != nil || p != 0 {
		t.Fatalf("keptPort of a new directory = %d, %v", p, err)
	}
	if err := keepPort(dir, 41234); err != nil {
		t.Fatal(err)
	}
	if p, err := keptPort(dir); err != nil || p != 41234 {
		t.Fatalf("keptPort = %d, %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, portFile), []byte("nope"), 0o600)
	if _, err := keptPort(dir); err == nil {
		t.Fatal("a garbled port file was accepted")
	}
	tok, err := apiToken(dir)
	if err != nil || len(tok) != 64 {
		t.Fatalf("apiToken = %q, %v", tok, err)
	}
	if again, err := apiToken(dir); err != nil || again != tok {
		t.Fatalf("second apiToken = %q, %v; want the kept %q", again, err, tok)
	}
	if fi, err := os.Stat(filepath.Join(dir, tokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	if read, err := readAPIToken(dir); err != nil || read != tok {
		t.Fatalf("readAPIToken = %q, %v", read, err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, "192.168.1.2:80": false, ":8080": false, "[::]:80": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

// TestUsageErrors: command lines that do not parse exit with status 2
// and open nothing; a remote --api-addr for the daemon needs its flag.
func TestUsageErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	for _, args := range [][]string{
		{"frobnicate"},
		{"doc"},
		{"doc", "frobnicate"},
		{"doc", "get", "onlyone"},
		{"doc", "share", "d", "admin"},
		{"doc", "keys", "d", "--sort", "size"},
		{"doc", "new", "--no-such-flag"},
		{"start", "--log-format", "xml"},
		{"start", "--log-level", "loud"},
		{"start", "--listen", "not-an-address"},
		{"--api-addr", "0.0.0.0:7777", "start"},
	} {
		err := run(context.Background(), append([]string{"--data", dir}, args...), strings.NewReader(""), io.Discard, io.Discard)
		if code := exitCode(err); code != exitUsage {
			t.Errorf("%q: exit %d (%v), want %d", args, code, err, exitUsage)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command line created the data directory: %v", err)
	}
}

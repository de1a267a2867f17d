package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func docsnode(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"local", "--data", dir}, args...), nil, &out, io.Discard)
	return strings.TrimSpace(out.String()), err
}

func TestCLIWorkflow(t *testing.T) {
	dir := t.TempDir()
	doc, err := docsnode(t, dir, "doc", "new", "--durable")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"notes/a", "first"}, {"notes/b", "second"}, {"other", "third"}} {
		if _, err := docsnode(t, dir, "doc", "set", doc, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	// The data survives the process: every command reopens the store.
	if got, err := docsnode(t, dir, "doc", "get", doc, "notes/b"); err != nil || got != "second" {
		t.Fatalf("get notes/b = %q, %v", got, err)
	}
	out, err := docsnode(t, dir, "--json", "doc", "keys", doc, "notes/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []entryJSON
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 || keys[0].Key != "notes/a" || keys[1].Len != uint64(len("second")) {
		t.Fatalf("keys notes/ = %s (%v)", out, err)
	}
	if got, err := docsnode(t, dir, "doc", "del", doc, "notes/"); err != nil || got != "deleted 2 entries" {
		t.Fatalf("del = %q, %v", got, err)
	}
	if _, err := docsnode(t, dir, "doc", "get", doc, "notes/a"); err == nil {
		t.Fatal("a deleted key still reads")
	}
	if got, _ := docsnode(t, dir, "doc", "get", doc, "other"); got != "third" {
		t.Fatalf("the delete reached outside its prefix: other = %q", got)
	}
	ls, err := docsnode(t, dir, "doc", "ls")
	if err != nil || ls != doc+" write durable" {
		t.Fatalf("doc ls = %q, %v", ls, err)
	}
	// Authors: export from one data directory, import into another.
	author, err := docsnode(t, dir, "author", "default")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := docsnode(t, dir, "author", "export", author)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if got, err := docsnode(t, other, "author", "import", secret); err != nil || got != author {
		t.Fatalf("import = %q, %v; want %s", got, err, author)
	}
	if _, err := docsnode(t, dir, "doc", "set", "not-a-doc-id", "k", "v"); err == nil {
		t.Fatal("a bad document id was accepted")
	}
	if _, err := docsnode(t, dir, "frobnicate", "x"); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestCLISetRefusesEmptyValue: 'doc set D K ""' would store a tombstone
// and delete every entry under K; it is refused with a message saying so,
// and nothing is stored.
func TestCLISetRefusesEmptyValue(t *testing.T) {
	dir := t.TempDir()
	doc, err := docsnode(t, dir, "doc", "new")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"pre/a", "1"}, {"pre/b", "2"}, {"other", "3"}} {
		if _, err := docsnode(t, dir, "doc", "set", doc, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	before, err := docsnode(t, dir, "--json", "doc", "keys", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"pre/", "pre/a", ""} {
		out, err := docsnode(t, dir, "doc", "set", doc, key, "")
		if err == nil || !strings.Contains(err.Error(), "empty value") || !strings.Contains(err.Error(), "doc del") {
			t.Fatalf("set %q to the empty value: %q, %v", key, out, err)
		}
	}
	after, err := docsnode(t, dir, "--json", "doc", "keys", doc)
	if err != nil || after != before {
		t.Fatalf("keys after the refused sets:\n%s\n(%v), was:\n%s", after, err, before)
	}
}

// TestCLIUnknownDocument: every doc command that names a document says so
// when no such document is stored, rather than printing nothing.
func TestCLIUnknownDocument(t *testing.T) {
	dir := t.TempDir()
	if _, err := docsnode(t, dir, "doc", "new"); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("ab", 32)
	for _, args := range [][]string{
		{"doc", "get", unknown, "k"},
		{"doc", "keys", unknown},
		{"doc", "keys", unknown, "pre/"},
		{"--json", "doc", "keys", unknown},
		{"doc", "set", unknown, "k", "v"},
		{"doc", "del", unknown, "k"},
	} {
		out, err := docsnode(t, dir, args...)
		if err == nil || !strings.Contains(err.Error(), "unknown document "+unknown) || out != "" {
			t.Fatalf("%v: %q, %v", args, out, err)
		}
	}
	if ls, err := docsnode(t, dir, "doc", "ls"); err != nil || strings.Contains(ls, unknown) || strings.Count(ls, "\n") != 0 {
		t.Fatalf("doc ls after the refused commands = %q, %v", ls, err)
	}
}

// TestCLIExitStatus runs the command as a process: a refused command
// prints its reason on stderr, nothing on stdout, and exits with status 1.
func TestCLIExitStatus(t *testing.T) {
	if args := os.Getenv("DOCSNODE_TEST_MAIN_ARGS"); args != "" {
		// The child: run main with the arguments the parent gave.
		if err := json.Unmarshal([]byte(args), &os.Args); err != nil {
			panic(err)
		}
		main()
		os.Exit(0)
	}
	dir := t.TempDir()
	doc, err := docsnode(t, dir, "doc", "new")
	if err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("cd", 32)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"doc", "get", unknown, "k"}, "unknown document " + unknown},
		{[]string{"doc", "keys", unknown}, "unknown document " + unknown},
		{[]string{"doc", "set", doc, "k", ""}, "refusing to set an empty value"},
	} {
		args, _ := json.Marshal(append([]string{"docsnode", "local", "--data", dir}, c.args...))
		cmd := exec.Command(os.Args[0], "-test.run=^TestCLIExitStatus$")
		cmd.Env = append(os.Environ(), "DOCSNODE_TEST_MAIN_ARGS="+string(args))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), c.want) || stdout.Len() != 0 {
			t.Fatalf("docsnode %q: %v, stdout %q, stderr %q", c.args, err, stdout.String(), stderr.String())
		}
	}
}

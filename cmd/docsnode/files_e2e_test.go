package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docsnode/docsnode/client"
)

// TestSetFileGetOutput: a file of a few MiB goes up with set --file and
// comes back with get --output byte for byte, and so does stdin through
// --file -. A directory, an empty file and a file over the daemon's
// --max-value-bytes are refused with a message; a get of a missing key
// leaves the target file as it was, with no partial file beside it.
func TestSetFileGetOutput(t *testing.T) {
	bin := buildBinary(t)
	base := t.TempDir()
	dir := filepath.Join(base, "node")
	startDaemon(t, bin, dir, "--max-value-bytes", "8388608")
	doc := mustCLI(t, bin, dir, "doc", "new")

	files := filepath.Join(base, "files")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 6<<20+5)
	rand.NewChaCha8([32]byte{1}).Read(value)
	src := filepath.Join(files, "src.bin")
	if err := os.WriteFile(src, value, 0o600); err != nil {
		t.Fatal(err)
	}
	var e client.Entry
	if err := json.Unmarshal([]byte(mustCLI(t, bin, dir, "--json", "doc", "set", doc, "big/file", "--file", src)), &e); err != nil {
		t.Fatal(err)
	}
	if e.Len != uint64(len(value)) {
		t.Fatalf("set --file wrote an entry of %d bytes, want %d", e.Len, len(value))
	}
	dst := filepath.Join(files, "dst.bin")
	mustCLI(t, bin, dir, "doc", "get", doc, "big/file", "--output", dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, value) {
		t.Fatalf("get --output: %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, value))
	}

	// Without --output the value streams to stdout as it is.
	get := exec.Command(bin, "--data", dir, "doc", "get", doc, "big/file")
	var stdout bytes.Buffer
	get.Stdout = &stdout
	if err := get.Run(); err != nil || !bytes.Equal(stdout.Bytes(), value) {
		t.Fatalf("get to stdout: %d bytes (%v), equal %v", stdout.Len(), err, bytes.Equal(stdout.Bytes(), value))
	}

	// stdin through --file -.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--data", dir, "doc", "set", doc, "big/stdin", "--file", "-")
	cmd.Stdin = bytes.NewReader(value[:3<<20])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("set --file -: %v\n%s", err, out)
	}
	mustCLI(t, bin, dir, "doc", "get", doc, "big/stdin", "-o", dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, value[:3<<20]) {
		t.Fatalf("get -o of the stdin value: %d bytes (%v)", len(got), err)
	}

	empty := filepath.Join(base, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(base, "huge")
	if err := os.WriteFile(huge, make([]byte, 9<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{files, "is a directory"},
		{empty, "is empty"},
		{filepath.Join(base, "nothing"), "no such file"},
		{huge, "over the limit"},
	} {
		_, errOut, code := runCLI(t, bin, dir, "doc", "set", doc, "refused", "--file", tc.path)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("set --file %s: exit %d, %q; want a failure saying %q", tc.path, code, errOut, tc.want)
		}
	}
	if _, _, code := runCLI(t, bin, dir, "doc", "get", doc, "refused"); code == 0 {
		t.Error("a refused set --file wrote an entry")
	}

	// A failed get leaves the target as it was.
	if _, _, code := runCLI(t, bin, dir, "doc", "get", doc, "no/such/key", "--output", dst); code == 0 {
		t.Fatal("get --output of a missing key succeeded")
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, value[:3<<20]) {
		t.Fatal("a failed get --output changed the target")
	}
	names, err := os.ReadDir(files)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, n := range names {
		have = append(have, n.Name())
	}
	if !slices.Equal(have, []string{"dst.bin", "src.bin"}) {
		t.Fatalf("the files directory holds %v after the gets", have)
	}
}

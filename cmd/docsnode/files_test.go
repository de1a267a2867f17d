package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/client"
	"lukechampine.com/blake3"
)

// TestGetToFileFailures: a download cut short, or whose bytes do not hash
// to the entry's hash, leaves the target as it was and nothing beside
// it; a whole download replaces it.
func TestGetToFileFailures(t *testing.T) {
	value := strings.Repeat("the value ", 10_000)
	sum := blake3.Sum256([]byte(value))
	hash := hex.EncodeToString(sum[:])
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		switch r.URL.Path {
		case "/v1/docs/d/entries/short":
			w.Header().Set("Docsnode-Hash", hash)
			io.WriteString(w, value[:50_000]) // the server ends the body early
		case "/v1/docs/d/entries/wrong":
			w.Header().Set("Docsnode-Hash", strings.Repeat("00", 32))
			io.WriteString(w, value)
		default:
			w.Header().Set("Docsnode-Hash", hash)
			io.WriteString(w, value)
		}
	}))
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	if err := os.WriteFile(dst, []byte("before"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(name, want string) {
		t.Helper()
		if b, _ := os.ReadFile(dst); string(b) != want {
			t.Errorf("%s: the target holds %d bytes", name, len(b))
		}
		names, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 1 || names[0].Name() != "dst" {
			var have []string
			for _, n := range names {
				have = append(have, n.Name())
			}
			t.Errorf("%s: the directory holds %v", name, slices.Sorted(slices.Values(have)))
		}
	}
	ctx := context.Background()
	for _, key := range []string{"short", "wrong"} {
		if _, err := getToFile(ctx, c, "d", key, dst, io.Discard, client.GetOptions{}); err == nil {
			t.Errorf("%s: no error", key)
		}
		check(key, "before")
	}
	if _, err := getToFile(ctx, c, "d", "good", dst, io.Discard, client.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	check("good", value)
}

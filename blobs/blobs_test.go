package blobs

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

func TestPutGetVerify(t *testing.T) {
	s, err := Open(t.TempDir(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("hello, docsnode")
	h, n, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if h != replica.HashContent(content) || n != uint64(len(content)) {
		t.Fatalf("Put = %x, %d", h, n)
	}
	got, err := s.Get(h)
	if err != nil || !bytes.Equal(got, content) || !s.Has(h) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := s.Get(replica.HashContent([]byte("other"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	// A blob changed on disk is refused, not returned.
	if err := os.WriteFile(s.path(h), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(h); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered blob: %v", err)
	}
	if _, _, err := s.Put(strings.NewReader(strings.Repeat("x", 1025))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized blob: %v", err)
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".put-") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

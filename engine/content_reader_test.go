package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestContentReader: the whole content streams back and checks out, a
// part reads from where it seeks, and bytes changed on disk make a whole
// read fail with ErrCorrupt and the content read as not held.
func TestContentReader(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("docsnode content "), 50_000)
	se, err := doc.SetReader(ctx, author, []byte("big"), bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	r, err := doc.ContentReader(se)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("whole read: %d bytes, %v", len(got), err)
	}
	r, err = doc.ContentReader(se)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seek(100_000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 17)
	if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, big[100_000:100_017]) {
		t.Fatalf("part read = %q, %v", part, err)
	}
	r.Close()

	// Change one byte of the stored file.
	var path string
	filepath.WalkDir(e.tmpDir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			if fi, err := de.Info(); err == nil && fi.Size() == int64(len(big)) {
				path = p
			}
		}
		return nil
	})
	if path == "" {
		t.Fatal("no stored file of the content's size")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[12345] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = doc.ContentReader(se)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	r.Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("whole read of changed content: %v", err)
	}
	if _, err := doc.ContentReader(se); !errors.Is(err, ErrContentNotHeld) {
		t.Fatalf("open after the corrupt read: %v", err)
	}
}

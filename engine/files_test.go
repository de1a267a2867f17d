package engine

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

// openFilesDoc opens an engine with a document and its default author.
func openFilesDoc(t *testing.T) (*Doc, Author) {
	t.Helper()
	ctx := context.Background()
	e, err := Open(ctx, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return doc, author
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	return names
}

// TestImportExportFile: a file of a few MiB imports and exports back
// byte for byte; the export refuses to replace a file unless told to.
func TestImportExportFile(t *testing.T) {
	ctx := context.Background()
	doc, author := openFilesDoc(t)
	dir := t.TempDir()
	value := make([]byte, 5<<20+123)
	rand.NewChaCha8([32]byte{7}).Read(value)
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, value, 0o600); err != nil {
		t.Fatal(err)
	}
	se, err := doc.ImportFile(ctx, author, []byte("file"), src)
	if err != nil {
		t.Fatal(err)
	}
	if se.Len != uint64(len(value)) || se.Hash != replica.HashContent(value) {
		t.Fatalf("entry len %d hash %x, want %d %x", se.Len, se.Hash[:4], len(value), replica.HashContent(value))
	}
	got, err := doc.Get(ctx, author.ID(), []byte("file"))
	if err != nil || got.Hash != se.Hash {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	dst := filepath.Join(dir, "out", "dst.bin")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := doc.ExportFile(ctx, se, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(b, value) {
		t.Fatalf("exported %d bytes (%v), equal %v", len(b), err, bytes.Equal(b, value))
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != ExportFileMode {
		t.Fatalf("mode of the export: %v, %v", st.Mode(), err)
	}

	// A second export to the same path is refused and leaves the file.
	other, err := doc.Set(ctx, author, []byte("other"), []byte("another value"))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.ExportFile(ctx, other, dst); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("export over a file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, value) {
		t.Fatal("a refused export changed the file")
	}
	// With Overwrite it replaces it.
	if err := doc.ExportFileWith(ctx, other, dst, ExportOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "another value" {
		t.Fatalf("after an overwrite the file holds %q", b)
	}
	if names := dirNames(t, filepath.Dir(dst)); !slices.Equal(names, []string{"dst.bin"}) {
		t.Fatalf("the target's directory holds %v, want the export alone", names)
	}
}

// TestExportFileLeavesNoPartialFile: an export whose content is not held,
// whose context ends, or whose entry is a deletion leaves nothing at the
// target and no temporary file beside it.
func TestExportFileLeavesNoPartialFile(t *testing.T) {
	ctx := context.Background()
	doc, author := openFilesDoc(t)
	se, err := doc.SetReader(ctx, author, []byte("big"), bytes.NewReader(bytes.Repeat([]byte("0123456789abcdef"), 200_000)))
	if err != nil {
		t.Fatal(err)
	}
	// An entry naming content this node does not hold.
	missing := se
	missing.Hash = replica.HashContent([]byte("content that was never stored"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := doc.Delete(ctx, author, []byte("gone")); err != nil {
		t.Fatal(err)
	}
	tomb, err := doc.Get(ctx, author.ID(), []byte("gone"))
	if err != nil || !tomb.IsTombstone() {
		t.Fatalf("tombstone: %+v, %v", tomb, err)
	}

	for name, tc := range map[string]struct {
		ctx  context.Context
		e    SignedEntry
		want error
	}{
		"content not held":  {ctx, missing, ErrContentNotHeld},
		"context cancelled": {cancelled, se, context.Canceled},
		"tombstone":         {ctx, tomb, ErrNotFound},
	} {
		dir := t.TempDir()
		dst := filepath.Join(dir, "dst.bin")
		err := doc.ExportFile(tc.ctx, tc.e, dst)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("%s: the target's directory holds %v, want nothing", name, names)
		}
		// Overwrite: the file that was there stays as it was.
		if err := os.WriteFile(dst, []byte("before"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := doc.ExportFileWith(tc.ctx, tc.e, dst, ExportOptions{Overwrite: true}); !errors.Is(err, tc.want) {
			t.Errorf("%s with overwrite: %v, want %v", name, err, tc.want)
		}
		if b, _ := os.ReadFile(dst); string(b) != "before" {
			t.Errorf("%s with overwrite: the target holds %q", name, b)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"dst.bin"}) {
			t.Errorf("%s with overwrite: the target's directory holds %v", name, names)
		}
	}
}

// TestImportFileRefusals: an empty file, a directory and a missing path
// are refused with errors that say so, and so is an import whose context
// has ended; none writes an entry.
func TestImportFileRefusals(t *testing.T) {
	ctx := context.Background()
	doc, author := openFilesDoc(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full")
	if err := os.WriteFile(full, bytes.Repeat([]byte("x"), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for name, tc := range map[string]struct {
		ctx  context.Context
		path string
		want error
	}{
		"empty":     {ctx, empty, ErrEmptyValue},
		"directory": {ctx, dir, ErrNotRegularFile},
		"missing":   {ctx, filepath.Join(dir, "nothing here"), fs.ErrNotExist},
		"cancelled": {cancelled, full, context.Canceled},
	} {
		_, err := doc.ImportFile(tc.ctx, author, []byte("k/"+name), tc.path)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	for e, err := range doc.Query(ctx, Query{IncludeTombstones: true}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("a refused import wrote %q", e.Key)
	}
}

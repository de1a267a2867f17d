package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMkdirDurableSyncsNewDirectories: every directory the data directory
// needed is synced in its parent, top down, and nothing is synced when
// the directory existed already.
func TestMkdirDurableSyncsNewDirectories(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "docsnode")
	var synced []string
	record := func(d string) error { synced = append(synced, d); return nil }
	if err := mkdirDurable(dir, 0o700, record); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("the directory was not made: %v", err)
	}
	want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if !slices.Equal(synced, want) {
		t.Fatalf("synced %q, want %q", synced, want)
	}
	synced = nil
	if err := mkdirDurable(dir, 0o700, record); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Fatalf("an existing directory synced %q", synced)
	}
	if err := mkdirDurable(filepath.Join(root, "c"), 0o700, syncDir); err != nil {
		t.Fatalf("with the real sync: %v", err)
	}
}

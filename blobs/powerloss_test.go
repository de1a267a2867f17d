package blobs

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// crashReopen takes a crash clone of fs that keeps only what was synced,
// closes s and opens the store again on the clone.
func crashReopen(t *testing.T, fs *vfs.MemFS, s *Store, dir string, o Options) *Store {
	t.Helper()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.FS = crashed
	s, err := OpenOptions(dir, o)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A durable put into a fresh store survives a power loss: the store's
// directories are synced in their parents when they are created.
func TestPowerLossFreshStoreKeepsDurablePut(t *testing.T) {
	for _, size := range []int{100, 64 << 10} { // small-blob database, file
		fs := vfs.NewCrashableMem()
		// The data directory exists on disk; the store creates its own.
		if err := fs.MkdirAll("/data", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syncPath(fs, "/"); err != nil {
			t.Fatal(err)
		}
		o := Options{FS: fs, FlushInterval: time.Hour}
		s, err := OpenOptions("/data/blobs", o)
		if err != nil {
			t.Fatal(err)
		}
		content := bytes.Repeat([]byte{7}, size)
		h, _, err := s.PutDurable(bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		s = crashReopen(t, fs, s, "/data/blobs", o)
		if got, err := s.Get(h); err != nil || !bytes.Equal(got, content) {
			t.Errorf("%d bytes put durably, after the crash: %d bytes, %v", size, len(got), err)
		}
	}
}

// A durable put into a fan-out directory that a put without sync created
// (and the background sync has not synced yet) survives a power loss: the
// directory's own entry is synced too.
func TestPowerLossDurablePutIntoUnsyncedDirectory(t *testing.T) {
	fs := vfs.NewCrashableMem()
	o := Options{FS: fs, FlushInterval: time.Hour, SmallMax: -1}
	s, err := OpenOptions("/blobs", o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	content := func() []byte {
		b := make([]byte, 100)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	first := content()
	h1 := replica.HashContent(first)
	if _, _, err := s.Put(bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	// Another blob in the same fan-out directory.
	var second []byte
	for second == nil || replica.HashContent(second)[0] != h1[0] {
		second = content()
	}
	h2, _, err := s.PutDurable(bytes.NewReader(second))
	if err != nil {
		t.Fatal(err)
	}
	s = crashReopen(t, fs, s, "/blobs", o)
	if got, err := s.Get(h2); err != nil || !bytes.Equal(got, second) {
		t.Errorf("blob put durably after a put without sync into its directory: %d bytes, %v", len(got), err)
	}
}

// A store whose directories a crashed process created without syncing
// them in their parents (they exist, in the page cache only) makes them
// durable when it opens: a durable put survives a power loss.
func TestPowerLossDirectoriesLeftUnsyncedByACrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	for _, d := range []string{"/data", "/data/blobs/.partial", "/data/blobs/.wanted", "/data/blobs/.tmp"} {
		if err := fs.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syncPath(fs, "/"); err != nil { // /data itself is on disk
		t.Fatal(err)
	}
	o := Options{FS: fs, FlushInterval: time.Hour}
	s, err := OpenOptions("/data/blobs", o)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte{9}, 64<<10)
	h, _, err := s.PutDurable(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	s = crashReopen(t, fs, s, "/data/blobs", o)
	if got, err := s.Get(h); err != nil || !bytes.Equal(got, content) {
		t.Errorf("blob put durably, after the crash: %d bytes, %v", len(got), err)
	}
}

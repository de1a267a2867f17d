package blobs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t testing.TB, maxSize int64) *Store {
	t.Helper()
	return openStoreOptions(t, Options{MaxSize: maxSize})
}

// openStoreOptions opens a store in a temporary directory, with a short
// flush interval unless o sets one.
func openStoreOptions(t testing.TB, o Options) *Store {
	t.Helper()
	if o.FlushInterval == 0 {
		o.FlushInterval = 10 * time.Millisecond
	}
	s, err := OpenOptions(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Both places a blob can live: a file of its own, and the small-blob
// database.
var tiers = []struct {
	name     string
	smallMax int64
}{{"file", -1}, {"small", 0}}

// tamper replaces what the store holds under h with b.
func tamper(t *testing.T, s *Store, h replica.Hash, b []byte) {
	t.Helper()
	if _, ok := s.smallSize(h); ok {
		if err := s.small.set(h, b, false); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(s.path(h), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPutGetVerify(t *testing.T) {
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) { testPutGetVerify(t, tier.smallMax) })
	}
}

func testPutGetVerify(t *testing.T, smallMax int64) {
	s := openStoreOptions(t, Options{MaxSize: 1024, SmallMax: smallMax})
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
	if st := s.Status(h, n); st != Complete {
		t.Fatalf("Status = %v", st)
	}
	if st := s.Status(h, n+1); st != Missing {
		t.Fatalf("Status with another length = %v", st)
	}
	if _, err := s.Get(replica.HashContent([]byte("other"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	// A blob changed on disk is refused, not returned, and then reads as
	// missing so that it can be fetched again.
	tamper(t, s, h, []byte("tampered"))
	if _, err := s.Get(h); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered blob: %v", err)
	}
	if s.Has(h) {
		t.Fatal("corrupt blob still held")
	}
	if _, _, err := s.Put(strings.NewReader(strings.Repeat("x", 1025))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized blob: %v", err)
	}
	if h2, _, err := s.PutDurable(strings.NewReader("durable")); err != nil || !s.Has(h2) {
		t.Fatalf("PutDurable: %v", err)
	}
	inMemory := []byte("put from memory")
	if h3, n3, err := s.PutBytes(inMemory); err != nil || h3 != replica.HashContent(inMemory) || n3 != uint64(len(inMemory)) {
		t.Fatalf("PutBytes = %x, %d, %v", h3, n3, err)
	} else if got, err := s.Get(h3); err != nil || !bytes.Equal(got, inMemory) {
		t.Fatalf("Get after PutBytes = %q, %v", got, err)
	}
	if _, _, err := s.PutBytes(make([]byte, 1025)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("PutBytes over the limit: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if len(entries) != 0 {
		t.Fatalf("temporary file %s left behind", entries[0].Name())
	}
}

// TestBackgroundSync checks that batched puts are queued for the
// background sync and that the queue drains within the window.
func TestBackgroundSync(t *testing.T) {
	s := openStore(t, 1024)
	if _, _, err := s.Put(strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	queued := len(s.unsynced)
	s.mu.Unlock()
	if queued == 0 {
		t.Fatal("a batched put queued nothing to sync")
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.unsynced) == 0
	}, "every path is synced")
	if _, _, err := s.PutDurable(strings.NewReader("b")); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	queued = len(s.unsynced)
	s.mu.Unlock()
	if queued != 0 {
		t.Fatalf("a durable put left %d paths to the background sync", queued)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(strings.NewReader("c")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
}

// TestPartialResumeAndVerify: a Partial writes only groups that match,
// keeps its bitfield across a reopen of the store, resumes with exactly
// the missing groups, and installs the blob, outboard and all.
func TestPartialResumeAndVerify(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxSize: 1 << 20, SmallMax: 1000, GroupLog: 0, GroupLogSet: true}
	s, err := OpenOptions(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	content := blobOfSize(10_000, 5) // ten groups of 1 KiB, the last short
	h := replica.HashContent(content)
	size := uint64(len(content))

	p, err := s.BeginFetch(h, size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginFetch(h, size); !errors.Is(err, ErrFetching) {
		t.Fatalf("second BeginFetch: %v", err)
	}
	if err := p.ReadSlice(bytes.NewReader(encodeSlices(t, content, 0, []Range{{2, 4}}, nil)), 2, 4, nil); err != nil {
		t.Fatal(err)
	}
	// Group 7 arrives corrupt: refused, nothing of it written.
	bad := encodeSlices(t, content, 0, []Range{{6, 8}}, func(i uint64, g []byte) {
		if i == 7 {
			g[0] ^= 0x80
		}
	})
	if err := p.ReadSlice(bytes.NewReader(bad), 6, 8, nil); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("a corrupt group: %v", err)
	}
	if got, want := p.Missing(), []Range{{0, 2}, {4, 6}, {7, 10}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	if p.Held() != 3*1024 {
		t.Fatalf("held %d bytes", p.Held())
	}
	p.Close()
	if st := s.Status(h, size); st != Incomplete {
		t.Fatalf("Status after a partial fetch = %v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the same groups are missing.
	if s, err = OpenOptions(dir, o); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err = s.BeginFetch(h, size)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Missing(), []Range{{0, 2}, {4, 6}, {7, 10}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("missing after a restart %v, want %v", got, want)
	}
	var got bytes.Buffer
	b := make([]byte, 1024)
	if _, err := p.ReadAt(b, 2048); err != nil || !bytes.Equal(b, content[2048:3072]) {
		t.Fatalf("ReadAt of a held group: %v", err)
	}
	if _, err := p.ReadAt(b, 0); err == nil {
		t.Fatal("ReadAt of a missing group succeeded")
	}
	if err := p.Finish(); !errors.Is(err, ErrLength) {
		t.Fatalf("Finish with groups missing: %v", err)
	}
	p, _ = s.BeginFetch(h, size)
	for _, rg := range p.Missing() {
		if err := p.ReadSlice(bytes.NewReader(encodeSlices(t, content, 0, []Range{rg}, nil)), rg.Start, rg.End, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	r, n, err := s.Open(h)
	if err != nil || n != int64(size) {
		t.Fatalf("Open after Finish: %d, %v", n, err)
	}
	io.Copy(&got, r)
	r.Close()
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatal("installed content differs")
	}
	if st, err := s.fs.Stat(s.outboardPath(h)); err != nil || uint64(st.Size()) != newTree(size, 0).outboardSize() {
		t.Fatalf("outboard after Finish: %v", err)
	}
	if _, err := s.BeginFetch(h, 1<<21); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("BeginFetch over the limit: %v", err)
	}
}

// TestSmallBlobs checks where blobs go by size, that small ones survive a
// reopen, and that a small fetch is held in memory: verified, installed
// by Finish, and started over after Close.
func TestSmallBlobs(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenOptions(dir, Options{SmallMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	small, large := bytes.Repeat([]byte("s"), 100), bytes.Repeat([]byte("l"), 101)
	hs, _, err := s.Put(bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	hl, _, err := s.Put(bytes.NewReader(large))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path(hs)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a blob of SmallMax bytes has a file: %v", err)
	}
	if _, err := os.Stat(s.path(hl)); err != nil {
		t.Errorf("a blob over SmallMax has no file: %v", err)
	}
	if n, ok := s.smallSize(hs); !ok || n != 100 {
		t.Errorf("small-blob database holds %d bytes, ok %v; want 100", n, ok)
	}

	fetched := bytes.Repeat([]byte("f"), 50)
	hf := replica.HashContent(fetched)
	p, err := s.BeginFetch(hf, 50)
	if err != nil {
		t.Fatal(err)
	}
	whole := func(c []byte) []Range { return []Range{{0, newTree(uint64(len(c)), s.groupLog).groups()}} }
	if err := p.ReadSlice(bytes.NewReader(encodeSlices(t, fetched, s.groupLog, whole(fetched), nil)), 0, 1, nil); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if st := s.Status(hf, 50); st != Missing {
		t.Fatalf("Status after a closed small fetch = %v, want missing", st)
	}
	if p, err = s.BeginFetch(hf, 50); err != nil || p.Held() != 0 {
		t.Fatalf("BeginFetch again: %d bytes held, %v; want a fresh start", p.Held(), err)
	}
	wrong := bytes.Repeat([]byte("g"), 50)
	if err := p.ReadSlice(bytes.NewReader(encodeSlices(t, wrong, s.groupLog, whole(wrong), nil)), 0, 1, nil); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("wrong bytes: %v", err)
	}
	if err := p.ReadSlice(bytes.NewReader(encodeSlices(t, fetched, s.groupLog, whole(fetched), nil)), 0, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, partialDir)); len(entries) != 0 {
		t.Errorf("a small fetch left %d partial files", len(entries))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenOptions(dir, Options{SmallMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range [][]byte{small, large, fetched} {
		h := replica.HashContent(c)
		if got, err := s.Get(h); err != nil || !bytes.Equal(got, c) || s.Status(h, uint64(len(c))) != Complete {
			t.Errorf("blob of %d bytes after reopen: %v", len(c), err)
		}
	}
}

func TestWantedSet(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := replica.HashContent([]byte("1")), replica.HashContent([]byte("2"))
	if err := s.PutWant(h1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWant(h2, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWant(h2, make([]byte, MaxWantRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized record: %v", err)
	}
	if err := s.DeleteWant(h1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A torn record at the end (a crash in the middle of an append) is
	// dropped; the records before it survive.
	torn := appendWant(nil, wantPut, replica.HashContent([]byte("3")), []byte("three"))
	f, err := os.OpenFile(wantLogPath(dir), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(torn[:len(torn)-2])
	f.Close()

	s, err = Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[replica.Hash]string{}
	if err := s.Wants(0, func(h replica.Hash, rec []byte) { got[h] = string(rec) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[h2] != "two" {
		t.Fatalf("wanted set after reopen = %v", got)
	}
}

// TestWantedSetCompacts checks the log is rewritten once it is mostly
// deletions, and keeps the live records.
func TestWantedSetCompacts(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keep := replica.HashContent([]byte("keep"))
	if err := s.PutWant(keep, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 1000)
	for i := range 3000 {
		h := replica.HashContent([]byte{byte(i), byte(i >> 8)})
		if err := s.PutWant(h, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWant(h); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(wantLogPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2*wantLogMin {
		t.Fatalf("log is %d bytes after 3000 puts and deletes; it was never compacted", st.Size())
	}
	got := map[replica.Hash]string{}
	if err := s.Wants(0, func(h replica.Hash, rec []byte) { got[h] = string(rec) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[keep] != "kept" {
		t.Fatalf("wanted set = %d records", len(got))
	}
}

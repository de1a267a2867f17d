package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

const testGrace = time.Minute

// gcClock is a clock that tests move forward.
type gcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *gcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *gcClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gcEngine is an engine whose collection runs only when the test asks,
// with the grace period measured on clock.
func gcEngine(t *testing.T, clock *gcClock) *Engine {
	t.Helper()
	cfg := TestConfig()
	cfg.GC = GCConfig{Interval: -1, Grace: testGrace, Pause: time.Millisecond, Now: clock.Now}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newClock() *gcClock { return &gcClock{now: time.Unix(1_700_000_000, 0)} }

// collect runs one pass and fails the test on an error.
func collect(t *testing.T, e *Engine) GCStats {
	t.Helper()
	st, err := e.CollectGarbage(context.Background())
	if err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	return st
}

// collectAfterGrace runs a pass, moves the clock past the grace period
// and runs another: content unreferenced through both is removed.
func collectAfterGrace(t *testing.T, e *Engine, clock *gcClock) GCStats {
	t.Helper()
	collect(t, e)
	clock.advance(testGrace + time.Second)
	return collect(t, e)
}

func mustSet(t *testing.T, d *Doc, a replica.Author, key string, value []byte) {
	t.Helper()
	if _, err := d.Set(context.Background(), a, []byte(key), value); err != nil {
		t.Fatalf("set %q: %v", key, err)
	}
}

func defaultAuthor(t *testing.T, e *Engine) replica.Author {
	t.Helper()
	a, err := e.Authors().Default(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newDoc(t *testing.T, e *Engine) *Doc {
	t.Helper()
	d, err := e.Docs().Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// value returns content of n bytes made from s: over blobs.DefaultSmallMax
// it is kept in a file, under it in the small-blob database.
func value(s string, n int) []byte { return bytes.Repeat([]byte(s), n/len(s)+1)[:n] }

func hashOf(b []byte) replica.Hash { return replica.HashContent(b) }

// TestGCOverwriteRemovesAfterGrace: the content of an overwritten value,
// a file and a small one, is removed by the first pass at least the grace
// period after a pass found it unreferenced, never before; the values
// that replaced them stay.
func TestGCOverwriteRemovesAfterGrace(t *testing.T) {
	clock := newClock()
	e := gcEngine(t, clock)
	d, a := newDoc(t, e), defaultAuthor(t, e)
	oldBig, newBig := value("old big ", 40<<10), value("new big ", 40<<10)
	oldSmall, newSmall := []byte("old small"), []byte("new small")
	mustSet(t, d, a, "big", oldBig)
	mustSet(t, d, a, "small", oldSmall)
	mustSet(t, d, a, "big", newBig)
	mustSet(t, d, a, "small", newSmall)

	st := collect(t, e)
	if st.Runs != 1 || st.BlobsRemoved != 0 || st.Unreferenced != 2 || st.Pending != 2 || st.Held != 4 {
		t.Fatalf("first pass: %+v; want 4 held, 2 unreferenced and pending, none removed", st)
	}
	clock.advance(testGrace - time.Second)
	if st := collect(t, e); st.BlobsRemoved != 0 {
		t.Fatalf("a pass inside the grace period removed %d blobs", st.BlobsRemoved)
	}
	if !e.blobs.Has(hashOf(oldBig)) || !e.blobs.Has(hashOf(oldSmall)) {
		t.Fatal("content removed inside the grace period")
	}
	clock.advance(time.Second)
	st = collect(t, e)
	// The big value's outboard goes with it: 8 bytes and 64 per chunk
	// group past the first (three of 16 KiB).
	removed := len(oldBig) + 8 + 2*64 + len(oldSmall)
	if st.BlobsRemoved != 2 || st.BytesRemoved != uint64(removed) || st.Pending != 0 {
		t.Fatalf("after the grace period: %+v; want 2 blobs of %d bytes removed", st, removed)
	}
	if e.blobs.Has(hashOf(oldBig)) || e.blobs.Has(hashOf(oldSmall)) {
		t.Fatal("overwritten content is still held")
	}
	for key, v := range map[string][]byte{"big": newBig, "small": newSmall} {
		se, err := d.Get(context.Background(), a.ID(), []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := d.Content(se); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("content of %q after collection: %v", key, err)
		}
	}
	if got := e.GCStats(); got.BlobsRemoved != 2 || got.Runs != 3 || got.LastRun.IsZero() {
		t.Fatalf("GCStats = %+v", got)
	}
}

// TestGCKeepsContentNamedElsewhere: content still named by another
// document, or by another author in the same document, stays; once no
// entry names it, it goes.
func TestGCKeepsContentNamedElsewhere(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	e := gcEngine(t, clock)
	d1, d2, a := newDoc(t, e), newDoc(t, e), defaultAuthor(t, e)
	b, err := e.Authors().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shared := value("shared across documents ", 20<<10)
	mustSet(t, d1, a, "k", shared)
	mustSet(t, d2, a, "other-key", shared)
	both := []byte("named by two authors")
	mustSet(t, d1, a, "x", both)
	mustSet(t, d1, b, "x", both)

	mustSet(t, d1, a, "k", []byte("replaced"))
	mustSet(t, d1, a, "x", []byte("replaced x"))
	collectAfterGrace(t, e, clock)
	if !e.blobs.Has(hashOf(shared)) {
		t.Fatal("content named by another document was removed")
	}
	if !e.blobs.Has(hashOf(both)) {
		t.Fatal("content named by another author was removed")
	}

	mustSet(t, d2, a, "other-key", []byte("replaced too"))
	mustSet(t, d1, b, "x", []byte("b replaced x"))
	collectAfterGrace(t, e, clock)
	if e.blobs.Has(hashOf(shared)) || e.blobs.Has(hashOf(both)) {
		t.Fatal("content no entry names any more was kept")
	}
}

// TestGCPrefixDeleteAndDrop: a prefix delete and a document drop make
// their content collectable; content outside the prefix stays.
func TestGCPrefixDeleteAndDrop(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	e := gcEngine(t, clock)
	d, dropped, a := newDoc(t, e), newDoc(t, e), defaultAuthor(t, e)
	inPrefix := [][]byte{value("a1 ", 30<<10), []byte("a2")}
	mustSet(t, d, a, "a/1", inPrefix[0])
	mustSet(t, d, a, "a/2", inPrefix[1])
	kept := []byte("b stays")
	mustSet(t, d, a, "b", kept)
	inDropped := [][]byte{value("dropped ", 30<<10), []byte("dropped small")}
	mustSet(t, dropped, a, "x", inDropped[0])
	mustSet(t, dropped, a, "y", inDropped[1])

	if err := d.Delete(ctx, a, []byte("a/")); err != nil {
		t.Fatal(err)
	}
	if err := e.Docs().Drop(ctx, dropped.ID()); err != nil {
		t.Fatal(err)
	}
	st := collectAfterGrace(t, e, clock)
	for _, v := range append(inPrefix, inDropped...) {
		if e.blobs.Has(hashOf(v)) {
			t.Fatalf("content of a deleted entry (%d bytes) is still held", len(v))
		}
	}
	if !e.blobs.Has(hashOf(kept)) {
		t.Fatal("content outside the deleted prefix was removed")
	}
	if st.BlobsRemoved != 4 {
		t.Fatalf("%d blobs removed, want 4", st.BlobsRemoved)
	}
}

// TestGCProtects: unreferenced content stays while a fetch writes it,
// while it is wanted, and while it is pinned; partial data of a fetch
// that stopped stays while its blob is wanted. Each goes once released.
func TestGCProtects(t *testing.T) {
	clock := newClock()
	e := gcEngine(t, clock)

	// Being fetched, then wanted with its partial data kept.
	fetched := value("fetched content ", 40<<10)
	fh := hashOf(fetched)
	p, err := e.blobs.BeginFetch(fh, uint64(len(fetched)))
	if err != nil {
		t.Fatal(err)
	}
	// Its first group arrives.
	enc, err := blobs.NewSliceEncoder(bytes.NewReader(fetched), int64(len(fetched)), e.blobs.GroupLog())
	if err != nil {
		t.Fatal(err)
	}
	var slice bytes.Buffer
	if err := enc.WriteSlice(&slice, blobs.Range{Start: 0, End: 1}); err != nil {
		t.Fatal(err)
	}
	if err := p.ReadSlice(&slice, 0, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Pinned.
	pinned := []byte("pinned content")
	ph, _, err := e.blobs.PutBytes(pinned)
	if err != nil {
		t.Fatal(err)
	}
	unpin := e.PinContent(ph)
	// Wanted, complete.
	wanted := value("wanted content ", 20<<10)
	wh, _, err := e.blobs.PutBytes(wanted)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.PutWant(wh, []byte("rec")); err != nil {
		t.Fatal(err)
	}

	st := collectAfterGrace(t, e, clock)
	if st.Protected != 3 || st.BlobsRemoved != 0 {
		t.Fatalf("stats %+v: want 3 protected, none removed", st)
	}
	if e.blobs.Status(fh, uint64(len(fetched))) != blobs.Incomplete || !e.blobs.Has(ph) || !e.blobs.Has(wh) {
		t.Fatal("protected content was removed")
	}

	// The fetch stops; its blob stays wanted, so its partial data stays.
	if err := e.blobs.PutWant(fh, []byte("rec")); err != nil {
		t.Fatal(err)
	}
	p.Close()
	unpin()
	unpin() // a second call is harmless
	unpin2 := e.PinContent(ph)
	st = collect(t, e)
	if e.blobs.Status(fh, uint64(len(fetched))) != blobs.Incomplete || !e.blobs.Has(ph) {
		t.Fatalf("partial data of a wanted blob, or content pinned twice and released once, was removed: %+v", st)
	}

	// Released: they go at the next pass, the grace period having run.
	unpin2()
	for _, h := range []replica.Hash{fh, wh} {
		if err := e.blobs.DeleteWant(h); err != nil {
			t.Fatal(err)
		}
	}
	st = collect(t, e)
	if st.BlobsRemoved != 3 || st.Protected != 0 {
		t.Fatalf("after release: %+v; want 3 removed", st)
	}
	if e.blobs.Status(fh, uint64(len(fetched))) != blobs.Missing || e.blobs.Has(ph) || e.blobs.Has(wh) {
		t.Fatal("released content is still held")
	}
}

// TestGCKeepsContentPutNotYetInserted: content Set has stored, whose
// entry is not inserted yet, survives passes that would remove it, even
// when it was unreferenced content due for removal before the Set.
func TestGCKeepsContentPutNotYetInserted(t *testing.T) {
	clock := newClock()
	e := gcEngine(t, clock)
	d, a := newDoc(t, e), defaultAuthor(t, e)
	v := value("written again ", 30<<10)
	// v is held, unreferenced and due.
	mustSet(t, d, a, "k", v)
	mustSet(t, d, a, "k", []byte("other"))
	collect(t, e)
	clock.advance(testGrace + time.Second)

	var kept bool
	e.afterPut = func(h replica.Hash) {
		if h != hashOf(v) {
			return
		}
		collectAfterGrace(t, e, clock)
		kept = e.blobs.Has(h)
	}
	mustSet(t, d, a, "k2", v)
	e.afterPut = nil
	if !kept {
		t.Fatal("content put and not yet named was removed before its entry was inserted")
	}
	collectAfterGrace(t, e, clock)
	se, err := d.Get(context.Background(), a.ID(), []byte("k2"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Content(se); err != nil || !bytes.Equal(got, v) {
		t.Fatalf("content of the new entry: %v", err)
	}
}

// TestGCRemovalDuringPut: when the collector removes content in the
// window between a put of the same bytes and its protection, the put is
// redone from a reader that rewinds, and refused with
// ErrContentCollected from one that cannot.
func TestGCRemovalDuringPut(t *testing.T) {
	clock := newClock()
	e := gcEngine(t, clock)
	v := value("collected while put ", 30<<10)
	h, _, err := e.blobs.PutBytes(v)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, e)
	clock.advance(testGrace + time.Second)

	// put stores the content, then a due pass removes it before the
	// caller can protect it.
	racing := func(r io.Reader) (replica.Hash, uint64, error) {
		got, n, err := e.blobs.Put(r)
		if err == nil {
			collect(t, e)
		}
		return got, n, err
	}
	got, _, release, err := e.putProtected(racing, bytes.NewReader(v))
	if err != nil || got != h {
		t.Fatalf("putProtected from a rewinding reader: %x…, %v", got[:4], err)
	}
	if !e.blobs.Has(h) {
		t.Fatal("content removed during the put was not put again")
	}
	// Protected now: passes keep it.
	collectAfterGrace(t, e, clock)
	if !e.blobs.Has(h) {
		t.Fatal("protected content was removed")
	}
	release()

	// Unreferenced through the grace period, it goes at once; held again,
	// it is due once more.
	if st := collect(t, e); st.BlobsRemoved != 2 || e.blobs.Has(h) {
		t.Fatalf("released content was not removed: %+v", st)
	}
	if _, _, err := e.blobs.PutBytes(v); err != nil {
		t.Fatal(err)
	}
	collect(t, e)
	clock.advance(testGrace + time.Second)
	_, _, _, err = e.putProtected(racing, bufio.NewReader(bytes.NewReader(v)))
	if !errors.Is(err, ErrContentCollected) {
		t.Fatalf("putProtected from a reader that cannot rewind: %v, want ErrContentCollected", err)
	}
}

// TestGCDoesNotBlockWrites: while a pass is stopped half way through
// marking a large document, writes go through; content a write names
// behind the pass's position (missed by its page reads) is kept, through
// the pass's subscription to inserts.
func TestGCDoesNotBlockWrites(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	e := gcEngine(t, clock)
	e.gc.cfg.Batch = 100
	d, a := newDoc(t, e), defaultAuthor(t, e)
	writes := make([]actor.LocalWrite, 3000)
	for i := range writes {
		v := fmt.Appendf(nil, "v%d", i)
		writes[i] = actor.LocalWrite{Key: fmt.Appendf(nil, "k%05d", i), Hash: hashOf(v), Len: uint64(len(v))}
	}
	if _, _, err := e.act.InsertLocalMany(ctx, d.ID(), a, writes); err != nil {
		t.Fatal(err)
	}
	// z is unreferenced and due.
	z := value("named behind the pass ", 20<<10)
	if _, _, err := e.blobs.PutBytes(z); err != nil {
		t.Fatal(err)
	}
	collect(t, e)
	clock.advance(testGrace + time.Second)

	pages, written := 0, 0
	e.gc.onPage = func() {
		pages++
		if pages != 2 {
			return
		}
		// The pass waits here; the writes must not wait for it.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for i := range 20 {
			if _, err := d.Set(wctx, a, fmt.Appendf(nil, "new%d", i), []byte("during the pass")); err != nil {
				t.Errorf("write during a pass: %v", err)
				return
			}
			written++
		}
		// Sorts before every key the pass has read.
		if _, err := d.Set(wctx, a, []byte("\x00first"), z); err != nil {
			t.Errorf("write during a pass: %v", err)
		}
	}
	st := collect(t, e)
	e.gc.onPage = nil
	if written != 20 {
		t.Fatalf("%d of 20 writes went through during the pass", written)
	}
	if pages < 30 {
		t.Fatalf("the mark read %d pages of 100 for 3000 entries", pages)
	}
	if !e.blobs.Has(hashOf(z)) || st.BlobsRemoved != 0 {
		t.Fatalf("content named during the pass was removed (stats %+v)", st)
	}
}

// TestGCBackground: with an interval the passes run by themselves and
// collect; Close stops them (goleak checks the goroutine is gone).
func TestGCBackground(t *testing.T) {
	cfg := TestConfig()
	cfg.GC = GCConfig{Interval: 5 * time.Millisecond, Grace: time.Millisecond, Pause: time.Millisecond}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, a := newDoc(t, e), defaultAuthor(t, e)
	old := value("old ", 20<<10)
	mustSet(t, d, a, "k", old)
	mustSet(t, d, a, "k", []byte("new"))
	// The stats are written when a pass ends, after its removals.
	testutil.Eventually(t, 10*time.Second, func() bool { return e.GCStats().BlobsRemoved >= 1 }, "the background collection removed nothing")
	if st := e.GCStats(); st.Runs < 2 || e.blobs.Has(hashOf(old)) {
		t.Fatalf("stats %+v", st)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CollectGarbage(context.Background()); err == nil {
		t.Fatal("CollectGarbage after Close did not fail")
	}
}

// TestGraceTracker: the tracker's bookkeeping alone.
func TestGraceTracker(t *testing.T) {
	var tr graceTracker
	t0 := time.Unix(0, 0)
	x, y := replica.Hash{1}, replica.Hash{2}
	if due := tr.update(map[replica.Hash]int64{x: 1}, t0, time.Minute); len(due) != 0 {
		t.Fatalf("due on first sight: %v", due)
	}
	if due := tr.update(map[replica.Hash]int64{x: 1, y: 1}, t0.Add(time.Minute), time.Minute); len(due) != 1 || due[0] != x {
		t.Fatalf("due = %v, want x only", due)
	}
	// x named again: forgotten, and its clock restarts.
	tr.update(map[replica.Hash]int64{y: 1}, t0.Add(2*time.Minute), time.Minute)
	if due := tr.update(map[replica.Hash]int64{x: 1, y: 1}, t0.Add(2*time.Minute), time.Minute); len(due) != 1 || due[0] != y {
		t.Fatalf("due = %v, want y only", due)
	}
	if tr.pending() != 2 {
		t.Fatalf("pending %d", tr.pending())
	}
}

// TestGCKeepsContentBeingRead: a ContentReader pins its content until
// Close, even when its entry is overwritten meanwhile.
func TestGCKeepsContentBeingRead(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	e := gcEngine(t, clock)
	d, a := newDoc(t, e), defaultAuthor(t, e)
	v := value("streamed out ", 40<<10)
	mustSet(t, d, a, "k", v)
	se, err := d.Get(ctx, a.ID(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.ContentReader(se)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, d, a, "k", []byte("replaced"))
	st := collectAfterGrace(t, e, clock)
	if !e.blobs.Has(hashOf(v)) || st.Protected != 1 {
		t.Fatalf("content being read was removed, or not counted as protected: %+v", st)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, v) {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	r.Close()
	if st := collect(t, e); st.BlobsRemoved != 1 || e.blobs.Has(hashOf(v)) {
		t.Fatalf("content read and closed was kept: %+v", st)
	}
}

// TestGCCloseDuringPass: Close ends a pass that a caller started and
// waits for it; the pass reports that the engine closed.
func TestGCCloseDuringPass(t *testing.T) {
	ctx := context.Background()
	cfg := TestConfig()
	cfg.GC = GCConfig{Interval: -1, Batch: 10, Pause: 5 * time.Second} // Close must cut the pause short
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, a := newDoc(t, e), defaultAuthor(t, e)
	writes := make([]actor.LocalWrite, 100)
	for i := range writes {
		writes[i] = actor.LocalWrite{Key: fmt.Appendf(nil, "k%03d", i), Hash: replica.Hash{byte(i + 1)}, Len: 1}
	}
	if _, _, err := e.act.InsertLocalMany(ctx, d.ID(), a, writes); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	pages := 0
	e.gc.onPage = func() {
		if pages++; pages == 1 {
			go func() {
				err := e.Close()
				if !e.gc.passMu.TryLock() {
					err = errors.New("Close returned while the pass was still running")
				} else {
					e.gc.passMu.Unlock()
				}
				closed <- err
			}()
			testutil.Eventually(t, 10*time.Second, e.gc.closed.Load, "Close began")
		}
	}
	_, err = e.CollectGarbage(ctx)
	if !IsClosed(err) {
		t.Fatalf("a pass cut by Close returned %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if pages > 2 {
		t.Fatalf("the pass read %d pages after Close began", pages-1)
	}
}

// TestGCDropDuringPass: documents dropped while a pass reads them end
// their part of the mark, not the pass; their content goes later.
func TestGCDropDuringPass(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	e := gcEngine(t, clock)
	e.gc.cfg.Batch = 10
	a := defaultAuthor(t, e)
	docs := []*Doc{newDoc(t, e), newDoc(t, e)}
	var values [][]byte
	for i, d := range docs {
		for j := range 30 {
			v := fmt.Appendf(nil, "doc %d value %d", i, j)
			values = append(values, v)
			mustSet(t, d, a, fmt.Sprintf("k%02d", j), v)
		}
	}
	dropped := false
	e.gc.onPage = func() {
		if dropped {
			return
		}
		dropped = true
		for _, d := range docs {
			if err := e.Docs().Drop(ctx, d.ID()); err != nil {
				t.Errorf("drop: %v", err)
			}
		}
	}
	st := collect(t, e)
	e.gc.onPage = nil
	if !dropped || st.LastErr != "" || st.Runs != 1 {
		t.Fatalf("pass with documents dropped under it: %+v", st)
	}
	// The page read before the drop marked its 10 values: they are
	// first found unreferenced by the next pass, the others are due then.
	clock.advance(testGrace + time.Second)
	if st = collect(t, e); st.BlobsRemoved != 50 || st.Pending != 10 {
		t.Fatalf("second pass: %+v; want 50 removed, 10 pending", st)
	}
	clock.advance(testGrace + time.Second)
	st = collect(t, e)
	for _, v := range values {
		if e.blobs.Has(hashOf(v)) {
			t.Fatalf("content of a dropped document is still held (%+v)", st)
		}
	}
}

// TestGCProtectsGossipedContent: content that a gossip Put carries is
// protected from its put until its entry is stored, and released then.
// Gossip is best effort and an entry may come by sync instead, so several
// values are written and one carried by gossip is enough.
func TestGCProtectsGossipedContent(t *testing.T) {
	a, b := openEngine(t), openEngine(t)
	doc := newDoc(t, a)
	author := defaultAuthor(t, a)
	mustSet(t, doc, author, "first", []byte("synced"))
	_, sub := joinShared(t, doc, b, ShareRead)
	waitFor(t, sub, 1, remoteKey("first"))

	var mu sync.Mutex
	protected := map[replica.Hash]bool{}
	b.guard.mu.Lock()
	b.guard.onProtect = func(h replica.Hash) {
		mu.Lock()
		protected[h] = true
		mu.Unlock()
	}
	b.guard.mu.Unlock()
	carried := 0
	for i := range 5 {
		key, v := fmt.Sprintf("k%d", i), fmt.Appendf(nil, "gossiped value %d", i)
		mustSet(t, doc, author, key, v)
		waitFor(t, sub, 1, remoteKey(key))
		mu.Lock()
		was := protected[hashOf(v)]
		mu.Unlock()
		if was {
			carried++
			testutil.Eventually(t, 10*time.Second, func() bool { return !b.guard.isProtected(hashOf(v)) },
				"the gossiped content of %s is released once its entry is stored", key)
		}
	}
	if carried == 0 {
		t.Fatal("no gossiped content was protected between its put and its entry's insert")
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// pair opens a document on a, shares it and imports it on b; it returns
// a's document, b's and a's author.
func pair(t *testing.T, a, b *Engine, n int) (*Doc, *Doc, replica.Author) {
	t.Helper()
	ctx := context.Background()
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := a.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(t, doc, author, "init", n)
	tk, err := doc.Share(ctx, ShareWrite)
	if err != nil {
		t.Fatal(err)
	}
	bdoc, err := b.Docs().Import(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	return doc, bdoc, author
}

func write(t *testing.T, d *Doc, author replica.Author, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := d.Set(context.Background(), author, fmt.Appendf(nil, "%s-%03d", prefix, i), fmt.Appendf(nil, "%s value %d", prefix, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// knows polls until d's status lists peer: WaitSynced needs a known peer,
// and b's first session reaches a only some time after Import returned.
func knows(t *testing.T, d *Doc, peer endpoint.NodeID) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() bool {
		st, err := d.SyncStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(st, func(s live.SyncStatus) bool { return s.Peer == peer })
	}, "%s learns of %s", d.ID().Short(), peer.Short())
}

func entries(t *testing.T, d *Doc) []replica.SignedEntry {
	t.Helper()
	var out []replica.SignedEntry
	for e, err := range d.Query(context.Background(), replica.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// holdsAll fails unless d holds every entry of want (or a later one at the
// same author and key).
func holdsAll(t *testing.T, d *Doc, want []replica.SignedEntry) {
	t.Helper()
	for _, w := range want {
		got, err := d.Get(context.Background(), w.Author, w.Key)
		if err != nil {
			t.Fatalf("peer lacks %q: %v", w.Key, err)
		}
		if got.Timestamp < w.Timestamp || (got.Timestamp == w.Timestamp && got.Hash != w.Hash) {
			t.Fatalf("peer holds an older %q", w.Key)
		}
	}
}

func TestWaitSyncedConfirmsPeerHoldsSnapshot(t *testing.T) {
	ctx := context.Background()
	a, b := openEngine(t), openEngine(t)
	doc, bdoc, author := pair(t, a, b, 40)
	knows(t, doc, b.NodeID())

	// A writer keeps writing while WaitSynced runs: the snapshot is what
	// a held at the call, and later entries need not be covered.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			doc.Set(ctx, author, fmt.Appendf(nil, "bg-%04d", i), []byte("x"))
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { close(stop); <-done }()

	for round := range 4 {
		write(t, doc, author, fmt.Sprintf("round%d", round), 25)
		snap := entries(t, doc)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := doc.WaitSynced(wctx, b.NodeID())
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		holdsAll(t, bdoc, snap)
	}
}

func TestWaitSyncedBlocksWhilePeerDown(t *testing.T) {
	ctx := context.Background()
	cfg := TestConfig()
	cfg.Live.MaxRetries = 2 // give up soon on the closed peer
	a, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := Open(ctx, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	doc, _, author := pair(t, a, b, 5)
	knows(t, doc, b.NodeID())
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	if err := doc.WaitSynced(wctx, b.NodeID()); err != nil {
		t.Fatal(err)
	}
	cancel()
	b.Close()

	write(t, doc, author, "after-close", 5)
	wctx, cancel = context.WithTimeout(ctx, 400*time.Millisecond)
	err = doc.WaitSynced(wctx, b.NodeID())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced with the peer closed: %v, want DeadlineExceeded", err)
	}
	// With patience the retries run out and say so.
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	err = doc.WaitSynced(wctx, b.NodeID())
	cancel()
	if !errors.Is(err, live.ErrUnreachable) {
		t.Fatalf("WaitSynced with the peer closed: %v, want ErrUnreachable", err)
	}
	st, err := doc.SyncStatus(ctx)
	if err != nil || len(st) != 1 {
		t.Fatalf("status %v, %v", st, err)
	}
	if st[0].CaughtUp || st[0].LastError == "" || st[0].OK() {
		t.Fatalf("status of a closed peer: %+v", st[0])
	}
}

func TestWaitSyncedUnknownPeer(t *testing.T) {
	ctx := context.Background()
	a := openEngine(t)
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := endpoint.GenerateSecretKey().Public()
	if err := doc.WaitSynced(ctx, other); !errors.Is(err, live.ErrNotSyncing) {
		t.Fatalf("not open for sync: %v", err)
	}
	if _, err := doc.Share(ctx, ShareRead); err != nil {
		t.Fatal(err)
	}
	if err := doc.WaitSynced(ctx, other); !errors.Is(err, live.ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
}

func TestSyncStatusCaughtUp(t *testing.T) {
	ctx := context.Background()
	// No catch-up session follows the insert below within the test, so
	// the status cannot turn caught up again before it is read.
	quiet := func() *Engine {
		cfg := TestConfig()
		cfg.Live.CatchUpDelay, cfg.Live.MaxCatchUpDelay = time.Hour, time.Hour
		e, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	a, b := quiet(), quiet()
	doc, bdoc, author := pair(t, a, b, 20)
	knows(t, doc, b.NodeID())
	if err := doc.WaitSynced(ctx, b.NodeID()); err != nil {
		t.Fatal(err)
	}
	// Which sessions carried the entries depends on who dialled first;
	// that b holds them after WaitSynced does not.
	if n := len(snapshot(t, bdoc)); n != 20 {
		t.Fatalf("b holds %d entries after WaitSynced, want 20", n)
	}
	st, err := doc.SyncStatus(ctx)
	if err != nil || len(st) != 1 {
		t.Fatalf("status %v, %v", st, err)
	}
	s := st[0]
	if s.Peer != b.NodeID() || !s.OK() || !s.CaughtUp || s.Sessions < 1 || s.LastSync.IsZero() {
		t.Fatalf("status after WaitSynced: %+v", s)
	}
	// A resync flagged during the sessions above may still run; one that
	// starts after the insert below and ends equal would make b caught up
	// again at once. Wait until neither side has one running or due.
	for _, d := range []*Doc{doc, bdoc} {
		testutil.Eventually(t, 10*time.Second, func() bool {
			st, err := d.SyncStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if s.Running != live.OriginNone || s.Pending || s.Resync {
					return false
				}
			}
			return true
		}, "the sessions of %s settle", d.ID().Short())
	}
	write(t, doc, author, "more", 1)
	// The insert's news reaches the live actor shortly after Set returns.
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err = doc.SyncStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return !st[0].CaughtUp
	}, "not caught up after a local insert")
	if err := doc.WaitSynced(ctx, b.NodeID()); err != nil {
		t.Fatal(err)
	}
	st, err = doc.SyncStatus(ctx)
	if err != nil || !st[0].CaughtUp || st[0].Sessions <= s.Sessions {
		t.Fatalf("status after the second WaitSynced: %+v, %v", st, err)
	}
}

func TestSyncResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	a := openEngine(t)
	cfg := TestConfig()
	cfg.DataDir = t.TempDir()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, bdoc, author := pair(t, a, b, 10)
	// b's Import dialled a; once b confirms a holds its set, the session
	// that recorded a as b's sync peer has ended.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = bdoc.WaitSynced(wctx, a.NodeID())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		peers, err := bdoc.SyncPeers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(peers) > 0
	}, "b records a as a sync peer")
	b.Close()

	b, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bdoc, err = b.Docs().Open(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bdoc.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	st, err := bdoc.SyncStatus(ctx)
	if err != nil || st == nil {
		t.Fatalf("b did not reopen the document for sync: %v, %v", st, err)
	}
	if _, err := doc.Set(ctx, author, []byte("after-restart"), []byte("hello again")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sub, 1, remoteKey("after-restart"))

	// Leave clears the mark: the next start does not resume.
	if err := bdoc.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bdoc, _ = b.Docs().Open(ctx, doc.ID())
	if st, err := bdoc.SyncStatus(ctx); err != nil || st != nil {
		t.Fatalf("a left document resumed: %v, %v", st, err)
	}
}

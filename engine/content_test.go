package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// waitContent reads sub until every hash in want has had an
// EventContentReady and an EventPendingContentReady has followed the last
// of them. It fails on EventContentFailed for a wanted hash.
func waitContent(t *testing.T, sub *live.Subscription, want map[replica.Hash]bool) {
	t.Helper()
	left := len(want)
	ready := make(map[replica.Hash]bool)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription closed")
			}
			switch ev.Kind {
			case live.EventLagged:
				t.Fatalf("lagged by %d", ev.Missed)
			case live.EventContentFailed:
				if want[ev.Hash] {
					t.Fatalf("download of %x… failed: %v", ev.Hash[:5], ev.Err)
				}
			case live.EventContentReady:
				if want[ev.Hash] && !ready[ev.Hash] {
					ready[ev.Hash] = true
					left--
				}
			case live.EventPendingContentReady:
				if left == 0 {
					return
				}
			}
		case <-deadline:
			t.Fatalf("%d of %d downloads not reported", left, len(want))
		}
	}
}

func TestContentDownload(t *testing.T) {
	ctx := context.Background()
	_, b, doc, author := docToShare(t)
	values := map[string][]byte{"big": bytes.Repeat([]byte("docsnode content "), 20000)}
	for i := range 5 {
		values[fmt.Sprintf("k%d", i)] = fmt.Appendf(nil, "value %d", i)
	}
	want := make(map[replica.Hash]bool)
	for k, v := range values {
		if _, err := doc.Set(ctx, author, []byte(k), v); err != nil {
			t.Fatal(err)
		}
		want[replica.HashContent(v)] = true
	}
	bdoc, sub := joinShared(t, doc, b, ShareRead)
	waitContent(t, sub, want)
	for k, v := range values {
		e, err := bdoc.Get(ctx, author.ID(), []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if st := bdoc.ContentStatus(e); st != live.ContentComplete {
			t.Fatalf("%s: content status %v", k, st)
		}
		got, err := bdoc.Content(e)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: content %d bytes, %v", k, len(got), err)
		}
	}

	// A small live write carries its content in the gossip Put: the
	// entry arrives with its content complete.
	if _, err := doc.Set(ctx, author, []byte("later"), []byte("live value")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sub, 1, func(ev live.Event) bool {
		if ev.Kind != live.EventInsertRemote || string(ev.Entry.Key) != "later" {
			return false
		}
		if ev.ContentStatus != live.ContentComplete {
			t.Errorf("InsertRemote of a small value: content status %v, want complete", ev.ContentStatus)
		}
		return true
	})
	e, err := bdoc.Get(ctx, author.ID(), []byte("later"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bdoc.Content(e); err != nil || string(got) != "live value" {
		t.Fatalf("later: %q, %v", got, err)
	}

	// A larger one arrives with its content missing, and the content
	// follows.
	bigLive := bytes.Repeat([]byte("live "), 2000)
	if _, err := doc.Set(ctx, author, []byte("later-big"), bigLive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sub, 1, func(ev live.Event) bool {
		if ev.Kind != live.EventInsertRemote || string(ev.Entry.Key) != "later-big" {
			return false
		}
		if ev.ContentStatus != live.ContentMissing {
			t.Errorf("InsertRemote of a large value: content status %v, want missing", ev.ContentStatus)
		}
		return true
	})
	waitContent(t, sub, map[replica.Hash]bool{replica.HashContent(bigLive): true})
	e, err = bdoc.Get(ctx, author.ID(), []byte("later-big"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bdoc.Content(e); err != nil || !bytes.Equal(got, bigLive) {
		t.Fatalf("later-big: %d bytes, %v", len(got), err)
	}
	if st, err := b.live.DownloadStats(ctx); err != nil || st.Queued != 0 || st.Running != 0 {
		t.Fatalf("download stats %+v, %v", st, err)
	}
}

func TestDownloadPolicyExcludesPrefix(t *testing.T) {
	ctx := context.Background()
	_, b, doc, author := docToShare(t)
	for _, k := range []string{"skip/a", "skip/b", "get/a"} {
		if _, err := doc.Set(ctx, author, []byte(k), []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	policy := replica.DownloadPolicy{Mode: replica.DownloadEverythingExcept, Filters: []replica.KeyFilter{{Key: []byte("skip/"), Prefix: true}}}
	bdoc, peers := importWithPolicy(t, b, doc, policy)
	if got, err := bdoc.DownloadPolicy(ctx); err != nil || got.Mode != policy.Mode || len(got.Filters) != 1 {
		t.Fatalf("DownloadPolicy = %+v, %v", got, err)
	}
	sub, err := bdoc.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := bdoc.StartSync(ctx, peers...); err != nil {
		t.Fatal(err)
	}
	waitContent(t, sub, map[replica.Hash]bool{replica.HashContent([]byte("value of get/a")): true})
	for _, k := range []string{"skip/a", "skip/b"} {
		e, err := bdoc.Get(ctx, author.ID(), []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if st := bdoc.ContentStatus(e); st != live.ContentMissing {
			t.Fatalf("%s: content status %v, want missing", k, st)
		}
	}
	if st, _ := b.live.DownloadStats(ctx); st.Queued != 0 {
		t.Fatalf("%d downloads queued for excluded keys", st.Queued)
	}
	// Reading excluded content asks for it.
	e, _ := bdoc.Get(ctx, author.ID(), []byte("skip/a"))
	if _, err := bdoc.Content(e); !errors.Is(err, blobs.ErrNotFound) {
		t.Fatalf("Content of excluded key: %v", err)
	}
	waitContent(t, sub, map[replica.Hash]bool{e.Hash: true})
	if got, err := bdoc.Content(e); err != nil || string(got) != "value of skip/a" {
		t.Fatalf("skip/a after the read asked for it: %q, %v", got, err)
	}
}

func TestDownloadResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	a := openEngine(t)
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := a.Authors().Default(ctx)
	content := []byte("content that arrives later")
	h := replica.HashContent(content)
	// An entry whose content a does not hold yet.
	if _, _, err := a.act.InsertLocal(ctx, doc.ID(), author, []byte("k"), h, uint64(len(content))); err != nil {
		t.Fatal(err)
	}
	tk, err := doc.Share(ctx, ShareRead)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := TestConfig()
	cfg.DataDir = dir
	cfg.Endpoint.SecretKey = endpoint.SecretKey{} // kept in the store
	first := cfg
	// Slow retries: the download fails (a lacks the content) and must
	// still be wanted when b stops.
	first.Live.RetryBase, first.Live.RetryMax = time.Minute, time.Minute
	b, err := Open(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	_, sub, err := b.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	// The want is recorded before the entry is reported; the session's
	// end records a's address, where the download resumes from.
	waitFor(t, sub, 1, remoteKey("k"))
	waitFor(t, sub, 1, func(ev live.Event) bool { return ev.Kind == live.EventSyncFinished && ev.Err == nil })
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := b.act.Meta(ctx, "live/peer-addr/"+a.NodeID().String())
		return err == nil
	}, "a's address is recorded")
	b.Close()
	bs, err := blobs.Open(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	wanted := false
	if err := bs.Wants(0, func(w replica.Hash, _ []byte) { wanted = wanted || w == h }); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	if !wanted {
		t.Fatal("the content is not in the wanted set after close")
	}

	if _, _, err := a.blobs.Put(bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	b, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bdoc, err := b.Docs().Open(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	e, err := bdoc.Get(ctx, author.ID(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	// Polled with a deadline: the download may finish before any
	// subscription could be taken.
	testutil.Eventually(t, 30*time.Second, func() bool { return bdoc.ContentStatus(e) == live.ContentComplete },
		"the wanted content is downloaded after the restart")
	if got, err := b.blobs.Get(h); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content after the restart: %v", err)
	}
	stillWanted := false
	if err := b.blobs.Wants(0, func(w replica.Hash, _ []byte) { stillWanted = stillWanted || w == h }); err != nil {
		t.Fatal(err)
	}
	if stillWanted {
		t.Fatal("want still recorded after the download")
	}
}

// TestDownloadFallsBackToNeighbours: the peer that sent the entry lacks
// its content; another member of the document's swarm has it.
func TestDownloadFallsBackToNeighbours(t *testing.T) {
	ctx := context.Background()
	a, b, c := openEngine(t), openEngine(t), openEngine(t)
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := a.Authors().Default(ctx)
	content := []byte("only c holds this")
	h := replica.HashContent(content)
	if _, _, err := a.act.InsertLocal(ctx, doc.ID(), author, []byte("k"), h, uint64(len(content))); err != nil {
		t.Fatal(err)
	}
	tk, err := doc.Share(ctx, ShareRead)
	if err != nil {
		t.Fatal(err)
	}
	// c gets the entry from a, and the content from elsewhere.
	if _, _, err := c.blobs.Put(bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	_, csub, err := c.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	defer csub.Close()
	waitFor(t, csub, 1, func(ev live.Event) bool {
		return ev.Kind == live.EventInsertRemote && ev.ContentStatus == live.ContentComplete
	})

	bdoc, bsub, err := b.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	defer bsub.Close()
	var from [32]byte
	waitFor(t, bsub, 1, func(ev live.Event) bool {
		if ev.Kind == live.EventContentFailed {
			t.Fatalf("download failed: %v", ev.Err)
		}
		from = ev.Peer
		return ev.Kind == live.EventContentReady && ev.Hash == h
	})
	if from != c.NodeID() {
		t.Fatalf("content came from %x…, want c", from[:5])
	}
	e, _ := bdoc.Get(ctx, author.ID(), []byte("k"))
	if got, err := bdoc.Content(e); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content: %q, %v", got, err)
	}
}

// TestDownloadGivenUp: content no peer holds is given up after the
// retries, reported, and the document's pending downloads still settle.
func TestDownloadGivenUp(t *testing.T) {
	ctx := context.Background()
	a, b, doc, author := docToShare(t)
	h := replica.HashContent([]byte("nobody has this"))
	if _, _, err := a.act.InsertLocal(ctx, doc.ID(), author, []byte("lost"), h, 15); err != nil {
		t.Fatal(err)
	}
	_, sub := joinShared(t, doc, b, ShareRead)
	failed := false
	waitFor(t, sub, 1, func(ev live.Event) bool {
		switch ev.Kind {
		case live.EventContentReady:
			t.Fatal("content nobody holds was reported ready")
		case live.EventContentFailed:
			if ev.Hash != h || !errors.Is(ev.Err, blobs.ErrNotFound) {
				t.Fatalf("ContentFailed for %x…: %v", ev.Hash[:5], ev.Err)
			}
			failed = true
		case live.EventPendingContentReady:
			return failed
		}
		return false
	})
	if st, _ := b.live.DownloadStats(ctx); st.Queued != 0 {
		t.Fatalf("%d downloads still queued", st.Queued)
	}
}

// TestOpenContentRemote: content a node does not hold is read from a peer
// that does, checked, a window at a time: a seek and a short read fetch
// about one window, nothing is stored, and the whole reads back intact.
func TestOpenContentRemote(t *testing.T) {
	ctx := context.Background()
	a, b, doc, author := docToShare(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	se, err := doc.Set(ctx, author, []byte("big"), content)
	if err != nil {
		t.Fatal(err)
	}
	// b fetches no content by itself.
	bdoc, peers := importWithPolicy(t, b, doc, replica.DownloadPolicy{Mode: replica.DownloadNothingExcept})
	if err := bdoc.StartSync(ctx, peers...); err != nil {
		t.Fatal(err)
	}
	if err := bdoc.WaitSynced(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	e, err := bdoc.Get(ctx, author.ID(), []byte("big"))
	if err != nil || e.Hash != se.Hash {
		t.Fatalf("entry on b: %v", err)
	}
	r, err := bdoc.OpenContent(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	off := int64(2<<20 + 12345)
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 1000)
	if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, content[off:off+1000]) {
		t.Fatalf("read at %d: %v", off, err)
	}
	// The first window, fetched by OpenContent, and the one at off, with
	// their proofs: not the value's 3 MiB.
	if sent := a.ContentServerStats().BytesSent; sent > 2*RemoteWindow+64<<10 {
		t.Fatalf("%d bytes sent for two windows", sent)
	}
	if st := bdoc.ContentStatus(e); st != live.ContentMissing {
		t.Fatalf("content status %v after reads from the peer, want missing", st)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, content) {
		t.Fatalf("whole value: %d bytes, %v", len(all), err)
	}
	// A value no peer holds fails at once.
	lost, _, err := a.act.InsertLocal(ctx, doc.ID(), author, []byte("lost"), replica.HashContent([]byte("nowhere")), 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdoc.WaitSynced(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	if _, err := bdoc.OpenContent(ctx, lost); !errors.Is(err, ErrContentNotHeld) {
		t.Fatalf("OpenContent of content nobody holds: %v", err)
	}
}

// importWithPolicy imports doc, shared read-only, on b without its peers,
// so that policy is in place before the first sync; the caller starts
// syncing with the peers returned.
func importWithPolicy(t *testing.T, b *Engine, doc *Doc, policy replica.DownloadPolicy) (*Doc, []endpoint.NodeAddr) {
	t.Helper()
	ctx := context.Background()
	tk, err := doc.Share(ctx, ShareRead)
	if err != nil {
		t.Fatal(err)
	}
	peers := tk.Nodes
	tk.Nodes = nil
	bdoc, err := b.Docs().Import(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdoc.SetDownloadPolicy(ctx, policy); err != nil {
		t.Fatal(err)
	}
	return bdoc, peers
}

// docToShare opens two engines, a and b, and a new document on a with
// a's default author: the start of a test of what b gets of it.
func docToShare(t *testing.T) (a, b *Engine, doc *Doc, author Author) {
	t.Helper()
	ctx := context.Background()
	a, b = openEngine(t), openEngine(t)
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if author, err = a.Authors().Default(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b, doc, author
}

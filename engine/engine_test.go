package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(context.Background(), TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// joinShared shares doc with the given mode and imports it on e,
// subscribed from the start; the subscription closes with the test.
func joinShared(t *testing.T, doc *Doc, e *Engine, mode ShareMode) (*Doc, *live.Subscription) {
	t.Helper()
	ctx := context.Background()
	tk, err := doc.Share(ctx, mode)
	if err != nil {
		t.Fatal(err)
	}
	d, sub, err := e.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return d, sub
}

// waitFor reads sub until pred has held for n events.
func waitFor(t *testing.T, sub *live.Subscription, n int, pred func(live.Event) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for got := 0; got < n; {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Kind == live.EventLagged {
				t.Fatalf("lagged by %d", ev.Missed)
			}
			if pred(ev) {
				got++
			}
		case <-deadline:
			t.Fatalf("saw %d of %d events", got, n)
		}
	}
}

func remoteKey(key string) func(live.Event) bool {
	return func(ev live.Event) bool {
		return ev.Kind == live.EventInsertRemote && (key == "" || string(ev.Entry.Key) == key)
	}
}

func count(t *testing.T, d *Doc) int {
	t.Helper()
	n := 0
	for _, err := range d.Query(context.Background(), replica.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func TestTwoEnginesShareImportLive(t *testing.T) {
	ctx := context.Background()
	a, b, doc, author := docToShare(t)
	const n = 30
	for i := range n {
		if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	bdoc, sub := joinShared(t, doc, b, ShareWrite)
	waitFor(t, sub, n, remoteKey(""))
	if got := count(t, bdoc); got != n {
		t.Fatalf("b holds %d entries, want %d", got, n)
	}

	if _, err := doc.Set(ctx, author, []byte("later"), []byte("live")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sub, 1, remoteKey("later"))
	e, err := bdoc.Get(ctx, author.ID(), []byte("later"))
	if err != nil || e.Hash != replica.HashContent([]byte("live")) {
		t.Fatalf("b's entry %v, %v", e, err)
	}

	// b writes with its own author and a sees it: the ticket gave write.
	bAuthor, _ := b.Authors().Create(ctx)
	asub, err := doc.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer asub.Close()
	if _, err := bdoc.Set(ctx, bAuthor, []byte("from-b"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, asub, 1, remoteKey("from-b"))
	// The first session records its peer when it ends, which may come
	// after its entries: poll with a deadline.
	testutil.Eventually(t, 20*time.Second, func() bool {
		peers, err := bdoc.SyncPeers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(peers) > 0 && peers[0] == a.NodeID()
	}, "b records a as its latest sync peer")
}

func TestReadOnlyTicket(t *testing.T) {
	ctx := context.Background()
	a, b := openEngine(t), openEngine(t)
	doc, _ := a.Docs().Create(ctx)
	author, _ := a.Authors().Default(ctx)
	for i := range 5 {
		if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	bdoc, sub := joinShared(t, doc, b, ShareRead)
	waitFor(t, sub, 5, remoteKey(""))
	bAuthor, _ := b.Authors().Default(ctx)
	if _, err := bdoc.Set(ctx, bAuthor, []byte("nope"), []byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write with a read ticket: %v, want ErrReadOnly", err)
	}
	if _, err := bdoc.Share(ctx, ShareWrite); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write share of a read-only doc: %v", err)
	}
}

// TestThreeEnginesConverge: three nodes write concurrently to one
// document and all end with every entry.
func TestThreeEnginesConverge(t *testing.T) {
	ctx := context.Background()
	es := []*Engine{openEngine(t), openEngine(t), openEngine(t)}
	doc0, _ := es[0].Docs().Create(ctx)
	tk, err := doc0.Share(ctx, ShareWrite)
	if err != nil {
		t.Fatal(err)
	}
	docs := []*Doc{doc0}
	subs := []*live.Subscription{}
	s0, _ := doc0.Subscribe(ctx)
	subs = append(subs, s0)
	for _, e := range es[1:] {
		d, s, err := e.Docs().ImportAndSubscribe(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		docs, subs = append(docs, d), append(subs, s)
	}
	const per = 10
	errc := make(chan error, len(es))
	for i, e := range es {
		go func() {
			au, err := e.Authors().Default(ctx)
			for j := 0; j < per && err == nil; j++ {
				_, err = docs[i].Set(ctx, au, fmt.Appendf(nil, "n%d/%d", i, j), []byte("v"))
			}
			errc <- err
		}()
	}
	for range es {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// Each node receives the others' entries.
	for i, s := range subs {
		waitFor(t, s, per*(len(es)-1), remoteKey(""))
		if got := count(t, docs[i]); got != per*len(es) {
			t.Fatalf("node %d holds %d entries, want %d", i, got, per*len(es))
		}
		s.Close()
	}
}

// TestCloseWithSessionsInFlight: Close returns promptly while a first sync
// is under way.
func TestCloseWithSessionsInFlight(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := a.Docs().Create(ctx)
	author, _ := a.Authors().Default(ctx)
	for i := range 200 {
		doc.Set(ctx, author, fmt.Appendf(nil, "k%03d", i), []byte("v"))
	}
	tk, _ := doc.Share(ctx, ShareRead)
	if _, err := b.Docs().Import(ctx, tk); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		b.Close()
		a.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hangs")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := b.Docs().List(ctx); err == nil {
		t.Fatal("calls after Close succeed")
	}
}

func TestAuthorsAndDocs(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	def, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.Authors().Default(ctx)
	if again.ID() != def.ID() {
		t.Fatal("Default changes between calls")
	}
	other, _ := e.Authors().Create(ctx)
	if err := e.Authors().SetDefault(ctx, other.ID()); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Authors().Default(ctx); d.ID() != other.ID() {
		t.Fatal("SetDefault ignored")
	}
	exp, err := e.Authors().Export(ctx, def.ID())
	if err != nil || exp.ID() != def.ID() {
		t.Fatalf("Export: %v", err)
	}
	if err := e.Authors().Delete(ctx, def.ID()); err != nil {
		t.Fatal(err)
	}
	if err := e.Authors().Import(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if ids, _ := e.Authors().List(ctx); len(ids) != 2 {
		t.Fatalf("%d authors, want 2", len(ids))
	}

	doc, _ := e.Docs().Create(ctx)
	doc.Set(ctx, def, []byte("a/1"), []byte("x"))
	doc.Set(ctx, def, []byte("a/2"), []byte("y"))
	doc.Set(ctx, def, []byte("b"), []byte("z"))
	if err := doc.Delete(ctx, def, []byte("a/")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, doc); n != 1 {
		t.Fatalf("%d entries after Delete, want 1", n)
	}
	se, _ := doc.Get(ctx, def.ID(), []byte("b"))
	if v, err := doc.Content(se); err != nil || string(v) != "z" {
		t.Fatalf("content %q, %v", v, err)
	}
	if _, err := e.Docs().Open(ctx, doc.ID()); err != nil {
		t.Fatal(err)
	}
	if err := e.Docs().Drop(ctx, doc.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Docs().Open(ctx, doc.ID()); !errors.Is(err, replica.ErrNotFound) {
		t.Fatalf("Open after Drop: %v", err)
	}
}

// TestNodeIDPersists: with a data directory the node keeps its id.
func TestNodeIDPersists(t *testing.T) {
	cfg := TestConfig()
	cfg.DataDir = t.TempDir()
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := e.NodeID()
	e.Close()
	e, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.NodeID() != id {
		t.Fatal("node id changed across restarts")
	}
}

// TestSyncProgressEvents: joining a document shows how its first sync is
// getting on: the subscriber gets EventSyncProgress with the entries asked
// for and received, ending with all of them. Progress is reported by the
// side that dialled, so b is given the lower id: then its dial wins over
// a's when both dial at once.
func TestSyncProgressEvents(t *testing.T) {
	ctx := context.Background()
	a, b := openEngine(t), openEngine(t)
	for !live.DialWins(b.NodeID(), a.NodeID()) {
		b = openEngine(t)
	}
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := a.Authors().Default(ctx)
	const n = 50
	for i := range n {
		if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	_, sub := joinShared(t, doc, b, ShareRead)
	waitFor(t, sub, 1, func(ev live.Event) bool {
		// Some entries may come by gossip instead (a's inserts just before
		// sharing can be pushed once the swarm is up): the session then
		// asks for fewer.
		return ev.Kind == live.EventSyncProgress && ev.Peer == a.NodeID() && ev.Outcome.Wanted > 0 && ev.Outcome.Received == ev.Outcome.Wanted
	})
}

// TestResumeWithStoreFS: a store kept on a file system of the caller's
// (Store.FS, no DataDir) persists like a data directory: reopened on the
// same file system, the engine resumes live sync of the documents that
// were open for sync, and keeps its node key.
func TestResumeWithStoreFS(t *testing.T) {
	cfg := TestConfig()
	cfg.Endpoint.SecretKey = endpoint.SecretKey{} // kept in the store
	cfg.Store.FS = vfs.NewMem()
	ctx := context.Background()
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := e.NodeID()
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.NodeID() != id {
		t.Fatal("node id changed across restarts on the same Store.FS")
	}
	resumed, err := e.Resumed()
	if err != nil || !slices.Equal(resumed, []replica.NamespaceID{doc.ID()}) {
		t.Fatalf("resumed %v (%v), want [%s]", resumed, err, doc.ID().Short())
	}
	d, err := e.Docs().Open(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SyncStatus(ctx); err != nil {
		t.Fatalf("document not open for sync after the restart: %v", err)
	}
}

// TestConfigNowStampsWrites: Config.Now is the clock local writes take
// their timestamps from.
func TestConfigNowStampsWrites(t *testing.T) {
	const skew = time.Hour
	cfg := TestConfig()
	cfg.Now = func() time.Time { return time.Now().Add(skew) }
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	au, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(skew).UnixMicro()
	se, err := doc.Set(ctx, au, []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(se.Timestamp) < before {
		t.Fatalf("timestamp %d is before the skewed clock's %d", se.Timestamp, before)
	}
}

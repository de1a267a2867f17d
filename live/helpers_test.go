package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tb is what the helpers need from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// openActor returns a store actor over an in-memory store; close it with
// the returned function (tests register it with t.Cleanup).
func openActor(t tb) *actor.Actor {
	t.Helper()
	store, err := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := actor.Open(store, actor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newActor(t *testing.T) *actor.Actor {
	a := openActor(t)
	t.Cleanup(func() { a.Close() })
	return a
}

// world is one document and its writers, with a cache of signed entries so
// that property runs do not sign the same entry twice.
type world struct {
	secret  replica.NamespaceSecret
	authors []replica.Author
	base    uint64 // timestamps count from here (an hour ago)

	mu    sync.Mutex
	cache map[string]replica.SignedEntry
}

func newWorld(authors int) *world {
	secret, _ := replica.NewNamespace(nil)
	w := &world{secret: secret, cache: map[string]replica.SignedEntry{},
		base: uint64(time.Now().Add(-time.Hour).UnixMicro())}
	for range authors {
		a, _ := replica.NewAuthor(nil)
		w.authors = append(w.authors, a)
	}
	return w
}

func (w *world) ns() replica.NamespaceID { return w.secret.ID() }

// entry returns the signed entry of author at key: a value (its content
// derived from v) or, if tomb, a tombstone; ts counts from w.base.
func (w *world) entry(author int, key string, tomb bool, v int, ts uint64) replica.SignedEntry {
	id := fmt.Sprint(author, "/", key, "/", tomb, "/", v, "/", ts)
	w.mu.Lock()
	se, ok := w.cache[id]
	w.mu.Unlock()
	if ok {
		return se
	}
	r := replica.Record{Hash: replica.EmptyHash, Timestamp: w.base + ts}
	if !tomb {
		content := fmt.Appendf(nil, "value %d of %s", v, key)
		r = replica.Record{Hash: replica.HashContent(content), Len: uint64(len(content)), Timestamp: w.base + ts}
	}
	se = testutil.MustSign(w.secret, w.authors[author], replica.Entry{Key: []byte(key), Record: r})
	w.mu.Lock()
	w.cache[id] = se
	w.mu.Unlock()
	return se
}

// randomEntries draws n entries over a few keys and authors, with
// tombstones at prefixes and several versions of a key.
func (w *world) randomEntries(r *rand.Rand, n int) []replica.SignedEntry {
	keys := []string{"a", "ab", "abc", "b", "ba", "bb", "c", "cat", "dog", "dot"}
	out := make([]replica.SignedEntry, 0, n)
	for range n {
		key := keys[r.IntN(len(keys))]
		if r.IntN(2) == 0 {
			key = fmt.Sprintf("%s/%d", key, r.IntN(n+1))
		}
		tomb := r.IntN(10) == 0
		ts := uint64(r.IntN(100000))
		if tomb && r.IntN(5) == 0 {
			key = key[:r.IntN(len(key))+1]
		}
		if tomb && !strings.Contains(key, "/") {
			ts /= 10 // a tombstone at a short prefix deletes much: keep it early
		}
		out = append(out, w.entry(r.IntN(len(w.authors)), key, tomb, r.IntN(3), ts))
	}
	return out
}

// join adds the document to a.
func (w *world) join(t tb, a *actor.Actor) {
	t.Helper()
	if _, err := a.ImportDoc(context.Background(), replica.WriteCapability(w.secret)); err != nil {
		t.Fatal(err)
	}
}

// insert stores entries in a as if received from a peer (without checks).
func insert(t tb, a *actor.Actor, ns replica.NamespaceID, entries []replica.SignedEntry) {
	t.Helper()
	for chunk := range slices.Chunk(entries, 500) {
		if _, err := a.InsertRemote(context.Background(), ns, chunk, replica.PeerID{}); err != nil {
			t.Fatal(err)
		}
	}
}

func summary(t tb, a *actor.Actor, ns replica.NamespaceID) actor.SetSummary {
	t.Helper()
	s, err := a.Summary(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stored returns the ids of the candidates that a holds.
func stored(t tb, a *actor.Actor, ns replica.NamespaceID, candidates []replica.SignedEntry) map[replica.EntryID]bool {
	t.Helper()
	ids := make([][32]byte, len(candidates))
	for i := range candidates {
		ids[i] = candidates[i].ID()
	}
	got, err := a.EntriesByID(context.Background(), ns, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[replica.EntryID]bool{}
	for i := range got {
		out[got[i].ID()] = true
	}
	return out
}

// contents lists a document's visible entries and tombstones in a stable order.
func contents(t tb, a *actor.Actor, ns replica.NamespaceID) []string {
	t.Helper()
	var out []string
	for se, err := range a.Query(context.Background(), ns, replica.Query{IncludeTombstones: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%q@%d:%x", se.Author.Short(), se.Key, se.Timestamp, se.Hash[:4]))
	}
	return out
}

// modelSummary is the summary of a fresh store holding every entry given:
// last-writer-wins does not depend on arrival order.
func modelSummary(t tb, w *world, all []replica.SignedEntry) (actor.SetSummary, []string) {
	t.Helper()
	a := openActor(t)
	defer a.Close()
	w.join(t, a)
	insert(t, a, w.ns(), all)
	return summary(t, a, w.ns()), contents(t, a, w.ns())
}

// pipeEnd is one end of an in-process stream made of two io.Pipes. Writes
// block until the peer reads, the strictest flow control there is.
type pipeEnd struct {
	r *io.PipeReader
	w *io.PipeWriter
}

var errCancelled = errors.New("stream cancelled")

func newPipe() (*pipeEnd, *pipeEnd) {
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	return &pipeEnd{r: ar, w: aw}, &pipeEnd{r: br, w: bw}
}

func (p *pipeEnd) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeEnd) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeEnd) Close() error                { return p.w.Close() }
func (p *pipeEnd) CancelRead()                 { p.r.CloseWithError(errCancelled) }
func (p *pipeEnd) CancelWrite()                { p.w.CloseWithError(errCancelled) }

var (
	nodeA = endpoint.NodeID{0xa}
	nodeB = endpoint.NodeID{0xb}
)

type result struct {
	out Outcome
	err error
}

// syncPipe runs one session between ini (initiator) and srv's actor over
// an in-process pipe and returns both sides' results.
func syncPipe(ctx context.Context, ini *actor.Actor, srv *Server, ns replica.NamespaceID, cfg SessionConfig) (initiator, acceptor result) {
	a, b := newPipe()
	done := make(chan result, 1)
	go func() {
		out, err := srv.Serve(ctx, b, nodeA)
		done <- result{out, err}
	}()
	out, err := syncStream(ctx, ini, a, nodeB, ns, cfg)
	return result{out, err}, <-done
}

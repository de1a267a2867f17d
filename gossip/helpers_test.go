package gossip

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so that a bug fails a test instead of
// hanging it.
const testTimeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testNode is one node on loopback: an endpoint and its gossip router.
type testNode struct {
	ep *endpoint.Endpoint
	r  *Router
}

func newTestNode(t testing.TB, mutate ...func(*Config)) *testNode {
	t.Helper()
	ep, err := endpoint.Open(testContext(t), endpoint.TestConfig())
	if err != nil {
		t.Fatalf("endpoint.Open: %v", err)
	}
	cfg := TestConfig()
	for _, f := range mutate {
		f(&cfg)
	}
	r, err := NewRouter(ep, cfg)
	if err != nil {
		ep.Close()
		t.Fatalf("NewRouter: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Router.Close: %v", err)
		}
		if err := ep.Close(); err != nil {
			t.Errorf("endpoint.Close: %v", err)
		}
	})
	return &testNode{ep: ep, r: r}
}

func (n *testNode) id() endpoint.NodeID { return n.ep.ID() }

func (n *testNode) open(t testing.TB, doc replica.NamespaceID) *Swarm {
	t.Helper()
	s, err := n.r.Open(doc)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// watcher records every event of a swarm, so that tests can wait for a
// condition on all events seen so far. Its goroutine ends when the swarm
// closes its Events channel, and the test's cleanup joins it.
type watcher struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every event
}

func watch(t testing.TB, s *Swarm) *watcher {
	w := &watcher{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range s.Events() {
			w.mu.Lock()
			w.events = append(w.events, ev)
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return w
}

// waitFor waits until cond holds for the events seen so far.
func (w *watcher) waitFor(t testing.TB, what string, cond func([]Event) bool) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ok := cond(w.events)
		changed := w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; events: %v", what, w.snapshot())
		}
	}
}

func (w *watcher) snapshot() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Event(nil), w.events...)
}

// eventually polls cond until it holds; for state that has no event.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func countOf[T Event](evs []Event, match func(T) bool) int {
	n := 0
	for _, ev := range evs {
		if e, ok := ev.(T); ok && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

func hasUp(evs []Event, id endpoint.NodeID) bool {
	return countOf(evs, func(e NeighborUp) bool { return e.Node.ID == id }) > 0
}

func putsOf(evs []Event, key string) int {
	return countOf(evs, func(e OpPut) bool { return string(e.Entry.Key) == key })
}

// testDoc is a document with one author that signs entries for it.
type testDoc struct {
	ns     replica.NamespaceSecret
	author replica.Author
}

func newTestDoc(t testing.TB) testDoc {
	t.Helper()
	ns, err := replica.NewNamespace(nil)
	if err != nil {
		t.Fatal(err)
	}
	author, err := replica.NewAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	return testDoc{ns: ns, author: author}
}

func (d testDoc) id() replica.NamespaceID { return d.ns.ID() }

func (d testDoc) entry(key, content string) replica.SignedEntry {
	return testutil.MustSign(d.ns, d.author, replica.Entry{
		Key: []byte(key),
		Record: replica.Record{
			Hash:      replica.HashContent([]byte(content)),
			Len:       uint64(len(content)),
			Timestamp: uint64(time.Now().UnixMicro()),
		},
	})
}

// joinAll starts a swarm of doc on every node, joins each to the first,
// and waits until every node has seen every other come up.
func joinAll(t testing.TB, nodes []*testNode, doc replica.NamespaceID) ([]*Swarm, []*watcher) {
	t.Helper()
	swarms := make([]*Swarm, len(nodes))
	watchers := make([]*watcher, len(nodes))
	for i, n := range nodes {
		swarms[i] = n.open(t, doc)
		watchers[i] = watch(t, swarms[i])
	}
	ctx := testContext(t)
	for _, s := range swarms[1:] {
		if _, err := s.Join(ctx, []endpoint.NodeAddr{nodes[0].ep.Addr()}); err != nil {
			t.Fatalf("Join: %v", err)
		}
	}
	for i, w := range watchers {
		w.waitFor(t, fmt.Sprintf("node %d to see all neighbours", i), func(evs []Event) bool {
			for j, n := range nodes {
				if j != i && !hasUp(evs, n.id()) {
					return false
				}
			}
			return true
		})
	}
	return swarms, watchers
}

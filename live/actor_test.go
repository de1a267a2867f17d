package live

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

// liveNode is a whole node on loopback: store actor, endpoint, gossip
// router and live actor.
type liveNode struct {
	act *actor.Actor
	ep  *endpoint.Endpoint
	la  *Actor
}

func newLiveNode(t *testing.T) *liveNode {
	t.Helper()
	return newLiveNodeConfig(t, TestConfig())
}

func newLiveNodeConfig(t *testing.T, cfg Config) *liveNode {
	t.Helper()
	n := &liveNode{act: newActor(t)}
	ep, err := endpoint.Open(context.Background(), endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	router, err := gossip.NewRouter(ep, gossip.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Close() })
	la, err := NewActor(ep, n.act, router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	n.ep, n.la = ep, la
	return n
}

// waitEvents reads sub until pred has held for n events, or fails the test.
func waitEvents(t *testing.T, sub *Subscription, n int, pred func(Event) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for got := 0; got < n; {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Kind == EventLagged {
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

// waitSettled polls la's state of ns with peer, with a deadline, until no
// session runs and one has finished.
func waitSettled(t *testing.T, la *Actor, ns replica.NamespaceID, peer endpoint.NodeID) {
	t.Helper()
	var p SyncStatus
	testutil.Eventually(t, 20*time.Second, func() bool {
		st, err := la.SyncStatus(context.Background(), ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range st {
			if x.Peer == peer {
				p = x
			}
		}
		return p.Running == OriginNone && p.Sessions > 0
	}, "state with %s settles (last seen %+v)", peer.Short(), &p)
}

func isRemoteInsert(ev Event) bool { return ev.Kind == EventInsertRemote }

// shareLive has a write n entries to a new document and open it for
// sync, and b import it read-only and join a subscribed; it returns once b
// has all n entries.
func shareLive(t *testing.T, a, b *liveNode, n int) (replica.NamespaceID, replica.Author, *Subscription) {
	t.Helper()
	ctx := context.Background()
	capab, err := a.act.CreateDoc(ctx, replica.Batched)
	if err != nil {
		t.Fatal(err)
	}
	ns := capab.ID()
	author, _ := a.act.CreateAuthor(ctx)
	for i := range n {
		content := fmt.Appendf(nil, "v%d", i)
		if _, _, err := a.act.InsertLocal(ctx, ns, author, fmt.Appendf(nil, "k%03d", i), replica.HashContent(content), uint64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.la.StartSync(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.act.ImportDoc(ctx, capab.ReadOnly()); err != nil {
		t.Fatal(err)
	}
	sub, err := b.la.StartSyncAndSubscribe(ctx, ns, []endpoint.NodeAddr{a.ep.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	waitEvents(t, sub, n, isRemoteInsert)
	return ns, author, sub
}

func TestActorSyncAndGossip(t *testing.T) {
	ctx := context.Background()
	a, b := newLiveNode(t), newLiveNode(t)
	const n = 50
	ns, author, sub := shareLive(t, a, b, n)

	// A later write reaches b through gossip (or a resync), without any
	// new call.
	content := []byte("live")
	if _, _, err := a.act.InsertLocal(ctx, ns, author, []byte("live-key"), replica.HashContent(content), 4); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, sub, 1, func(ev Event) bool {
		return ev.Kind == EventInsertRemote && string(ev.Entry.Key) == "live-key"
	})

	// The sessions end after their entries are stored: wait for both
	// states to settle on a finished session.
	waitSettled(t, b.la, ns, a.ep.ID())
	waitSettled(t, a.la, ns, b.ep.ID())
	peers, err := b.act.SyncPeers(ctx, ns)
	if err != nil || len(peers) == 0 || peers[0] != replica.PeerID(a.ep.ID()) {
		t.Fatalf("sync peers %v, %v", peers, err)
	}
	if err := b.la.Leave(ctx, ns, LeaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.la.SyncStatus(ctx, ns); st != nil {
		t.Fatalf("status after Leave: %v", st)
	}
}

// TestActorRefusesClosedDocs: a document the store holds but that is
// not open for sync is not served.
func TestActorRefusesClosedDocs(t *testing.T) {
	ctx := context.Background()
	a, b := newLiveNode(t), newLiveNode(t)
	capab, err := a.act.CreateDoc(ctx, replica.Batched)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.act.ImportDoc(ctx, capab.ReadOnly()); err != nil {
		t.Fatal(err)
	}
	if r := a.la.Accept(capab.ID(), b.ep.ID()); r != AbortNotFound {
		t.Fatalf("Accept of a closed doc: %v", r)
	}
	sub, err := b.la.StartSyncAndSubscribe(ctx, capab.ID(), []endpoint.NodeAddr{a.ep.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitEvents(t, sub, 1, func(ev Event) bool {
		if ev.Kind == EventSyncFinished && ev.Err == nil {
			t.Fatal("a served a document it did not open for sync")
		}
		return ev.Kind == EventSyncFinished
	})
}

func TestActorClosedCalls(t *testing.T) {
	n := newLiveNode(t)
	n.la.Close()
	if _, err := n.la.Subscribe(context.Background(), replica.NamespaceID{1}); err != ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if r := n.la.Accept(replica.NamespaceID{1}, endpoint.NodeID{2}); r != AbortBusy {
		t.Fatalf("Accept after Close: %v", r)
	}
}

// sessionLog keeps what Config.OnSession reports.
type sessionLog struct {
	mu   sync.Mutex
	ends []result
}

func (l *sessionLog) add(o Outcome, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends = append(l.ends, result{o, err})
}

// find returns a reported session that completed and matches.
func (l *sessionLog) find(match func(Outcome) bool) (Outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.ends {
		if r.err == nil && match(r.out) {
			return r.out, true
		}
	}
	return Outcome{}, false
}

// TestActorOnSessionHearsBothSides: the session that brings b a's
// entries is reported on both nodes, in opposite roles, whichever dialled,
// with the same count. (Some of the entries may come by gossip instead:
// a's inserts made just before StartSync can reach its event pump after
// the swarm opened, and are then pushed.)
func TestActorOnSessionHearsBothSides(t *testing.T) {
	var logA, logB sessionLog
	cfgA, cfgB := TestConfig(), TestConfig()
	cfgA.OnSession, cfgB.OnSession = logA.add, logB.add
	a, b := newLiveNodeConfig(t, cfgA), newLiveNodeConfig(t, cfgB)
	ns, _, _ := shareLive(t, a, b, 20)

	testutil.Eventually(t, 20*time.Second, func() bool {
		got, ok := logB.find(func(o Outcome) bool { return o.Peer == a.ep.ID() && o.Namespace == ns && o.Received > 0 })
		if !ok {
			return false
		}
		_, ok = logA.find(func(o Outcome) bool {
			return o.Peer == b.ep.ID() && o.Namespace == ns && o.Sent == got.Received && o.Role != got.Role
		})
		return ok
	}, "the session that carried the entries reported on both nodes (b heard %v, a heard %v)", &logB, &logA)
}

func (l *sessionLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.ends {
		fmt.Fprintf(&b, "[%v peer %s received %d inserted %d wanted %d sent %d equal %v err %v] ", r.out.Role, r.out.Peer.Short(), r.out.Received, r.out.Inserted, r.out.Wanted, r.out.Sent, r.out.Equal, r.err)
	}
	return b.String()
}

package live

import (
	"context"
	"errors"
	"testing"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// TestWaiterCountsOnlyLaterSessions drives the loop's waiter bookkeeping
// directly: a session that started before WaitSynced does not answer it,
// even when it ends equal; the next one does. The peer state stays
// Running throughout, so nothing is dialled.
func TestWaiterCountsOnlyLaterSessions(t *testing.T) {
	la := &Actor{cfg: TestConfig(), docs: make(map[replica.NamespaceID]*liveDoc)}

	peer := endpoint.GenerateSecretKey().Public()
	d := &liveDoc{peers: make(map[endpoint.NodeID]*livePeer)}
	la.docs[d.ns] = d
	p := d.peer(peer)
	p.state.WantSync(ReasonNeighbor) // a dial is under way: session 1
	p.seq, p.dialSeq = 1, 1

	w := &syncWaiter{ctx: context.Background(), reply: make(chan error, 1)}
	la.addWaiter(waitSyncedReq{doc: d.ns, peer: peer, w: w})
	if w.after != 1 || !p.state.ResyncRequested() {
		t.Fatalf("waiter after %d, resync %v", w.after, p.state.ResyncRequested())
	}
	la.sessionEnded(d, p, 1, Outcome{Equal: true}, nil, true)
	if len(w.reply) != 0 || len(p.waiters) != 1 {
		t.Fatal("a session that started before the call answered the waiter")
	}
	la.sessionEnded(d, p, 2, Outcome{Equal: false}, nil, true)
	if len(w.reply) != 0 {
		t.Fatal("an unequal session answered the waiter")
	}
	la.sessionEnded(d, p, 3, Outcome{Equal: true}, nil, true)
	if err := <-w.reply; err != nil || len(p.waiters) != 0 {
		t.Fatalf("later equal session: %v, %d waiters left", err, len(p.waiters))
	}

	// Dials that keep failing end the wait once the retries are spent.
	w2 := &syncWaiter{ctx: context.Background(), reply: make(chan error, 1)}
	la.addWaiter(waitSyncedReq{doc: d.ns, peer: peer, w: w2})
	p.state.Failures = la.cfg.MaxRetries
	la.sessionEnded(d, p, 4, Outcome{}, errors.New("dial failed"), true)
	if len(w2.reply) != 0 {
		t.Fatal("answered before the retries were spent")
	}
	p.state.Failures = la.cfg.MaxRetries + 1
	la.sessionEnded(d, p, 5, Outcome{}, errors.New("dial failed"), true)
	if err := <-w2.reply; !errors.Is(err, ErrUnreachable) {
		t.Fatalf("after the retries: %v", err)
	}

	// A cancelled waiter is dropped, and Leave fails the rest.
	ctx, cancel := context.WithCancel(context.Background())
	w3 := &syncWaiter{ctx: ctx, reply: make(chan error, 1)}
	w4 := &syncWaiter{ctx: context.Background(), reply: make(chan error, 1)}
	la.addWaiter(waitSyncedReq{doc: d.ns, peer: peer, w: w3})
	la.addWaiter(waitSyncedReq{doc: d.ns, peer: peer, w: w4})
	cancel()
	la.dropWaiter(cancelWaitReq{doc: d.ns, peer: peer, w: w3})
	if len(p.waiters) != 1 {
		t.Fatalf("%d waiters after a cancel", len(p.waiters))
	}
	p.failWaiters(ErrNotSyncing)
	if err := <-w4.reply; !errors.Is(err, ErrNotSyncing) {
		t.Fatalf("after leave: %v", err)
	}
}

// TestWaiterNotAnsweredByTheSessionItOutlived: when a session that
// started before WaitSynced ends equal and its resync starts the next
// session at once, the waiter waits for that next one.
func TestWaiterNotAnsweredByTheSessionItOutlived(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// A completed session records the peer's address as the endpoint
	// knows it.
	ep, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	la := &Actor{cfg: TestConfig(), act: newActor(t), ep: ep, ctx: ctx, cancel: cancel,
		docs: make(map[replica.NamespaceID]*liveDoc), finished: make(chan any)}
	defer func() { cancel(); la.wg.Wait() }()
	sw := &gossip.Swarm{} // only compared and asked for its (zero) document
	d := &liveDoc{swarm: sw, ctx: ctx, cancel: cancel, peers: make(map[endpoint.NodeID]*livePeer)}
	la.docs[d.ns] = d
	peer := endpoint.GenerateSecretKey().Public()
	p := d.peer(peer)
	p.state.WantSync(ReasonNeighbor)
	p.seq, p.dialSeq, d.dialing = 1, 1, 1

	w := &syncWaiter{ctx: context.Background(), reply: make(chan error, 1)}
	la.addWaiter(waitSyncedReq{doc: d.ns, peer: peer, w: w})
	// Session 1 ends equal; its resync flag starts session 2 at once (the
	// dial fails in the background: the store does not hold the document).
	la.dialFinished(dialResult{swarm: sw, peer: peer, out: Outcome{Equal: true}})
	if len(w.reply) != 0 {
		t.Fatal("the session that started before the call answered the waiter")
	}
	if p.seq != 2 || p.dialSeq != 2 || !p.state.Running() {
		t.Fatalf("no second session: seq %d, dialSeq %d", p.seq, p.dialSeq)
	}
	la.dialFinished(dialResult{swarm: sw, peer: peer, out: Outcome{Equal: true}})
	if err := <-w.reply; err != nil {
		t.Fatal(err)
	}
	st := la.syncStatus(d.ns)
	if len(st) != 1 || st[0].Sessions != 2 || !st[0].CaughtUp || !st[0].OK() {
		t.Fatalf("status %+v", st)
	}
}

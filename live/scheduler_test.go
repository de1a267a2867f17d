package live

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// The scheduler is driven directly here: no goroutines, clocks, store or
// sockets. Time is a variable; effects are rendered compactly.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testSched returns a scheduler for node self with the test config and a
// fixed jitter, and an open document.
func testSched(self endpoint.NodeID) (*scheduler, replica.NamespaceID) {
	s := newScheduler(TestConfig(), self, func() float64 { return 0 })
	doc := replica.NamespaceID{7}
	s.open(t0, doc, nil, openState{})
	s.take()
	return s, doc
}

// ids with a known order: lowID < selfID < highID.
var (
	lowID  = endpoint.NodeID{1}
	selfID = endpoint.NodeID{2}
	highID = endpoint.NodeID{3}
)

func addrOf(id endpoint.NodeID, port uint16) endpoint.NodeAddr {
	return endpoint.NodeAddr{ID: id, Addrs: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}}
}

// render shows effects as "dial(03@1000,direct) emit(sync-finished) …":
// the peer's first id byte and port, the reason or event kind.
func render(effs []effect) string {
	var parts []string
	for _, e := range effs {
		switch e.kind {
		case effDial:
			parts = append(parts, fmt.Sprintf("dial(%02x%s,%s)", e.addr.ID[0], port(e.addr), e.reason))
		case effJoin:
			parts = append(parts, fmt.Sprintf("join(%d)", len(e.addrs)))
		case effEmit:
			s := e.ev.Kind.String()
			if e.ev.Err != nil {
				s += "!"
			}
			parts = append(parts, "emit("+s+")")
		case effReport:
			parts = append(parts, "report")
		case effContentReady:
			parts = append(parts, "content-ready")
		case effPersist:
			parts = append(parts, fmt.Sprintf("persist(%02x%s)", e.rec.Peer[0], port(e.rec.Addr)))
		case effTimer:
			parts = append(parts, fmt.Sprintf("timer(+%v)", e.at.Sub(t0)))
		case effAnswer:
			s := "ok"
			switch {
			case errors.Is(e.err, ErrUnreachable):
				s = "unreachable"
			case errors.Is(e.err, ErrNotSyncing):
				s = "not-syncing"
			case errors.Is(e.err, ErrUnknownPeer):
				s = "unknown-peer"
			case e.err != nil:
				s = e.err.Error()
			}
			parts = append(parts, "answer("+s+")")
		case effFetch:
			parts = append(parts, fmt.Sprintf("fetch(%d)", len(e.cands)))
		case effWant:
			parts = append(parts, "want")
		}
	}
	return strings.Join(parts, " ")
}

func port(a endpoint.NodeAddr) string {
	if len(a.Addrs) == 0 {
		return ""
	}
	return fmt.Sprintf("@%d", a.Addrs[0].Port())
}

func expectEffects(t *testing.T, step string, s *scheduler, want string) {
	t.Helper()
	if got := render(s.take()); got != want {
		t.Fatalf("%s:\n got  %q\n want %q", step, got, want)
	}
}

var errRefused = fmt.Errorf("sync: %w", &AbortError{Reason: AbortAlreadySyncing})

func TestSchedulerDirectSyncAndRecord(t *testing.T) {
	s, doc := testSched(selfID)
	s.open(t0, doc, []endpoint.NodeAddr{addrOf(highID, 1000)}, openState{})
	expectEffects(t, "start", s, "dial(03@1000,direct) join(1)")
	s.dialed(t0.Add(time.Second), doc, 1, addrOf(highID, 1000), Outcome{Equal: true, Inserted: 2}, nil)
	expectEffects(t, "done", s, "emit(sync-finished) join(1) report persist(03@1000) timer(+1h0m1s)")
	st := s.syncStatus(doc)
	if len(st) != 1 || st[0].Sessions != 1 || !st[0].CaughtUp || st[0].LastReceived != 2 || st[0].Running != OriginNone {
		t.Fatalf("status %+v", st)
	}
	// A local insert makes the peer no longer caught up.
	s.stored(t0.Add(2*time.Second), &storeNews{inserts: []insertNews{{doc: doc, author: replica.AuthorID{1}, ts: 1, local: true}}})
	if st := s.syncStatus(doc); st[0].CaughtUp {
		t.Fatal("caught up after a local insert")
	}
}

// TestSchedulerRefusalBacksOff: a dial the peer refuses because the pair
// is already syncing (as after Leave and StartSync, while the peer still
// serves the old session) is not a failure, emits nothing, and is retried
// only after a back-off that grows, never at once.
func TestSchedulerRefusalBacksOff(t *testing.T) {
	s, doc := testSched(selfID)
	peer := addrOf(highID, 1000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{})
	expectEffects(t, "start", s, "dial(03@1000,direct) join(1)")
	now := t0
	var dials int
	var waits []time.Duration
	for range 6 {
		now = now.Add(time.Millisecond)
		s.dialed(now, doc, 1, peer, Outcome{}, errRefused)
		effs := s.take()
		for _, e := range effs {
			if e.kind == effDial || e.kind == effEmit || e.kind == effPersist {
				t.Fatalf("a refusal led to %s at once", render(effs))
			}
		}
		st := s.syncStatus(doc)[0]
		if !st.Pending || st.Failures != 0 || st.Sessions != 0 {
			t.Fatalf("after a refusal: %+v", st)
		}
		// Nothing runs before the retry is due.
		s.tick(s.docs[doc].peers[highID].retryAt.Add(-time.Microsecond))
		if got := render(s.take()); strings.Contains(got, "dial") {
			t.Fatalf("dialled before the back-off: %s", got)
		}
		due := s.docs[doc].peers[highID].retryAt
		waits = append(waits, due.Sub(now))
		now = due
		s.tick(now)
		if got := render(s.take()); got != "dial(03@1000,resync)" {
			t.Fatalf("at the retry: %q", got)
		}
		dials++
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Fatalf("back-off shrank: %v", waits)
		}
	}
	if s.stats.Refused != 6 || s.stats.Failed != 0 {
		t.Fatalf("stats %+v", s.stats)
	}
	// A served session ends the refusals; the next dial goes at once.
	s.dialed(now, doc, 1, peer, Outcome{Equal: true}, nil)
	expectEffects(t, "completed", s, "emit(sync-finished) join(1) persist(03@1000) timer(+1h0m1.281s)")
	s.syncReport(now, doc, 1, highID, replica.Heads{replica.AuthorID{9}: 5})
	expectEffects(t, "report", s, "dial(03@1000,report)")
}

// TestSchedulerRefusalWhileServingIsCovered: when the refusal comes
// because we serve the peer's session, that session covers the dial:
// nothing is retried.
func TestSchedulerRefusalWhileServingIsCovered(t *testing.T) {
	s, doc := testSched(highID) // the higher id serves the other's dial
	peer := addrOf(lowID, 1000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{})
	expectEffects(t, "start", s, "dial(01@1000,direct) join(1)")
	if r := s.accept(t0, doc, lowID, endpoint.NodeAddr{}); r != 0 {
		t.Fatalf("accept: %v", r)
	}
	s.dialed(t0, doc, 1, peer, Outcome{}, errRefused)
	expectEffects(t, "refused", s, "")
	s.accepted(t0, Outcome{Role: Acceptor, Peer: lowID, Namespace: doc, Served: true, Equal: true}, nil)
	expectEffects(t, "served", s, "emit(sync-finished) join(1) persist(01@1000) timer(+1h0m0s)")
	if st := s.syncStatus(doc)[0]; st.Pending || st.Running != OriginNone || st.Sessions != 1 {
		t.Fatalf("after: %+v", st)
	}
}

// TestSchedulerLearnsNewAddress: a peer that restarted on a new port is
// dialled at the address it stated, and the record keeps the new one.
func TestSchedulerLearnsNewAddress(t *testing.T) {
	s, doc := testSched(selfID)
	old, moved := addrOf(highID, 1000), addrOf(highID, 2000)
	s.open(t0, doc, []endpoint.NodeAddr{old}, openState{})
	s.dialed(t0, doc, 1, old, Outcome{Equal: true}, nil)
	expectEffects(t, "first", s, "dial(03@1000,direct) join(1) emit(sync-finished) join(1) persist(03@1000) timer(+1h0m0s)")
	// It restarts and dials us from its new address.
	if r := s.accept(t0, doc, highID, moved); r != 0 {
		t.Fatalf("accept: %v", r)
	}
	s.accepted(t0, Outcome{Role: Acceptor, Peer: highID, Namespace: doc, Served: true, Equal: true}, nil)
	expectEffects(t, "served", s, "emit(sync-finished) join(1) persist(03@2000)")
	s.syncReport(t0, doc, 1, highID, replica.Heads{replica.AuthorID{9}: 5})
	expectEffects(t, "report", s, "dial(03@2000,report)")
	// A neighbour announcement with a newer address wins too.
	s.dialed(t0, doc, 1, moved, Outcome{Equal: true}, nil)
	s.take()
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(highID, 3000)})
	expectEffects(t, "neighbour", s, "emit(neighbor-up) dial(03@3000,neighbor)")
}

// TestSchedulerWaiterCountsOnlyLaterSessions: a session that started
// before WaitSynced does not answer it, even when it ends equal; the next
// one does.
func TestSchedulerWaiterCountsOnlyLaterSessions(t *testing.T) {
	s, doc := testSched(selfID)
	peer := addrOf(highID, 1000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{}) // session 1 runs
	s.take()
	w := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0, doc, highID, nil, w)
	expectEffects(t, "wait", s, "timer(+2s)")
	s.dialed(t0, doc, 1, peer, Outcome{Equal: true}, nil)
	expectEffects(t, "session 1", s, "emit(sync-finished) join(1) persist(03@1000) dial(03@1000,resync)")
	s.dialed(t0, doc, 1, peer, Outcome{Equal: false}, nil)
	expectEffects(t, "session 2 unequal", s, "emit(sync-finished) join(1) persist(03@1000) dial(03@1000,resync)")
	s.dialed(t0, doc, 1, peer, Outcome{Equal: true}, nil)
	expectEffects(t, "session 3", s, "emit(sync-finished) join(1) persist(03@1000) answer(ok)")
}

// TestSchedulerWaiterUnreachable: WaitSynced on a peer whose dials fail
// returns ErrUnreachable after UnreachableAfter, not after every retry.
func TestSchedulerWaiterUnreachable(t *testing.T) {
	s, doc := testSched(selfID)
	peer := addrOf(highID, 1000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{})
	s.dialed(t0, doc, 1, peer, Outcome{Equal: true}, nil)
	s.take()
	w := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0, doc, highID, nil, w)
	expectEffects(t, "wait", s, "timer(+2s) dial(03@1000,direct)")
	down := errors.New("handshake timeout")
	s.dialed(t0.Add(500*time.Millisecond), doc, 1, peer, Outcome{}, down)
	expectEffects(t, "fail 1", s, "emit(sync-finished!) persist(03@1000) timer(+525ms)")
	s.tick(t0.Add(525 * time.Millisecond))
	expectEffects(t, "retry", s, "dial(03@1000,resync)")
	s.tick(t0.Add(2 * time.Second)) // a dial runs: wait for it
	expectEffects(t, "patience while dialling", s, "")
	s.dialed(t0.Add(2100*time.Millisecond), doc, 1, peer, Outcome{}, down)
	expectEffects(t, "fail 2", s, "emit(sync-finished!) persist(03@1000) timer(+2.15s) answer(unreachable)")
	// Leave fails the waiters that are left.
	w2 := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0.Add(3*time.Second), doc, highID, nil, w2)
	s.take()
	s.leave(doc)
	expectEffects(t, "leave", s, "answer(not-syncing)")
	s.addWaiter(t0, doc, highID, nil, w2)
	expectEffects(t, "closed doc", s, "answer(not-syncing)")
}

func TestSchedulerWaiterUnknownPeerAndDrop(t *testing.T) {
	s, doc := testSched(selfID)
	w := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0, doc, highID, nil, w)
	expectEffects(t, "unknown", s, "timer(+2s)")
	s.tick(t0.Add(time.Second))
	expectEffects(t, "still waiting", s, "timer(+2s)")
	s.tick(t0.Add(2 * time.Second))
	expectEffects(t, "never appeared", s, "answer(unknown-peer)")
	known := addrOf(highID, 1000)
	s.addWaiter(t0, doc, highID, &known, w)
	expectEffects(t, "known", s, "timer(+2s) dial(03@1000,direct)")
	s.dropWaiter(t0, doc, highID, w)
	s.dialed(t0, doc, 1, known, Outcome{Equal: true}, nil)
	expectEffects(t, "dropped waiter not answered", s, "emit(sync-finished) join(1) persist(03@1000)")
}

// TestSchedulerWaiterForPeerAboutToDialIn: WaitSynced right after
// sharing, before the peer that imported the ticket has reached us, waits
// for it and counts the session it opens.
func TestSchedulerWaiterForPeerAboutToDialIn(t *testing.T) {
	s, doc := testSched(selfID)
	w := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0, doc, highID, nil, w)
	s.take()
	if r := s.accept(t0.Add(100*time.Millisecond), doc, highID, endpoint.NodeAddr{}); r != 0 {
		t.Fatalf("accept: %v", r)
	}
	s.accepted(t0.Add(200*time.Millisecond), Outcome{Role: Acceptor, Peer: highID, Namespace: doc, Served: true, Equal: true}, nil)
	expectEffects(t, "served", s, "emit(sync-finished) persist(03) answer(ok)")

	// One that appears as a neighbour is dialled.
	w2 := &syncWaiter{reply: make(chan error, 1)}
	s.addWaiter(t0, doc, lowID, nil, w2)
	s.take()
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 9)})
	expectEffects(t, "neighbour", s, "emit(neighbor-up) dial(01@9,direct)")
	s.dialed(t0, doc, 1, addrOf(lowID, 9), Outcome{Equal: true}, nil)
	expectEffects(t, "dialled", s, "emit(sync-finished) persist(01@9) answer(ok)")
}

// TestSchedulerNeighborTieBreak: only the lower id dials a new neighbour.
func TestSchedulerNeighborTieBreak(t *testing.T) {
	s, doc := testSched(selfID)
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(highID, 1)})
	expectEffects(t, "higher neighbour", s, "emit(neighbor-up) dial(03@1,neighbor)")
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 2)})
	expectEffects(t, "lower neighbour", s, "emit(neighbor-up)")
	// Events of an older opening of the document are dropped.
	s.gossipEvent(t0, doc, 0, gossip.NeighborDown{Node: lowID})
	expectEffects(t, "stale generation", s, "")
}

// TestSchedulerReportGate: with news in reports from several peers, one
// report-started session runs at a time, and a stale report is dropped.
func TestSchedulerReportGate(t *testing.T) {
	// Both reporters are peers the document has records of.
	s := newScheduler(TestConfig(), selfID, func() float64 { return 0 })
	doc := replica.NamespaceID{7}
	s.open(t0, doc, nil, openState{peers: []peerRecord{{Peer: highID}, {Peer: lowID}}})
	s.take()
	a := replica.AuthorID{9}
	s.syncReport(t0, doc, 1, highID, replica.Heads{a: 5})
	expectEffects(t, "first report", s, "dial(03,report)")
	s.syncReport(t0, doc, 1, lowID, replica.Heads{a: 5})
	expectEffects(t, "second report waits", s, "")
	// The session brings a's entry up to 5: lowID's report is no news.
	s.stored(t0, &storeNews{inserts: []insertNews{{doc: doc, author: a, ts: 5}}})
	s.dialed(t0, doc, 1, endpoint.NodeAddr{ID: highID}, Outcome{Equal: true, Inserted: 1}, nil)
	expectEffects(t, "done", s, "emit(sync-finished) report persist(03)")
	// A report with no news starts nothing.
	s.syncReport(t0, doc, 1, lowID, replica.Heads{a: 4})
	expectEffects(t, "old news", s, "")
}

// TestSchedulerCatchUp: a quiet document after local writes reports its
// heads and syncs with one neighbour.
func TestSchedulerCatchUp(t *testing.T) {
	s, doc := testSched(selfID)
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 1)})
	s.take()
	var writes []insertNews
	for i := range 3 {
		writes = append(writes, insertNews{doc: doc, author: replica.AuthorID{1}, ts: uint64(i + 1), local: true})
	}
	s.stored(t0, &storeNews{inserts: writes})
	expectEffects(t, "write", s, "timer(+1s)")
	s.tick(t0.Add(time.Second))
	expectEffects(t, "quiet", s, "report dial(01@1,catch-up)")
}

// TestSchedulerDelayedDownloadSurvivesEarlierTimer: when the timer fires
// for something else (a catch-up) before a download's retry is due, the
// retry is scheduled again, not forgotten.
func TestSchedulerDelayedDownloadSurvivesEarlierTimer(t *testing.T) {
	s, doc := testSched(selfID)
	s.content, s.maxBlob = true, 1<<20
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 1)})
	s.take()
	se := replica.SignedEntry{Entry: replica.Entry{Namespace: doc, Key: []byte("k")}}
	se.Hash, se.Len = replica.Hash{5}, 10
	s.stored(t0, &storeNews{wants: []contentWant{{doc: doc, entry: se, from: lowID}}})
	expectEffects(t, "want", s, "want fetch(1)")
	dl := s.dl.byHash[se.Hash]
	s.stored(t0, &storeNews{inserts: []insertNews{{doc: doc, author: replica.AuthorID{1}, ts: 1, local: true}}}) // a catch-up at +1s
	s.take()
	s.downloaded(t0.Add(990*time.Millisecond), dl, endpoint.NodeID{}, errors.New("not found"), false)
	s.take() // the retry is due at +1.015s, after the catch-up
	s.tick(t0.Add(time.Second))
	if got := render(s.take()); !strings.Contains(got, "timer(+1.015s)") {
		t.Fatalf("the timer fired for the catch-up and the download's retry was not scheduled again: %q", got)
	}
	s.tick(t0.Add(1015 * time.Millisecond))
	expectEffects(t, "retry", s, "fetch(1)")
}

// TestSchedulerStoreNews: heads move forward only, local inserts count
// once each and arm one catch-up, and a local entry too large for gossip
// is followed by one report per document.
func TestSchedulerStoreNews(t *testing.T) {
	s, doc := testSched(selfID)
	a := replica.AuthorID{1}
	other := replica.NamespaceID{8} // not open: ignored
	s.stored(t0, &storeNews{inserts: []insertNews{
		{doc: doc, author: a, ts: 5, local: true, tooBig: true},
		{doc: doc, author: a, ts: 3, local: true, tooBig: true},
		{doc: other, author: a, ts: 9, local: true},
	}})
	expectEffects(t, "batch", s, "timer(+1s) report")
	d := s.docs[doc]
	if d.heads[a] != 5 || d.localInserts != 2 {
		t.Fatalf("heads %v, local inserts %d", d.heads, d.localInserts)
	}
	if r := s.take(); len(r) != 0 {
		t.Fatalf("left over: %s", render(r))
	}
}

// TestSchedulerJoinsSwarmThroughSessionPeer: a session that completes
// while the document's swarm has no member joins the swarm through the
// session's peer. The join at StartSync is best effort and fails for
// good when the ticket's peer has left the document or cannot be reached
// then; without this, the node stays outside the swarm, hears no writes or
// reports, and syncs only when a peer happens to dial it. Once the peer is
// a member, sessions join nothing.
func TestSchedulerJoinsSwarmThroughSessionPeer(t *testing.T) {
	s, doc := testSched(selfID)
	peer := addrOf(highID, 1000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{})
	expectEffects(t, "start", s, "dial(03@1000,direct) join(1)")
	s.dialed(t0.Add(time.Second), doc, 1, peer, Outcome{Equal: true}, nil)
	if got := render(s.take()); !strings.Contains(got, "emit(sync-finished) join(1) persist(03@1000)") {
		t.Fatalf("dialled, not a member: %q", got)
	}

	// A peer that dials in, whose address we know, counts the same.
	if r := s.accept(t0, doc, highID, endpoint.NodeAddr{}); r != 0 {
		t.Fatalf("accept: %v", r)
	}
	s.accepted(t0.Add(2*time.Second), Outcome{Role: Acceptor, Peer: highID, Namespace: doc, Served: true, Equal: true}, nil)
	if got := render(s.take()); !strings.Contains(got, "emit(sync-finished) join(1) persist(03@1000)") {
		t.Fatalf("served, not a member: %q", got)
	}

	// A failed session joins nothing.
	s.want(t0.Add(3*time.Second), s.docs[doc], s.docs[doc].peer(highID), ReasonDirect)
	s.take()
	s.dialed(t0.Add(4*time.Second), doc, 1, peer, Outcome{}, errors.New("no route"))
	if got := render(s.take()); strings.Contains(got, "join") {
		t.Fatalf("failed session: %q", got)
	}

	// While the swarm has a member, sessions join nothing.
	s.gossipEvent(t0.Add(4*time.Second), doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 3)})
	s.take()
	if r := s.accept(t0.Add(4*time.Second), doc, highID, endpoint.NodeAddr{}); r != 0 {
		t.Fatalf("accept: %v", r)
	}
	s.accepted(t0.Add(4*time.Second), Outcome{Role: Acceptor, Peer: highID, Namespace: doc, Served: true, Equal: true}, nil)
	if got := render(s.take()); strings.Contains(got, "join") {
		t.Fatalf("session while the swarm has a member: %q", got)
	}
	// Once the peer is a member, sessions with it join nothing.
	s.dialed(t0.Add(5*time.Second), doc, 1, peer, Outcome{}, errors.New("no route"))
	s.take()
	s.gossipEvent(t0.Add(6*time.Second), doc, 1, gossip.NeighborUp{Node: peer})
	s.take()
	s.dialed(t0.Add(7*time.Second), doc, 1, peer, Outcome{Equal: true}, nil)
	if got := render(s.take()); strings.Contains(got, "join") {
		t.Fatalf("session with a member: %q", got)
	}
}

// TestSchedulerAntiEntropy: a document with which no session completed for
// AntiEntropyInterval syncs with a swarm member, though no report showed
// news and nothing was written: reports compare per-author latest
// timestamps, which miss an entry written by the same author on another
// node at a timestamp this node already holds. A completed session puts
// the next one off.
func TestSchedulerAntiEntropy(t *testing.T) {
	s, doc := testSched(selfID)
	every := s.cfg.AntiEntropyInterval
	if every <= 0 {
		t.Fatalf("AntiEntropyInterval %v", every)
	}
	s.antiEntropy(t0.Add(2 * every))
	expectEffects(t, "no member", s, "")
	member := addrOf(lowID, 2)
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: member})
	expectEffects(t, "neighbour", s, "emit(neighbor-up)")
	s.antiEntropy(t0.Add(every / 2))
	expectEffects(t, "too soon", s, "")
	s.antiEntropy(t0.Add(every))
	expectEffects(t, "due", s, "dial(01@2,catch-up)")
	s.dialed(t0.Add(every+time.Second), doc, 1, member, Outcome{Equal: true}, nil)
	s.take()
	s.antiEntropy(t0.Add(2 * every))
	expectEffects(t, "put off by the session", s, "")
	s.antiEntropy(t0.Add(2*every + time.Second))
	expectEffects(t, "due again", s, "dial(01@2,catch-up)")
}

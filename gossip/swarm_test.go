package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/quic-go/quic-go"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

func newTestNodes(t testing.TB, n int, mutate ...func(*Config)) []*testNode {
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newTestNode(t, mutate...)
	}
	return nodes
}

func TestThreeNodesSeeEachOther(t *testing.T) {
	nodes := newTestNodes(t, 3)
	doc := newTestDoc(t)
	swarms, _ := joinAll(t, nodes, doc.id())
	for i, s := range swarms {
		members := s.Members()
		if len(members) != 2 {
			t.Fatalf("node %d has %d members, want 2: %v", i, len(members), members)
		}
		for _, m := range members {
			if m.ID == nodes[i].id() {
				t.Errorf("node %d lists itself", i)
			}
			if len(m.Addrs) == 0 {
				t.Errorf("node %d has no address for %s", i, m.ID.Short())
			}
		}
	}
}

// drained reports whether no swarm has an op left to retransmit or a
// packet on its way out.
func drained(swarms []*Swarm) bool {
	for _, s := range swarms {
		if s.queue.NumQueued() != 0 || len(s.t.slots) != 0 || len(s.inbox) != 0 {
			return false
		}
	}
	return true
}

// Every put reaches every other node exactly once: pushed to all
// neighbours, or, with a fanout smaller than the swarm, pushed to some and
// relayed through gossip to the rest.
func TestPutReachesOthersOnce(t *testing.T) {
	t.Run("push to all", func(t *testing.T) { testPutReachesOthersOnce(t, DefaultEagerFanout, false) })
	t.Run("push to all, queue all", func(t *testing.T) { testPutReachesOthersOnce(t, DefaultEagerFanout, true) })
	t.Run("push to one, relay", func(t *testing.T) { testPutReachesOthersOnce(t, 1, false) })
}

// testPutReachesOthersOnce: with fanout 1 or queueAll the ops are also
// queued for gossip rounds, and copies arrive (and are dropped); when the
// push reaches every member, nothing is queued and no copy arrives.
func testPutReachesOthersOnce(t *testing.T, fanout int, queueAll bool) {
	nodes := newTestNodes(t, 3, func(c *Config) { c.EagerFanout, c.QueueAllOps = fanout, queueAll })
	queued := fanout < 2 || queueAll
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())

	const n = 20
	for i := range n {
		if err := swarms[0].Put(doc.entry(fmt.Sprintf("key-%02d", i), "v")); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	for i, w := range watchers[1:] {
		w.waitFor(t, fmt.Sprintf("node %d to receive every put", i+1), func(evs []Event) bool {
			return countOf[OpPut](evs, nil) >= n
		})
	}
	// Let every gossip retransmission happen, then send a marker through
	// the same path: copies of the puts would have arrived before it.
	eventually(t, "broadcast queues to drain", func() bool { return drained(swarms) })
	if err := swarms[0].ContentReady(replica.HashContent([]byte("marker"))); err != nil {
		t.Fatal(err)
	}
	for i, w := range watchers[1:] {
		w.waitFor(t, fmt.Sprintf("node %d to receive the marker", i+1), func(evs []Event) bool {
			return countOf[OpContentReady](evs, nil) > 0
		})
		evs := w.snapshot()
		for k := range n {
			key := fmt.Sprintf("key-%02d", k)
			if got := putsOf(evs, key); got != 1 {
				t.Errorf("node %d got %d OpPut for %s, want exactly 1", i+1, got, key)
			}
		}
		for _, ev := range evs {
			if p, ok := ev.(OpPut); ok && p.From != nodes[0].id() {
				t.Errorf("node %d: OpPut from %s, want the publisher", i+1, p.From.Short())
			}
		}
		st := swarms[i+1].Stats()
		if st.OpsAccepted != n+1 {
			t.Errorf("node %d accepted %d ops, want %d", i+1, st.OpsAccepted, n+1)
		}
		// Eager pushes and gossip both delivered: the copies were dropped.
		if queued && st.OpsDuplicate == 0 {
			t.Errorf("node %d saw no duplicates; the gossip rounds did not run", i+1)
		}
		if !queued && st.OpsDuplicate != 0 {
			t.Errorf("node %d saw %d duplicates; ops the push sent to everyone were queued", i+1, st.OpsDuplicate)
		}
	}
	if got := countOf[OpPut](watchers[0].snapshot(), nil); got != 0 {
		t.Errorf("the publisher received %d of its own puts", got)
	}
	if st := swarms[0].Stats(); st.OpsPublished != n+1 {
		t.Errorf("OpsPublished = %d, want %d", st.OpsPublished, n+1)
	}
}

func TestSyncReportAndContentReadyDelivered(t *testing.T) {
	nodes := newTestNodes(t, 2)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	heads := replica.Heads{doc.author.ID(): 42, replica.AuthorID{9}: 7}
	if err := swarms[0].SyncReport(heads); err != nil {
		t.Fatal(err)
	}
	h := replica.HashContent([]byte("content"))
	if err := swarms[0].ContentReady(h); err != nil {
		t.Fatal(err)
	}
	watchers[1].waitFor(t, "report and content ready", func(evs []Event) bool {
		return countOf(evs, func(e OpSyncReport) bool {
			return e.From == nodes[0].id() && len(e.Heads) == 2 && e.Heads[doc.author.ID()] == 42
		}) == 1 && countOf(evs, func(e OpContentReady) bool { return e.From == nodes[0].id() && e.Hash == h }) == 1
	})
}

func TestInvalidPutNotDelivered(t *testing.T) {
	nodes := newTestNodes(t, 2)
	doc, otherDoc := newTestDoc(t), newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())

	badSig := doc.entry("bad-signature", "v")
	badSig.AuthorSig[3] ^= 1
	if err := swarms[0].Put(badSig); err != nil {
		t.Fatalf("Put does not verify local entries, but failed: %v", err)
	}
	foreign := otherDoc.entry("other-namespace", "v")
	if err := swarms[0].Put(foreign); !errors.Is(err, ErrWrongDocument) {
		t.Fatalf("Put of another document's entry: err = %v, want ErrWrongDocument", err)
	}
	// A misbehaving node would send it anyway.
	if err := swarms[0].publish(&op{kind: opPut, entry: foreign}, nil); err != nil {
		t.Fatal(err)
	}
	if err := swarms[0].Put(doc.entry("good", "v")); err != nil {
		t.Fatal(err)
	}
	watchers[1].waitFor(t, "the valid put", func(evs []Event) bool { return putsOf(evs, "good") == 1 })
	eventually(t, "both invalid puts to be counted", func() bool { return swarms[1].Stats().OpsInvalid >= 2 })
	evs := watchers[1].snapshot()
	if putsOf(evs, "bad-signature")+putsOf(evs, "other-namespace") != 0 {
		t.Errorf("an invalid put was delivered: %v", evs)
	}
}

func TestOutsiderCannotJoinOrInject(t *testing.T) {
	nodes := newTestNodes(t, 2)
	outsider := newTestNode(t)
	doc, otherDoc := newTestDoc(t), newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())

	// The outsider holds another document only; joining through a member
	// reaches no swarm of that document.
	other := outsider.open(t, otherDoc.id())
	ctx := testContext(t)
	if n, err := other.Join(ctx, []endpoint.NodeAddr{nodes[0].ep.Addr()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("outsider Join = %d, %v; want ErrJoin", n, err)
	}

	// A stream tagged with a topic the member does not serve is reset as
	// soon as its header arrives, whatever follows it.
	conn, err := outsider.ep.Dial(ctx, nodes[0].ep.Addr(), endpoint.ALPNGossip)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged := mustOp(t, &op{kind: opPut, origin: outsider.id(), entry: doc.entry("injected", "v")})
	msg := append(appendHeader(nil, topicOf(otherDoc.id()), kindPacket), 8 /* memberlist userMsg */)
	if _, err := st.Write(append(msg, forged...)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st.SetReadDeadline(time.Now().Add(testTimeout))
	_, err = io.ReadAll(st)
	var streamErr *quic.StreamError
	if !errors.As(err, &streamErr) || streamErr.ErrorCode != codeUnknownTopic {
		t.Fatalf("read after an unknown topic: %v, want a reset with code %d", err, codeUnknownTopic)
	}

	// The members' swarm never heard of the outsider or its op.
	if err := swarms[1].Put(doc.entry("marker", "v")); err != nil {
		t.Fatal(err)
	}
	watchers[0].waitFor(t, "the marker", func(evs []Event) bool { return putsOf(evs, "marker") == 1 })
	for i, w := range watchers {
		evs := w.snapshot()
		if hasUp(evs, outsider.id()) || putsOf(evs, "injected") != 0 {
			t.Errorf("node %d saw the outsider: %v", i, evs)
		}
		for _, m := range swarms[i].Members() {
			if m.ID == outsider.id() {
				t.Errorf("node %d lists the outsider as a member", i)
			}
		}
	}
	if got := other.Members(); len(got) != 0 {
		t.Errorf("the outsider's swarm has members %v", got)
	}
}

func TestOversizeOpCountedNotQueued(t *testing.T) {
	const packetSize = 1024
	small := func(c *Config) { c.PacketSize = packetSize }
	nodes := newTestNodes(t, 2, small)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	budget := swarms[0].cfg.MaxOpSize()

	// The largest op that fits is gossiped: memberlist's queue empties.
	fits := entryOfOpSize(t, doc, "fits-", budget)
	if err := swarms[0].Put(fits); err != nil {
		t.Fatalf("Put of an op of exactly the budget: %v", err)
	}
	eventually(t, "the queue to send the largest op", func() bool { return swarms[0].queue.NumQueued() == 0 })

	tooBig := entryOfOpSize(t, doc, "big-", budget+1)
	err := swarms[0].Put(tooBig)
	if !errors.Is(err, ErrOpTooLarge) {
		t.Fatalf("Put of an op one byte over the budget: err = %v, want ErrOpTooLarge", err)
	}
	if st := swarms[0].Stats(); st.OpsTooLarge != 1 || st.OpsPublished != 1 {
		t.Errorf("stats = %+v, want 1 too large and 1 published", st)
	}
	if n := swarms[0].queue.NumQueued(); n != 0 {
		t.Errorf("the oversize op was queued (%d queued)", n)
	}
	if err := swarms[0].Put(doc.entry("marker", "v")); err != nil {
		t.Fatal(err)
	}
	watchers[1].waitFor(t, "the marker", func(evs []Event) bool { return putsOf(evs, "marker") == 1 })
	evs := watchers[1].snapshot()
	if putsOf(evs, string(fits.Key)) != 1 || putsOf(evs, string(tooBig.Key)) != 0 {
		t.Errorf("want the fitting put delivered and the oversize one not: %v", evs)
	}
}

// entryOfOpSize signs an entry whose Put op encodes to exactly size bytes.
func entryOfOpSize(t *testing.T, doc testDoc, prefix string, size int) replica.SignedEntry {
	t.Helper()
	for n := range size {
		e := doc.entry(prefix+strings.Repeat("k", n), "v")
		if l := opHeaderLen + e.EncodedLen(); l == size {
			return e
		} else if l > size {
			break
		}
	}
	t.Fatalf("no key length gives an op of %d bytes", size)
	return replica.SignedEntry{}
}

func TestLeaveYieldsNeighborDown(t *testing.T) {
	nodes := newTestNodes(t, 3)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := swarms[2].Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	gone := nodes[2].id()
	for i, w := range watchers[:2] {
		w.waitFor(t, fmt.Sprintf("node %d to see the leaver go", i), func(evs []Event) bool {
			return countOf(evs, func(e NeighborDown) bool { return e.Node == gone }) == 1
		})
		for _, m := range swarms[i].Members() {
			if m.ID == gone {
				t.Errorf("node %d still lists the leaver", i)
			}
		}
	}
	if err := swarms[2].Put(doc.entry("late", "v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Leave: err = %v, want ErrClosed", err)
	}
	if _, ok := <-swarms[2].Events(); ok {
		t.Error("Events still open after Leave")
	}
}

// A consumer that never reads costs it events, never the swarm its
// progress: ops keep being processed, memberships keep changing, and the
// consumer learns how much it missed.
func TestSlowConsumerDoesNotBlock(t *testing.T) {
	const buffer = 4
	nodes := newTestNodes(t, 3, func(c *Config) { c.EventBuffer = buffer })
	doc := newTestDoc(t)
	a, b := nodes[0].open(t, doc.id()), nodes[1].open(t, doc.id())
	wa := watch(t, a)
	// Nobody reads b's events.
	ctx := testContext(t)
	if _, err := b.Join(ctx, []endpoint.NodeAddr{nodes[0].ep.Addr()}); err != nil {
		t.Fatal(err)
	}
	wa.waitFor(t, "b to come up", func(evs []Event) bool { return hasUp(evs, nodes[1].id()) })

	const n = 50
	for i := range n {
		if err := a.Put(doc.entry(fmt.Sprintf("k%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "b to process every put", func() bool { return b.Stats().OpsAccepted == n })

	c := nodes[2].open(t, doc.id())
	watch(t, c)
	if _, err := c.Join(ctx, []endpoint.NodeAddr{nodes[0].ep.Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to list c", func() bool {
		for _, m := range b.Members() {
			if m.ID == nodes[2].id() {
				return true
			}
		}
		return false
	})

	// b's buffer held its NeighborUp for a and three puts; the other puts
	// and the NeighborUp for c (announced just after Members lists c) were
	// dropped.
	const dropped = n + 2 - buffer
	eventually(t, fmt.Sprintf("%d dropped events", dropped), func() bool { return b.Stats().EventsDropped == dropped })
	for range buffer {
		<-b.Events()
	}
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	select {
	case ev := <-b.Events():
		if l, ok := ev.(Lagged); !ok || l.Dropped != dropped {
			t.Errorf("after the buffer, got %#v, want Lagged{%d}", ev, dropped)
		}
	case <-timeout.C:
		t.Fatal("no Lagged event once the consumer read")
	}
}

func TestPutCarriesSmallContent(t *testing.T) {
	// Without periodic gossip the content-less copy in the queue cannot
	// arrive before the eager push.
	nodes := newTestNodes(t, 2, func(c *Config) { c.GossipInterval = time.Hour })
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	small := "small value"
	large := string(bytes.Repeat([]byte("x"), DefaultInlineContent+1))
	if err := swarms[0].PutContent(doc.entry("small", small), []byte(small)); err != nil {
		t.Fatal(err)
	}
	if err := swarms[0].PutContent(doc.entry("large", large), []byte(large)); err != nil {
		t.Fatal(err)
	}
	watchers[1].waitFor(t, "both puts", func(evs []Event) bool { return putsOf(evs, "small") == 1 && putsOf(evs, "large") == 1 })
	for _, ev := range watchers[1].snapshot() {
		p, ok := ev.(OpPut)
		if !ok {
			continue
		}
		switch string(p.Entry.Key) {
		case "small":
			if string(p.Content) != small {
				t.Errorf("small put arrived with content %q, want %q", p.Content, small)
			}
		case "large":
			if p.Content != nil {
				t.Errorf("a put over InlineContent carried %d bytes of content", len(p.Content))
			}
		}
	}
}

// TestEagerPushBypassesMemberlist: a published op small enough for a
// datagram goes to a neighbour with an open connection as an op datagram,
// past memberlist; a larger one goes through memberlist.
func TestEagerPushBypassesMemberlist(t *testing.T) {
	nodes := newTestNodes(t, 2, func(c *Config) { c.GossipInterval = time.Hour })
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	eventually(t, "the gossip connection to node 1", func() bool {
		_, ok := nodes[0].ep.Cached(nodes[1].id(), endpoint.ALPNGossip)
		return ok
	})
	small := doc.entry("small", "v")
	large := doc.entry(strings.Repeat("k", 2*DefaultConfig().MaxDatagramPacket), "v")
	var (
		mu    sync.Mutex
		kinds = map[string][]streamKind{}
	)
	hook := func(pkt []byte, datagram bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range []replica.SignedEntry{small, large} {
			if bytes.Contains(pkt, e.Key) {
				k := streamKind(pkt[headerLen-1])
				if !datagram {
					k = 0
				}
				kinds[string(e.Key[:5])] = append(kinds[string(e.Key[:5])], k)
			}
		}
	}
	swarms[0].t.testHookSent.Store(&hook)
	for _, e := range []replica.SignedEntry{small, large} {
		if err := swarms[0].Put(e); err != nil {
			t.Fatal(err)
		}
	}
	watchers[1].waitFor(t, "both puts", func(evs []Event) bool {
		return putsOf(evs, string(small.Key)) == 1 && putsOf(evs, string(large.Key)) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if got := kinds["small"]; len(got) != 1 || got[0] != kindOp {
		t.Errorf("the small put went out as %v, want one op datagram (kind %d)", got, kindOp)
	}
	if got := kinds["kkkkk"]; len(got) != 1 || got[0] == kindOp {
		t.Errorf("the large put went out as %v, want one memberlist packet", got)
	}
}

// TestMemberMetaTeachesEndpoint: the addresses a member states in its
// meta reach the endpoint's address book, so that dials by node id try
// them even where memberlist keeps an older address for the member.
func TestMemberMetaTeachesEndpoint(t *testing.T) {
	n := newTestNode(t)
	s := n.open(t, newTestDoc(t).id())
	d := &delegate{s: s}
	id := endpoint.GenerateSecretKey().Public()
	node := func(ap netip.AddrPort) *memberlist.Node {
		meta, err := encodeMeta(endpoint.NodeAddr{ID: id, Addrs: []netip.AddrPort{ap}})
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: id.String(), Addr: net.IP(ap.Addr().AsSlice()), Port: ap.Port(), Meta: meta}
	}
	first, moved := netip.MustParseAddrPort("192.0.2.1:4433"), netip.MustParseAddrPort("192.0.2.1:5000")
	d.NotifyJoin(node(first))
	if got, ok := n.ep.KnownAddr(id); !ok || !slices.Equal(got.Addrs, []netip.AddrPort{first}) {
		t.Fatalf("after the join the endpoint knows %v, want %v", got, first)
	}
	d.NotifyUpdate(node(moved))
	if got, ok := n.ep.KnownAddr(id); !ok || !slices.Equal(got.Addrs, []netip.AddrPort{moved, first}) {
		t.Fatalf("after the update the endpoint knows %v, want %v first", got, moved)
	}
}

// TestRouterStatsSumSwarmsClosedToo: the router's totals add up its open
// swarms and keep the counts of those that closed.
func TestRouterStatsSumSwarmsClosedToo(t *testing.T) {
	n := newTestNode(t)
	d1, d2 := newTestDoc(t), newTestDoc(t)
	s1, s2 := n.open(t, d1.id()), n.open(t, d2.id())
	// With no members, a Put is queued for later: published all the same.
	for _, err := range []error{s1.Put(d1.entry("a", "v")), s1.Put(d1.entry("b", "v")), s2.Put(d2.entry("a", "v"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := n.r.Stats().OpsPublished; got != 3 {
		t.Fatalf("published %d with both swarms open, want 3", got)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := n.r.Stats().OpsPublished; got != 3 {
		t.Fatalf("published %d after one swarm closed, want 3", got)
	}
	if err := s2.Put(d2.entry("more", "v")); err != nil {
		t.Fatal(err)
	}
	if got := n.r.Stats().OpsPublished; got != 4 {
		t.Fatalf("published %d, want 4", got)
	}
}

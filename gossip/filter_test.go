package gossip

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

// fromPeer is a batch of received ops, all from one made-up sender.
func fromPeer(raws ...[]byte) []received {
	out := make([]received, len(raws))
	for i, raw := range raws {
		out[i] = received{from: endpoint.NodeID{1}, raw: raw}
	}
	return out
}

func newTestFilter(doc replica.NamespaceID, self endpoint.NodeID) *opFilter {
	cfg := DefaultConfig()
	return &opFilter{self: self, doc: doc, limits: cfg.Limits, seen: newSeenSet(16)}
}

func TestFilterDeliversValidOpsOnce(t *testing.T) {
	doc := newTestDoc(t)
	self, peer, other := endpoint.GenerateSecretKey().Public(), endpoint.GenerateSecretKey().Public(), endpoint.GenerateSecretKey().Public()
	f := newTestFilter(doc.id(), self)
	e := doc.entry("k", "v")
	put := mustOp(t, &op{kind: opPut, origin: peer, entry: e})
	// The same entry claimed by another origin is the same Put.
	putRelabelled := mustOp(t, &op{kind: opPut, origin: other, entry: e})
	ready := mustOp(t, &op{kind: opContentReady, origin: peer, hash: e.Hash})
	readyOther := mustOp(t, &op{kind: opContentReady, origin: other, hash: e.Hash})
	own := mustOp(t, &op{kind: opContentReady, origin: self, hash: e.Hash})

	got, counts := f.admit(fromPeer(put, ready, put, putRelabelled, readyOther, own), time.Now())
	if len(got) != 3 || got[0].op.kind != opPut || got[1].op.kind != opContentReady || got[2].op.origin != other {
		t.Fatalf("admitted %d ops, want the put and both content-ready ops in order", len(got))
	}
	if counts.duplicate != 3 || counts.invalid != 0 {
		t.Errorf("counts = %+v, want 3 duplicates", counts)
	}
	// A later batch still knows them.
	if got, _ := f.admit(fromPeer(put, ready), time.Now()); len(got) != 0 {
		t.Errorf("a second delivery admitted %d ops", len(got))
	}
}

// TestFilterRejectsInvalidPuts runs with the filter's cached keys, which
// check small batches, and without, as larger batches are checked.
func TestFilterRejectsInvalidPuts(t *testing.T) {
	t.Run("cached keys", func(t *testing.T) { testFilterRejectsInvalidPuts(t, replica.NewVerifier(2)) })
	t.Run("batch", func(t *testing.T) { testFilterRejectsInvalidPuts(t, nil) })
}

func testFilterRejectsInvalidPuts(t *testing.T, keys *replica.Verifier) {
	doc, otherDoc := newTestDoc(t), newTestDoc(t)
	self, peer := endpoint.GenerateSecretKey().Public(), endpoint.GenerateSecretKey().Public()
	f := newTestFilter(doc.id(), self)
	f.keys = keys

	badSig := doc.entry("bad-sig", "v")
	badSig.AuthorSig[0] ^= 1
	badNsSig := doc.entry("bad-ns-sig", "v")
	badNsSig.NamespaceSig[5] ^= 1
	future := testutil.MustSign(doc.ns, doc.author, replica.Entry{Key: []byte("future"), Record: replica.Record{
		Hash: replica.HashContent([]byte("v")), Len: 1, Timestamp: uint64(time.Now().Add(time.Hour).UnixMicro()),
	}})
	good := doc.entry("good", "v")

	batch := [][]byte{
		mustOp(t, &op{kind: opPut, origin: peer, entry: badSig}),
		mustOp(t, &op{kind: opPut, origin: peer, entry: otherDoc.entry("other-namespace", "v")}),
		mustOp(t, &op{kind: opPut, origin: peer, entry: good}),
		mustOp(t, &op{kind: opPut, origin: peer, entry: badNsSig}),
		mustOp(t, &op{kind: opPut, origin: peer, entry: future}),
		{opVersion, byte(opPut)},
	}
	got, counts := f.admit(fromPeer(batch...), time.Now())
	if len(got) != 1 || string(got[0].op.entry.Key) != "good" {
		t.Fatalf("admitted %d ops, want only the good put", len(got))
	}
	if counts.invalid != 5 {
		t.Errorf("invalid = %d, want 5", counts.invalid)
	}

	// A forged copy that arrives first does not hide the genuine entry.
	genuine := doc.entry("raced", "v")
	forged := genuine
	forged.NamespaceSig[0] ^= 1
	got, _ = f.admit(fromPeer(mustOp(t, &op{kind: opPut, origin: peer, entry: forged})), time.Now())
	if len(got) != 0 {
		t.Fatal("forged put admitted")
	}
	got, _ = f.admit(fromPeer(mustOp(t, &op{kind: opPut, origin: peer, entry: genuine})), time.Now())
	if len(got) != 1 {
		t.Fatal("the genuine put was dropped after a forged copy")
	}
}

func TestSeenSetForgetsOldest(t *testing.T) {
	s := newSeenSet(3)
	for i := range byte(3) {
		if !s.add([32]byte{i}) {
			t.Fatalf("key %d reported as seen", i)
		}
	}
	if s.add([32]byte{1}) {
		t.Fatal("a remembered key was added again")
	}
	s.add([32]byte{3}) // evicts 0
	if s.contains([32]byte{0}) || !s.contains([32]byte{1}) || !s.contains([32]byte{3}) {
		t.Fatal("eviction did not drop exactly the oldest key")
	}
	if len(s.keys) != 3 {
		t.Fatalf("holds %d keys, capacity 3", len(s.keys))
	}
}

func TestMembershipChanges(t *testing.T) {
	a := endpoint.NodeAddr{ID: endpoint.NodeID{1}, Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}}
	b := endpoint.NodeAddr{ID: endpoint.NodeID{2}, Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2")}}
	bMoved := endpoint.NodeAddr{ID: b.ID, Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:3")}}
	c := endpoint.NodeAddr{ID: endpoint.NodeID{3}, Addrs: a.Addrs}
	before := map[endpoint.NodeID]endpoint.NodeAddr{a.ID: a, b.ID: b}
	current := map[endpoint.NodeID]endpoint.NodeAddr{b.ID: bMoved, c.ID: c}
	up, down := membershipChanges(before, current)
	if len(up) != 2 || up[0].ID != b.ID || up[1].ID != c.ID || !slices.Equal(up[0].Addrs, bMoved.Addrs) {
		t.Errorf("up = %v, want b (moved) and c", up)
	}
	if len(down) != 1 || down[0] != a.ID {
		t.Errorf("down = %v, want a", down)
	}
	if up, down := membershipChanges(current, current); len(up)+len(down) != 0 {
		t.Errorf("no change reported %v up, %v down", up, down)
	}
}

// Receiving an op never waits: with the inbox full, ops are dropped and
// counted.
func TestReceiveOpNeverBlocks(t *testing.T) {
	s := &Swarm{inbox: make(chan received, 1)}
	sender := endpoint.GenerateSecretKey().Public()
	s.receiveOp(sender, []byte("op"))
	s.receiveOp(sender, []byte("X"))
	if got := s.Stats().InboxDropped; got != 1 {
		t.Errorf("InboxDropped = %d, want 1", got)
	}
	if got := <-s.inbox; string(got.raw) != "op" || got.from != sender {
		t.Errorf("queued %q from %s, want the first op from its sender", got.raw, got.from.Short())
	}
	// memberlist's callback drops what reaches it: it does not say who
	// sent it.
	(&delegate{s: s}).NotifyMsg([]byte("op"))
	if st := s.Stats(); st.OpsInvalid != 1 || len(s.inbox) != 0 {
		t.Errorf("NotifyMsg queued an op, or did not count it: %+v", st)
	}
}

func TestFilterPutWithContent(t *testing.T) {
	doc := newTestDoc(t)
	self, peer := endpoint.GenerateSecretKey().Public(), endpoint.GenerateSecretKey().Public()
	f := newTestFilter(doc.id(), self)
	e := doc.entry("k", "some content")
	withContent := mustOp(t, &op{kind: opPutContent, origin: peer, entry: e, content: []byte("some content")})
	plain := mustOp(t, &op{kind: opPut, origin: peer, entry: e})

	got, counts := f.admit(fromPeer(withContent, plain), time.Now())
	if len(got) != 1 || counts.duplicate != 1 {
		t.Fatalf("admitted %d ops with %d duplicates, want the entry once", len(got), counts.duplicate)
	}
	ev, ok := got[0].event().(OpPut)
	if !ok || string(ev.Content) != "some content" || string(ev.Entry.Key) != "k" {
		t.Fatalf("event = %#v, want the put with its content", got[0].event())
	}
	// A relay passes the entry on without the content.
	relayed, err := decodeOp(got[0].relayBytes(), 4096)
	if err != nil || relayed.kind != opPut || relayed.origin != peer || relayed.content != nil {
		t.Fatalf("relayed op: kind %d, origin %v, %d content bytes, err %v; want a plain put from the origin", relayed.kind, relayed.origin, len(relayed.content), err)
	}

	// A copy whose content was swapped is refused and does not hide the
	// genuine op.
	e2 := doc.entry("k2", "genuine")
	forged := mustOp(t, &op{kind: opPutContent, origin: peer, entry: e2, content: []byte("genuine")})
	forged[len(forged)-1] ^= 1
	genuine := mustOp(t, &op{kind: opPutContent, origin: peer, entry: e2, content: []byte("genuine")})
	got, counts = f.admit(fromPeer(forged, genuine), time.Now())
	if len(got) != 1 || counts.invalid != 1 || string(got[0].op.content) != "genuine" {
		t.Fatalf("admitted %d ops (%d invalid), want the genuine one", len(got), counts.invalid)
	}
}

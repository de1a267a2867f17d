package gossip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// sendPacketAs sends ops, with origin as their claimed origin, to member
// to in one memberlist packet through from's transport.
func sendPacketAs(t *testing.T, from *Swarm, to endpoint.NodeID, origin endpoint.NodeID, ops ...*op) {
	t.Helper()
	var raws [][]byte
	for _, o := range ops {
		o.origin = origin
		raw, err := appendOp(nil, o)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	from.mu.Lock()
	m, ok := from.members[to]
	from.mu.Unlock()
	if !ok {
		t.Fatalf("%s is not a member", to.Short())
	}
	pkt := appendUserMsg(nil, raws[0])
	if len(raws) > 1 {
		pkt = appendCompound(nil, raws)
	}
	addr := memberlist.Address{Addr: m.node.Address(), Name: m.node.Name}
	if _, err := from.t.WriteToAddress(pkt, addr); err != nil {
		t.Fatalf("WriteToAddress: %v", err)
	}
}

// TestOpsCarryTheirSender: an op's event names the node that handed it
// over, as its connection proves, whatever origin the op claims, whether
// it came in a memberlist packet or as an eager push.
func TestOpsCarryTheirSender(t *testing.T) {
	nodes := newTestNodes(t, 2)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	forged := endpoint.GenerateSecretKey().Public()

	sendPacketAs(t, swarms[0], nodes[1].id(), forged, &op{kind: opSyncReport, heads: replica.Heads{doc.author.ID(): 1}})
	eventually(t, "the gossip connection to node 1", func() bool {
		_, ok := nodes[0].ep.Cached(nodes[1].id(), endpoint.ALPNGossip)
		return ok
	})
	raw := mustOp(t, &op{kind: opContentReady, origin: forged, hash: replica.Hash{1}})
	if !swarms[0].t.sendOp(nodes[1].id(), raw) {
		t.Fatal("sendOp could not send")
	}
	watchers[1].waitFor(t, "the report and the announcement", func(evs []Event) bool {
		return countOf[OpSyncReport](evs, nil) == 1 && countOf[OpContentReady](evs, nil) == 1
	})
	for _, ev := range watchers[1].snapshot() {
		switch ev := ev.(type) {
		case OpSyncReport:
			if ev.From != forged || ev.Sender != nodes[0].id() {
				t.Errorf("report from %s sent by %s, want from %s sent by %s", ev.From.Short(), ev.Sender.Short(), forged.Short(), nodes[0].id().Short())
			}
		case OpContentReady:
			if ev.From != forged || ev.Sender != nodes[0].id() {
				t.Errorf("announcement from %s sent by %s, want from %s sent by %s", ev.From.Short(), ev.Sender.Short(), forged.Short(), nodes[0].id().Short())
			}
		}
	}
}

// TestFloodDroppedBeforeVerification: a member that floods forged puts
// gets its budget's worth checked; the rest are dropped as they arrive,
// before their signatures are checked, and counted.
func TestFloodDroppedBeforeVerification(t *testing.T) {
	const burst, packets, perPacket = 50, 10, 50
	attacker := newTestNode(t, func(c *Config) { c.MaxDatagramPacket = -1 }) // streams: nothing lost
	victim := newTestNode(t, func(c *Config) { c.PeerOpBurst, c.PeerOpRate = burst, 1 })
	doc := newTestDoc(t)
	swarms, _ := joinAll(t, []*testNode{attacker, victim}, doc.id())

	for p := range packets {
		var ops []*op
		for i := range perPacket {
			e := doc.entry(fmt.Sprintf("forged-%d-%d", p, i), "v")
			e.AuthorSig[0] ^= 1
			ops = append(ops, &op{kind: opPut, entry: e})
		}
		sendPacketAs(t, swarms[0], victim.id(), endpoint.GenerateSecretKey().Public(), ops...)
	}
	const sent = packets * perPacket
	eventually(t, "every forged put to be handled", func() bool {
		st := swarms[1].Stats()
		return st.OpsInvalid+st.OpsPeerLimited+st.OpsNodeLimited >= sent
	})
	st := swarms[1].Stats()
	// The bucket refills at 1 op/s while the test runs: a few more than
	// the burst may get through.
	refill := uint64(testTimeout.Seconds())
	if st.OpsInvalid > burst+refill || st.OpsPeerLimited < sent-burst-refill {
		t.Fatalf("of %d forged puts, %d were checked and %d dropped by the sender's budget (burst %d)", sent, st.OpsInvalid, st.OpsPeerLimited, burst)
	}
	if got := victim.r.Stats().OpsPeerLimited; got != st.OpsPeerLimited {
		t.Errorf("router counts %d dropped, swarm %d", got, st.OpsPeerLimited)
	}
}

// TestSplitOps: the ops of a received packet are taken out, wherever
// memberlist would find them, and the rest is left for memberlist; a
// packet that could hide ops from the budget is dropped whole.
func TestSplitOps(t *testing.T) {
	ping := []byte{0, 'p', 'i', 'n', 'g'} // memberlist's pingMsg, body elided
	alive := []byte{4, 'a'}               // aliveMsg
	op1, op2 := []byte("op-1"), []byte("op-2")
	withCRC := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint32([]byte{mlHasCrcMsg}, crc32.ChecksumIEEE(b)), b...)
	}
	str := func(bs [][]byte) string { return fmt.Sprintf("%q", bs) }
	for _, tc := range []struct {
		name string
		pkt  []byte
		ops  string
		rest []byte
		ok   bool
	}{
		{"one op", appendUserMsg(nil, op1), str([][]byte{op1}), nil, true},
		{"ops only", appendCompound(nil, [][]byte{op1, op2}), str([][]byte{op1, op2}), nil, true},
		{"no op", ping, str(nil), ping, true},
		{"ping and ops", appendCompoundMsgs(nil, [][]byte{ping, appendUserMsg(nil, op1), appendUserMsg(nil, op2)}),
			str([][]byte{op1, op2}), ping, true},
		{"two others and an op", appendCompoundMsgs(nil, [][]byte{ping, appendUserMsg(nil, op1), alive}),
			str([][]byte{op1}), appendCompoundMsgs(nil, [][]byte{ping, alive}), true},
		{"nested", appendCompoundMsgs(nil, [][]byte{ping, appendCompound(nil, [][]byte{op1, op2})}),
			str([][]byte{op1, op2}), ping, true},
		{"checksummed", withCRC(appendCompoundMsgs(nil, [][]byte{ping, appendUserMsg(nil, op1)})),
			str([][]byte{op1}), ping, true},
		{"bad checksum", func() []byte { b := withCRC(appendUserMsg(nil, op1)); b[1] ^= 1; return b }(), str(nil), nil, false},
		{"compressed", []byte{mlCompressMsg, 1, 2, 3}, str(nil), nil, false},
		{"compressed in a compound", appendCompoundMsgs(nil, [][]byte{ping, {mlCompressMsg, 1}}), str(nil), nil, false},
		{"labelled", []byte{mlHasLabelMsg, 1, 'x', mlUserMsg, 'o'}, str(nil), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, rest, ok := splitOps(tc.pkt)
			if str(ops) != tc.ops || !bytes.Equal(rest, tc.rest) || ok != tc.ok {
				t.Errorf("splitOps = %s, %q, %v; want %s, %q, %v", str(ops), rest, ok, tc.ops, tc.rest, tc.ok)
			}
		})
	}
}

// TestRateLimiter: each sender has its own bucket, which refills at its
// rate; all share the node's; and the limiter tracks at most
// MaxRateLimitedPeers senders.
func TestRateLimiter(t *testing.T) {
	cfg := Config{PeerOpRate: 10, PeerOpBurst: 5, NodeOpRate: 100, NodeOpBurst: 8, MaxRateLimitedPeers: 16}.withDefaults()
	l := newRateLimiter(cfg)
	a, b := endpoint.NodeID{1}, endpoint.NodeID{2}
	count := func(id endpoint.NodeID, n int, now time.Time) (got [3]int) {
		for range n {
			got[l.allow(id, now)]++
		}
		return got
	}
	if got := count(a, 7, t0); got != [3]int{5, 2, 0} {
		t.Fatalf("a's burst: allowed, peer-limited, node-limited = %v, want [5 2 0]", got)
	}
	// b has a full bucket, but the node's has 3 tokens left.
	if got := count(b, 5, t0); got != [3]int{3, 0, 2} {
		t.Fatalf("b against the node's budget: %v, want [3 0 2]", got)
	}
	// 100ms later a has one more token and the node ten.
	if got := count(a, 3, t0.Add(100*time.Millisecond)); got != [3]int{1, 2, 0} {
		t.Fatalf("a after 100ms: %v, want [1 2 0]", got)
	}
	for i := range 1000 {
		l.allow(endpoint.NodeID{byte(i), byte(i >> 8), 9}, t0.Add(time.Hour))
	}
	if got := l.tracked(); got != cfg.MaxRateLimitedPeers {
		t.Fatalf("tracks %d senders, want at most %d", got, cfg.MaxRateLimitedPeers)
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestMembersBounded: a swarm admits at most MaxMembers other members;
// alive messages for more are refused and counted.
func TestMembersBounded(t *testing.T) {
	const maxMembers = 2
	hub := newTestNode(t, func(c *Config) { c.MaxMembers = maxMembers })
	others := newTestNodes(t, 4)
	doc := newTestDoc(t)
	s := hub.open(t, doc.id())
	ctx := testContext(t)
	for _, n := range others {
		// A refused joiner's Join may still succeed: the hub answers its
		// push/pull before refusing it.
		n.open(t, doc.id()).Join(ctx, []endpoint.NodeAddr{hub.ep.Addr()})
	}
	eventually(t, "alive messages to be refused", func() bool { return s.Stats().MembersRefused >= 2 })
	if got := len(s.Members()); got > maxMembers {
		t.Fatalf("the hub has %d members, want at most %d", got, maxMembers)
	}
	if got := hub.r.Stats().MembersRefused; got < 2 {
		t.Errorf("router counts %d refusals", got)
	}
}

// TestFilterChargesNewOpsOnly: duplicates take no token from the budget;
// an op over its sender's budget is not marked seen, so the same op from
// another sender is still taken.
func TestFilterChargesNewOpsOnly(t *testing.T) {
	doc := newTestDoc(t)
	f := newTestFilter(doc.id(), endpoint.NodeID{9})
	f.limiter = newRateLimiter(Config{PeerOpRate: 1, PeerOpBurst: 2}.withDefaults())
	a, b := endpoint.NodeID{1}, endpoint.NodeID{2}
	op := func(key string) []byte {
		return mustOp(t, &op{kind: opPut, origin: a, entry: doc.entry(key, "v")})
	}
	op1, op2, op3 := op("k1"), op("k2"), op("k3")
	from := func(id endpoint.NodeID, raws ...[]byte) []received {
		out := make([]received, len(raws))
		for i, raw := range raws {
			out[i] = received{from: id, raw: raw}
		}
		return out
	}
	now := time.Now()
	got, counts := f.admit(from(a, op1, op1, op1, op2, op3), now)
	if len(got) != 2 || counts.duplicate != 2 || counts.peerLimited != 1 {
		t.Fatalf("admitted %d, counts %+v; want 2 admitted, 2 duplicates, 1 over budget", len(got), counts)
	}
	got, counts = f.admit(from(b, op3), now)
	if len(got) != 1 || counts.duplicate != 0 {
		t.Fatalf("op 3 from another sender: admitted %d, counts %+v; want it admitted", len(got), counts)
	}
}

package gossip

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/docsnode/docsnode/endpoint"
)

// quiet turns memberlist's probes and push/pulls off in effect, so that
// only the swarm's own gossip rounds spread ops and membership.
func quiet(c *Config) {
	c.ProbeInterval = time.Hour
	c.PushPullInterval = time.Hour
}

// sendRaw sends op to member to as memberlist's packet of one user
// message, through from's transport.
func sendRaw(t *testing.T, from *Swarm, to endpoint.NodeID, o *op) {
	t.Helper()
	o.origin = from.self
	raw, err := appendOp(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	from.mu.Lock()
	m, ok := from.members[to]
	from.mu.Unlock()
	if !ok {
		t.Fatalf("%s is not a member", to.Short())
	}
	addr := memberlist.Address{Addr: m.node.Address(), Name: m.node.Name}
	if _, err := from.t.WriteToAddress(appendUserMsg(nil, raw), addr); err != nil {
		t.Fatalf("WriteToAddress: %v", err)
	}
}

// Packets that fit travel in datagrams; larger ones, and every packet when
// datagrams are off, on streams of their own. Both arrive.
func TestPacketsByDatagramOrStream(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxDatagram int
		key         string
		datagram    bool
	}{
		{"small in a datagram", 0, "small", true},
		{"large on a stream", 0, strings.Repeat("k", 2000), false},
		{"small on a stream when datagrams are off", -1, "small", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newTestNodes(t, 2, quiet, func(c *Config) { c.MaxDatagramPacket = tc.maxDatagram })
			doc := newTestDoc(t)
			swarms, watchers := joinAll(t, nodes, doc.id())
			e := doc.entry(tc.key, "v")
			var (
				mu  sync.Mutex
				how []bool // how each packet holding e's key went
			)
			hook := func(pkt []byte, datagram bool) {
				if bytes.Contains(pkt, e.Key) {
					mu.Lock()
					how = append(how, datagram)
					mu.Unlock()
				}
			}
			swarms[0].t.testHookSent.Store(&hook)

			sendRaw(t, swarms[0], nodes[1].id(), &op{kind: opPut, entry: e})
			watchers[1].waitFor(t, "the put", func(evs []Event) bool { return putsOf(evs, tc.key) == 1 })
			mu.Lock()
			defer mu.Unlock()
			if len(how) != 1 || how[0] != tc.datagram {
				t.Errorf("the put went out %d times, in a datagram: %v; want once, %v", len(how), how, tc.datagram)
			}
		})
	}
}

// An op that is only queued, not pushed, reaches the other members by the
// gossip rounds; once it has been sent its number of times, the loop stops
// and no timer is left running.
func TestGossipRoundsSpreadQueuedOps(t *testing.T) {
	nodes := newTestNodes(t, 3, quiet)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())
	eventually(t, "the membership rounds to end", func() bool { return !swarms[0].gossipArmed.Load() })

	o := &op{kind: opPut, origin: swarms[0].self, entry: doc.entry("queued", "v")}
	raw, err := appendOp(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	swarms[0].enqueue(raw)
	for i, w := range watchers[1:] {
		w.waitFor(t, fmt.Sprintf("node %d to receive the queued put", i+1), func(evs []Event) bool { return putsOf(evs, "queued") == 1 })
	}
	eventually(t, "the queue to empty and the loop to stop", func() bool {
		return swarms[0].queue.NumQueued() == 0 && !swarms[0].gossipArmed.Load()
	})
}

// With probes and push/pulls off, a member that joins through one node
// becomes known to the others by the membership rounds alone, and a Leave
// completes and is seen the same way.
func TestMembershipRoundsSpreadJoinAndLeave(t *testing.T) {
	nodes := newTestNodes(t, 3, quiet)
	doc := newTestDoc(t)
	swarms, watchers := joinAll(t, nodes, doc.id())

	// joinAll joined nodes 1 and 2 to node 0 only: nodes 1 and 2 learnt
	// of each other from node 0's rounds or each other's. Now node 2
	// leaves.
	ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
	defer cancel()
	if err := swarms[2].Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	gone := nodes[2].id()
	for i, w := range watchers[:2] {
		w.waitFor(t, fmt.Sprintf("node %d to see the leaver go", i), func(evs []Event) bool {
			return countOf(evs, func(e NeighborDown) bool { return e.Node == gone }) == 1
		})
	}
}

func TestPackOps(t *testing.T) {
	s := &Swarm{cfg: Config{MaxDatagramPacket: 100, PacketSize: 1000}}
	op := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	for _, tc := range []struct {
		name  string
		ops   [][]byte
		sizes []int // of the packets
	}{
		{"none", nil, nil},
		{"one alone is a plain user message", [][]byte{op(10)}, []int{11}},
		{"two share a compound", [][]byte{op(10), op(20)}, []int{2 + 3 + 10 + 3 + 20}},
		// 2 + 3×(30+3) = 101 > 100: the third starts a new packet.
		{"a full packet starts another", [][]byte{op(30), op(30), op(30)}, []int{2 + 2*33, 31}},
		{"one too large for a datagram goes alone", [][]byte{op(10), op(500), op(10)}, []int{501, 2 + 2*13}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.packOps(tc.ops)
			var sizes []int
			var n int
			for _, p := range got {
				sizes = append(sizes, len(p))
				switch p[0] {
				case mlUserMsg:
					n++
				case mlCompoundMsg:
					n += int(p[1])
				default:
					t.Fatalf("packet of type %d", p[0])
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) || n != len(tc.ops) {
				t.Errorf("packets of %v bytes holding %d ops, want %v holding %d", sizes, n, tc.sizes, len(tc.ops))
			}
		})
	}
}

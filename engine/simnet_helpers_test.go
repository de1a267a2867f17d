package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"

	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// This file holds the harness of the simulated-network tests (sim_test.go):
// engines whose endpoints talk over quic-go's simnet inside a
// testing/synctest bubble. Time is virtual: it moves only when every
// goroutine of the bubble is blocked, so latencies and timeouts cost no
// wall-clock time and a test that waits a virtual minute takes as long as
// the work done in it.

// partitionRouter is a simnet.Router that drops every packet between
// nodes of different groups while a partition is in place. Packets already
// on a link when the partition starts are still delivered, as they would
// be on a real network.
type partitionRouter struct {
	simnet.PerfectRouter

	mu     sync.Mutex
	group  map[string]int // node address → group; nil: no partition
	oneWay bool           // drop only from lower to higher groups
	drops  int
	faults packetFaults
}

// packetFaults are the faults a router applies to every packet that no
// partition drops: it loses one with probability loss, and delivers one
// twice with probability dup. The zero value applies none. rng draws the
// faults; the order in which packets reach it depends on the scheduling of
// the bubble's goroutines, so only the rates are reproducible.
type packetFaults struct {
	rng       *rand.Rand
	loss, dup float64
}

// setFaults replaces the packet faults; the zero value removes them.
func (r *partitionRouter) setFaults(f packetFaults) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = f
}

// partition splits the network: a node in one group cannot reach a node in
// another. Nodes not listed form group 0.
func (r *partitionRouter) partition(groups ...[]net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.group = make(map[string]int)
	r.oneWay = false
	for i, g := range groups {
		for _, a := range g {
			r.group[a.String()] = i + 1
		}
	}
}

// partitionOneWay is partition, except that packets still go from a group
// to the groups listed before it: a link that fails in one direction.
func (r *partitionRouter) partitionOneWay(groups ...[]net.Addr) {
	r.partition(groups...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.oneWay = true
}

// heal removes the partition.
func (r *partitionRouter) heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.group = nil
}

func (r *partitionRouter) dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drops
}

func (r *partitionRouter) SendPacket(p simnet.Packet) error {
	r.mu.Lock()
	cut := false
	if r.group != nil {
		from, to := r.group[p.From.String()], r.group[p.To.String()]
		cut = from != to && (!r.oneWay || from < to)
	}
	twice := false
	if !cut && r.faults.rng != nil {
		cut = r.faults.rng.Float64() < r.faults.loss
		twice = r.faults.rng.Float64() < r.faults.dup
	}
	if cut {
		r.drops++
	}
	r.mu.Unlock()
	if cut {
		return nil // lost, as on a real network: the sender is not told
	}
	if twice {
		// The receiver copies a packet's bytes out, so both deliveries
		// may share them.
		if err := r.PerfectRouter.SendPacket(p); err != nil {
			return err
		}
	}
	return r.PerfectRouter.SendPacket(p)
}

// simNetwork is one simulated network. Each node address gets its own link
// (a fixed one-way latency on the receiving side); a node that restarts
// gets a fresh link and connection at the same address.
type simNetwork struct {
	router  *partitionRouter
	latency time.Duration // the least one-way latency
	links   []*simnet.SimulatedLink

	// jitter, when set, adds up to jitter more to each packet's latency,
	// drawn by jitterRng, which reorders the packets of a path.
	jitterMu  sync.Mutex
	jitter    time.Duration
	jitterRng *rand.Rand
}

// setJitter sets the jitter (0: none), drawn from rng.
func (n *simNetwork) setJitter(jitter time.Duration, rng *rand.Rand) {
	n.jitterMu.Lock()
	defer n.jitterMu.Unlock()
	n.jitter, n.jitterRng = jitter, rng
}

func newSimNetwork(latency time.Duration) *simNetwork {
	return &simNetwork{router: &partitionRouter{}, latency: latency}
}

// simAddr is node i's address. simnet routes on the raw IP bytes and the
// endpoint dials the 4-byte form of an IPv4 address, so use that form.
func simAddr(i int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(10, 0, byte(i/250), byte(1+i%250)).To4(), Port: 7000}
}

// conn returns a packet connection at addr, replacing any earlier one at
// the same address. The endpoint that takes it closes it; the link is
// stopped by close.
func (n *simNetwork) conn(addr *net.UDPAddr) *simnet.SimConn {
	link := &simnet.SimulatedLink{LatencyFunc: n.linkLatency, UploadPacket: n.router}
	c := simnet.NewBlockingSimConn(addr, link)
	// Started before the router knows it: a packet for addr may come at
	// once (a peer of a restarted node still sends to it), and the link
	// has no queues before Start.
	link.Start()
	n.router.AddNode(addr, link)
	n.links = append(n.links, link)
	return c
}

// linkLatency is the one-way latency of a packet: the network's least
// latency plus up to twice that more, fixed per (sender, receiver) pair so
// that the paths differ but packets of one path keep their order.
func (n *simNetwork) linkLatency(p simnet.Packet) time.Duration {
	from, _ := p.From.(*net.UDPAddr)
	to, _ := p.To.(*net.UDPAddr)
	if from == nil || to == nil || len(from.IP) == 0 || len(to.IP) == 0 {
		return n.latency
	}
	spread := int(from.IP[len(from.IP)-1])*7 + int(to.IP[len(to.IP)-1])*13
	d := n.latency + n.latency*time.Duration(spread%9)/4
	n.jitterMu.Lock()
	if n.jitter > 0 {
		d += time.Duration(n.jitterRng.Int64N(int64(n.jitter)))
	}
	n.jitterMu.Unlock()
	return d
}

func (n *simNetwork) close() {
	for _, l := range n.links {
		l.Close()
	}
}

// simNode is one engine of a cluster and what it needs to restart.
type simNode struct {
	i    int
	addr *net.UDPAddr
	cfg  Config // with PacketConn cleared
	e    *Engine
	conn *simnet.SimConn // e's, until it closes
}

// simCluster is n engines on one simulated network.
type simCluster struct {
	t     *testing.T
	net   *simNetwork
	nodes []*simNode
}

// simConfig is the engine profile of the simulated tests: TestConfig with
// each node's key fixed, so that a restart keeps the id even in memory.
func simConfig() Config {
	cfg := TestConfig()
	// A node of an n-node swarm holds up to 4(n-1) connections: gossip and
	// sync, dialled and accepted. TestConfig's 64 is too few for 20 nodes.
	cfg.Endpoint.MaxConns = 256
	// Virtual time makes every tick cost real CPU and nothing else: gossip
	// and probe less often than TestConfig (latencies here are exact, so
	// probes need no slack for a busy machine), and keep connections
	// alive less often.
	cfg.Gossip.GossipInterval = 100 * time.Millisecond
	cfg.Gossip.ProbeInterval = 500 * time.Millisecond
	cfg.Gossip.ProbeTimeout = 200 * time.Millisecond
	cfg.Endpoint.KeepAlivePeriod = 2 * time.Second
	return cfg
}

// newSimCluster opens n engines on a fresh network with the given one-way
// latency. tweak, if not nil, adjusts each node's config (for example a
// DataDir). Close the cluster before the bubble ends.
func newSimCluster(t *testing.T, n int, latency time.Duration, tweak func(i int, cfg *Config)) *simCluster {
	t.Helper()
	c := &simCluster{t: t, net: newSimNetwork(latency)}
	for i := range n {
		cfg := simConfig()
		if tweak != nil {
			tweak(i, &cfg)
		}
		node := &simNode{i: i, addr: simAddr(i), cfg: cfg}
		c.nodes = append(c.nodes, node)
		c.start(node)
	}
	return c
}

// start opens node's engine on a fresh connection at its address.
func (c *simCluster) start(node *simNode) {
	c.t.Helper()
	cfg := node.cfg
	node.conn = c.net.conn(node.addr)
	cfg.Endpoint.PacketConn = node.conn
	e, err := Open(c.t.Context(), cfg)
	if err != nil {
		c.t.Fatalf("open node %d: %v", node.i, err)
	}
	node.e = e
}

// stop closes node's engine.
func (c *simCluster) stop(node *simNode) {
	c.t.Helper()
	if node.e == nil {
		return
	}
	if err := node.e.Close(); err != nil {
		c.t.Errorf("close node %d: %v", node.i, err)
	}
	node.e = nil
}

// memberlistLinger is how long memberlist's goroutines may outlive its
// Shutdown: a probe under way waits for its ack timer (ProbeInterval,
// scaled up to 8 times by memberlist's health awareness) and memberlist
// offers no way to cancel or join it. synctest.Test fails when goroutines
// remain once its function returns, and virtual time stops then, so the
// harness lets this much virtual time pass after the engines are closed.
const memberlistLinger = 30 * time.Second

// close closes every engine, then the network, then lets memberlist's
// last timers fire. Every goroutine of the bubble must have returned
// afterwards, or synctest.Test fails.
func (c *simCluster) close() {
	for _, node := range c.nodes {
		c.stop(node)
	}
	time.Sleep(memberlistLinger)
	c.net.close()
}

// addrs lists the nodes' network addresses.
func (c *simCluster) addrs(nodes ...*simNode) []net.Addr {
	out := make([]net.Addr, len(nodes))
	for i, n := range nodes {
		out[i] = n.addr
	}
	return out
}

// shareDoc creates a document on node 0 and imports its write ticket on
// every other node, each joining through node 0. It returns each node's
// handle on the document, in node order.
func (c *simCluster) shareDoc() []*Doc {
	c.t.Helper()
	ctx := c.t.Context()
	doc0, err := c.nodes[0].e.Docs().Create(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	tk, err := doc0.Share(ctx, ShareWrite)
	if err != nil {
		c.t.Fatal(err)
	}
	docs := []*Doc{doc0}
	for _, n := range c.nodes[1:] {
		d, err := n.e.Docs().Import(ctx, tk)
		if err != nil {
			c.t.Fatalf("node %d imports: %v", n.i, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// simWrite writes n entries with author at keys prefix-000 …, each with a
// value unique to the call, and returns them. It may run on any goroutine:
// it reports a failure with Errorf and stops.
func simWrite(t *testing.T, d *Doc, author replica.Author, prefix string, n int) []replica.SignedEntry {
	t.Helper()
	var out []replica.SignedEntry
	for i := range n {
		key := fmt.Appendf(nil, "%s-%03d", prefix, i)
		se, err := d.Set(t.Context(), author, key, fmt.Appendf(nil, "%s=%d@%v", key, i, time.Now()))
		if err != nil {
			t.Errorf("set %s: %v", key, err)
			return out
		}
		out = append(out, se)
	}
	return out
}

// holdsLatest fails unless snap holds each entry of want, by author, key,
// hash and timestamp.
func holdsLatest(t *testing.T, who string, snap []simEntry, want []replica.SignedEntry) {
	t.Helper()
	for _, w := range want {
		e := simEntry{author: w.Author, key: string(w.Key), hash: w.Hash, timestamp: w.Timestamp}
		if !slices.Contains(snap, e) {
			t.Fatalf("%s lacks the latest write of %q", who, w.Key)
		}
	}
}

// simEntry is what two nodes must agree on about one entry.
type simEntry struct {
	author    replica.AuthorID
	key       string
	hash      replica.Hash
	timestamp uint64
}

// snapshot is the full query result of d, in the query's order.
func snapshot(t *testing.T, d *Doc) []simEntry {
	t.Helper()
	var out []simEntry
	for e, err := range d.Query(t.Context(), replica.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, simEntry{author: e.Author, key: string(e.Key), hash: e.Hash, timestamp: e.Timestamp})
	}
	return out
}

// converged returns once every doc holds exactly the same want entries
// (authors, keys, hashes and timestamps). It checks whenever the bubble
// is idle after an event on any of the docs, and fails the test after
// timeout of virtual time.
func converged(t *testing.T, docs []*Doc, want int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	kick, stop := kickOnEvents(t, ctx, docs)
	defer stop()
	for {
		// Checked after subscribing, so no insert falls between a check
		// and the wait; and once the bubble is idle, so that one check
		// covers a burst of events.
		synctest.Wait()
		first := snapshot(t, docs[0])
		state := ""
		if len(first) != want {
			state = fmt.Sprintf("node 0 holds %d entries", len(first))
		}
		for i, d := range docs[1:] {
			if state != "" {
				break
			}
			if got := snapshot(t, d); !slices.Equal(got, first) {
				state = fmt.Sprintf("node %d holds %d entries that differ from node 0's %d", i+1, len(got), len(first))
			}
		}
		if state == "" {
			return
		}
		select {
		case <-kick:
		case <-ctx.Done():
			t.Fatalf("not converged on %d entries after %v of virtual time: %s", want, timeout, state)
		}
	}
}

// kickOnEvents subscribes to docs until stop and returns a channel that
// holds a value once any of them had an event since it was last read:
// a waiter checks its condition, then waits on it.
func kickOnEvents(t *testing.T, ctx context.Context, docs []*Doc) (kick <-chan struct{}, stop func()) {
	t.Helper()
	k := make(chan struct{}, 1)
	var fwd sync.WaitGroup
	var subs []*live.Subscription
	stop = func() {
		for _, s := range subs {
			s.Close()
		}
		fwd.Wait()
	}
	for _, d := range docs {
		sub, err := d.Subscribe(ctx)
		if err != nil {
			stop()
			t.Fatal(err)
		}
		subs = append(subs, sub)
		fwd.Go(func() {
			for range sub.C() {
				select {
				case k <- struct{}{}:
				default:
				}
			}
		})
	}
	return k, stop
}

// sessionCounter counts the sessions that finished on every node of a
// cluster, from their SyncFinished events.
type sessionCounter struct {
	subs []*live.Subscription
}

func countSessions(t *testing.T, docs []*Doc) *sessionCounter {
	t.Helper()
	sc := &sessionCounter{}
	for _, d := range docs {
		s, err := d.Subscribe(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sc.subs = append(sc.subs, s)
	}
	return sc
}

// drain counts the SyncFinished events delivered so far, per node, without
// waiting. Call it once the bubble is idle (synctest.Wait).
func (sc *sessionCounter) drain(t *testing.T) (perNode []int, total int) {
	t.Helper()
	perNode = make([]int, len(sc.subs))
	for i, s := range sc.subs {
	loop:
		for {
			select {
			case ev := <-s.C():
				switch ev.Kind {
				case live.EventSyncFinished:
					if ev.Outcome.Role == live.Acceptor {
						continue // counted by its dialler
					}
					perNode[i]++
					total++
				case live.EventLagged:
					t.Fatalf("node %d: session counter lagged by %d", i, ev.Missed)
				}
			default:
				break loop
			}
		}
	}
	return perNode, total
}

func (sc *sessionCounter) close() {
	for _, s := range sc.subs {
		s.Close()
	}
}

// lowerFirst returns a and b ordered by node id, the lower (whose dial
// wins a simultaneous dial) first.
func lowerFirst(a, b *simNode) (*simNode, *simNode) {
	ida, idb := a.e.NodeID(), b.e.NodeID()
	if bytes.Compare(ida[:], idb[:]) < 0 {
		return a, b
	}
	return b, a
}

// settle returns once no node has a session with any peer of the document
// running, waiting for a retry or flagged for a resync, at two checks a
// virtual second apart; it fails the test after timeout of virtual time.
func settle(t *testing.T, docs []*Doc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for quiet := 0; quiet < 2; {
		synctest.Wait()
		busy := ""
		for i, d := range docs {
			st, err := d.SyncStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, ps := range st {
				if ps.Running != live.OriginNone || ps.Pending || ps.Resync {
					busy = fmt.Sprintf("node %d with %s: %+v", i, ps.Peer.Short(), ps)
				}
			}
		}
		if busy == "" {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions still under way after %v of virtual time: %s", timeout, busy)
		}
		time.Sleep(time.Second) // virtual: lets retries and resyncs come due
	}
}

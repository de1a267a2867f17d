package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// simConverge: n nodes share a document; writers on several nodes write
// at once, in rounds, overwriting half their keys in the last round; every
// node ends with the same entries (same authors, keys, hashes and
// timestamps), the latest write of each key.
func simConverge(t *testing.T, n, writers, per int) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, n, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var last []replica.SignedEntry
		for w := range writers {
			node := c.nodes[w*n/writers]
			wg.Go(func() {
				au, err := node.e.Authors().Default(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				prefix := fmt.Sprintf("w%d", node.i)
				// The first round races the joins; the later ones find
				// the swarm formed.
				simWrite(t, docs[node.i], au, prefix, per/2)
				time.Sleep(time.Duration(1+node.i) * 100 * time.Millisecond)
				simWrite(t, docs[node.i], au, prefix, per)
				time.Sleep(time.Second)
				written := simWrite(t, docs[node.i], au, prefix, per/2)
				mu.Lock()
				last = append(last, written...)
				mu.Unlock()
			})
		}
		wg.Wait()
		converged(t, docs, writers*per, 2*time.Minute)
		holdsLatest(t, "node 0", snapshot(t, docs[0]), last)
		t.Logf("converged at virtual %v", time.Now())
	})
}

func TestSimThreeNodesConverge(t *testing.T) { simConverge(t, 3, 3, 20) }

func TestSimTenNodesConverge(t *testing.T) { simConverge(t, 10, 4, 25) }

// TestSimPartitionHeals: a five-node swarm is split {0,1} | {2,3,4}; both
// sides keep writing and converge among themselves, nothing crosses the
// cut; once it heals, all five converge.
func TestSimPartitionHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 5, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "before", 10)
		converged(t, docs, 10, time.Minute)

		left, right := c.nodes[:2], c.nodes[2:]
		c.net.router.partition(c.addrs(left...), c.addrs(right...))
		// Long enough for memberlist to declare the other side dead.
		time.Sleep(20 * time.Second)
		simWrite(t, docs[1], authors[1], "left", 10)
		simWrite(t, docs[3], authors[3], "right", 10)
		simWrite(t, docs[4], authors[4], "right2", 5)
		converged(t, docs[:2], 20, time.Minute)
		converged(t, docs[2:], 25, time.Minute)
		time.Sleep(10 * time.Second)
		if got := len(snapshot(t, docs[0])); got != 20 {
			t.Fatalf("node 0 holds %d entries across the partition, want 20", got)
		}
		if c.net.router.dropped() == 0 {
			t.Fatal("the partition dropped no packets")
		}

		c.net.router.heal()
		t.Logf("healed at %v", time.Now())
		converged(t, docs, 35, 2*time.Minute)
		t.Logf("converged at %v", time.Now())
		// Writes after the heal reach everyone.
		simWrite(t, docs[0], authors[0], "after", 3)
		converged(t, docs, 38, time.Minute)
	})
}

// TestSimRestartResumes: a node with a data directory stops while the
// others write, starts again on the same data, and resumes live sync with
// the peers it remembers without being told of them: it receives what was
// written while it was down and after, and its own writes reach the others.
func TestSimRestartResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		c := newSimCluster(t, 3, 5*time.Millisecond, func(i int, cfg *Config) {
			if i == 2 {
				cfg.DataDir = dir
			}
		})
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "first", 10)
		converged(t, docs, 10, time.Minute)
		// Node 2 remembers its sync peers once a session with one ended.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := docs[2].WaitSynced(ctx, c.nodes[0].e.NodeID()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		peers, err := docs[2].SyncPeers(ctx)
		if err != nil || len(peers) == 0 {
			t.Fatalf("node 2 remembers sync peers %v, %v", peers, err)
		}
		id := c.nodes[2].e.NodeID()

		c.stop(c.nodes[2])
		simWrite(t, docs[0], authors[0], "while-down", 10)
		simWrite(t, docs[1], authors[1], "while-down", 5)
		// Long enough for the others to find node 2 dead.
		time.Sleep(20 * time.Second)
		converged(t, docs[:2], 25, time.Minute)

		c.start(c.nodes[2])
		e2 := c.nodes[2].e
		if e2.NodeID() != id {
			t.Fatal("node 2 came back with another id")
		}
		d2, err := e2.Docs().Open(ctx, docs[0].ID())
		if err != nil {
			t.Fatal(err)
		}
		docs[2] = d2
		if st, err := d2.SyncStatus(ctx); err != nil || st == nil {
			t.Fatalf("node 2 did not resume sync of the document: %v, %v", st, err)
		}
		converged(t, docs, 25, time.Minute)

		// Live again in both directions.
		a2, err := e2.Authors().Default(ctx)
		if err != nil {
			t.Fatal(err)
		}
		simWrite(t, docs[1], authors[1], "after", 5)
		simWrite(t, d2, a2, "back", 5)
		converged(t, docs, 35, time.Minute)
	})
}

// TestSimSimultaneousDial: two nodes start a sync with each other at the
// same virtual instant. The dial of the node with the lower id wins, the
// other is refused as already syncing, nothing stays running or pending,
// and both end with the same entries.
func TestSimSimultaneousDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 2, 20*time.Millisecond, nil)
		defer c.close()
		ctx := t.Context()
		lo, hi := lowerFirst(c.nodes[0], c.nodes[1])
		docLo, err := lo.e.Docs().Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tk, err := docLo.Share(ctx, ShareWrite)
		if err != nil {
			t.Fatal(err)
		}
		// hi holds the document without knowing any node of it.
		tk.Nodes = nil
		docHi, err := hi.e.Docs().Import(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		auLo, _ := lo.e.Authors().Default(ctx)
		auHi, _ := hi.e.Authors().Default(ctx)
		simWrite(t, docLo, auLo, "lo", 10)
		simWrite(t, docHi, auHi, "hi", 10)
		synctest.Wait()
		for _, d := range []*Doc{docLo, docHi} {
			if st, _ := d.SyncStatus(ctx); len(st) != 0 {
				t.Fatalf("a session ran before the dials: %+v", st)
			}
		}

		subLo, _ := docLo.Subscribe(ctx)
		defer subLo.Close()
		subHi, _ := docHi.Subscribe(ctx)
		defer subHi.Close()
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := docLo.StartSync(ctx, hi.e.NodeAddr()); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := docHi.StartSync(ctx, lo.e.NodeAddr()); err != nil {
				t.Error(err)
			}
		})
		start := time.Now()
		wg.Wait()
		converged(t, []*Doc{docLo, docHi}, 20, time.Minute)
		// Let every resync the dials flagged run out.
		settle(t, []*Doc{docLo, docHi}, time.Minute)

		loDials, loServed := sessionsOf(t, subLo)
		hiDials, hiServed := sessionsOf(t, subHi)
		t.Logf("lo dialled %d and served %d sessions, hi dialled %d and served %d", len(loDials), len(loServed), len(hiDials), len(hiServed))
		if len(loDials) == 0 || loDials[0].err != nil || loDials[0].start.Before(start) {
			t.Fatalf("the lower id's first dial: %+v, want a completed session", loDials)
		}
		// The higher id's crossing dial was refused as already syncing:
		// counted, never reported as a finished session.
		hiStats, err := hi.e.SyncStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hiStats.Refused == 0 || hiStats.Dials != uint64(len(hiDials))+hiStats.Refused {
			t.Fatalf("the higher id's stats %+v with %d dialled sessions reported, want refused dials only in the stats", hiStats, len(hiDials))
		}
		for _, d := range hiDials {
			if errors.Is(d.err, live.ErrAlreadySyncing) {
				t.Fatalf("a refused dial was reported as a finished session: %+v", d)
			}
		}
		if len(hiServed) == 0 || hiServed[0].err != nil {
			t.Fatalf("the higher id served %+v, want the lower id's session", hiServed)
		}
		// Only one of the two crossing dials ran: every session lo served
		// started after lo's own first dial had ended.
		for _, s := range loServed {
			if s.start.Before(loDials[0].at) {
				t.Fatalf("lo served a session that started at %v, before its dial ended at %v", s.start, loDials[0].at)
			}
		}
		for _, st := range []struct {
			d    *Doc
			peer *simNode
		}{{docLo, hi}, {docHi, lo}} {
			status, err := st.d.SyncStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ps live.SyncStatus
			ok := false
			for _, x := range status {
				if x.Peer == st.peer.e.NodeID() {
					ps, ok = x, true
				}
			}
			if !ok || ps.Running != live.OriginNone || ps.Pending || ps.Resync {
				t.Fatalf("state with %s: %+v (known %v), want idle", st.peer.e.NodeID().Short(), ps, ok)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := docLo.WaitSynced(wctx, hi.e.NodeID()); err != nil {
			t.Fatal(err)
		}
		if err := docHi.WaitSynced(wctx, lo.e.NodeID()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(snapshot(t, docLo), snapshot(t, docHi)) {
			t.Fatal("the two nodes hold different entries")
		}
	})
}

type simSession struct {
	at, start time.Time // end and start, from the outcome
	err       error
}

// sessionsOf drains sub and returns the sessions the node dialled and
// those it served, in the order they ended.
func sessionsOf(t *testing.T, sub *live.Subscription) (dialled, served []simSession) {
	t.Helper()
	for {
		select {
		case ev := <-sub.C():
			switch ev.Kind {
			case live.EventLagged:
				t.Fatalf("lagged by %d", ev.Missed)
			case live.EventSyncFinished:
				s := simSession{at: ev.Outcome.End, start: ev.Outcome.Start, err: ev.Err}
				if ev.Outcome.Role == live.Acceptor {
					served = append(served, s)
				} else {
					dialled = append(dialled, s)
				}
			}
		default:
			return dialled, served
		}
	}
}

func simAuthors(t *testing.T, c *simCluster) []replica.Author {
	t.Helper()
	out := make([]replica.Author, len(c.nodes))
	for i, n := range c.nodes {
		au, err := n.e.Authors().Default(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = au
	}
	return out
}

// TestSimOneWriteLinearSessions: in a converged 20-node swarm, one write
// must not start a sync session between every pair of nodes. A write that
// gossip delivers starts none; a write gossip cannot carry (its Put is
// over the packet budget, so the writer reports its heads instead)
// travels by sync, and every node that syncs it reports in turn: the
// report gates keep the sessions linear in the swarm's size, where one
// session per (node, reporter) would be quadratic.
func TestSimOneWriteLinearSessions(t *testing.T) {
	n := 20
	if testing.Short() {
		n = 10
	}
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, n, 5*time.Millisecond, func(_ int, cfg *Config) {
			// Room for membership and reports, not for a Put with a
			// 3000-byte key.
			cfg.Gossip.PacketSize = 2048
			// A session slot for every peer at once: the test counts the
			// dials one write makes, and with more peers syncing than
			// sessions, a peer under its fair share preempts a working
			// session of another, which retries (live.Server).
			cfg.Live.Sync.MaxSessions = 2 * n
		})
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "seed", 5)
		converged(t, docs, 5, time.Minute)
		settle(t, docs, time.Minute) // the joins' sessions and resyncs run out
		sc := countSessions(t, docs)
		defer sc.close()
		bound := 2 * n

		simWrite(t, docs[n/2], authors[n/2], "small", 1)
		converged(t, docs, 6, time.Minute)
		settle(t, docs, time.Minute)
		perNode, total := sc.drain(t)
		t.Logf("dials after a gossiped write: %d (per node %v)", total, perNode)
		if total > bound {
			t.Fatalf("one gossiped write made %d dials in a swarm of %d, bound %d", total, n, bound)
		}

		big := bytes.Repeat([]byte("k"), 3000)
		if _, err := docs[n/2].Set(t.Context(), authors[n/2], big, []byte("too large to gossip")); err != nil {
			t.Fatal(err)
		}
		converged(t, docs, 7, time.Minute)
		settle(t, docs, time.Minute)
		perNode, total = sc.drain(t)
		t.Logf("dials after a write that travels by sync: %d (per node %v)", total, perNode)
		if total < n-1 {
			t.Fatalf("%d dials, want at least one per node that lacked the entry (%d)", total, n-1)
		}
		if total > bound {
			t.Fatalf("one write made %d dials in a swarm of %d, bound %d", total, n, bound)
		}
	})
}

// TestSimLeaveThenStartSync: StartSync right after Leave opens the
// document's swarm again (the old one has left by then) and syncs.
func TestSimLeaveThenStartSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 2, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "before", 5)
		converged(t, docs, 5, time.Minute)
		ctx := t.Context()
		sub, err := docs[1].Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		// Leave returns at once (virtual time): the swarm tells its
		// members in the background. It took 1.5-4.5s before.
		start := time.Now()
		if err := docs[1].Leave(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 0 {
			t.Fatalf("Leave took %v of virtual time", took)
		}
		before, err := c.nodes[1].e.SyncStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := docs[1].StartSync(ctx, c.nodes[0].e.NodeAddr()); err != nil {
			t.Fatalf("StartSync right after Leave: %v", err)
		}
		simWrite(t, docs[0], authors[0], "after", 5)
		converged(t, docs, 10, time.Minute)

		// Sessions stay bounded after Leave and StartSync: a dial the
		// peer refuses as already syncing is retried after a back-off,
		// not at once (thousands of dials a second before).
		time.Sleep(5 * time.Second)
		after, err := c.nodes[1].e.SyncStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		finished := 0
		for len(sub.C()) > 0 {
			if ev := <-sub.C(); ev.Kind == live.EventSyncFinished {
				finished++
			}
		}
		if d := after.Dials - before.Dials; d > 20 || finished > 20 {
			t.Fatalf("%d dials and %d finished sessions in the 5s after Leave and StartSync", d, finished)
		}

		// The subscription stayed through Leave; LeaveWith can close it.
		if err := docs[1].LeaveWith(ctx, LeaveOptions{CloseSubscriptions: true}); err != nil {
			t.Fatal(err)
		}
		for range sub.C() {
		}
	})
}

// TestSimWaitSyncedUnreachable: WaitSynced on a peer that went down
// returns ErrUnreachable after Config.Live.UnreachableAfter and the
// dial that was running then, not after every retry (about a minute with
// the default config before).
func TestSimWaitSyncedUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 2, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "before", 3)
		converged(t, docs, 3, time.Minute)
		peer := c.nodes[1].e.NodeID()
		c.stop(c.nodes[1])
		simWrite(t, docs[0], authors[0], "after", 1)
		start := time.Now()
		err := docs[0].WaitSynced(t.Context(), peer)
		took := time.Since(start)
		if !errors.Is(err, live.ErrUnreachable) {
			t.Fatalf("WaitSynced on a stopped peer: %v", err)
		}
		cfg := simConfig()
		if limit := cfg.Live.UnreachableAfter + cfg.Endpoint.HandshakeTimeout; took > limit {
			t.Fatalf("WaitSynced took %v of virtual time, want at most %v", took, limit)
		}
	})
}

// TestSimLostPushCaughtUp: a node that misses a write's gossip push (its
// link drops packets for a moment, too short for the swarm to notice)
// gets the write soon after, through the catch-up that follows writes:
// the writer's heads report, and sessions with random neighbours. Gossip
// rounds do not resend the write, as its push went to every member.
func TestSimLostPushCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 3, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "seed", 1)
		converged(t, docs, 1, time.Minute)
		settle(t, docs, time.Minute)

		c.net.router.partition(c.addrs(c.nodes[2]))
		simWrite(t, docs[0], authors[0], "missed", 1)
		time.Sleep(20 * time.Millisecond) // virtual: the push to node 2 is dropped
		c.net.router.heal()
		if c.net.router.dropped() == 0 {
			t.Fatal("no packet was dropped")
		}
		if got := len(snapshot(t, docs[2])); got != 1 {
			t.Fatalf("node 2 holds %d entries right after the drop, want 1", got)
		}
		// Well within a probe interval: no membership change helps.
		converged(t, docs, 2, 5*time.Second)
	})
}

// TestSimRestartNewPort: a node crashes and restarts on the same data but
// a new port, as one listening on port 0 (endpoint.DefaultConfig) does.
// Its sync at open reaches the other node, whose address did not change;
// from then on the other node must reach it at its new address although
// its memberlist, its stored record and its cached connections still point
// at the old one: every write made there arrives live, each within a few
// virtual seconds, and WaitSynced with the restarted node returns. The
// node comes back at once (the other still holds it alive, connections
// included) or once the other has declared it dead.
func TestSimRestartNewPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		down time.Duration
	}{{"back at once", 0}, {"back once found dead", 20 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) { simRestartNewPort(t, tc.down) })
	}
}

func simRestartNewPort(t *testing.T, down time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		c := newSimCluster(t, 2, 5*time.Millisecond, func(i int, cfg *Config) {
			if i == 1 {
				cfg.DataDir = dir
			}
			// memberlist forgets a dead member only this long after its
			// death: the default, not the test profile's 2s.
			cfg.Gossip.PushPullInterval = gossip.DefaultPushPullInterval
		})
		defer c.close()
		docs := c.shareDoc()
		authors := simAuthors(t, c)
		simWrite(t, docs[0], authors[0], "first", 5)
		converged(t, docs, 5, time.Minute)
		ctx := t.Context()
		// Node 1 remembers node 0 as its sync peer once a session ended.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := docs[1].WaitSynced(wctx, c.nodes[0].e.NodeID()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		id := c.nodes[1].e.NodeID()

		sub0, err := docs[0].Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sub0.Close()

		// The crash: nothing from the old address reaches node 0 any
		// more, not even the close of its connections, which node 0 holds
		// until they time out (TestConfig: 5s).
		c.net.router.partition(c.addrs(c.nodes[1]))
		c.stop(c.nodes[1])
		simWrite(t, docs[0], authors[0], "while-down", 5)
		time.Sleep(down)
		moved := *c.nodes[1].addr
		moved.Port++
		c.nodes[1].addr = &moved
		c.start(c.nodes[1])
		e1 := c.nodes[1].e
		if e1.NodeID() != id {
			t.Fatal("node 1 came back with another id")
		}
		if got := e1.NodeAddr().Addrs; len(got) != 1 || got[0].Port() != uint16(moved.Port) {
			t.Fatalf("node 1 listens on %v, want port %d", got, moved.Port)
		}
		d1, err := e1.Docs().Open(ctx, docs[0].ID())
		if err != nil {
			t.Fatal(err)
		}
		docs[1] = d1
		sub, err := d1.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		// The sync at open catches up: node 0's address is unchanged.
		converged(t, docs, 10, time.Minute)
		if down > 0 {
			// Node 0 declared node 1 dead; memberlist takes it back at
			// its new address at once, not once it has forgotten it.
			simNeighborUp(t, sub0, id, 5*time.Second)
		}

		// Each write on node 0 must reach node 1 live, within a few
		// seconds of virtual time: no membership timeout may stand
		// between them.
		const writes = 60
		const within = 3 * time.Second
		for i := range writes {
			key := fmt.Sprintf("after-%03d", i)
			if _, err := docs[0].Set(ctx, authors[0], []byte(key), []byte(key)); err != nil {
				t.Fatal(err)
			}
			deadline := time.After(within)
		wait:
			for {
				select {
				case ev, ok := <-sub.C():
					if !ok {
						t.Fatal("subscription closed")
					}
					if ev.Kind == live.EventLagged {
						t.Fatalf("lagged by %d", ev.Missed)
					}
					if ev.Kind == live.EventInsertRemote && string(ev.Entry.Key) == key {
						break wait
					}
				case <-deadline:
					t.Fatalf("%d of %d writes reached the restarted node; %q not within %v", i, writes, key, within)
				}
			}
		}
		wctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := docs[0].WaitSynced(wctx, id); err != nil {
			t.Fatalf("node 0 waits for the restarted node: %v", err)
		}
		converged(t, docs, 10+writes, time.Minute)
		// The address node 0 keeps for a sync peer, to resume with it
		// after its own restart, is node 1's new one.
		b, err := c.nodes[0].e.act.Meta(ctx, "live/peer-addr/"+id.String())
		var stored endpoint.NodeAddr
		if err == nil {
			err = stored.UnmarshalBinary(b)
		}
		if err != nil || len(stored.Addrs) == 0 || stored.Addrs[0] != e1.NodeAddr().Addrs[0] {
			t.Fatalf("node 0 keeps %v (%v) for node 1, want %v first", stored, err, e1.NodeAddr().Addrs[0])
		}
	})
}

// simNeighborUp waits for sub to report node id as a neighbour again,
// skipping other events, and fails the test after within of virtual time.
func simNeighborUp(t *testing.T, sub *live.Subscription, id endpoint.NodeID, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-sub.C():
			if ev.Kind == live.EventLagged {
				t.Fatalf("lagged by %d", ev.Missed)
			}
			if ev.Kind == live.EventNeighborUp && ev.Peer == id {
				return
			}
		case <-deadline:
			t.Fatalf("%s is not a neighbour again after %v", id.Short(), within)
		}
	}
}

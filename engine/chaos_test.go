package engine

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// TestChaos runs, for each seed, n engines on a simulated network inside a
// testing/synctest bubble, and a scheduler seeded with it that mixes a
// workload (writes, prefix deletes, leaves, joins, clean restarts) with
// faults (partitions, packet loss, duplication and reordering, crashes,
// clock skew). It keeps a model, the acknowledged writes and deletes. Then
// it removes every fault, brings every node up and back into the
// document, and requires every replica to hold the model's last-writer-wins
// result within chaosConvergeBound of virtual time.
//
// The defaults are the slice CI runs (20 seeds of 30 steps: about 80 s of
// CPU with -race); docsbench chaos runs many more seeds, of 40 steps, with
// -chaos.first, -chaos.count, -chaos.nodes and -chaos.steps, and reads one
// "chaos-result" line per seed from the -v output.
//
// What is seeded: the steps, their targets, the gaps between them, the
// node and author keys, and the crash copies. The goroutines of the bubble
// still interleave as the runtime schedules them, so a seed replays the
// same faults and workload, not always the same packet trace.
var (
	chaosSeed  = flag.Uint64("chaos.seed", 0, "TestChaos: run only this seed (0: run -chaos.count seeds from -chaos.first)")
	chaosFirst = flag.Uint64("chaos.first", 1, "TestChaos: the first seed")
	chaosCount = flag.Int("chaos.count", 20, "TestChaos: how many seeds, from -chaos.first")
	chaosNodes = flag.Int("chaos.nodes", 5, "TestChaos: engines per seed")
	chaosSteps = flag.Int("chaos.steps", 30, "TestChaos: workload and fault steps per seed")
	chaosTrace = flag.Bool("chaos.trace", false, "TestChaos: log each node's neighbour, session and remote insert events")
)

// chaosConvergeBound is how much virtual time the replicas have, once every
// fault is removed and every node is up and joined, to hold the model.
const chaosConvergeBound = 3 * time.Minute

// chaosLiveBound is how much virtual time a write made once the replicas
// converged has to reach every node: live sync must work again, though the
// gossip push may be lost to a membership that has not settled yet, and
// then catch-up (live.Config.CatchUpDelay) repairs it.
const chaosLiveBound = 10 * time.Second

// chaosMaxSkew bounds a node's clock skew either way, so that two nodes'
// clocks stay within the 10 minutes replica.Limits allows a remote
// timestamp ahead of the local clock.
const chaosMaxSkew = 4 * time.Minute

func TestChaos(t *testing.T) {
	seeds := []uint64{*chaosSeed}
	if *chaosSeed == 0 {
		seeds = seeds[:0]
		for i := range *chaosCount {
			seeds = append(seeds, *chaosFirst+uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runChaos(t, seed, *chaosNodes, *chaosSteps)
		})
	}
}

// chaosStats counts what a run did, for its result line.
type chaosStats struct {
	writes, deletes, leaves, joins, crashes, restarts, partitions, faults, skews int
	converged                                                                    bool
	convergeTime, liveTime                                                       time.Duration
}

// runChaos runs one seed and reports it on one line, which docsbench chaos
// reads, and on failure with the command that runs it again.
func runChaos(t *testing.T, seed uint64, n, steps int) {
	var st chaosStats
	defer func() {
		t.Logf("chaos-result seed=%d nodes=%d steps=%d converged=%t converge_ms=%d ok=%t live_ms=%d writes=%d deletes=%d leaves=%d joins=%d crashes=%d restarts=%d partitions=%d faults=%d skews=%d",
			seed, n, steps, st.converged, st.convergeTime.Milliseconds(), !t.Failed(), st.liveTime.Milliseconds(),
			st.writes, st.deletes, st.leaves, st.joins, st.crashes, st.restarts, st.partitions, st.faults, st.skews)
		if t.Failed() {
			t.Logf("reproduce: go test ./engine -run 'TestChaos$' -chaos.seed=%d -chaos.nodes=%d -chaos.steps=%d -v", seed, n, steps)
		}
	}()
	synctest.Test(t, func(t *testing.T) {
		r := newChaosRun(t, seed, n)
		defer r.c.close()
		r.setup()
		for step := range steps {
			r.restartDue()
			r.step(step)
			time.Sleep(time.Duration(r.rng.Int64N(int64(2 * time.Second))))
		}
		r.healAll()
		start := time.Now()
		r.awaitModel("after the heal", chaosConvergeBound)
		st = r.stats
		st.converged = !t.Failed()
		st.convergeTime = time.Since(start)
		t.Logf("converged in %v of virtual time after the heal, on %d acknowledged writes and deletes", st.convergeTime, len(r.acked))
		// Live sync works again everywhere: one write on each node
		// reaches every other.
		start = time.Now()
		for _, nd := range r.nodes {
			se, _, err := nd.e.act.InsertLocal(t.Context(), r.docID, nd.author, fmt.Appendf(nil, "live/%d", nd.i), replica.HashContent([]byte("live")), 4)
			if err != nil {
				t.Fatalf("node %d writes after the heal: %v", nd.i, err)
			}
			r.acked = append(r.acked, se)
		}
		r.awaitModel("after the writes that follow it", chaosLiveBound)
		st.liveTime = time.Since(start)
		t.Logf("writes after the heal everywhere in %v", st.liveTime)
	})
}

// chaosNode is one node of a run and what the run knows of it.
type chaosNode struct {
	*simNode
	id     endpoint.NodeID
	fs     *vfs.MemFS     // the store's file system; replaced by a crash copy at a crash
	skew   atomic.Int64   // the clock's skew, in nanoseconds
	author replica.Author // the node's own author
	doc    *Doc           // nil while down
	joined bool           // open for sync, as the store marks it
	down   time.Time      // when a down node comes back; zero while up
}

// chaosRun is one seed's cluster, scheduler and model.
type chaosRun struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand // the scheduler's: steps, targets, gaps
	c      *simCluster
	nodes  []*chaosNode
	shared replica.Author // an author every node holds: its writes from several nodes compete
	docID  replica.NamespaceID

	// acked is the model: every write and prefix delete that returned
	// without error. The document is durable on every node, so each is
	// on its writer's disk once acknowledged, crashes or not.
	acked []replica.SignedEntry
	stats chaosStats
	start time.Time // the bubble's start, for the step log
}

// logf logs a step with the virtual time since the run started.
func (r *chaosRun) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("%8.3fs "+format, append([]any{time.Since(r.start).Seconds()}, args...)...)
}

func newChaosRun(t *testing.T, seed uint64, n int) *chaosRun {
	r := &chaosRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x636861_6f73)), start: time.Now()}
	var keySeed [32]byte
	copy(keySeed[:], fmt.Appendf(nil, "chaos keys %d", seed))
	keys := rand.NewChaCha8(keySeed)
	authorKey := func() replica.Author {
		var s [replica.SeedLen]byte
		keys.Read(s[:])
		return replica.AuthorFromSeed(s)
	}
	r.shared = authorKey()
	r.nodes = make([]*chaosNode, n)
	for i := range n {
		nd := &chaosNode{fs: vfs.NewCrashableMem(), author: authorKey()}
		r.nodes[i] = nd
	}
	nodeKeys := make([]endpoint.SecretKey, n)
	for i := range n {
		b := make([]byte, 32)
		keys.Read(b)
		k, err := endpoint.SecretKeyFromSeed(b)
		if err != nil {
			t.Fatal(err)
		}
		nodeKeys[i] = k
	}
	content := chaosContentDir(t)
	r.c = newSimCluster(t, n, 5*time.Millisecond, func(i int, cfg *Config) {
		nd := r.nodes[i]
		// The store lives on nd.fs (the DataDir's "store" there); only
		// the content goes to the DataDir on disk.
		cfg.DataDir = filepath.Join(content, strconv.Itoa(i))
		cfg.Store.FS = nd.fs
		cfg.Endpoint.SecretKey = nodeKeys[i]
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(nd.skew.Load())) }
	})
	for i, sn := range r.c.nodes {
		r.nodes[i].simNode = sn
		r.nodes[i].id = sn.e.NodeID()
	}
	return r
}

// chaosContentDir is a directory for the nodes' content stores, in memory
// (/dev/shm) where the system has one. The content store syncs its files,
// and while a goroutine waits in a system call the bubble's clock stands
// still: on a disk, each engine Open cost about 0.2s of wall time.
func chaosContentDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "docsnode-chaos-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// setup creates the durable document on node 0, shares it with every
// other node, gives each its authors and waits until each has synced with
// node 0 once, so that every node remembers a sync peer to resume with.
func (r *chaosRun) setup() {
	t, ctx := r.t, r.t.Context()
	n0 := r.nodes[0]
	d0, err := n0.e.Docs().CreateWith(ctx, replica.Durable)
	if err != nil {
		t.Fatal(err)
	}
	r.docID = d0.ID()
	tk, err := d0.Share(ctx, ShareWrite)
	if err != nil {
		t.Fatal(err)
	}
	n0.doc, n0.joined = d0, true
	for _, nd := range r.nodes[1:] {
		if nd.doc, err = nd.e.Docs().Import(ctx, tk); err != nil {
			t.Fatalf("node %d imports: %v", nd.i, err)
		}
		nd.joined = true
		if err := nd.e.act.SetDurability(ctx, r.docID, replica.Durable); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range r.nodes {
		// Content is not what this test checks: no node fetches any.
		if err := nd.doc.SetDownloadPolicy(ctx, replica.DownloadPolicy{Mode: DownloadNothingExcept}); err != nil {
			t.Fatal(err)
		}
		for _, au := range []replica.Author{nd.author, r.shared} {
			if err := nd.e.Authors().Import(ctx, au); err != nil {
				t.Fatal(err)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, nd := range r.nodes[1:] {
		if err := nd.doc.WaitSynced(wctx, n0.id); err != nil {
			t.Fatalf("node %d's first sync with node 0: %v", nd.i, err)
		}
	}
	for _, nd := range r.nodes {
		r.trace(nd)
	}
}

// trace logs nd's events, with -chaos.trace, until its engine closes.
func (r *chaosRun) trace(nd *chaosNode) {
	if !*chaosTrace {
		return
	}
	sub, err := nd.doc.Subscribe(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	go func() {
		for ev := range sub.C() {
			switch ev.Kind {
			case live.EventNeighborUp, live.EventNeighborDown:
				r.logf("node %d: %v %s", nd.i, ev.Kind, ev.Peer.Short())
			case live.EventSyncFinished:
				r.logf("node %d: session %v, err %v", nd.i, ev.Outcome, ev.Err)
			case live.EventInsertRemote:
				r.logf("node %d: got %q of %s at %d from %s", nd.i, ev.Entry.Key, ev.Entry.Author.Short(), ev.Entry.Timestamp, ev.Peer.Short())
			}
		}
	}()
}

// pickUp returns a random node that is up, or nil.
func (r *chaosRun) pickUp() *chaosNode {
	var up []*chaosNode
	for _, nd := range r.nodes {
		if nd.e != nil {
			up = append(up, nd)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[r.rng.IntN(len(up))]
}

// chaosPrefixes nest, so that prefix deletes cover each other's keys.
var chaosPrefixes = []string{"a/", "a/b/", "a/b/c/", "b/", "c"}

func (r *chaosRun) key() string {
	return fmt.Sprintf("%s%d", chaosPrefixes[r.rng.IntN(len(chaosPrefixes))], r.rng.IntN(5))
}

func (r *chaosRun) authorOf(nd *chaosNode) replica.Author {
	if r.rng.IntN(10) < 3 {
		return r.shared
	}
	return nd.author
}

// step runs one step of the workload or one fault.
func (r *chaosRun) step(step int) {
	t, ctx := r.t, r.t.Context()
	nd := r.pickUp()
	switch x := r.rng.IntN(100); {
	case x < 40: // writes: up to three nodes at once, a few each
		if nd == nil {
			return
		}
		r.writes(step)
	case x < 47: // prefix delete
		if nd == nil {
			return
		}
		au := r.authorOf(nd)
		prefix := chaosPrefixes[r.rng.IntN(len(chaosPrefixes))]
		switch r.rng.IntN(10) {
		case 0:
			prefix = "" // every entry of the author
		case 1, 2:
			prefix = r.key() // one key
		}
		se, _, err := nd.e.act.DeletePrefix(ctx, r.docID, au, []byte(prefix))
		if err != nil {
			t.Fatalf("step %d: node %d deletes %q: %v", step, nd.i, prefix, err)
		}
		r.acked = append(r.acked, se)
		r.stats.deletes++
		r.logf("node %d deletes %q of %s", nd.i, prefix, au.ID().Short())
	case x < 52: // leave
		if nd == nil || !nd.joined {
			return
		}
		if err := nd.doc.Leave(ctx); err != nil {
			t.Fatalf("step %d: node %d leaves: %v", step, nd.i, err)
		}
		nd.joined = false
		r.stats.leaves++
		r.logf("node %d leaves", nd.i)
	case x < 60: // join, with the peers it remembers or a ticket's node
		if nd == nil || nd.joined {
			return
		}
		r.join(nd, r.rng.IntN(2) == 0)
	case x < 65: // crash
		if nd == nil {
			return
		}
		r.crash(nd, step)
	case x < 69: // clean restart
		if nd == nil {
			return
		}
		r.c.stop(nd.simNode)
		nd.doc = nil
		nd.down = time.Now().Add(time.Duration(r.rng.Int64N(int64(10 * time.Second))))
		r.stats.restarts++
		r.logf("node %d stops, down until %v", nd.i, nd.down.Sub(r.start))
	case x < 77: // partition into two or three groups
		groups := make([][]net.Addr, 1+r.rng.IntN(2))
		for _, nd := range r.nodes {
			g := r.rng.IntN(len(groups) + 1) // group 0: the unlisted ones
			if g > 0 {
				groups[g-1] = append(groups[g-1], nd.addr)
			}
		}
		if r.rng.IntN(4) == 0 {
			r.c.net.router.partitionOneWay(groups...)
		} else {
			r.c.net.router.partition(groups...)
		}
		r.stats.partitions++
		r.logf("partition %v", groups)
	case x < 82:
		r.c.net.router.heal()
		r.logf("partition healed")
	case x < 92: // packet faults, or none
		if r.rng.IntN(4) == 0 {
			r.c.net.router.setFaults(packetFaults{})
			r.c.net.setJitter(0, nil)
			return
		}
		r.c.net.router.setFaults(packetFaults{
			rng:  rand.New(rand.NewPCG(r.seed, uint64(step))),
			loss: 0.5 * r.rng.Float64(),
			dup:  0.1 * r.rng.Float64(),
		})
		r.c.net.setJitter(time.Duration(r.rng.Int64N(int64(30*time.Millisecond))), rand.New(rand.NewPCG(r.seed, uint64(step)+1<<32)))
		r.stats.faults++
		r.logf("packet faults %+v", r.c.net.router.faults)
	default: // clock skew of any node, up or down
		sk := r.nodes[r.rng.IntN(len(r.nodes))]
		sk.skew.Store(r.rng.Int64N(int64(2*chaosMaxSkew)) - int64(chaosMaxSkew))
		r.stats.skews++
		r.logf("node %d skewed %v", sk.i, time.Duration(sk.skew.Load()))
	}
}

// writes has up to three nodes that are up write a few entries each, at
// the same time. Every write has returned when it returns, so no crash
// falls in the middle of one.
func (r *chaosRun) writes(step int) {
	type write struct {
		nd  *chaosNode
		au  replica.Author
		key string
	}
	var plan [][]write
	for range 1 + r.rng.IntN(3) {
		nd := r.pickUp()
		if slices.ContainsFunc(plan, func(ws []write) bool { return ws[0].nd == nd }) {
			continue
		}
		var ws []write
		for range 1 + r.rng.IntN(4) {
			ws = append(ws, write{nd: nd, au: r.authorOf(nd), key: r.key()})
		}
		plan = append(plan, ws)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ws := range plan {
		wg.Go(func() {
			for i, w := range ws {
				// The entry only: content is not what this test checks,
				// and the content store writes to a real disk, where the
				// bubble's virtual time stands still.
				value := fmt.Appendf(nil, "seed %d step %d node %d write %d", r.seed, step, w.nd.i, i)
				se, _, err := w.nd.e.act.InsertLocal(r.t.Context(), r.docID, w.au, []byte(w.key), replica.HashContent(value), uint64(len(value)))
				if err != nil {
					r.t.Errorf("step %d: node %d sets %q: %v", step, w.nd.i, w.key, err)
					return
				}
				mu.Lock()
				r.acked = append(r.acked, se)
				r.logf("node %d writes %q of %s at %d", w.nd.i, w.key, w.au.ID().Short(), se.Timestamp)
				r.stats.writes++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if r.t.Failed() {
		r.t.FailNow()
	}
}

// join opens nd's document for sync again: with the peers it remembers, or
// (ticket) with one other node's address, as a ticket would carry it.
func (r *chaosRun) join(nd *chaosNode, ticket bool) {
	t, ctx := r.t, r.t.Context()
	var peers []endpoint.NodeAddr
	if ticket {
		other := r.nodes[r.rng.IntN(len(r.nodes))]
		if other != nd {
			peers = append(peers, endpoint.NodeAddr{ID: other.id, Addrs: []netip.AddrPort{other.addr.AddrPort()}})
		}
	}
	if err := nd.doc.StartSync(ctx, peers...); err != nil {
		t.Fatalf("node %d joins: %v", nd.i, err)
	}
	nd.joined = true
	r.stats.joins++
	r.logf("node %d joins with %v", nd.i, peers)
}

// crash stops nd as a crash would: its packet connection goes silent at
// once, and it will come back on a copy of its store's file system with
// only what was synced to it (and a random part of the rest). The abandoned
// engine is then closed only to end its goroutines: what its Close writes
// goes to the old file system, which nothing reads again.
func (r *chaosRun) crash(nd *chaosNode, step int) {
	nd.conn.Close()
	clone := nd.fs.CrashClone(vfs.CrashCloneCfg{
		UnsyncedDataPercent: r.rng.IntN(101),
		RNG:                 rand.New(rand.NewPCG(r.seed, uint64(step))),
	})
	_ = nd.e.Close()
	nd.e, nd.doc = nil, nil
	nd.fs, nd.cfg.Store.FS = clone, clone
	nd.down = time.Now().Add(time.Duration(r.rng.Int64N(int64(20 * time.Second))))
	r.stats.crashes++
	r.logf("node %d crashes, down until %v", nd.i, nd.down.Sub(r.start))
}

// restartDue brings back the down nodes whose time has come.
func (r *chaosRun) restartDue() {
	for _, nd := range r.nodes {
		if nd.e == nil && !time.Now().Before(nd.down) {
			r.restart(nd)
		}
	}
}

// restart opens nd's engine again on its store, at its address. A node
// open for sync when it stopped must resume by itself.
func (r *chaosRun) restart(nd *chaosNode) {
	t, ctx := r.t, r.t.Context()
	r.c.start(nd.simNode)
	nd.down = time.Time{}
	r.logf("node %d restarts", nd.i)
	defer r.trace(nd)
	var err error
	if nd.doc, err = nd.e.Docs().Open(ctx, r.docID); err != nil {
		t.Fatalf("node %d reopens the document: %v", nd.i, err)
	}
	resumed, err := nd.e.Resumed()
	if err != nil || slices.Contains(resumed, r.docID) != nd.joined {
		t.Fatalf("node %d, open for sync %t when it stopped, resumed %v (%v)", nd.i, nd.joined, resumed, err)
	}
}

// healAll removes every fault and brings every node up and into the
// document.
func (r *chaosRun) healAll() {
	r.c.net.router.heal()
	r.c.net.router.setFaults(packetFaults{})
	r.c.net.setJitter(0, nil)
	for _, nd := range r.nodes {
		nd.skew.Store(0)
	}
	for _, nd := range r.nodes {
		if nd.e == nil {
			r.restart(nd)
		}
	}
	for _, nd := range r.nodes {
		if !nd.joined {
			r.join(nd, false)
		}
	}
}

// awaitModel returns once every node holds the model, checking whenever
// the bubble is idle after an event on any node (and every virtual
// second); it fails the test after bound of virtual time.
func (r *chaosRun) awaitModel(when string, bound time.Duration) {
	t := r.t
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	docs := make([]*Doc, len(r.nodes))
	for i, nd := range r.nodes {
		docs[i] = nd.doc
	}
	kick, stop := kickOnEvents(t, ctx, docs)
	defer stop()
	want := chaosModelValues(r.acked)
	stored := len(chaosModelStored(r.acked))
	for {
		synctest.Wait()
		diff := r.compare(want, stored)
		if diff == "" {
			return
		}
		select {
		case <-kick:
		case <-time.After(time.Second):
		case <-ctx.Done():
			r.logSync()
			t.Fatalf("not converged %s within %v of virtual time: %s", when, bound, diff)
		}
	}
}

// logSync logs what each node knows of its sessions, for a failure.
func (r *chaosRun) logSync() {
	t, ctx := r.t, r.t.Context()
	for _, nd := range r.nodes {
		sum, err := nd.e.act.Summary(ctx, r.docID)
		stats, serr := nd.e.SyncStats(ctx)
		t.Logf("node %d (%s): %d entries stored (%v); sessions %+v (%v)", nd.i, nd.id.Short(), sum.Count, err, stats, serr)
		st, err := nd.doc.SyncStatus(ctx)
		if err != nil {
			t.Logf("  sync status: %v", err)
		}
		for _, ps := range st {
			t.Logf("  with %s: running %v pending %t resync %t; %d sessions, %d failed; last at %v equal %t sent %d received %d refused %d, error %q; refused in all %d",
				ps.Peer.Short(), ps.Running, ps.Pending, ps.Resync, ps.Sessions, ps.Failures, ps.LastSync.Format("15:04:05.000"),
				ps.LastEqual, ps.LastSent, ps.LastReceived, ps.LastRefused, ps.LastError, ps.Refused)
		}
	}
}

// compare returns what differs between the nodes and the model, or "".
func (r *chaosRun) compare(want []simEntry, stored int) string {
	t, ctx := r.t, r.t.Context()
	var diffs []string
	var first actor.SetSummary
	for i, nd := range r.nodes {
		var got []simEntry
		for e, err := range nd.doc.Query(ctx, replica.Query{IncludeTombstones: true}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, simEntry{author: e.Author, key: string(e.Key), hash: e.Hash, timestamp: e.Timestamp})
		}
		slices.SortFunc(got, compareSimEntry)
		if !slices.Equal(got, want) {
			diffs = append(diffs, fmt.Sprintf("node %d holds %d values, the model %d: %s", nd.i, len(got), len(want), describeDiff(got, want)))
			continue
		}
		sum, err := nd.e.act.Summary(ctx, r.docID)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Count != stored {
			diffs = append(diffs, fmt.Sprintf("node %d stores %d entries, the model %d", nd.i, sum.Count, stored))
		} else if i > 0 && sum != first {
			diffs = append(diffs, fmt.Sprintf("node %d stores another set than node 0", nd.i))
		}
		if i == 0 {
			first = sum
		}
	}
	return strings.Join(diffs, "; ")
}

// describeDiff names a few entries only one side holds.
func describeDiff(got, want []simEntry) string {
	var out []string
	for _, g := range got {
		if !slices.Contains(want, g) && len(out) < 4 {
			out = append(out, fmt.Sprintf("extra %s:%q@%d", g.author.Short(), g.key, g.timestamp))
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) && len(out) < 8 {
			out = append(out, fmt.Sprintf("missing %s:%q@%d", w.author.Short(), w.key, w.timestamp))
		}
	}
	return strings.Join(out, ", ")
}

func compareSimEntry(a, b simEntry) int {
	if c := bytes.Compare(a.author[:], b.author[:]); c != 0 {
		return c
	}
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.timestamp, b.timestamp)
}

// The model: the stored state as a function of the set of entries written
// (docs/architecture.md, "Last writer wins and prefix tombstones").

// chaosLater reports whether f's record is later than e's: by timestamp,
// then hash.
func chaosLater(f, e *replica.SignedEntry) bool { return f.Record.Compare(e.Record) > 0 }

func chaosSameAuthor(f, e *replica.SignedEntry) bool { return f.Author == e.Author }

// chaosModelValues is the values layer: per (author, key) the latest entry,
// unless a later tombstone of the author at a proper prefix of the key
// deletes it. Tombstones are included, as Query{IncludeTombstones} lists
// them.
func chaosModelValues(all []replica.SignedEntry) []simEntry {
	var out []simEntry
	for i := range all {
		e := &all[i]
		keep := true
		for j := range all {
			f := &all[j]
			if !chaosSameAuthor(f, e) || !chaosLater(f, e) {
				continue
			}
			if bytes.Equal(f.Key, e.Key) || (f.IsTombstone() && len(f.Key) < len(e.Key) && bytes.HasPrefix(e.Key, f.Key)) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, simEntry{author: e.Author, key: string(e.Key), hash: e.Hash, timestamp: e.Timestamp})
		}
	}
	slices.SortFunc(out, compareSimEntry)
	return slices.Compact(out)
}

// chaosModelStored is the stored set that reconciliation compares: the
// values layer and every tombstone that no later tombstone of its author at
// a prefix of its key (or at its key) covers.
func chaosModelStored(all []replica.SignedEntry) []simEntry {
	out := chaosModelValues(all)
	for i := range all {
		e := &all[i]
		if !e.IsTombstone() {
			continue
		}
		keep := true
		for j := range all {
			f := &all[j]
			if f.IsTombstone() && chaosSameAuthor(f, e) && chaosLater(f, e) && bytes.HasPrefix(e.Key, f.Key) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, simEntry{author: e.Author, key: string(e.Key), hash: e.Hash, timestamp: e.Timestamp})
		}
	}
	slices.SortFunc(out, compareSimEntry)
	return slices.Compact(out)
}

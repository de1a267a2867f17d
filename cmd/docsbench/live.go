package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

func init() { scenarios["live"] = runLive }

// runLive measures live delivery in a swarm: n engines on loopback in this
// process share one document; once every node sees the others as swarm
// neighbours, writes go round robin over the nodes at a steady pace, and
// each write's latency to each other node is the time from the start of
// Set on the writer to the InsertRemote event there. delivered_pct counts
// the (write, receiver) pairs seen by the end of the grace period after the
// last write, by gossip or by reconciliation.
func runLive(args []string) error {
	fs := flag.NewFlagSet("live", flag.ContinueOnError)
	nodes := fs.Int("nodes", 10, "engines in the swarm")
	writes := fs.Int("writes", 1000, "writes, round robin over the nodes")
	interval := fs.Duration("interval", 1500*time.Microsecond, "pause between two writes")
	grace := fs.Duration("grace", 2*time.Second, "wait after the last write for deliveries")
	dir := fs.String("dir", "", "parent of the nodes' data directories (default: stores in memory, content in temporary directories)")
	form := fs.Duration("form", 30*time.Second, "longest wait for the swarm to form")
	gossipEvery := fs.Duration("gossip-interval", 0, "gossip.Config.GossipInterval (0: the default)")
	settle := fs.Duration("settle", 300*time.Millisecond, "quiet time without a finished sync session before the writes start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 2 || *writes < 1 {
		return fmt.Errorf("need -nodes >= 2 and -writes >= 1")
	}
	ctx := context.Background()
	n := *nodes
	if *dir != "" {
		tmp, err := os.MkdirTemp(*dir, "docsbench-live-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}

	engines, closeAll, err := openEngines(ctx, n, func(i int, cfg *engine.Config) {
		if *dir != "" {
			cfg.DataDir = filepath.Join(*dir, fmt.Sprintf("node-%d", i))
		}
		if *gossipEvery > 0 {
			cfg.Gossip.GossipInterval = *gossipEvery
		}
	})
	defer closeAll()
	if err != nil {
		return err
	}

	// Arrival times, in ns since base, per write and receiving node;
	// 0 = not seen. sent[w] is when write w's Set started.
	base := time.Now()
	sent := make([]atomic.Int64, *writes)
	stored := make([]int64, *writes) // when Set returned
	arrived := make([]atomic.Int64, *writes*n)
	neighbours := make([]atomic.Int32, n)
	var lagged atomic.Int64
	// Sessions this process dialled, and the start of the writes (ns
	// since base, 0 before) to tell those during the writes.
	var dialled, dialledWriting, writingFrom atomic.Int64
	var readers sync.WaitGroup
	subs := make([]*live.Subscription, 0, n)
	defer func() {
		for _, s := range subs {
			s.Close()
		}
		readers.Wait()
	}()
	read := func(node int, sub *live.Subscription) {
		subs = append(subs, sub)
		readers.Go(func() {
			up := map[endpoint.NodeID]bool{}
			for ev := range sub.C() {
				switch ev.Kind {
				case live.EventInsertRemote:
					now := int64(time.Since(base))
					k, ok := strings.CutPrefix(string(ev.Entry.Key), "w")
					if !ok {
						continue
					}
					w, err := strconv.Atoi(k)
					if err != nil || w < 0 || w >= *writes {
						continue
					}
					arrived[w*n+node].CompareAndSwap(0, now)
				case live.EventNeighborUp:
					up[ev.Peer] = true
					neighbours[node].Store(int32(len(up)))
				case live.EventNeighborDown:
					delete(up, ev.Peer)
					neighbours[node].Store(int32(len(up)))
				case live.EventLagged:
					lagged.Add(int64(ev.Missed))
				case live.EventSyncFinished:
					if ev.Outcome.Role == live.Initiator {
						dialled.Add(1)
						if w := writingFrom.Load(); w != 0 && int64(time.Since(base)) > w {
							dialledWriting.Add(1)
						}
					}
				}
			}
		})
	}

	t0 := time.Now()
	doc0, err := engines[0].Docs().Create(ctx)
	if err != nil {
		return err
	}
	sub0, err := doc0.Subscribe(ctx)
	if err != nil {
		return err
	}
	read(0, sub0)
	tk, err := doc0.Share(ctx, engine.ShareWrite)
	if err != nil {
		return err
	}
	docs := []*engine.Doc{doc0}
	for i := 1; i < n; i++ {
		// Each node joins through the nodes before it (a ticket holds at
		// most ticket.MaxNodes), node 0 always among them.
		peers := []endpoint.NodeAddr{engines[0].NodeAddr()}
		for j := max(1, i-(ticket.MaxNodes-1)); j < i; j++ {
			peers = append(peers, engines[j].NodeAddr())
		}
		t, err := ticket.New(tk.Capability, peers...)
		if err != nil {
			return err
		}
		d, sub, err := engines[i].Docs().ImportAndSubscribe(ctx, t)
		if err != nil {
			return err
		}
		read(i, sub)
		docs = append(docs, d)
	}
	formed := false
	for deadline := time.Now().Add(*form); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		formed = true
		for i := range n {
			if int(neighbours[i].Load()) < n-1 {
				formed = false
			}
		}
		if formed {
			break
		}
	}
	counts := make([]int32, n)
	for i := range n {
		counts[i] = neighbours[i].Load()
	}
	fmt.Printf("swarm of %d nodes: formed=%v in %.2f s, neighbours per node %v\n", n, formed, time.Since(t0).Seconds(), counts)
	// The swarm's first sync sessions (one per neighbour pair, and their
	// connection handshakes) are the join's cost, not live delivery's:
	// the writes start once no session has ended for -settle.
	settled := time.Now()
	for last, deadline := dialled.Load(), time.Now().Add(*form); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if d := dialled.Load(); d != last {
			last, settled = d, time.Now()
		} else if time.Since(settled) >= *settle {
			break
		}
	}
	fmt.Printf("first sessions settled: %d dialled, %.2f s after the swarm formed\n", dialled.Load(), time.Since(t0).Seconds())

	authors := make([]replica.Author, n)
	for i, e := range engines {
		if authors[i], err = e.Authors().Default(ctx); err != nil {
			return err
		}
	}
	value := make([]byte, 64)
	setTimes := make([]time.Duration, 0, *writes)
	// DOCSBENCH_LIVE_CPUPROFILE=file profiles the writes and deliveries.
	stopProfile, err := cpuProfileFromEnv("DOCSBENCH_LIVE_CPUPROFILE")
	if err != nil {
		return err
	}
	cpu0, alloc0, gc0 := cpuTime(), heapAllocated(), gcCycles()
	start := time.Now()
	writingFrom.Store(int64(time.Since(base)))
	next := start
	for w := range *writes {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(*interval)
		i := w % n
		s0 := time.Since(base)
		sent[w].Store(int64(s0))
		if _, err := docs[i].Set(ctx, authors[i], fmt.Appendf(nil, "w%06d", w), fmt.Appendf(value[:0], "value of write %d by node %d", w, i)); err != nil {
			return fmt.Errorf("write %d on node %d: %w", w, i, err)
		}
		stored[w] = int64(time.Since(base))
		setTimes = append(setTimes, time.Duration(stored[w])-s0)
	}
	wrote := time.Since(start)
	want := *writes * (n - 1)
	delivered := func() int {
		c := 0
		for w := range *writes {
			for r := range n {
				if r != w%n && arrived[w*n+r].Load() != 0 {
					c++
				}
			}
		}
		return c
	}
	for end := time.Now().Add(*grace); time.Now().Before(end) && delivered() < want; {
		time.Sleep(20 * time.Millisecond)
	}
	cpu, busy := cpuTime()-cpu0, time.Since(start)
	allocated, cycles := heapAllocated()-alloc0, gcCycles()-gc0
	stopProfile()

	lat := make([]time.Duration, 0, want)
	afterSet := make([]time.Duration, 0, want) // from Set's return
	for w := range *writes {
		for r := range n {
			if a := arrived[w*n+r].Load(); r != w%n && a != 0 {
				lat = append(lat, time.Duration(a-sent[w].Load()))
				afterSet = append(afterSet, time.Duration(a-stored[w]))
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(afterSet)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	slices.Sort(setTimes)
	fmt.Printf("Set took p50 %.2f ms, p99 %.2f ms\n", ms(setTimes[len(setTimes)/2]), ms(setTimes[len(setTimes)*99/100]))
	if len(afterSet) > 0 {
		fmt.Printf("from Set's return to delivery: p50 %.2f ms, p99 %.2f ms\n", ms(afterSet[len(afterSet)/2]), ms(afterSet[len(afterSet)*99/100]))
	}
	fmt.Printf("wrote %d entries in %.2f s (%.0f/s); %d of %d deliveries; lagged events %d; max %.1f ms\n",
		*writes, wrote.Seconds(), float64(*writes)/wrote.Seconds(), len(lat), want, lagged.Load(), pct(1))
	fmt.Printf("sync sessions dialled: %d before the writes, %d after the first write\n", dialled.Load()-dialledWriting.Load(), dialledWriting.Load())
	fmt.Printf("heap allocated from the first write to the last delivery: %.1f MB, %.1f KB per delivery, %d GC cycles\n",
		float64(allocated)/(1<<20), float64(allocated)/1024/float64(max(len(lat), 1)), cycles)
	fmt.Printf("CPU from the first write to the last delivery: %.2f s in %.2f s (%.0f%% of one core), %.0f µs per delivery\n",
		cpu.Seconds(), busy.Seconds(), 100*cpu.Seconds()/busy.Seconds(), float64(cpu.Microseconds())/float64(max(len(lat), 1)))
	var limited, hints uint64
	for _, e := range engines {
		g := e.GossipStats()
		limited += g.OpsPeerLimited + g.OpsNodeLimited
		if st, err := e.SyncStats(ctx); err == nil {
			hints += st.HintsIgnored
		}
	}
	fmt.Printf("gossip ops dropped by the receive budgets: %d; gossiped hints ignored: %d\n", limited, hints)
	fmt.Printf("live nodes=%d writes=%d p50_ms=%.2f p99_ms=%.2f delivered_pct=%.2f\n",
		n, *writes, pct(0.50), pct(0.99), 100*float64(len(lat))/float64(want))
	return nil
}

// heapAllocated is the bytes allocated on the heap since the process
// started.
func heapAllocated() uint64 { return readUint64Metric("/gc/heap/allocs:bytes") }

// gcCycles is the number of completed GC cycles.
func gcCycles() uint64 { return readUint64Metric("/gc/cycles/total:gc-cycles") }

func readUint64Metric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/replica"
)

func init() { scenarios["idle"] = runIdle }

// runIdle measures what a quiet node costs: n engines on loopback in this
// process share docs documents (each created on node 0 with a few entries
// and imported on the others); once every node has confirmed every
// document with node 0 (WaitSynced), nothing is written for the idle
// window, and the process's CPU time over it (getrusage, user + system)
// is reported as a share of one core, for all the nodes together, with the
// process's context switches over the window (about its wake-ups).
// DOCSBENCH_IDLE_CPUPROFILE and DOCSBENCH_IDLE_TRACE record a CPU profile
// and an execution trace of the window alone.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	docs := fs.Int("docs", 100, "documents, each shared by every node")
	nodes := fs.Int("nodes", 3, "engines")
	seconds := fs.Float64("seconds", 30, "length of the idle window")
	settle := fs.Duration("settle", 3*time.Second, "quiet time after setup before the window opens")
	gossipEvery := fs.Duration("gossip-interval", 0, "gossip.Config.GossipInterval (0: the default)")
	probeEvery := fs.Duration("probe-interval", 0, "gossip.Config.ProbeInterval (0: the default)")
	pushPullEvery := fs.Duration("push-pull-interval", 0, "gossip.Config.PushPullInterval (0: the default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 2 || *docs < 1 || *seconds <= 0 {
		return fmt.Errorf("need -nodes >= 2, -docs >= 1, -seconds > 0")
	}
	ctx := context.Background()
	n := *nodes
	engines, closeAll, err := openEngines(ctx, n, func(_ int, cfg *engine.Config) {
		if *gossipEvery > 0 {
			cfg.Gossip.GossipInterval = *gossipEvery
		}
		if *probeEvery > 0 {
			cfg.Gossip.ProbeInterval = *probeEvery
		}
		if *pushPullEvery > 0 {
			cfg.Gossip.PushPullInterval = *pushPullEvery
		}
	})
	defer closeAll()
	if err != nil {
		return err
	}
	t0 := time.Now()
	author, err := engines[0].Authors().Default(ctx)
	if err != nil {
		return err
	}
	imported := make([][]*engine.Doc, n)
	for range *docs {
		d, err := engines[0].Docs().Create(ctx)
		if err != nil {
			return err
		}
		for k := range 3 {
			if _, err := d.Set(ctx, author, fmt.Appendf(nil, "key-%d", k), []byte("value")); err != nil {
				return err
			}
		}
		tk, err := d.Share(ctx, engine.ShareWrite)
		if err != nil {
			return err
		}
		for i := 1; i < n; i++ {
			bd, err := engines[i].Docs().Import(ctx, tk)
			if err != nil {
				return err
			}
			imported[i] = append(imported[i], bd)
		}
	}
	// Every importer confirms every document with node 0.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i < n; i++ {
		wg.Go(func() {
			for _, d := range imported[i] {
				if err := d.WaitSynced(wctx, engines[0].NodeID()); err != nil {
					errs <- fmt.Errorf("node %d, %s: %w", i, d.ID().Short(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("%d documents on %d nodes synced in %.2f s; settling %v\n", *docs, n, time.Since(t0).Seconds(), *settle)
	time.Sleep(*settle)
	runtime.GC()

	window := time.Duration(*seconds * float64(time.Second))
	// DOCSBENCH_IDLE_CPUPROFILE=file profiles the idle window alone.
	stopProfile, err := cpuProfileFromEnv("DOCSBENCH_IDLE_CPUPROFILE")
	if err != nil {
		return err
	}
	// DOCSBENCH_IDLE_TRACE=file records an execution trace of the window,
	// which shows what wakes the process (go tool trace).
	stopTrace, err := traceFromEnv("DOCSBENCH_IDLE_TRACE")
	if err != nil {
		stopProfile()
		return err
	}
	cpu0, csw0, start := cpuTime(), contextSwitches(), time.Now()
	time.Sleep(window)
	cpu, csw, elapsed := cpuTime()-cpu0, contextSwitches()-csw0, time.Since(start)
	stopTrace()
	stopProfile()

	// Still in sync after the window: nothing was lost or written.
	for i := 1; i < n; i++ {
		for _, d := range imported[i] {
			c := 0
			for _, err := range d.Query(ctx, replica.Query{}) {
				if err != nil {
					return err
				}
				c++
			}
			if c != 3 {
				return fmt.Errorf("node %d holds %d entries of %s, want 3", i, c, d.ID().Short())
			}
		}
	}
	// Each time a thread of the process goes to sleep (a futex or epoll
	// wait) counts one switch; while idle that is close to the number of
	// wake-ups, which cost more than the work they do.
	fmt.Printf("idle window: %d context switches, %.0f a second\n", csw, float64(csw)/elapsed.Seconds())
	fmt.Printf("idle docs=%d nodes=%d seconds=%.0f cpu_s=%.3f cpu_pct=%.2f\n",
		*docs, n, elapsed.Seconds(), cpu.Seconds(), 100*cpu.Seconds()/elapsed.Seconds())
	return nil
}

// contextSwitches is how often the process's threads have gone off a CPU,
// voluntarily or not (getrusage).
func contextSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw + ru.Nivcsw
}

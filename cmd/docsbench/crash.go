package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/client"
)

func init() { scenarios["crash"] = runCrash }

const crashHelp = `usage: docsbench crash [flags]

Durability under SIGKILL, with a real process: one docsnode daemon (docsnode
start, built with go build into a temporary directory unless -bin is given)
on a temporary data directory. It creates a durable and a batched
document. Each cycle restarts the daemon on the same data directory,
checks what the last cycle acknowledged, and runs -writers writers that
set values on the durable document through the API as fast as they can
(three in four of 1 byte to 16 KiB, kept in the small-blob database, the
rest of up to 96 KiB, a file each) and one writer on the batched document;
after a random time between -min-run and -max-run the daemon gets SIGKILL.
A write is acknowledged when its API call returned the entry.

After each restart every durable key acknowledged in the cycle must be
there with its content, bit-exact; after the last cycle the daemon stops
cleanly and every key acknowledged in any cycle is checked again. A batched
key acknowledged before the kill may be missing; the scenario reports how
many went missing at most in one cycle and how long before the kill the
oldest of them was acknowledged.

SIGKILL leaves the page cache to the kernel, so it tests what the daemon
acknowledges before its writes reach the kernel, not fsync: the power-loss
tests in the actor, blobs and engine packages do that on a crashable file
system.

Figures (last line):
  cycles             kills and restarts
  acked              durable writes acknowledged
  lost               of those, entries missing after a restart
  content_lost       entries there whose content is missing or differs
  batched_max_lost   most batched writes lost in one cycle
  batched_window_ms  largest time from a lost batched write's
                     acknowledgement to the kill

Flags:
`

// runCrash kills a writing daemon again and again and checks what it
// acknowledged; see crashHelp.
func runCrash(args []string) error {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), crashHelp)
		fs.PrintDefaults()
	}
	cycles := fs.Int("cycles", 50, "kills and restarts")
	writers := fs.Int("writers", 4, "concurrent writers on the durable document")
	minRun := fs.Duration("min-run", 100*time.Millisecond, "shortest time the writers run before the kill")
	maxRun := fs.Duration("max-run", time.Second, "longest time the writers run before the kill")
	seed := fs.Uint64("seed", 0, "seed of the kill times and values (0: from the clock)")
	bin := fs.String("bin", "", "the docsnode binary (default: go build it)")
	parent := fs.String("dir", "", "parent of the temporary directory (default: the system's)")
	setup := fs.Duration("setup", 60*time.Second, "longest wait for the daemon's API after a start")
	stop := fs.Duration("stop", 15*time.Second, "how long the daemon may take to exit after the last cycle's SIGTERM")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *cycles < 1 || *writers < 1 || *minRun <= 0 || *maxRun < *minRun {
		return fmt.Errorf("need -cycles >= 1, -writers >= 1 and 0 < -min-run <= -max-run")
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	fmt.Printf("seed %d\n", *seed)
	rng := rand.New(rand.NewPCG(*seed, 0))
	ctx := context.Background()
	tmp, err := os.MkdirTemp(*parent, "docsbench-crash-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "docsnode")
		build := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/docsnode/docsnode/cmd/docsnode")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build docsnode (run inside the module, or pass -bin): %w\n%s", err, out)
		}
	}

	var (
		durableDoc, batchedDoc string
		all                    []string // every durable key acknowledged and found since
		st                     crashStats
	)
	var d *daemonProc
	defer func() {
		if d != nil {
			d.stop(*stop)
		}
	}()
	var pending []string // durable keys acknowledged in the last cycle
	var batched []ackedAt
	var killedAt time.Time
	for cycle := 0; cycle <= *cycles; cycle++ {
		if d, err = startDaemon(*bin, tmp, "node", *setup); err != nil {
			return fmt.Errorf("cycle %d: %w", cycle, err)
		}
		if cycle == 0 {
			dd, err := d.c.CreateDoc(ctx, true)
			if err != nil {
				return fmt.Errorf("create the durable document: %w", err)
			}
			bd, err := d.c.CreateDoc(ctx, false)
			if err != nil {
				return fmt.Errorf("create the batched document: %w", err)
			}
			durableDoc, batchedDoc = dd.ID, bd.ID
		} else {
			if err := st.check(ctx, d.c, durableDoc, pending, &all); err != nil {
				return fmt.Errorf("cycle %d: %w", cycle, err)
			}
			if err := st.checkBatched(ctx, d.c, batchedDoc, batched, killedAt); err != nil {
				return fmt.Errorf("cycle %d: %w", cycle, err)
			}
		}
		if cycle == *cycles {
			break
		}
		run := *minRun + time.Duration(rng.Int64N(int64(*maxRun-*minRun)+1))
		pending, batched, killedAt, err = crashCycle(ctx, d, cycle, *writers, run, durableDoc, batchedDoc, rng.Uint64())
		if err != nil {
			return fmt.Errorf("cycle %d: %w", cycle, err)
		}
		st.cycles++
		st.acked += len(pending)
		d = nil
	}
	// A clean stop, then every key once more: a later crash must not have
	// damaged what an earlier one kept.
	if err := d.stop(*stop); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if d, err = startDaemon(*bin, tmp, "node", *setup); err != nil {
		return fmt.Errorf("final start: %w", err)
	}
	final := all
	all = nil
	if err := st.check(ctx, d.c, durableDoc, final, &all); err != nil {
		return fmt.Errorf("final check: %w", err)
	}
	fmt.Printf("crash cycles=%d acked=%d lost=%d content_lost=%d batched_max_lost=%d batched_window_ms=%.1f\n",
		st.cycles, st.acked, st.lost, st.contentLost, st.batchedMaxLost, ms(st.batchedWindow))
	return nil
}

// ackedAt is a batched key and when its write was acknowledged.
type ackedAt struct {
	key string
	at  time.Time
}

type crashStats struct {
	cycles, acked, lost, contentLost int
	batchedMaxLost                   int
	batchedWindow                    time.Duration
}

// crashValue is the value written at key: its length and bytes follow
// from the key, so nothing but the keys is kept.
func crashValue(key string) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	n := 1 + r.IntN(16<<10)
	if r.IntN(4) == 0 {
		n = 16<<10 + 1 + r.IntN(80<<10)
	}
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// crashCycle runs the writers for run, kills the daemon and returns the
// durable keys and the batched writes acknowledged before the kill, and
// when it was.
func crashCycle(ctx context.Context, d *daemonProc, cycle, writers int, run time.Duration, durableDoc, batchedDoc string, seed uint64) ([]string, []ackedAt, time.Time, error) {
	var (
		killed  atomic.Bool
		mu      sync.Mutex
		durable []string
		batched []ackedAt
		errs    []error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		if killed.Load() {
			return // a call the kill cut short
		}
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range writers {
		wg.Go(func() {
			for n := 0; !killed.Load(); n++ {
				key := fmt.Sprintf("c%03d/w%d/%06d", cycle, w, n)
				if _, err := d.c.Set(ctx, durableDoc, key, crashValue(key), client.SetOptions{}); err != nil {
					fail(fmt.Errorf("durable set %s: %w", key, err))
					return
				}
				mu.Lock()
				durable = append(durable, key)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for n := 0; !killed.Load(); n++ {
			key := fmt.Sprintf("c%03d/b/%06d", cycle, n)
			if _, err := d.c.Set(ctx, batchedDoc, key, crashValue(key), client.SetOptions{}); err != nil {
				fail(fmt.Errorf("batched set %s: %w", key, err))
				return
			}
			now := time.Now()
			mu.Lock()
			batched = append(batched, ackedAt{key, now})
			mu.Unlock()
		}
	})
	timer := time.NewTimer(run)
	select {
	case <-timer.C:
	case <-d.exited:
		timer.Stop()
		return nil, nil, time.Time{}, fmt.Errorf("daemon exited while writing (%s):\n%s", d.cmd.ProcessState, d.logTail())
	}
	// What was acknowledged when the kill was sent is what must survive.
	mu.Lock()
	killedAt := time.Now()
	killed.Store(true)
	err := d.cmd.Process.Kill()
	ackedDurable := append([]string(nil), durable...)
	ackedBatched := append([]ackedAt(nil), batched...)
	mu.Unlock()
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("SIGKILL: %w", err)
	}
	<-d.exited
	d.c.Close()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, time.Time{}, err
	}
	return ackedDurable, ackedBatched, killedAt, nil
}

// check reads every key of keys back; those found whole are appended to
// kept.
func (st *crashStats) check(ctx context.Context, c *client.Client, doc string, keys []string, kept *[]string) error {
	for _, key := range keys {
		if _, err := c.GetEntry(ctx, doc, key, client.GetOptions{}); client.IsNotFound(err) {
			st.lost++
			fmt.Printf("lost: %s\n", key)
			continue
		} else if err != nil {
			return fmt.Errorf("get entry %s: %w", key, err)
		}
		b, _, err := c.Get(ctx, doc, key, client.GetOptions{})
		if err != nil || !bytes.Equal(b, crashValue(key)) {
			st.contentLost++
			fmt.Printf("content lost: %s (%d bytes read, %v)\n", key, len(b), err)
			continue
		}
		*kept = append(*kept, key)
	}
	return nil
}

// checkBatched counts the batched writes acknowledged before the kill at
// killedAt and missing now, and how long before the kill the oldest of
// them was acknowledged.
func (st *crashStats) checkBatched(ctx context.Context, c *client.Client, doc string, acked []ackedAt, killedAt time.Time) error {
	lost := 0
	for _, a := range acked {
		_, err := c.GetEntry(ctx, doc, a.key, client.GetOptions{})
		if client.IsNotFound(err) {
			if lost == 0 {
				st.batchedWindow = max(st.batchedWindow, killedAt.Sub(a.at))
			}
			lost++
			continue
		}
		if err != nil {
			return fmt.Errorf("get entry %s: %w", a.key, err)
		}
	}
	st.batchedMaxLost = max(st.batchedMaxLost, lost)
	return nil
}

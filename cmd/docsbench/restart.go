package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/internal/testutil"
)

func init() { scenarios["restart"] = runRestart }

const restartHelp = `usage: docsbench restart [flags]

Two nodes, a and b, on the default config with data directories on disk
and UDP sockets on 127.0.0.1 port 0, share one document live (a shares a
write ticket, b imports it). a then writes one entry every -interval while
b is closed, stays down for -down, and is reopened on the same data
directory: it gets a new port, and resumes the document's sync by itself.
b subscribes to the document right after engine.Open returns.

Figures (last line):
  delivered_live_pct  of a's writes whose Set started after b's subscription
                      was open, the percentage that b received as an
                      EventInsertRemote within -window of the start of Set
  first_live_ms       from engine.Open returning on b to the first
                      EventInsertRemote on b for one of those writes (-1: none)
  waitsynced_ms       how long a's Doc.WaitSynced(ctx, b), called once the
                      last write returned, took (-1: it timed out after
                      -waitsynced-timeout or failed; stderr says which)

Flags:
`

// runRestart measures how fast live sync comes back to a node that
// restarted on a new port; see restartHelp.
func runRestart(args []string) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), restartHelp)
		fs.PrintDefaults()
	}
	writes := fs.Int("writes", 50, "entries a writes, from just before b is closed")
	interval := fs.Duration("interval", 100*time.Millisecond, "pause between two writes")
	down := fs.Duration("down", 500*time.Millisecond, "how long b stays closed")
	window := fs.Duration("window", time.Second, "longest write-to-event time that counts as delivered live")
	waitTimeout := fs.Duration("waitsynced-timeout", 10*time.Second, "longest wait for a's WaitSynced(b) after the last write")
	setup := fs.Duration("setup", 30*time.Second, "longest wait for b's first sync and live write before the restart")
	parent := fs.String("dir", "", "parent of the nodes' temporary data directories (default: the system's)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *writes < 1 || *interval <= 0 || *window <= 0 {
		return fmt.Errorf("need -writes >= 1, -interval > 0 and -window > 0")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp(*parent, "docsbench-restart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	config := func(name string) engine.Config {
		cfg := engine.DefaultConfig(filepath.Join(dir, name))
		cfg.Endpoint.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
		return cfg
	}
	cfgB := config("b")

	a, err := engine.Open(ctx, config("a"))
	if err != nil {
		return fmt.Errorf("open a: %w", err)
	}
	defer a.Close()
	b, err := engine.Open(ctx, cfgB)
	if err != nil {
		return fmt.Errorf("open b: %w", err)
	}
	defer func() { b.Close() }() // the b open at the end

	// b joins and the pair is live: the first sync is done, a is b's
	// swarm neighbour and a recorded sync peer (what b resumes with), and
	// one write of a reaches b as an event.
	t0 := time.Now()
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		return err
	}
	author, err := a.Authors().Default(ctx)
	if err != nil {
		return err
	}
	tk, err := doc.Share(ctx, engine.ShareWrite)
	if err != nil {
		return err
	}
	bdoc, sub, err := b.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		return err
	}
	synced, neighbour := false, false
	if err := awaitEvents(sub, *setup, func(ev engine.Event) bool {
		switch {
		case ev.Kind == engine.EventSyncFinished && ev.Peer == a.NodeID() && ev.Err == nil:
			synced = true
		case ev.Kind == engine.EventNeighborUp && ev.Peer == a.NodeID():
			neighbour = true
		}
		return synced && neighbour
	}); err != nil {
		return fmt.Errorf("b joining a (synced %v, neighbour %v): %w", synced, neighbour, err)
	}
	// The store records the sync peer after the session; no event says so.
	if err := testutil.Poll(*setup, func() bool {
		peers, err := bdoc.SyncPeers(ctx)
		return err == nil && slices.Contains(peers, a.NodeID())
	}); err != nil {
		return fmt.Errorf("b did not record a as a sync peer: %w", err)
	}
	joined := time.Since(t0)
	w0 := time.Now()
	if _, err := doc.Set(ctx, author, []byte("before-restart"), []byte("warm")); err != nil {
		return err
	}
	if err := awaitEvents(sub, *setup, func(ev engine.Event) bool {
		return ev.Kind == engine.EventInsertRemote && string(ev.Entry.Key) == "before-restart"
	}); err != nil {
		return fmt.Errorf("a's write before the restart did not reach b: %w", err)
	}
	fmt.Printf("before the restart: b joined in %.0f ms; a live write reached b in %.1f ms\n", ms(joined), ms(time.Since(w0)))
	sub.Close()

	// a writes at a steady pace; sent[w] is when write w's Set started.
	// The main goroutine reads sent only once writesDone is closed.
	sent := make([]time.Time, *writes)
	writesDone := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		next := time.Now()
		for w := range *writes {
			if d := time.Until(next); d > 0 {
				time.Sleep(d) // pacing the writes
			}
			next = next.Add(*interval)
			sent[w] = time.Now()
			if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "w%04d", w), fmt.Appendf(nil, "write %d", w)); err != nil {
				writeErr <- fmt.Errorf("write %d: %w", w, err)
				return
			}
		}
		close(writesDone)
	}()

	oldAddr, bID := b.NodeAddr(), b.NodeID()
	c0 := time.Now()
	if err := b.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "closing b: %v\n", err)
	}
	closed := time.Since(c0)
	time.Sleep(*down) // b is down
	o0 := time.Now()
	b2, err := engine.Open(ctx, cfgB)
	if err != nil {
		return fmt.Errorf("reopen b: %w", err)
	}
	reopened := time.Now()
	b = b2
	if bdoc, err = b.Docs().Open(ctx, doc.ID()); err != nil {
		return fmt.Errorf("b opening the document after the restart: %w", err)
	}
	if sub, err = bdoc.Subscribe(ctx); err != nil {
		return fmt.Errorf("b subscribing after the restart: %w", err)
	}
	defer sub.Close()
	subscribed := time.Now()
	newAddr := b.NodeAddr()
	fmt.Printf("b: closed in %.0f ms, down %v, reopened in %.0f ms; address %v -> %v\n",
		ms(closed), *down, ms(reopened.Sub(o0)), oldAddr, newAddr)
	if b.NodeID() != bID {
		return fmt.Errorf("b's node id changed across the restart")
	}
	if slices.Equal(oldAddr.Addrs, newAddr.Addrs) {
		fmt.Fprintln(os.Stderr, "b got its old port back: this run does not test a new port")
	}

	// Read b's events until the writes are over, WaitSynced has returned
	// and every write after the subscription arrived or ran out its window.
	arrived := map[int]time.Time{}
	var lagged uint64
	type waitResult struct {
		took time.Duration
		err  error
	}
	waited := make(chan waitResult, 1)
	var (
		wait      *waitResult
		counted   []int // the writes made after the subscription opened
		windowEnd <-chan time.Time
		over      bool // the last write's window has passed
	)
	for wait == nil || !over && !allArrived(counted, arrived) {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				return fmt.Errorf("b's subscription closed")
			}
			switch ev.Kind {
			case engine.EventInsertRemote:
				k, ok := strings.CutPrefix(string(ev.Entry.Key), "w")
				w, err := strconv.Atoi(k)
				if _, seen := arrived[w]; ok && err == nil && !seen {
					arrived[w] = time.Now()
				}
			case engine.EventLagged:
				lagged += ev.Missed
			}
		case err := <-writeErr:
			return err
		case <-writesDone:
			writesDone = nil
			for w, t := range sent {
				if t.After(subscribed) {
					counted = append(counted, w)
				}
			}
			windowEnd = time.After(time.Until(sent[len(sent)-1].Add(*window)))
			go func() {
				wctx, cancel := context.WithTimeout(ctx, *waitTimeout)
				defer cancel()
				w0 := time.Now()
				err := doc.WaitSynced(wctx, bID)
				waited <- waitResult{time.Since(w0), err}
			}()
		case r := <-waited:
			wait = &r
		case <-windowEnd:
			over = true
		}
	}
	if len(counted) == 0 {
		return fmt.Errorf("no write started after b's reopen; raise -writes or lower -down")
	}

	live, late := 0, 0
	first := time.Duration(-1)
	for _, w := range counted {
		t, ok := arrived[w]
		if !ok {
			continue
		}
		if t.Sub(sent[w]) <= *window {
			live++
		} else {
			late++
		}
		if d := t.Sub(reopened); first < 0 || d < first {
			first = d
		}
	}
	firstMS := -1.0
	if first >= 0 {
		firstMS = ms(first)
	}
	waitMS := ms(wait.took)
	if wait.err != nil {
		waitMS = -1
		if errors.Is(wait.err, context.DeadlineExceeded) {
			fmt.Fprintf(os.Stderr, "a's WaitSynced(b) timed out after %v\n", *waitTimeout)
		} else {
			fmt.Fprintf(os.Stderr, "a's WaitSynced(b) failed after %.0f ms: %v\n", ms(wait.took), wait.err)
		}
	}
	fmt.Printf("writes after b's reopen: %d of %d; %d arrived within %v, %d later, %d not by the end; lagged events %d\n",
		len(counted), *writes, live, *window, late, len(counted)-live-late, lagged)
	fmt.Printf("restart writes=%d delivered_live_pct=%.2f first_live_ms=%.1f waitsynced_ms=%.1f\n",
		*writes, 100*float64(live)/float64(len(counted)), firstMS, waitMS)
	return nil
}

// awaitEvents reads sub until done returns true, for at most timeout.
func awaitEvents(sub *engine.Subscription, timeout time.Duration, done func(engine.Event) bool) error {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				return errors.New("subscription closed")
			}
			if done(ev) {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("not within %v", timeout)
		}
	}
}

func allArrived(writes []int, arrived map[int]time.Time) bool {
	if writes == nil {
		return false
	}
	for _, w := range writes {
		if _, ok := arrived[w]; !ok {
			return false
		}
	}
	return true
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/replica"
)

// Content garbage collection. Content that no entry of any document names
// any more (its entry was overwritten or deleted, or its document
// dropped) is removed once a pass has found it unreferenced and a later
// pass, at least GCConfig.Grace later, finds it unreferenced still.
//
// A pass:
//
//  1. subscribes to every document's inserts, so that an entry written
//     while the pass runs marks its content too;
//  2. lists the blobs held (blobs.Store.Each);
//  3. marks: pages through every document's entries
//     (actor.ContentHashes), one store trip of GCConfig.Batch entries at a
//     time, and strikes every hash named from the list;
//  4. sweeps what is left that is due, GCConfig.Batch removals per step
//     with GCConfig.Pause between steps, skipping what is protected.
//
// Protected content is never removed: content a fetch is writing (the
// store refuses the removal), content in the wanted set, and content held
// through the engine's guard (PinContent): what Doc.Set has put and not yet
// named by an entry, what gossip delivers before its entry is stored, and
// what a ContentReader streams. A pass that misses inserts (its
// subscription lagged) removes nothing. First-unreferenced times live in
// memory: a restart starts afresh, which only delays collection.

// Defaults of GCConfig.
const (
	DefaultGCInterval = 5 * time.Minute
	DefaultGCGrace    = 10 * time.Minute
	DefaultGCBatch    = 512
	DefaultGCPause    = 10 * time.Millisecond
)

// GCConfig tunes content garbage collection. A zero field takes its
// default.
type GCConfig struct {
	// Interval is the time between the end of one background pass and the
	// start of the next. Default DefaultGCInterval (5m); a negative value
	// turns the background passes off (Engine.CollectGarbage still runs
	// one).
	Interval time.Duration
	// Grace is how long content must stay unreferenced before it is
	// removed: the pass that removes it must come at least Grace after
	// the pass that first found it unreferenced. Default DefaultGCGrace
	// (10m).
	Grace time.Duration
	// Batch is how many entries one store trip of the mark reads, and how
	// many blobs one step of the sweep removes. Default DefaultGCBatch
	// (512).
	Batch int
	// Pause is the wait between two steps of a pass, which leaves the
	// store and the disk to other work. Default DefaultGCPause (10ms).
	Pause time.Duration
	// Now is the clock the grace period is measured on. Default the
	// engine's Config.Now, else time.Now; tests move it forward rather
	// than wait.
	Now func() time.Time
}

func (c GCConfig) withDefaults(now func() time.Time) GCConfig {
	if c.Interval == 0 {
		c.Interval = DefaultGCInterval
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGCGrace
	}
	if c.Batch <= 0 {
		c.Batch = DefaultGCBatch
	}
	if c.Pause <= 0 {
		c.Pause = DefaultGCPause
	}
	if c.Now == nil {
		c.Now = now
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// GCStats is what content garbage collection has done since the engine
// opened (Engine.GCStats), and what its last pass found.
type GCStats struct {
	// Runs counts the passes that ran to their end.
	Runs uint64
	// Abandoned counts the passes that removed nothing because they
	// missed inserts (their store subscription lagged) or failed.
	Abandoned uint64
	// BlobsRemoved and BytesRemoved count what the passes removed.
	BlobsRemoved uint64
	BytesRemoved uint64
	// Held is the number of blobs the last pass found held, partial data
	// included.
	Held int
	// Unreferenced is the number of held blobs the last pass found no
	// entry naming, removed or not.
	Unreferenced int
	// Protected is the number of unreferenced blobs the last pass kept
	// because they were being fetched, wanted, written or pinned.
	Protected int
	// Pending is the number of unreferenced blobs waiting out the grace
	// period after the last pass.
	Pending int
	// LastRun is when the last pass ended (the system clock); zero before
	// the first.
	LastRun time.Time
	// LastDuration is how long the last pass took.
	LastDuration time.Duration
	// LastErr is why the last pass failed, empty when it did not.
	LastErr string
}

// PinContent keeps the content with hash h from garbage collection until
// unpin is called, whether or not an entry names it: for content an
// application streams out, or has put and is about to name. Pins nest:
// the content is free again once every pin is released. unpin may be
// called more than once.
func (e *Engine) PinContent(h Hash) (unpin func()) {
	release, _ := e.guard.protect(h)
	return release
}

// CollectGarbage runs one full garbage collection pass now, after the
// pass under way if there is one, and returns the stats as it leaves
// them. Content is removed only when an earlier pass found it
// unreferenced at least the grace period ago (GCConfig.Grace), so a
// first call only notes what it finds. It returns ctx.Err() when ctx
// ends first, and an error when the engine is closed.
func (e *Engine) CollectGarbage(ctx context.Context) (GCStats, error) {
	err := e.gc.pass(ctx)
	return e.gc.stats(), err
}

// GCStats returns what content garbage collection has done.
func (e *Engine) GCStats() GCStats { return e.gc.stats() }

// contentGuard is the engine's protect set: content held through it is
// never removed by the collector. A removal happens under the guard's
// lock after checking the set, so that no protect slips between the check
// and the removal, and it is counted: a writer that learns a hash only
// once its Put returns can tell whether the collector removed anything
// meanwhile, and so whether its Put may have been undone.
type contentGuard struct {
	mu       sync.Mutex
	held     map[replica.Hash]int
	removals uint64
	// onProtect, set by tests only, is called with each hash protected.
	onProtect func(replica.Hash)
}

// protect holds h until release; removals is the count of removals so
// far, taken under the same lock.
func (g *contentGuard) protect(h replica.Hash) (release func(), removals uint64) {
	g.mu.Lock()
	if g.held == nil {
		g.held = make(map[replica.Hash]int)
	}
	g.held[h]++
	removals = g.removals
	onProtect := g.onProtect
	g.mu.Unlock()
	if onProtect != nil {
		onProtect(h)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.held[h]--; g.held[h] <= 0 {
				delete(g.held, h)
			}
			g.mu.Unlock()
		})
	}, removals
}

// removalCount is the count of removals so far.
func (g *contentGuard) removalCount() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.removals
}

// isProtected reports whether h is held now.
func (g *contentGuard) isProtected(h replica.Hash) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[h] > 0
}

// removeUnlessProtected runs remove for h unless h is held, under the
// lock; protected reports a refusal.
func (g *contentGuard) removeUnlessProtected(h replica.Hash, remove func() error) (protected bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[h] > 0 {
		return true, nil
	}
	g.removals++
	return false, remove()
}

// graceTracker remembers when each unreferenced blob was first found
// unreferenced, and says which are due for removal. It is plain state,
// used by one pass at a time.
type graceTracker struct {
	first map[replica.Hash]time.Time
}

// update takes the blobs a pass found unreferenced at now: it forgets
// those no longer unreferenced (named again, or gone), notes the new ones,
// and returns those first found at least grace before now.
func (t *graceTracker) update(unreferenced map[replica.Hash]int64, now time.Time, grace time.Duration) (due []replica.Hash) {
	if t.first == nil {
		t.first = make(map[replica.Hash]time.Time)
	}
	for h := range t.first {
		if _, ok := unreferenced[h]; !ok {
			delete(t.first, h)
		}
	}
	for h := range unreferenced {
		first, ok := t.first[h]
		if !ok {
			t.first[h] = now
			continue
		}
		if now.Sub(first) >= grace {
			due = append(due, h)
		}
	}
	return due
}

// forget drops h (removed, or found named).
func (t *graceTracker) forget(h replica.Hash) { delete(t.first, h) }

// pending is the number of blobs tracked.
func (t *graceTracker) pending() int { return len(t.first) }

// gcStore is what the collector needs of the content store.
type gcStore interface {
	Each(fn func(blobs.Held) bool) error
	Delete(h replica.Hash) (int64, error)
	Wanted(h replica.Hash) bool
	Fetching(h replica.Hash) bool
}

// collector runs the passes; one at a time (passMu).
type collector struct {
	cfg    GCConfig
	act    *actor.Actor
	store  gcStore
	guard  *contentGuard
	logger *slog.Logger

	passMu  sync.Mutex
	tracker graceTracker // guarded by passMu

	statsMu sync.Mutex
	st      GCStats

	// onPage, set by tests only, runs after each page of the mark.
	onPage func()

	base   context.Context    // ends with stop: every pass ends with it
	cancel context.CancelFunc // ends base
	wg     sync.WaitGroup
	closed atomic.Bool
}

// errGCClosed: the collector stopped with the engine (IsClosed).
var errGCClosed = fmt.Errorf("engine: collect garbage: %w", actor.ErrClosed)

func newCollector(cfg GCConfig, act *actor.Actor, store gcStore, guard *contentGuard, logger *slog.Logger) *collector {
	c := &collector{cfg: cfg, act: act, store: store, guard: guard, logger: logger}
	c.base, c.cancel = context.WithCancel(context.Background())
	return c
}

// start runs the background passes every Interval until stop.
func (c *collector) start() {
	if c.cfg.Interval < 0 {
		return
	}
	ctx := c.base
	c.wg.Go(func() {
		t := time.NewTimer(c.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := c.pass(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("docsnode engine: content garbage collection failed", "err", err)
			}
			t.Reset(c.cfg.Interval)
		}
	})
}

// stop ends the background loop and any pass under way, and waits for
// them; passes asked for later fail. Once it returns, the collector
// touches neither the store actor nor the content store again.
func (c *collector) stop() {
	c.closed.Store(true)
	c.cancel()
	c.wg.Wait()
	// A manual pass, cancelled with base, ends before the lock is free;
	// later passes see closed and do not start.
	c.passMu.Lock()
	defer c.passMu.Unlock()
}

func (c *collector) stats() GCStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return c.st
}

// namedSet is the hashes named by inserts seen during a pass.
type namedSet struct {
	mu     sync.Mutex
	hashes map[replica.Hash]struct{}
	lagged bool
}

func (n *namedSet) add(ev actor.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ev.Kind == actor.Lagged {
		n.lagged = true
		return
	}
	n.hashes[ev.Entry.Hash] = struct{}{}
}

// has reports whether h was named, and whether inserts were missed.
func (n *namedSet) has(h replica.Hash) (named, lagged bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, named = n.hashes[h]
	return named, n.lagged
}

// pass runs one pass and records its outcome in the stats.
func (c *collector) pass(ctx context.Context) error {
	if c.closed.Load() {
		return errGCClosed
	}
	c.passMu.Lock()
	defer c.passMu.Unlock()
	if c.closed.Load() {
		return errGCClosed
	}
	// A pass ends with the collector, whoever asked for it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.base, cancel)()
	began := time.Now()
	r, err := c.run(ctx)
	if err != nil && c.closed.Load() {
		err = errGCClosed
	}
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	st := &c.st
	st.BlobsRemoved += r.removed
	st.BytesRemoved += r.bytes
	st.LastRun, st.LastDuration = time.Now(), time.Since(began)
	st.LastErr = ""
	if err != nil {
		st.LastErr = err.Error()
	}
	if err != nil || r.abandoned {
		st.Abandoned++
	} else {
		st.Runs++
		st.Held, st.Unreferenced, st.Protected = r.held, r.unreferenced, r.protected
	}
	st.Pending = c.tracker.pending()
	return err
}

type passResult struct {
	held, unreferenced, protected int
	removed, bytes                uint64
	abandoned                     bool
}

// run is one pass; the caller holds passMu.
func (c *collector) run(ctx context.Context) (r passResult, err error) {
	// 1. Inserts from now on mark their content.
	sub, err := c.act.SubscribeAll(ctx)
	if err != nil {
		return r, fmt.Errorf("engine: collect garbage: subscribe: %w", err)
	}
	named := &namedSet{hashes: make(map[replica.Hash]struct{})}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range sub.C() {
			named.add(ev)
		}
	}()
	defer func() {
		sub.Close()
		<-drained
	}()

	// 2. What is held.
	held := make(map[replica.Hash]int64)
	if err := c.store.Each(func(b blobs.Held) bool {
		held[b.Hash] += b.Size
		return ctx.Err() == nil
	}); err != nil {
		return r, fmt.Errorf("engine: collect garbage: list content: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.held = len(held)

	// 3. Mark.
	docs, err := c.act.Docs(ctx)
	if err != nil {
		return r, fmt.Errorf("engine: collect garbage: list documents: %w", err)
	}
	for _, info := range docs {
		ns := info.ID()
		var after replica.Cursor
		for {
			hashes, next, err := c.act.ContentHashes(ctx, ns, after, c.cfg.Batch)
			if errors.Is(err, replica.ErrNotFound) {
				break // dropped meanwhile: its entries name nothing now
			}
			if err != nil {
				return r, fmt.Errorf("engine: collect garbage: entries of %s: %w", ns.Short(), err)
			}
			for _, h := range hashes {
				delete(held, h)
			}
			if c.onPage != nil {
				c.onPage()
			}
			if next == nil {
				break
			}
			after = next
			if err := c.sleep(ctx); err != nil {
				return r, err
			}
		}
	}
	named.mu.Lock()
	for h := range named.hashes {
		delete(held, h)
	}
	lagged := named.lagged
	named.mu.Unlock()
	if lagged {
		r.abandoned = true
		return r, nil
	}
	r.unreferenced = len(held)
	for h := range held {
		if c.guard.isProtected(h) || c.store.Wanted(h) || c.store.Fetching(h) {
			r.protected++
		}
	}

	// 4. Sweep what is due.
	due := c.tracker.update(held, c.cfg.Now(), c.cfg.Grace)
	for i, h := range due {
		if i > 0 && i%c.cfg.Batch == 0 {
			if err := c.sleep(ctx); err != nil {
				return r, err
			}
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		isNamed, lagged := named.has(h)
		if lagged {
			r.abandoned = true
			return r, nil
		}
		if isNamed {
			c.tracker.forget(h)
			continue
		}
		if c.store.Wanted(h) {
			continue
		}
		var n int64
		protected, err := c.guard.removeUnlessProtected(h, func() error {
			var err error
			n, err = c.store.Delete(h)
			return err
		})
		if protected || errors.Is(err, blobs.ErrFetching) {
			continue
		}
		if err != nil {
			return r, fmt.Errorf("engine: collect garbage: %w", err)
		}
		c.tracker.forget(h)
		r.removed++
		r.bytes += uint64(n)
	}
	return r, nil
}

// sleep waits Pause, or returns why the pass must stop.
func (c *collector) sleep(ctx context.Context) error {
	t := time.NewTimer(c.cfg.Pause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrContentCollected: the content a write stored was removed by garbage
// collection before the write could protect it (the same bytes were
// unreferenced content due for removal), and it could not be read again.
// Nothing was written; write again.
var ErrContentCollected = errors.New("engine: the content was collected while it was written; write it again")

// putProtected stores value with put and protects its hash from garbage
// collection; the caller releases it once an entry names the hash. The
// hash is known only once put returns, so a removal of the same content
// by the collector may have run between the put and the protect: when
// one ran, the content is checked, and put again when the reader can be
// rewound (Set's value always can).
func (e *Engine) putProtected(put func(io.Reader) (replica.Hash, uint64, error), value io.Reader) (replica.Hash, uint64, func(), error) {
	for attempt := 0; ; attempt++ {
		before := e.guard.removalCount()
		h, n, err := put(value)
		if err != nil {
			return h, n, nil, err
		}
		release, after := e.guard.protect(h)
		if after == before || e.blobs.Has(h) {
			return h, n, release, nil
		}
		release()
		seeker, ok := value.(io.Seeker)
		if !ok || attempt > 0 {
			return h, n, nil, ErrContentCollected
		}
		if _, err := seeker.Seek(0, io.SeekStart); err != nil {
			return h, n, nil, fmt.Errorf("%w: %w", ErrContentCollected, err)
		}
	}
}

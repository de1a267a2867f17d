package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// Errors returned by the actor. Store errors (replica.ErrNotFound,
// replica.ErrReadOnly, …) pass through wrapped.
var (
	// ErrClosed is returned by every call made after Close, and by calls
	// still waiting when Close runs.
	ErrClosed = errors.New("actor: closed")
	// ErrNotInserted is returned by a local write that the store refused even
	// after retrying with a later timestamp (another writer of the same
	// author keeps winning).
	ErrNotInserted = errors.New("actor: local write was superseded")
	// ErrStoreFailed is wrapped, with the store's own error, in the sticky
	// error of an actor whose store failed to commit or to sync its log:
	// every call from then on returns it. Writes acknowledged since the
	// last successful sync (Status.UnsyncedWrites) may be lost.
	ErrStoreFailed = errors.New("actor: the store failed to write and serves no more requests; check the disk, then reopen the store")
)

// Config tunes the actor. The zero value uses the defaults.
type Config struct {
	// FlushInterval bounds how long a write to a Batched document stays
	// in the write-ahead log before it is fsynced. Default 500 ms.
	FlushInterval time.Duration
	// MaxBatch is the most requests applied in one store commit. Default 4096.
	MaxBatch int
	// CommitDelay is how long applied batched writes may wait for more
	// before they are committed to the store, so that a steady stream of
	// writes shares commits. Reads and durable writes commit at once.
	// Default 2 ms; it must be shorter than FlushInterval.
	CommitDelay time.Duration
	// InboxSize is the capacity of the request queue. Default 1024.
	InboxSize int
	// SubscriberBuffer is the number of events a subscriber may fall behind
	// before it misses events and receives Lagged. Default 4096.
	SubscriberBuffer int
	// QueryPageSize is how many entries one trip through the actor fetches
	// for a Query iterator. Default 512.
	QueryPageSize int
	// Now is the clock for local timestamps and Status.FailedAt. Default
	// time.Now.
	Now func() time.Time
	// Logger receives one Error record if the store fails (see
	// ErrStoreFailed). Records hold counts and the store's error, never
	// keys, values or secrets. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is the store actor's config with every default filled in
// (Logger is slog.Default).
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 4096
	}
	if c.CommitDelay <= 0 || c.CommitDelay >= c.FlushInterval {
		c.CommitDelay = min(2*time.Millisecond, c.FlushInterval/2)
	}
	if c.InboxSize <= 0 {
		c.InboxSize = 1024
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = 4096
	}
	if c.QueryPageSize <= 0 {
		c.QueryPageSize = 512
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Actor owns a replica.Store. One goroutine applies every request; callers
// talk to it through typed calls that honour their context and never hang
// after Close.
type Actor struct {
	cfg   Config
	store *replica.Store

	inbox chan *request
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error // from closing the store; read after done

	mu   sync.RWMutex // guards docs; written only by the loop
	docs map[replica.NamespaceID]*docHandle

	// Written only by the loop, read by anyone (Status).
	failed         atomic.Pointer[failure] // set once: the sticky error
	commits        atomic.Uint64
	logSyncs       atomic.Uint64
	unsyncedWrites atomic.Uint64 // batched writes acknowledged since the last log sync
	eventsDropped  atomic.Uint64 // events subscribers missed because they fell behind

	// Owned by the loop goroutine.
	subs      map[*Subscription]struct{}
	indexes   map[replica.NamespaceID]*recon.Index
	txn       *replica.Txn
	pending   []*request // writes applied to txn, waiting for commit
	events    []Event    // emitted once txn commits
	durable   bool       // a pending write asked for fsync
	unsynced  bool       // committed without fsync since the last WAL sync
	flushTick *time.Timer
}

// docHandle is what callers may read about an open document without a trip
// through the loop: its capability, durability and the local write clock.
type docHandle struct {
	info replica.DocInfo // guarded by Actor.mu

	mu    sync.Mutex
	clock map[replica.AuthorID]uint64 // last timestamp used or seen per author
}

// observe moves the author's clock forward to ts.
func (h *docHandle) observe(author replica.AuthorID, ts uint64) {
	h.mu.Lock()
	if ts > h.clock[author] {
		h.clock[author] = ts
	}
	h.mu.Unlock()
}

// Open starts an actor that owns store. The actor closes the store on Close.
func Open(store *replica.Store, cfg Config) (*Actor, error) {
	cfg = cfg.withDefaults()
	infos, err := store.Docs()
	if err != nil {
		return nil, fmt.Errorf("actor: load documents: %w", err)
	}
	a := &Actor{
		cfg:   cfg,
		store: store,
		inbox: make(chan *request, cfg.InboxSize),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		docs:  make(map[replica.NamespaceID]*docHandle, len(infos)),
		subs:  make(map[*Subscription]struct{}),

		indexes: make(map[replica.NamespaceID]*recon.Index),
	}
	for _, info := range infos {
		a.docs[info.ID()] = newDocHandle(info)
	}
	go a.run()
	return a, nil
}

func newDocHandle(info replica.DocInfo) *docHandle {
	return &docHandle{info: info, clock: make(map[replica.AuthorID]uint64)}
}

// Close stops the loop after the request it is applying, syncs the log,
// closes every subscription and then the store. Calls waiting in the queue
// return ErrClosed. Close is idempotent. It returns the error of closing
// the store, joined with the sticky error if the store failed.
func (a *Actor) Close() error {
	a.once.Do(func() { close(a.quit) })
	<-a.done
	return a.err
}

// failure is the sticky error of a failed store.
type failure struct {
	err error // wraps ErrStoreFailed and the store's error
	at  time.Time
}

// Status is the actor's health, for readiness checks and metrics.
type Status struct {
	// Err is the sticky error, nil while the store works. Once set, every
	// call returns it; it wraps ErrStoreFailed and the store's error.
	Err error
	// FailedAt is when the store failed (Config.Now); zero while Err is nil.
	FailedAt time.Time
	// Commits counts the store commits made.
	Commits uint64
	// LogSyncs counts the syncs of the write-ahead log: commits of a group
	// that held a durable write, and the flush window's syncs.
	LogSyncs uint64
	// UnsyncedWrites counts the writes to Batched documents acknowledged
	// since the log was last synced. A crash may lose them; once Err is
	// set, they may be lost.
	UnsyncedWrites uint64
	// EventsDropped counts the events dropped because a subscriber's
	// buffer was full, over every subscription (the live actor's among
	// them); each subscriber learns of its own by a Lagged event.
	EventsDropped uint64
}

// Status returns the actor's health. It does not wait on the loop.
func (a *Actor) Status() Status {
	st := Status{
		Commits:        a.commits.Load(),
		LogSyncs:       a.logSyncs.Load(),
		UnsyncedWrites: a.unsyncedWrites.Load(),
		EventsDropped:  a.eventsDropped.Load(),
	}
	if f := a.failed.Load(); f != nil {
		st.Err, st.FailedAt = f.err, f.at
	}
	return st
}

// Err returns the sticky error of a failed store (wrapping
// ErrStoreFailed), or nil while the store works.
func (a *Actor) Err() error {
	if f := a.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

// Done is closed once the actor has stopped and the store is closed.
func (a *Actor) Done() <-chan struct{} { return a.done }

// Limits returns the store's limits.
func (a *Actor) Limits() replica.Limits { return a.store.Limits() }

// doc returns the handle of an open document and a copy of its info.
func (a *Actor) doc(ns replica.NamespaceID) (*docHandle, replica.DocInfo, error) {
	if err := a.Err(); err != nil {
		return nil, replica.DocInfo{}, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	h := a.docs[ns]
	if h == nil {
		return nil, replica.DocInfo{}, fmt.Errorf("actor: document %s: %w", ns.Short(), replica.ErrNotFound)
	}
	return h, h.info, nil
}

// request is one unit of work for the loop. exec runs on the loop goroutine;
// for writes it applies to the open transaction. finish delivers the reply:
// for a read at once, for a write as its document's durability asks (see
// apply).
type request struct {
	write   bool
	durable bool
	// housekeeping runs even after the store failed: it touches no
	// stored data (closing a subscription).
	housekeeping bool
	exec         func(a *Actor) error
	finish       func(err error)
}

type result[T any] struct {
	v   T
	err error
}

// call sends f to the loop and waits for its result, its context, or Close.
// Once the store failed, it returns the sticky error.
func call[T any](ctx context.Context, a *Actor, write, durable bool, f func(a *Actor) (T, error)) (T, error) {
	if err := a.Err(); err != nil {
		var zero T
		return zero, err
	}
	return submit(ctx, a, &request{write: write, durable: durable}, f)
}

// callHousekeeping is call for work that must run even after the store
// failed.
func callHousekeeping[T any](ctx context.Context, a *Actor, f func(a *Actor) (T, error)) (T, error) {
	return submit(ctx, a, &request{housekeeping: true}, f)
}

func submit[T any](ctx context.Context, a *Actor, req *request, f func(a *Actor) (T, error)) (T, error) {
	var zero T
	reply := make(chan result[T], 1)
	var out T
	req.exec = func(a *Actor) error {
		var err error
		out, err = f(a)
		return err
	}
	req.finish = func(err error) { reply <- result[T]{out, err} }
	select {
	case a.inbox <- req:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-a.done:
		return zero, ErrClosed
	case <-a.quit:
		return zero, ErrClosed
	}
	select {
	case r := <-reply:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-a.done:
		// The loop may have answered just before it stopped.
		select {
		case r := <-reply:
			return r.v, r.err
		default:
			return zero, ErrClosed
		}
	}
}

func (a *Actor) run() {
	defer close(a.done)
	a.flushTick = time.NewTimer(time.Hour)
	a.flushTick.Stop()
	commitTick := time.NewTimer(time.Hour)
	commitTick.Stop()
	defer commitTick.Stop()
	var flushC, commitC <-chan time.Time
	for {
		select {
		case req := <-a.inbox:
			a.apply(req)
		drain:
			for range a.cfg.MaxBatch - 1 {
				select {
				case req := <-a.inbox:
					a.apply(req)
				default:
					break drain
				}
			}
			// Durable writes are waiting for their fsync. Batched ones
			// were answered already; committing them can wait a little so
			// that a steady writer's entries share one commit.
			switch {
			case a.durable || (a.txn != nil && a.txn.Len() >= a.cfg.MaxBatch):
				a.commit()
			case a.txn != nil && commitC == nil:
				commitTick.Reset(a.cfg.CommitDelay)
				commitC = commitTick.C
			}
		case <-commitC:
			commitC = nil
			a.commit()
		case <-flushC:
			flushC = nil
			a.syncWAL()
		case <-a.quit:
			a.shutdown()
			return
		}
		if a.txn == nil && commitC != nil {
			commitTick.Stop()
			commitC = nil
		}
		if a.unsynced && flushC == nil {
			a.flushTick.Reset(a.cfg.FlushInterval)
			flushC = a.flushTick.C
		}
	}
}

// apply runs one request. Writes join the open transaction; anything else
// first commits the pending writes so that it observes them. Once the
// store failed, every request but housekeeping gets the sticky error.
func (a *Actor) apply(req *request) {
	if !req.write {
		a.commit()
		if f := a.failed.Load(); f != nil && !req.housekeeping {
			req.finish(f.err)
			return
		}
		req.finish(req.exec(a))
		return
	}
	if f := a.failed.Load(); f != nil {
		req.finish(f.err)
		return
	}
	if a.txn == nil {
		a.txn = a.store.NewTxn()
	}
	first := len(a.events)
	if err := req.exec(a); err != nil {
		req.finish(err)
		return
	}
	if !req.durable {
		// A batched write is answered as soon as it is applied: every
		// later request through the loop observes it (reads commit first),
		// and the caller goes on while the loop commits. Its events go out
		// with the answer, so they are queued when the call returns, and
		// promise what the answer promises (see Subscribe).
		for i := first; i < len(a.events); i++ {
			a.fanOut(&a.events[i])
		}
		clear(a.events[first:])
		a.events = a.events[:first]
		a.unsyncedWrites.Add(1)
		req.finish(nil)
		return
	}
	a.pending = append(a.pending, req)
	a.durable = true
}

// commit makes the applied writes visible to the store and, if a durable
// write is among them, fsyncs them; it then fans the durable writes'
// events out and answers them. A failed commit fails the store: its
// durable writes get the sticky error and their events are dropped.
func (a *Actor) commit() {
	if a.txn == nil {
		return
	}
	txn, pending, events, sync := a.txn, a.pending, a.events, a.durable
	a.txn, a.pending, a.events, a.durable = nil, a.pending[:0], a.events[:0], false
	var err error
	if txn.Len() > 0 {
		err = txn.Commit(sync)
		if err == nil {
			a.commits.Add(1)
			if sync {
				a.logged()
			} else {
				a.unsynced = true
			}
		}
	}
	txn.Close()
	if err != nil {
		err = a.fail("commit", err, len(pending), len(events))
	}
	// Events first: when a write returns, its event is already queued for
	// every subscriber.
	if err == nil {
		for i := range events {
			a.fanOut(&events[i])
		}
	}
	clear(events)
	for _, req := range pending {
		req.finish(err)
	}
}

// logged records that the log is synced under every commit so far.
func (a *Actor) logged() {
	a.unsynced = false
	a.logSyncs.Add(1)
	a.unsyncedWrites.Store(0)
}

// syncWAL syncs the log under the commits made without sync. A failed sync
// fails the store: once an fsync has failed, the kernel may have dropped
// the pages it could not write, and a later fsync that succeeds would not
// bring them back.
func (a *Actor) syncWAL() {
	if !a.unsynced || a.failed.Load() != nil {
		return
	}
	if err := a.store.SyncWAL(); err != nil {
		a.fail("log sync", err, 0, 0)
		return
	}
	a.logged()
}

// fail makes err the actor's sticky error, logs it and forgets what the
// loop holds in memory about writes that may not be stored: the document
// table is reloaded from the store's committed view and the reconciliation
// indexes are dropped. It returns the sticky error. Loop only.
func (a *Actor) fail(op string, err error, durableWaiting, eventsDropped int) error {
	f := &failure{err: fmt.Errorf("%w: %s: %w", ErrStoreFailed, op, err), at: a.cfg.Now()}
	a.cfg.Logger.Error("store failed; refusing every further request",
		slog.String("op", op),
		slog.Any("err", err),
		slog.Uint64("unsynced_writes", a.unsyncedWrites.Load()),
		slog.Int("durable_waiting", durableWaiting),
		slog.Int("events_dropped", eventsDropped),
	)
	a.failed.Store(f)
	a.reloadDocs()
	clear(a.indexes)
	return f.err
}

func (a *Actor) reloadDocs() {
	infos, err := a.store.Docs()
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	next := make(map[replica.NamespaceID]*docHandle, len(infos))
	for _, info := range infos {
		if h, ok := a.docs[info.ID()]; ok {
			h.info = info
			next[info.ID()] = h
		} else {
			next[info.ID()] = newDocHandle(info)
		}
	}
	a.docs = next
}

func (a *Actor) shutdown() {
	a.commit()
	a.unsynced = true // a clean close always syncs
	a.syncWAL()
	a.flushTick.Stop()
	for s := range a.subs {
		close(s.ch)
		delete(a.subs, s)
	}
	a.err = a.store.Close()
	if err := a.Err(); err != nil {
		a.err = errors.Join(err, a.err)
	}
}

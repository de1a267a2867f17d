package live

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// ErrClosed is returned by Actor calls made after Close, and by
// calls still waiting when it closes.
var ErrClosed = errors.New("live: live actor closed")

// Config tunes a live Actor. A zero field takes the default listed on
// it (DefaultConfig).
type Config struct {
	// Sync bounds each session; its zero fields take their defaults.
	Sync SessionConfig
	// RetryBase and RetryMax bound the back-off after failed dials: it
	// doubles per failure from RetryBase up to RetryMax, with jitter.
	// Defaults 500ms and 30s.
	RetryBase, RetryMax time.Duration
	// MaxRetries is how many failed dials in a row to one peer are
	// retried before the live actor waits for new news of that peer.
	// Default 6.
	MaxRetries int
	// MaxDialsPerDoc bounds the sessions this node dials at once for one
	// document, so that a sync report that reaches a large swarm does not
	// make every node sync with every other at once. Default 4.
	MaxDialsPerDoc int
	// EventBuffer is a subscriber's channel capacity. Default 1024.
	EventBuffer int
	// JoinTimeout bounds joining a swarm. Default 10s.
	JoinTimeout time.Duration
	// LeaveTimeout bounds how long a swarm spends telling its members
	// that this node leaves, after Leave has returned; a StartSync of the
	// same document waits for it. The first membership round goes out at
	// once, so the members hear of it within a round trip; the rest of
	// the time only repeats it. Default 250ms.
	LeaveTimeout time.Duration
	// UnreachableAfter is how long WaitSynced waits for a peer that dials
	// fail to reach before it returns ErrUnreachable: it returns at the
	// first failed dial once this much time has passed since the call,
	// or at this time if a dial failed before. A dial to a peer that does
	// not answer ends after the endpoint's HandshakeTimeout. Default 5s.
	UnreachableAfter time.Duration
	// NewsBuffer bounds the work queued for the loop by the store's event
	// pump, the gossip forwarders, sessions and downloads. Default
	// 256.
	NewsBuffer int
	// AcceptTimeout bounds how long the server waits for the live actor's
	// decision on an incoming session before refusing it as busy.
	// Default 2s.
	AcceptTimeout time.Duration
	// StoreTimeout bounds each store call the loop makes. Default 10s.
	StoreTimeout time.Duration
	// CatchUpDelay is how long a document must go without inserts
	// before the live actor checks that its writes reached the swarm:
	// then, if this node wrote to it, it reports its heads (a peer that
	// missed the latest write syncs with it), and it syncs with one
	// random neighbour (which catches up an op lost earlier in a burst).
	// Gossip pushes each write to every neighbour at once; this is what
	// repairs a push that was lost. A document written to without a
	// pause is checked every MaxCatchUpDelay instead. Default 1s.
	CatchUpDelay time.Duration
	// MaxCatchUpDelay bounds the wait for a pause. Default 5s.
	MaxCatchUpDelay time.Duration
	// AntiEntropyInterval: a document open for sync with which no session
	// completed for this long syncs with one random swarm member, checked
	// this often. Reports and catch-up show news by per-author latest
	// timestamps and repair this node's own lost pushes; an entry a node
	// missed while it was away, or one an author wrote on another node
	// with a timestamp this node already holds for that author (an author
	// writing from two nodes), shows no news anywhere, and only a session
	// repairs it. In a swarm in sync such a session is one round trip.
	// Default 1 min.
	AntiEntropyInterval time.Duration

	// MaxIdlePeers bounds, per document, the peer records kept in memory
	// for peers that are not members of the document's swarm and have no
	// session running, pending or waited for: recent sync partners (peers
	// that dialled in, peers loaded from the store). Beyond it the least
	// recently active are forgotten; their record stays in the store.
	// Swarm members are never counted or dropped. Default 256.
	MaxIdlePeers int
	// IdlePeerTTL is how long such an idle record is kept after its last
	// session. Default 1h.
	IdlePeerTTL time.Duration

	// Content is the node's content store. With it, the live actor serves
	// content to peers (ALPN docsnode/blobs/1) and downloads the content
	// of entries that arrive from peers, as each document's download
	// policy allows. Nil turns both off.
	Content *blobs.Store
	// BlobServer bounds the content server; its MaxKeyLen defaults to the
	// store's key limit.
	BlobServer blobs.ServerConfig
	// MaxDownloads bounds the downloads that run at once. Default 4.
	MaxDownloads int
	// MaxQueuedDownloads bounds the wanted set: blobs queued or being
	// fetched. Wants beyond it are dropped (DownloadStats counts them);
	// their content stays missing until a reader asks for it
	// (WantContent) or a later entry names it. Default 16384.
	MaxQueuedDownloads int
	// DownloadRetries is how many attempts a download gets before it is
	// given up (EventContentFailed). Each attempt asks every candidate
	// peer in turn; attempts back off like dials (RetryBase, RetryMax).
	// Default 6.
	DownloadRetries int
	// DownloadTimeout bounds one attempt at fetching one blob, from all
	// the peers it asks. Default 10 minutes.
	DownloadTimeout time.Duration
	// DownloadProviders bounds the peers one download fetches from at
	// once: a large blob is fetched in pieces from several peers that
	// hold it, spread by their measured rates (blobs.Download). Default 4.
	DownloadProviders int
	// DownloadIdleTimeout ends a fetch that receives nothing for this
	// long. Default 30s.
	DownloadIdleTimeout time.Duration
	// ContentProgressInterval is the least time between two
	// EventContentProgress of one document: the changes in between are
	// coalesced into the next one, so that a document downloading many
	// small blobs does not flood its subscribers. Default 250ms.
	ContentProgressInterval time.Duration

	// OnSession, when set, is called once for every sync session that
	// ends, dialled or accepted, refused ones included, with its Outcome
	// and nil or the error that ended it: for metrics. It runs on the
	// session's goroutine, concurrently with other sessions, never on the
	// loop; it must not block.
	OnSession func(Outcome, error)
	// ProtectContent, when set, keeps content from garbage collection
	// until the function it returns is called: the live actor holds the
	// content that gossip delivers with an entry from before it is stored
	// until the entry naming it is. Nil protects nothing.
	ProtectContent func(replica.Hash) (release func())
}

// DefaultConfig is the profile for real use.
func DefaultConfig() Config { return Config{}.withDefaults() }

// TestConfig is the profile for tests: TestConfig sessions and short
// back-offs, so that retries happen within a test's patience.
func TestConfig() Config {
	return Config{Sync: TestSessionConfig(), RetryBase: 50 * time.Millisecond, RetryMax: time.Second,
		JoinTimeout: 5 * time.Second, UnreachableAfter: 2 * time.Second, DownloadTimeout: 20 * time.Second, DownloadIdleTimeout: 5 * time.Second}.withDefaults()
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RetryBase, 500*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.JoinTimeout, 10*time.Second)
	def(&c.LeaveTimeout, 250*time.Millisecond)
	def(&c.UnreachableAfter, 5*time.Second)
	def(&c.AcceptTimeout, 2*time.Second)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.CatchUpDelay, time.Second)
	def(&c.MaxCatchUpDelay, max(5*time.Second, c.CatchUpDelay))
	def(&c.AntiEntropyInterval, time.Minute)
	def(&c.IdlePeerTTL, time.Hour)
	if c.MaxIdlePeers <= 0 {
		c.MaxIdlePeers = 256
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 6
	}
	if c.MaxDialsPerDoc <= 0 {
		c.MaxDialsPerDoc = 4
	}
	if c.NewsBuffer <= 0 {
		c.NewsBuffer = 256
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 1024
	}
	if c.MaxDownloads <= 0 {
		c.MaxDownloads = 4
	}
	if c.DownloadProviders <= 0 {
		c.DownloadProviders = 4
	}
	if c.MaxQueuedDownloads <= 0 {
		c.MaxQueuedDownloads = 16384
	}
	if c.DownloadRetries <= 0 {
		c.DownloadRetries = 6
	}
	def(&c.DownloadTimeout, 10*time.Minute)
	def(&c.DownloadIdleTimeout, 30*time.Second)
	def(&c.ContentProgressInterval, 250*time.Millisecond)
	return c
}

// Actor keeps documents in sync with their peers. It is a thin shell
// around the scheduler, which makes every decision: one goroutine, the
// loop, feeds the scheduler what happened (requests, finished sessions and
// downloads, gossip and store news, the timer) and carries out what it
// decides. Anything that waits (sessions, swarm joins and leaves,
// downloads, store writes) runs on goroutines the Actor starts and joins on
// Close; the loop never waits on the store, the content store or the
// network.
//
// Entries never pass through the loop: a session stores what it receives
// through the store actor; a gossiped Put is stored by its swarm's
// forwarder; and the store's events reach subscribers through the event
// pump. The loop hears of them only as news for its decisions (heads,
// catch-up, downloads).
//
// It is the live.Policy of the node's sync Server: an incoming session is
// served only for a document open for sync, and only when no session of
// that document with that peer runs.
type Actor struct {
	ep      *endpoint.Endpoint
	act     *actor.Actor
	router  *gossip.Router
	cfg     Config
	self    endpoint.NodeID
	content *blobs.Store  // nil: no downloads
	server  *Server       // the sync server registered on ep
	blobSrv *blobs.Server // the content server, nil without content

	// peerFaults and takeovers count, over all downloads, providers
	// dropped for sending what the content is not, and pieces taken over
	// from a slower provider (blobs.DownloadResult); the download
	// goroutines add to them.
	peerFaults, takeovers atomic.Uint64

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{}         // closed when the loop has returned
	inbox     chan func(*scheduler) // requests and news, run on the loop
	store     *actor.Subscription
	subs      hub
	policies  policyCache
	persist   *persister
	closeOnce sync.Once

	// swarms holds the open documents' swarms, for the goroutines that
	// publish and forward; written by the loop.
	swarmsMu sync.RWMutex
	swarms   map[replica.NamespaceID]*docShell
	leaving  map[replica.NamespaceID]chan struct{} // closed once the swarm left; under swarmsMu

	// Owned by the loop.
	sched *scheduler
	timer *time.Timer
}

// docShell is the shell's part of an open document.
type docShell struct {
	swarm  *gossip.Swarm
	gen    uint64
	ctx    context.Context // ends on Leave; bounds the document's dials
	cancel context.CancelFunc
}

// NewActor starts a live Actor for the node whose endpoint is ep, store
// actor act and gossip router router, and registers its sync Server on
// ep. Close it before router, ep and act.
func NewActor(ep *endpoint.Endpoint, act *actor.Actor, router *gossip.Router, cfg Config) (*Actor, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := act.SubscribeAll(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("live: subscribe to the store: %w", err)
	}
	la := &Actor{
		ep: ep, act: act, router: router, cfg: cfg, self: ep.ID(), content: cfg.Content,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		inbox: make(chan func(*scheduler), cfg.NewsBuffer), store: store,
		subs:    hub{buffer: cfg.EventBuffer, subs: make(map[replica.NamespaceID]map[*Subscription]struct{})},
		swarms:  make(map[replica.NamespaceID]*docShell),
		leaving: make(map[replica.NamespaceID]chan struct{}),
		sched:   newScheduler(cfg, ep.ID(), rand.Float64),
		timer:   time.NewTimer(time.Hour),
	}
	la.policies = policyCache{act: act, m: make(map[replica.NamespaceID]replica.DownloadPolicy)}
	la.persist = newPersister(act, ep, cfg.Content, cfg.StoreTimeout)
	la.timer.Stop()
	if la.content != nil {
		la.sched.content, la.sched.maxBlob = true, uint64(la.content.MaxSize())
	}
	la.server = NewServer(act, cfg.Sync, la)
	if err := ep.Handle(endpoint.ALPNSync, la.server); err != nil {
		store.Close()
		cancel()
		return nil, fmt.Errorf("live: serve sync: %w", err)
	}
	if la.content != nil {
		bcfg := cfg.BlobServer
		if bcfg.MaxKeyLen <= 0 {
			bcfg.MaxKeyLen = act.Limits().MaxKeyLen
		}
		la.blobSrv = blobs.NewServer(la.content, act, bcfg)
		err := ep.Handle(endpoint.ALPNBlobs, la.blobSrv)
		if err == nil {
			err = la.loadWants()
		}
		if err != nil {
			store.Close()
			cancel()
			return nil, fmt.Errorf("live: serve content: %w", err)
		}
	}
	la.wg.Go(la.persist.run)
	la.wg.Go(la.pump)
	la.wg.Go(la.loop)
	return la, nil
}

// Close stops the loop, cancels the sessions this node dialled, closes
// every swarm (without Leave) and subscription, writes the records not yet
// written, and returns once every goroutine the Actor started has
// returned. Incoming sessions belong to the endpoint and end when it
// closes.
func (la *Actor) Close() error {
	la.closeOnce.Do(func() {
		la.cancel()
		la.wg.Wait()
		la.subs.closeAll()
	})
	return nil
}

// Stats returns the counters of what the actor did.
func (la *Actor) Stats(ctx context.Context) (Stats, error) {
	st, err := call(ctx, la, func(s *scheduler) Stats { return s.stats })
	if err == nil {
		st.EventsDropped = la.subs.droppedEvents()
	}
	return st, err
}

// call runs f on the loop and returns its result.
func call[T any](ctx context.Context, la *Actor, f func(*scheduler) T) (T, error) {
	var zero T
	reply := make(chan T, 1)
	run := func(s *scheduler) { reply <- f(s) }
	select {
	case la.inbox <- run:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-la.done:
		return zero, ErrClosed
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-la.done:
		return zero, ErrClosed
	}
}

// do hands f to the loop without waiting for it to run; it waits for room
// in the inbox unless the actor closes.
func (la *Actor) do(f func(*scheduler)) bool {
	select {
	case la.inbox <- f:
		return true
	case <-la.done:
		return false
	}
}

// tryDo is do that gives up at once when the inbox is full.
func (la *Actor) tryDo(f func(*scheduler)) bool {
	select {
	case la.inbox <- f:
		return true
	default:
		return false
	}
}

func (la *Actor) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(la.ctx, la.cfg.StoreTimeout)
}

func (la *Actor) loop() {
	defer la.shutdown()
	la.sched.pumpDownloads(time.Now()) // the wanted set loaded at start
	la.apply()
	// One ticker for every document: a node runs many, and each is due
	// only after a quiet interval.
	antiEntropy := time.NewTicker(la.cfg.AntiEntropyInterval)
	defer antiEntropy.Stop()
	// The content progress events of a turn go out after it, coalesced
	// per document; progress is nil while none waits.
	progressTimer := time.NewTimer(time.Hour)
	progressTimer.Stop()
	defer progressTimer.Stop()
	var progress <-chan time.Time
	for {
		select {
		case <-la.ctx.Done():
			return
		case f := <-la.inbox:
			f(la.sched)
		case <-la.timer.C:
			la.sched.tick(time.Now())
		case now := <-antiEntropy.C:
			la.sched.antiEntropy(now)
		case <-progress:
			progress = nil
		}
		if next := la.sched.flushProgress(time.Now()); !next.IsZero() {
			progressTimer.Reset(max(time.Until(next), 0))
			progress = progressTimer.C
		}
		la.apply()
	}
}

// shutdown runs on the loop's way out: nothing can reach the loop after
// done is closed.
func (la *Actor) shutdown() {
	close(la.done)
	la.timer.Stop()
	la.store.Close()
	la.swarmsMu.Lock()
	defer la.swarmsMu.Unlock()
	for _, d := range la.swarms {
		d.cancel()
		d.swarm.Close()
	}
	clear(la.swarms)
	la.persist.close() // the loop was its only producer
}

// apply carries out the scheduler's decisions. Nothing here waits: what
// would runs on a goroutine of its own or on the persister.
func (la *Actor) apply() {
	for _, e := range la.sched.take() {
		switch e.kind {
		case effDial:
			d := la.docShell(e.doc)
			if d == nil || d.gen != e.gen {
				// Cannot happen: the scheduler and the shell open and
				// leave together. Tell the scheduler the dial ended.
				la.sched.dialed(time.Now(), e.doc, e.gen, e.addr, Outcome{}, ErrNotSyncing)
				continue
			}
			ctx, addr, doc, gen := d.ctx, e.addr, e.doc, e.gen
			scfg := la.cfg.Sync
			scfg.Progress = func(o Outcome) {
				la.subs.emit(Event{Kind: EventSyncProgress, Doc: doc, Peer: addr.ID, Outcome: o})
			}
			la.wg.Go(func() {
				out, err := Sync(ctx, la.ep, la.act, addr, doc, scfg)
				la.sessionEnded(out, err)
				la.do(func(s *scheduler) { s.dialed(time.Now(), doc, gen, addr, out, err) })
			})
		case effJoin:
			if d := la.docShell(e.doc); d != nil && d.gen == e.gen {
				sw, ctx, addrs := d.swarm, d.ctx, e.addrs
				la.wg.Go(func() {
					ctx, cancel := context.WithTimeout(ctx, la.cfg.JoinTimeout)
					defer cancel()
					sw.Join(ctx, addrs) // best effort: the direct syncs do not depend on it
				})
			}
		case effEmit:
			la.subs.emit(e.ev)
		case effReport:
			if d := la.docShell(e.doc); d != nil {
				d.swarm.SyncReport(e.heads)
			}
		case effContentReady:
			if d := la.docShell(e.doc); d != nil {
				d.swarm.ContentReady(e.hash) // best effort
			}
		case effPersist:
			la.persist.record(e.doc, e.rec)
		case effTimer:
			la.timer.Reset(max(time.Until(e.at), 0))
		case effAnswer:
			e.w.reply <- e.err
		case effFetch:
			dl, cands, refs := e.dl, e.cands, e.refs
			la.wg.Go(func() {
				from, err := la.runDownload(dl, cands, refs)
				cancelled := la.ctx.Err() != nil
				la.do(func(s *scheduler) { s.downloaded(time.Now(), dl, from, err, cancelled) })
			})
		case effWant:
			la.persist.want(e.hash, e.data)
		}
	}
}

func (la *Actor) docShell(doc replica.NamespaceID) *docShell {
	la.swarmsMu.RLock()
	defer la.swarmsMu.RUnlock()
	return la.swarms[doc]
}

// StartSync opens doc for sync: it joins the document's swarm through
// peers, syncs with each of them, and from then on syncs with neighbours
// and on news. With no peers it uses the peers the document last synced
// with. The document must be held by the store.
func (la *Actor) StartSync(ctx context.Context, doc replica.NamespaceID, peers []endpoint.NodeAddr) error {
	_, err := la.startSync(ctx, doc, peers, false)
	return err
}

// StartSyncAndSubscribe is StartSync with a subscription registered before
// the first session starts, so that no event of the join is missed.
func (la *Actor) StartSyncAndSubscribe(ctx context.Context, doc replica.NamespaceID, peers []endpoint.NodeAddr) (*Subscription, error) {
	return la.startSync(ctx, doc, peers, true)
}

func (la *Actor) startSync(ctx context.Context, doc replica.NamespaceID, peers []endpoint.NodeAddr, sub bool) (*Subscription, error) {
	if _, err := la.act.Doc(ctx, doc); err != nil {
		return nil, fmt.Errorf("live: start sync of %s: %w", doc.Short(), err)
	}
	// What the scheduler needs is read here, off the loop.
	st, err := la.openState(ctx, doc)
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		for _, r := range st.peers {
			peers = append(peers, r.Addr)
		}
	}
	// A swarm of doc that is still leaving holds the router's topic.
	la.swarmsMu.RLock()
	left := la.leaving[doc]
	la.swarmsMu.RUnlock()
	if left != nil {
		select {
		case <-left:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-la.done:
			return nil, ErrClosed
		}
	}
	var s *Subscription
	if sub {
		s = la.subs.add(doc)
	}
	err, cerr := call(ctx, la, func(sc *scheduler) error {
		var sw *gossip.Swarm
		if !sc.isOpen(doc) {
			var err error
			if sw, err = la.router.Open(doc); err != nil {
				return fmt.Errorf("live: open the swarm of %s: %w", doc.Short(), err)
			}
		}
		sc.open(time.Now(), doc, peers, st)
		if sw != nil {
			// Registered before the loop carries out open's effects.
			gen := sc.docs[doc].gen
			dctx, cancel := context.WithCancel(la.ctx)
			la.swarmsMu.Lock()
			la.swarms[doc] = &docShell{swarm: sw, gen: gen, ctx: dctx, cancel: cancel}
			la.swarmsMu.Unlock()
			la.wg.Go(func() { la.forward(doc, gen, sw) })
		}
		return nil
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		if s != nil {
			s.Close()
		}
		return nil, err
	}
	// Remembered so that sync resumes after a restart (Resume).
	if err := la.act.SetMeta(ctx, openKey(doc), []byte{1}); err != nil {
		return s, fmt.Errorf("live: remember %s as open for sync: %w", doc.Short(), err)
	}
	return s, nil
}

// openState reads doc's heads and the records of the peers it last synced
// with.
func (la *Actor) openState(ctx context.Context, doc replica.NamespaceID) (openState, error) {
	var st openState
	heads, err := la.act.Heads(ctx, doc)
	if err != nil {
		return st, fmt.Errorf("live: heads of %s: %w", doc.Short(), err)
	}
	st.heads = heads
	ids, err := la.act.SyncPeers(ctx, doc)
	if err != nil {
		return st, fmt.Errorf("live: sync peers of %s: %w", doc.Short(), err)
	}
	for _, id := range ids {
		peer := endpoint.NodeID(id)
		r := peerRecord{Peer: peer, Addr: endpoint.NodeAddr{ID: peer}}
		if b, err := la.act.Meta(ctx, recordKey(doc, peer)); err == nil {
			if got, err := unmarshalRecord(b, peer); err == nil {
				r = got
			}
		}
		if len(r.Addr.Addrs) == 0 {
			if a, ok := la.storedAddr(ctx, peer); ok {
				r.Addr = a
			}
		}
		st.peers = append(st.peers, r)
	}
	return st, nil
}

// peerAddrKey is the Meta key under which the last address a peer was
// reached on is kept, so that sync resumes after a restart.
func peerAddrKey(id endpoint.NodeID) string { return "live/peer-addr/" + id.String() }

// LeaveOptions tunes Leave.
type LeaveOptions struct {
	// CloseSubscriptions closes the document's subscriptions too; by
	// default they stay, and get the events of later local writes and of
	// a later StartSync.
	CloseSubscriptions bool
}

// Leave stops syncing doc: it cancels the sessions this node dialled for
// it, fails its WaitSynced calls, and returns. The swarm tells its
// members that this node leaves in the background, for at most
// LeaveTimeout; a StartSync of doc waits for that.
func (la *Actor) Leave(ctx context.Context, doc replica.NamespaceID, opts LeaveOptions) error {
	_, err := call(ctx, la, func(s *scheduler) struct{} {
		if !s.leave(doc) {
			return struct{}{}
		}
		la.swarmsMu.Lock()
		d := la.swarms[doc]
		delete(la.swarms, doc)
		left := make(chan struct{})
		la.leaving[doc] = left
		la.swarmsMu.Unlock()
		d.cancel()
		la.wg.Go(func() {
			defer func() {
				la.swarmsMu.Lock()
				if la.leaving[doc] == left {
					delete(la.leaving, doc)
				}
				la.swarmsMu.Unlock()
				close(left)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), la.cfg.LeaveTimeout)
			defer cancel()
			d.swarm.Leave(ctx)
		})
		return struct{}{}
	})
	if err != nil {
		return err
	}
	if opts.CloseSubscriptions {
		la.subs.closeDoc(doc)
	}
	if _, err := la.act.Doc(ctx, doc); err == nil {
		if err := la.act.SetMeta(ctx, openKey(doc), []byte{0}); err != nil {
			return err
		}
	} // else not held: nothing to resume anyway
	return nil
}

// Subscribe returns a subscription to the events of doc, open for sync or
// not.
func (la *Actor) Subscribe(ctx context.Context, doc replica.NamespaceID) (*Subscription, error) {
	select {
	case <-la.done:
		return nil, ErrClosed
	default:
	}
	return la.subs.add(doc), nil
}

// ServerStats returns the admission counters of the node's sync server:
// incoming sessions refused, preempted, and timed out waiting for Init.
func (la *Actor) ServerStats() ServerStats { return la.server.Stats() }

// ContentServerStats returns the counters of the node's content server,
// zero when the node serves no content.
func (la *Actor) ContentServerStats() blobs.ServerStats {
	if la.blobSrv == nil {
		return blobs.ServerStats{}
	}
	return la.blobSrv.Stats()
}

// Accept implements Policy. It asks the loop, and refuses as busy when the
// loop does not answer within AcceptTimeout.
func (la *Actor) Accept(ns replica.NamespaceID, peer endpoint.NodeID) AbortReason {
	ctx, cancel := context.WithTimeout(la.ctx, la.cfg.AcceptTimeout)
	defer cancel()
	reply := make(chan AbortReason, 1)
	select {
	case la.inbox <- func(s *scheduler) { reply <- s.accept(time.Now(), ns, peer, endpoint.NodeAddr{}) }:
	case <-ctx.Done():
		return AbortBusy
	case <-la.done:
		return AbortBusy
	}
	// The loop answers as soon as it takes the request, and from then on
	// counts a served session as running until Finished: take its answer
	// whatever the timeout, or the session would be refused while the
	// loop waits for its end, and the pair would stay Running for good.
	select {
	case r := <-reply:
		return r
	case <-la.done:
		return AbortBusy
	}
}

// Finished implements Policy.
func (la *Actor) Finished(o Outcome, err error) {
	la.sessionEnded(o, err)
	la.do(func(s *scheduler) { s.accepted(time.Now(), o, err) })
}

// sessionEnded tells Config.OnSession of a session's end.
func (la *Actor) sessionEnded(o Outcome, err error) {
	if la.cfg.OnSession != nil {
		la.cfg.OnSession(o, err)
	}
}

// forward handles a swarm's events until the swarm closes. A Put is stored
// here, its content first; the loop gets only what it decides on.
func (la *Actor) forward(doc replica.NamespaceID, gen uint64, sw *gossip.Swarm) {
	// The loop needs to hear of Puts only to time the catch-up, which
	// waits CatchUpDelay after the last one: news of a Put within a tenth
	// of that after the last news is left out, which moves the catch-up
	// earlier by at most that much.
	var noted time.Time
	for ev := range sw.Events() {
		switch ev := ev.(type) {
		case gossip.OpPut:
			release := func() {}
			if ev.Content != nil && la.content != nil && la.policies.allows(la.ctx, doc, ev.Entry.Key) {
				// The swarm checked the content against the entry's hash.
				// Stored first, it makes the entry's content complete when
				// InsertRemote is reported, and nothing is fetched. Should
				// it fail, the content reads as missing and is downloaded
				// like any other.
				//
				// Held from before the put until the entry names it, so
				// that garbage collection cannot take it in between.
				if la.cfg.ProtectContent != nil {
					release = la.cfg.ProtectContent(ev.Entry.Hash)
				}
				la.content.PutBytes(ev.Content)
			}
			// The swarm verified the entry; the store applies last writer
			// wins and reports InsertRemote when it is new.
			ctx, cancel := la.storeCtx()
			la.act.InsertRemote(ctx, doc, []replica.SignedEntry{ev.Entry}, replica.PeerID(ev.From))
			cancel()
			release()
			// Entries that sessions bring are reconciled already; those
			// that gossip brings are followed by a catch-up.
			if now := time.Now(); now.Sub(noted) >= la.cfg.CatchUpDelay/10 {
				noted = now
				if !la.do(func(s *scheduler) { s.gossipPut(now, doc, gen) }) {
					return
				}
			}
		case gossip.Lagged:
			members := sw.Members()
			if !la.do(func(s *scheduler) { s.lagged(time.Now(), doc, gen, members) }) {
				return
			}
		default:
			if !la.do(func(s *scheduler) { s.gossipEvent(time.Now(), doc, gen, ev) }) {
				return
			}
		}
	}
}

// maxPumpBatch bounds the store events the pump folds into one message to
// the loop.
const maxPumpBatch = 256

// pump moves the store's events to subscribers, publishes local inserts
// in their document's swarm, and tells the loop, in batches, what its
// decisions need: heads, insert counts, content to fetch.
func (la *Actor) pump() {
	c := la.store.C()
	for {
		var ev actor.Event
		var ok bool
		select {
		case ev, ok = <-c:
		case <-la.ctx.Done():
			return
		}
		if !ok {
			return // the store actor stopped; the engine is closing
		}
		n := &storeNews{}
		la.pumpOne(n, ev)
	drain:
		for range maxPumpBatch - 1 {
			select {
			case ev, ok = <-c:
				if !ok {
					break drain
				}
				la.pumpOne(n, ev)
			default:
				break drain
			}
		}
		if n.empty() {
			continue
		}
		if !la.do(func(s *scheduler) { s.stored(time.Now(), n) }) {
			return
		}
	}
}

func (n *storeNews) empty() bool { return len(n.inserts) == 0 && len(n.wants) == 0 }

func (la *Actor) pumpOne(n *storeNews, ev actor.Event) {
	switch ev.Kind {
	case actor.InsertLocal:
		if d := la.docShell(ev.Namespace); d != nil {
			tooBig := errors.Is(d.swarm.PutContent(ev.Entry, la.inlineContent(d.swarm, &ev.Entry)), gossip.ErrOpTooLarge)
			n.inserts = append(n.inserts, insertNews{doc: ev.Namespace, author: ev.Entry.Author,
				ts: ev.Entry.Timestamp, local: true, tooBig: tooBig})
		}
		la.subs.emit(Event{Kind: EventInsertLocal, Doc: ev.Namespace, Entry: ev.Entry})
	case actor.InsertRemote:
		from := endpoint.NodeID(ev.From)
		status := la.ContentStatus(&ev.Entry)
		if la.docShell(ev.Namespace) != nil {
			n.inserts = append(n.inserts, insertNews{doc: ev.Namespace, author: ev.Entry.Author, ts: ev.Entry.Timestamp})
		}
		if status != ContentComplete && la.content != nil && la.policies.allows(la.ctx, ev.Namespace, ev.Entry.Key) {
			n.wants = append(n.wants, contentWant{doc: ev.Namespace, entry: ev.Entry, from: from})
		}
		la.subs.emit(Event{Kind: EventInsertRemote, Doc: ev.Namespace, Entry: ev.Entry, Peer: from, ContentStatus: status})
	case actor.Lagged:
		// Which documents lost events is unknown: tell every subscriber.
		la.subs.lagged(ev.Missed)
	}
}

// inlineContent is the content to send along with a local entry's Put:
// when the swarm sends content that small and the store holds it, else
// nil.
func (la *Actor) inlineContent(sw *gossip.Swarm, e *replica.SignedEntry) []byte {
	if la.content == nil || e.Len > uint64(max(sw.InlineContent(), 0)) {
		return nil
	}
	b, err := la.content.Get(e.Hash)
	if err != nil {
		return nil
	}
	return b
}

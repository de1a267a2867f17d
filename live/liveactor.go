package live

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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
	// JoinTimeout bounds joining a swarm and leaving it. Default 10s.
	JoinTimeout time.Duration
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
	// DownloadTimeout bounds fetching one blob from one peer. Default 10
	// minutes.
	DownloadTimeout time.Duration
	// DownloadIdleTimeout ends a fetch that receives nothing for this
	// long. Default 30s.
	DownloadIdleTimeout time.Duration
}

// DefaultConfig is the profile for real use.
func DefaultConfig() Config { return Config{}.withDefaults() }

// TestConfig is the profile for tests: TestConfig sessions and short
// back-offs, so that retries happen within a test's patience.
func TestConfig() Config {
	return Config{Sync: TestSessionConfig(), RetryBase: 50 * time.Millisecond, RetryMax: time.Second,
		JoinTimeout: 5 * time.Second, DownloadTimeout: 20 * time.Second, DownloadIdleTimeout: 5 * time.Second}.withDefaults()
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
	def(&c.AcceptTimeout, 2*time.Second)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.CatchUpDelay, time.Second)
	def(&c.MaxCatchUpDelay, max(5*time.Second, c.CatchUpDelay))
	if c.MaxRetries <= 0 {
		c.MaxRetries = 6
	}
	if c.MaxDialsPerDoc <= 0 {
		c.MaxDialsPerDoc = 4
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 1024
	}
	if c.MaxDownloads <= 0 {
		c.MaxDownloads = 4
	}
	if c.MaxQueuedDownloads <= 0 {
		c.MaxQueuedDownloads = 16384
	}
	if c.DownloadRetries <= 0 {
		c.DownloadRetries = 6
	}
	def(&c.DownloadTimeout, 10*time.Minute)
	def(&c.DownloadIdleTimeout, 30*time.Second)
	return c
}

// Actor keeps documents in sync with their peers. One goroutine, the
// loop, owns every document's swarm, the per-(document, peer) state and
// the subscribers; it reacts to requests, finished sessions, gossip and
// store events. Sessions, swarm joins and leaves run on goroutines the
// Actor starts and joins on Close.
//
// It is the live.Policy of the node's sync Server: an incoming session is
// served only for a document open for sync, and only when no session of
// that document with that peer runs.
type Actor struct {
	ep     *endpoint.Endpoint
	act    *actor.Actor
	router *gossip.Router
	cfg    Config
	self   endpoint.NodeID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the loop has returned
	inbox  chan any
	// finished carries the end of every session: dialled (dialResult)
	// or served (acceptResult).
	finished chan any
	gossipC  chan swarmEvent
	store    *actor.Subscription
	content  *blobs.Store        // nil: no downloads
	dlDone   chan downloadResult // finished downloads
	wantC    chan contentWant    // WantContent, buffered

	closeOnce sync.Once

	// Owned by the loop.
	docs  map[replica.NamespaceID]*liveDoc
	subs  map[replica.NamespaceID]map[*Subscription]struct{}
	timer *time.Timer
	due   time.Time // when timer fires; zero when stopped
	dl    downloads
}

// liveDoc is one document open for sync.
type liveDoc struct {
	ns      replica.NamespaceID
	swarm   *gossip.Swarm
	ctx     context.Context // ends on Leave; bounds the doc's dials
	cancel  context.CancelFunc
	peers   map[endpoint.NodeID]*livePeer
	dialing int
	// localInserts counts the local inserts the loop has seen, so that a
	// peer's status can tell whether one happened since its last session.
	localInserts uint64
	// reports picks the sync reports that start a session.
	reports ReportGate
	// Catch-up (Config.CatchUpDelay): the first insert since the
	// last one, when it is due, and whether a local insert was among
	// them.
	busySince, catchUpAt time.Time
	wroteSince           bool
}

type livePeer struct {
	addr    endpoint.NodeAddr
	state   PeerState
	pending bool       // a sync is wanted but waits for back-off or a dial slot
	reason  SyncReason // of the pending sync
	retryAt time.Time  // no dial before this

	// seq numbers the sessions with this peer in the order they started
	// (dialled or accepted); dialSeq and acceptSeq are those of the
	// running ones, dialLocal and acceptLocal the document's
	// localInserts when they started.
	seq                    uint64
	dialSeq, acceptSeq     uint64
	dialLocal, acceptLocal uint64
	// waiters are the WaitSynced calls for this peer not yet answered.
	waiters []*syncWaiter
	stats   peerStats
}

type swarmEvent struct {
	swarm *gossip.Swarm
	ev    gossip.Event
}

type dialResult struct {
	swarm *gossip.Swarm
	peer  endpoint.NodeID
	out   Outcome
	err   error
}

type acceptResult struct {
	out Outcome
	err error
}

type startSyncReq struct {
	doc   replica.NamespaceID
	peers []endpoint.NodeAddr
	sub   bool
	reply chan startSyncReply
}

type startSyncReply struct {
	sub *Subscription
	err error
}

type leaveReq struct {
	doc   replica.NamespaceID
	reply chan (<-chan struct{}) // closed once the swarm has left; nil if none
}

type subscribeReq struct {
	doc   replica.NamespaceID
	reply chan *Subscription
}

type unsubscribeReq struct{ sub *Subscription }

type acceptReq struct {
	doc   replica.NamespaceID
	peer  endpoint.NodeID
	reply chan AbortReason
}

type statusReq struct {
	doc   replica.NamespaceID
	reply chan map[endpoint.NodeID]PeerStatus
}

// PeerStatus is a snapshot of the sync state of a document with one peer.
type PeerStatus struct {
	Origin  Origin // OriginNone when no session runs
	Resync  bool
	Pending bool
	Last    *LastSync
}

// NewActor starts a live Actor for the node whose endpoint is ep,
// store actor act and gossip router router, and registers its sync Server
// on ep. Close it before router, ep and act.
func NewActor(ep *endpoint.Endpoint, act *actor.Actor, router *gossip.Router, cfg Config) (*Actor, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := act.SubscribeAll(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("live: subscribe to the store: %w", err)
	}
	la := &Actor{
		ep: ep, act: act, router: router, cfg: cfg, self: ep.ID(),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		inbox: make(chan any), finished: make(chan any), gossipC: make(chan swarmEvent),
		store: store, content: cfg.Content,
		dlDone: make(chan downloadResult), wantC: make(chan contentWant, 64),
		dl:    newDownloads(),
		docs:  make(map[replica.NamespaceID]*liveDoc),
		subs:  make(map[replica.NamespaceID]map[*Subscription]struct{}),
		timer: time.NewTimer(time.Hour),
	}
	la.timer.Stop()
	if err := ep.Handle(endpoint.ALPNSync, NewServer(act, cfg.Sync, la)); err != nil {
		store.Close()
		cancel()
		return nil, fmt.Errorf("live: serve sync: %w", err)
	}
	if la.content != nil {
		bcfg := cfg.BlobServer
		if bcfg.MaxKeyLen <= 0 {
			bcfg.MaxKeyLen = act.Limits().MaxKeyLen
		}
		err := ep.Handle(endpoint.ALPNBlobs, blobs.NewServer(la.content, act, bcfg))
		if err == nil {
			err = la.loadWants()
		}
		if err != nil {
			store.Close()
			cancel()
			return nil, fmt.Errorf("live: serve content: %w", err)
		}
	}
	la.wg.Go(la.loop)
	return la, nil
}

// Close stops the loop, cancels the sessions this node dialled, closes
// every swarm (without Leave) and subscription, and returns once every
// goroutine the live actor started has returned. Incoming sessions belong
// to the endpoint and end when it closes.
func (la *Actor) Close() error {
	la.closeOnce.Do(func() {
		la.cancel()
		la.wg.Wait()
	})
	return nil
}

// call sends req to the loop and waits for the reply on reply.
func call[T any](ctx context.Context, la *Actor, req any, reply chan T) (T, error) {
	var zero T
	select {
	case la.inbox <- req:
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
	if len(peers) == 0 {
		stored, err := la.storedPeers(ctx, doc)
		if err != nil {
			return nil, err
		}
		peers = stored
	}
	reply := make(chan startSyncReply, 1)
	r, err := call(ctx, la, startSyncReq{doc: doc, peers: peers, sub: sub, reply: reply}, reply)
	if err != nil {
		return nil, err
	}
	if r.err == nil {
		// Remembered so that sync resumes after a restart (Resume).
		if err := la.act.SetMeta(ctx, openKey(doc), []byte{1}); err != nil {
			return r.sub, fmt.Errorf("live: remember %s as open for sync: %w", doc.Short(), err)
		}
	}
	return r.sub, r.err
}

// peerAddrKey is the Meta key under which the last address a peer was
// reached on is kept, so that sync resumes after a restart.
func peerAddrKey(id endpoint.NodeID) string { return "live/peer-addr/" + id.String() }

// storedPeers returns the peers doc last synced with, with their last
// known addresses (none when unknown: the endpoint may still hold a
// connection).
func (la *Actor) storedPeers(ctx context.Context, doc replica.NamespaceID) ([]endpoint.NodeAddr, error) {
	ids, err := la.act.SyncPeers(ctx, doc)
	if err != nil {
		return nil, fmt.Errorf("live: sync peers of %s: %w", doc.Short(), err)
	}
	out := make([]endpoint.NodeAddr, 0, len(ids))
	for _, id := range ids {
		addr := endpoint.NodeAddr{ID: endpoint.NodeID(id)}
		if b, err := la.act.Meta(ctx, peerAddrKey(addr.ID)); err == nil {
			var stored endpoint.NodeAddr
			if stored.UnmarshalBinary(b) == nil && stored.ID == addr.ID {
				addr = stored
			}
		}
		out = append(out, addr)
	}
	return out, nil
}

// Leave stops syncing doc: it cancels the sessions this node dialled for
// it and leaves its swarm, and returns once the swarm has left (at most
// JoinTimeout), so that StartSync may open it again. Subscriptions stay.
func (la *Actor) Leave(ctx context.Context, doc replica.NamespaceID) error {
	reply := make(chan (<-chan struct{}), 1)
	left, err := call(ctx, la, leaveReq{doc: doc, reply: reply}, reply)
	if err != nil {
		return err
	}
	if _, err := la.act.Doc(ctx, doc); err == nil {
		if err := la.act.SetMeta(ctx, openKey(doc), []byte{0}); err != nil {
			return err
		}
	} // else not held: nothing to resume anyway
	// Until the swarm has left, the router holds its topic and a StartSync
	// of doc would fail with gossip.ErrSwarmOpen.
	select {
	case <-left:
	case <-ctx.Done():
		return ctx.Err()
	case <-la.done:
	}
	return nil
}

// Subscribe returns a subscription to the events of doc, open for sync or
// not.
func (la *Actor) Subscribe(ctx context.Context, doc replica.NamespaceID) (*Subscription, error) {
	reply := make(chan *Subscription, 1)
	return call(ctx, la, subscribeReq{doc: doc, reply: reply}, reply)
}

// Status returns the sync state of doc with each peer it knows; nil when
// doc is not open for sync.
func (la *Actor) Status(ctx context.Context, doc replica.NamespaceID) (map[endpoint.NodeID]PeerStatus, error) {
	reply := make(chan map[endpoint.NodeID]PeerStatus, 1)
	return call(ctx, la, statusReq{doc: doc, reply: reply}, reply)
}

// Accept implements Policy. It asks the loop, and refuses as busy when the
// loop does not answer within AcceptTimeout.
func (la *Actor) Accept(ns replica.NamespaceID, peer endpoint.NodeID) AbortReason {
	ctx, cancel := context.WithTimeout(la.ctx, la.cfg.AcceptTimeout)
	defer cancel()
	reply := make(chan AbortReason, 1)
	select {
	case la.inbox <- acceptReq{doc: ns, peer: peer, reply: reply}:
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
	select {
	case la.finished <- acceptResult{o, err}:
	case <-la.done:
	}
}

func (la *Actor) loop() {
	defer la.shutdown()
	storeC := la.store.C()
	la.pumpDownloads() // the wanted set loaded at start
	for {
		select {
		case <-la.ctx.Done():
			return
		case req := <-la.inbox:
			la.handleRequest(req)
		case r := <-la.finished:
			switch r := r.(type) {
			case dialResult:
				la.dialFinished(r)
			case acceptResult:
				la.acceptFinished(r)
			}
		case se := <-la.gossipC:
			la.handleGossip(se)
		case ev, ok := <-storeC:
			if !ok {
				storeC = nil // the store actor stopped; the engine is closing
				continue
			}
			la.handleStore(ev)
		case <-la.timer.C:
			la.due = time.Time{}
			la.runPending()
			la.pumpDownloads()
		case r := <-la.dlDone:
			la.downloadFinished(r)
		case w := <-la.wantC:
			la.wantContent(w.doc, &w.entry, endpoint.NodeID{})
			la.pumpDownloads()
		}
	}
}

// shutdown runs on the loop's way out: nothing can reach the loop after
// done is closed.
func (la *Actor) shutdown() {
	close(la.done)
	la.timer.Stop()
	la.store.Close()
	for _, d := range la.docs {
		d.cancel()
		d.swarm.Close()
	}
	for _, m := range la.subs {
		for s := range m {
			close(s.c)
		}
	}
}

func (la *Actor) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(la.ctx, la.cfg.StoreTimeout)
}

func (la *Actor) handleRequest(req any) {
	switch req := req.(type) {
	case startSyncReq:
		var sub *Subscription
		if req.sub {
			sub = la.addSub(req.doc)
		}
		err := la.openDoc(req.doc, req.peers)
		if err != nil && sub != nil {
			la.removeSub(sub)
			sub = nil
		}
		req.reply <- startSyncReply{sub, err}
	case leaveReq:
		req.reply <- la.leave(req.doc)
	case subscribeReq:
		req.reply <- la.addSub(req.doc)
	case unsubscribeReq:
		la.removeSub(req.sub)
	case acceptReq:
		d := la.docs[req.doc]
		if d == nil {
			req.reply <- AbortNotFound
			return
		}
		p := d.peer(req.peer)
		r := p.state.Incoming(la.self, req.peer)
		if r == 0 {
			p.seq++
			p.acceptSeq, p.acceptLocal = p.seq, d.localInserts
		}
		req.reply <- r
	case statusReq:
		d := la.docs[req.doc]
		if d == nil {
			req.reply <- nil
			return
		}
		m := make(map[endpoint.NodeID]PeerStatus, len(d.peers))
		for id, p := range d.peers {
			var last *LastSync
			if p.state.Last != nil {
				l := *p.state.Last
				last = &l
			}
			m[id] = PeerStatus{Origin: p.state.Origin(), Resync: p.state.ResyncRequested(), Pending: p.pending, Last: last}
		}
		req.reply <- m
	case waitSyncedReq:
		la.addWaiter(req)
	case cancelWaitReq:
		la.dropWaiter(req)
	case syncStatusReq:
		req.reply <- la.syncStatus(req.doc)
	case policyChangedReq:
		delete(la.dl.policies, req.doc)
		req.reply <- struct{}{}
	case downloadStatsReq:
		req.reply <- DownloadStats{Queued: len(la.dl.byHash), Running: la.dl.running, Dropped: la.dl.dropped}
	}
}

func (la *Actor) addSub(doc replica.NamespaceID) *Subscription {
	s := &Subscription{c: make(chan Event, la.cfg.EventBuffer), doc: doc, la: la}
	m := la.subs[doc]
	if m == nil {
		m = make(map[*Subscription]struct{})
		la.subs[doc] = m
	}
	m[s] = struct{}{}
	return s
}

func (la *Actor) removeSub(s *Subscription) {
	m := la.subs[s.doc]
	if _, ok := m[s]; !ok {
		return
	}
	delete(m, s)
	if len(m) == 0 {
		delete(la.subs, s.doc)
	}
	close(s.c)
}

func (la *Actor) emit(ev Event) {
	for s := range la.subs[ev.Doc] {
		s.deliver(ev)
	}
}

func (d *liveDoc) peer(id endpoint.NodeID) *livePeer {
	p := d.peers[id]
	if p == nil {
		p = &livePeer{addr: endpoint.NodeAddr{ID: id}}
		d.peers[id] = p
	}
	return p
}

// learn records a peer's address when it carries one.
func (p *livePeer) learn(addr endpoint.NodeAddr) {
	if len(addr.Addrs) > 0 {
		p.addr = addr
	}
}

// openDoc opens doc's swarm if needed, joins it through peers and syncs
// with each of them.
func (la *Actor) openDoc(doc replica.NamespaceID, peers []endpoint.NodeAddr) error {
	d := la.docs[doc]
	if d == nil {
		sw, err := la.router.Open(doc)
		if err != nil {
			return fmt.Errorf("live: open the swarm of %s: %w", doc.Short(), err)
		}
		ctx, cancel := context.WithCancel(la.ctx)
		d = &liveDoc{ns: doc, swarm: sw, ctx: ctx, cancel: cancel, peers: make(map[endpoint.NodeID]*livePeer)}
		la.docs[doc] = d
		la.wg.Go(func() { la.forward(sw) })
	}
	var join []endpoint.NodeAddr
	for _, addr := range peers {
		if addr.ID == la.self || addr.ID.IsZero() {
			continue
		}
		p := d.peer(addr.ID)
		p.learn(addr)
		p.state.Failures = 0 // the application asks: try afresh
		p.retryAt = time.Time{}
		la.want(d, p, ReasonDirect)
		join = append(join, p.addr)
	}
	if len(join) > 0 {
		sw, ctx := d.swarm, d.ctx
		la.wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, la.cfg.JoinTimeout)
			defer cancel()
			sw.Join(ctx, join) // best effort: the direct syncs do not depend on it
		})
	}
	return nil
}

// forward moves a swarm's events to the loop until the swarm closes.
func (la *Actor) forward(sw *gossip.Swarm) {
	for ev := range sw.Events() {
		select {
		case la.gossipC <- swarmEvent{sw, ev}:
		case <-la.ctx.Done():
			return
		}
	}
}

func (la *Actor) leave(doc replica.NamespaceID) <-chan struct{} {
	d := la.docs[doc]
	if d == nil {
		return closedChan
	}
	delete(la.docs, doc)
	d.cancel()
	for _, p := range d.peers {
		p.failWaiters(fmt.Errorf("live: %s left before %s confirmed sync: %w", doc.Short(), p.addr.ID.Short(), ErrNotSyncing))
	}
	sw := d.swarm
	left := make(chan struct{})
	la.wg.Go(func() {
		defer close(left)
		ctx, cancel := context.WithTimeout(context.Background(), la.cfg.JoinTimeout)
		defer cancel()
		sw.Leave(ctx)
	})
	return left
}

// closedChan is a closed channel: nothing to wait for.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// want records a reason to sync d with p and dials when the state,
// the back-off and the document's dial budget allow; otherwise the sync
// stays pending (or flagged in the state) until they do.
func (la *Actor) want(d *liveDoc, p *livePeer, reason SyncReason) {
	if p.state.Running() {
		p.state.WantSync(reason) // sets the resync flag
		return
	}
	now := time.Now()
	if now.Before(p.retryAt) || d.dialing >= la.cfg.MaxDialsPerDoc {
		if !p.pending {
			p.pending, p.reason = true, reason
		}
		la.schedule(p.retryAt)
		return
	}
	p.pending = false
	if !p.state.WantSync(reason) {
		return
	}
	p.seq++
	p.dialSeq, p.dialLocal = p.seq, d.localInserts
	d.dialing++
	sw, ctx, addr, ns := d.swarm, d.ctx, p.addr, d.ns
	la.wg.Go(func() {
		out, err := Sync(ctx, la.ep, la.act, addr, ns, la.cfg.Sync)
		select {
		case la.finished <- dialResult{swarm: sw, peer: addr.ID, out: out, err: err}:
		case <-la.ctx.Done():
		}
	})
}

// inserted notes a local insert or a Put received by gossip in d for the
// catch-up: due CatchUpDelay after the last, at most MaxCatchUpDelay after
// the first.
func (la *Actor) inserted(d *liveDoc, local bool) {
	now := time.Now()
	if d.catchUpAt.IsZero() {
		d.busySince = now
	}
	d.catchUpAt = now.Add(la.cfg.CatchUpDelay)
	if last := d.busySince.Add(la.cfg.MaxCatchUpDelay); last.Before(d.catchUpAt) {
		d.catchUpAt = last
	}
	d.wroteSince = d.wroteSince || local
	la.schedule(d.catchUpAt)
}

// catchUp makes sure the inserts since the last catch-up are everywhere:
// a heads report if some were local, and a session with one random
// neighbour.
func (la *Actor) catchUp(d *liveDoc) {
	if d.wroteSince {
		la.reportHeads(d)
	}
	d.catchUpAt, d.busySince, d.wroteSince = time.Time{}, time.Time{}, false
	members := d.swarm.Members()
	if len(members) == 0 {
		return
	}
	m := members[rand.IntN(len(members))]
	p := d.peer(m.ID)
	p.learn(m)
	la.want(d, p, ReasonCatchUp)
}

// schedule makes the timer fire by t (at once when t is past).
func (la *Actor) schedule(t time.Time) {
	if !la.due.IsZero() && !t.Before(la.due) {
		return
	}
	la.due = t
	la.timer.Reset(max(time.Until(t), 0))
}

// runPending dials the pending syncs whose back-off has passed, as far
// as each document's dial budget allows.
func (la *Actor) runPending() {
	now := time.Now()
	for _, d := range la.docs {
		if !d.catchUpAt.IsZero() {
			if now.Before(d.catchUpAt) {
				la.schedule(d.catchUpAt)
			} else {
				la.catchUp(d)
			}
		}
		for _, p := range d.peers {
			if !p.pending {
				continue
			}
			if now.Before(p.retryAt) || d.dialing >= la.cfg.MaxDialsPerDoc {
				if now.Before(p.retryAt) {
					la.schedule(p.retryAt)
				}
				continue
			}
			la.want(d, p, p.reason)
		}
	}
}

func (la *Actor) dialFinished(r dialResult) {
	d := la.docs[r.swarm.Doc()]
	if d == nil || d.swarm != r.swarm {
		return // the document was left meanwhile
	}
	d.dialing--
	p := d.peer(r.peer)
	// Taken before want below can start the next session.
	seq, local := p.dialSeq, p.dialLocal
	again := p.state.DialFinished(LastSync{End: r.out.End, Received: r.out.Inserted, Sent: r.out.Sent, Equal: r.out.Equal, Err: r.err})
	la.emit(Event{Kind: EventSyncFinished, Doc: d.ns, Peer: r.peer, Outcome: r.out, Err: r.err})
	switch {
	case r.err == nil:
		la.synced(d, p, r.out)
	case errors.Is(r.err, ErrAlreadySyncing):
	case p.state.Failures <= la.cfg.MaxRetries && d.ctx.Err() == nil:
		p.retryAt = time.Now().Add(Backoff(p.state.Failures, la.cfg.RetryBase, la.cfg.RetryMax, rand.Float64()))
		again = true
	}
	if again {
		la.want(d, p, ReasonResync)
	}
	if !errors.Is(r.err, ErrAlreadySyncing) {
		p.stats.record(r.out, r.err, local)
	}
	la.sessionEnded(d, p, seq, r.out, r.err, true)
	la.nextReport(d, p)
	la.runPending()
}

func (la *Actor) acceptFinished(r acceptResult) {
	d := la.docs[r.out.Namespace]
	if d == nil {
		return
	}
	p := d.peers[r.out.Peer]
	if p == nil || p.state.Origin() != OriginAccept {
		return
	}
	// A session refused before or by the policy never held the slot.
	if !r.out.Served && (errors.Is(r.err, ErrAlreadySyncing) || errors.Is(r.err, ErrNotFound) || errors.Is(r.err, ErrBusy)) {
		return
	}
	seq, local := p.acceptSeq, p.acceptLocal
	again := p.state.AcceptFinished(LastSync{End: r.out.End, Received: r.out.Inserted, Sent: r.out.Sent, Equal: r.out.Equal, Err: r.err})
	la.emit(Event{Kind: EventSyncFinished, Doc: d.ns, Peer: r.out.Peer, Outcome: r.out, Err: r.err})
	if r.err == nil {
		la.synced(d, p, r.out)
	}
	if again {
		la.want(d, p, ReasonResync)
	}
	p.stats.record(r.out, r.err, local)
	la.sessionEnded(d, p, seq, r.out, r.err, false)
	la.nextReport(d, p)
}

// nextReport opens d's report gate once no session with p runs or waits
// (a retry after a failed dial, a busy peer), if p held it, and syncs with
// a reporter whose kept report still shows news.
func (la *Actor) nextReport(d *liveDoc, p *livePeer) {
	if p.state.Running() || p.pending || !d.reports.Release(p.addr.ID) || !d.reports.Deferred() {
		return
	}
	ctx, cancel := la.storeCtx()
	defer cancel()
	ours, err := la.act.Heads(ctx, d.ns)
	if err != nil {
		return // the next report tries again
	}
	if id, ok := d.reports.Next(ours); ok {
		la.want(d, d.peer(id), ReasonReport)
	}
}

// synced remembers a peer a session completed with, and reports our heads
// to the swarm when the session brought us entries.
func (la *Actor) synced(d *liveDoc, p *livePeer, out Outcome) {
	ctx, cancel := la.storeCtx()
	defer cancel()
	la.act.AddSyncPeer(ctx, d.ns, replica.PeerID(p.addr.ID))
	addr := p.addr
	if known, ok := la.ep.KnownAddr(addr.ID); ok {
		addr = known // where the peer is now, which p.addr may predate
	}
	if len(addr.Addrs) > 0 {
		if b, err := addr.MarshalBinary(); err == nil {
			la.act.SetMeta(ctx, peerAddrKey(addr.ID), b)
		}
	}
	if out.Inserted > 0 {
		if heads, err := la.act.Heads(ctx, d.ns); err == nil {
			d.swarm.SyncReport(capHeads(heads))
		}
	}
}

// reportHeads publishes our heads of d as a sync report.
func (la *Actor) reportHeads(d *liveDoc) {
	ctx, cancel := la.storeCtx()
	defer cancel()
	if heads, err := la.act.Heads(ctx, d.ns); err == nil {
		d.swarm.SyncReport(capHeads(heads))
	}
}

// capHeads keeps at most gossip.MaxReportAuthors heads, the latest ones
// first: a report is a hint, and the latest writers are the likeliest news.
func capHeads(h replica.Heads) replica.Heads {
	if len(h) <= gossip.MaxReportAuthors {
		return h
	}
	type head struct {
		a replica.AuthorID
		t uint64
	}
	all := make([]head, 0, len(h))
	for a, t := range h {
		all = append(all, head{a, t})
	}
	// Partial selection would do; reports this large are rare.
	for i := range gossip.MaxReportAuthors {
		best := i
		for j := i + 1; j < len(all); j++ {
			if all[j].t > all[best].t {
				best = j
			}
		}
		all[i], all[best] = all[best], all[i]
	}
	out := make(replica.Heads, gossip.MaxReportAuthors)
	for _, x := range all[:gossip.MaxReportAuthors] {
		out[x.a] = x.t
	}
	return out
}

func (la *Actor) handleGossip(se swarmEvent) {
	d := la.docs[se.swarm.Doc()]
	if d == nil || d.swarm != se.swarm {
		return
	}
	switch ev := se.ev.(type) {
	case gossip.NeighborUp:
		p := d.peer(ev.Node.ID)
		p.learn(ev.Node)
		la.emit(Event{Kind: EventNeighborUp, Doc: d.ns, Peer: ev.Node.ID})
		// Both sides see the other come up; only the lower id dials, so
		// that they do not dial each other at once.
		if DialWins(la.self, ev.Node.ID) {
			la.want(d, p, ReasonNeighbor)
		}
	case gossip.NeighborDown:
		la.emit(Event{Kind: EventNeighborDown, Doc: d.ns, Peer: ev.Node})
	case gossip.OpContentReady:
		la.contentAnnounced(d.ns, ev.From, ev.Hash)
	case gossip.OpPut:
		// Entries that sessions bring are reconciled already; those that
		// gossip brings are followed by a catch-up.
		la.inserted(d, false)
		ctx, cancel := la.storeCtx()
		defer cancel()
		if ev.Content != nil && la.content != nil && la.policyAllows(d.ns, ev.Entry.Key) {
			// The swarm checked the content against the entry's hash.
			// Stored first, it makes the entry's content complete when
			// InsertRemote is reported, and nothing is fetched.
			// Should it fail, the content reads as missing and is
			// downloaded like any other.
			la.content.PutBytes(ev.Content)
		}
		// The swarm verified the entry; the store applies last writer
		// wins and emits InsertRemote when it is new.
		la.act.InsertRemote(ctx, d.ns, []replica.SignedEntry{ev.Entry}, replica.PeerID(ev.From))
	case gossip.OpSyncReport:
		ctx, cancel := la.storeCtx()
		defer cancel()
		ours, err := la.act.Heads(ctx, d.ns)
		if err != nil || !HasNewsFor(ours, ev.Heads) {
			return
		}
		p := d.peer(ev.From)
		for _, m := range d.swarm.Members() {
			if m.ID == ev.From {
				p.learn(m)
			}
		}
		// A running session with the reporter is followed by another;
		// other reports wait for the document's report-started session.
		if p.state.Running() || d.reports.Report(ev.From, ev.Heads) {
			la.want(d, p, ReasonReport)
		}
	case gossip.Lagged:
		// Lost ops are recovered by syncing with the neighbours.
		for _, m := range d.swarm.Members() {
			p := d.peer(m.ID)
			p.learn(m)
			la.want(d, p, ReasonResync)
		}
	}
}

// inlineContent is the content to send along with a local entry's Put:
// when the swarm sends content that small and the store holds it, else
// nil.
func (la *Actor) inlineContent(d *liveDoc, e *replica.SignedEntry) []byte {
	if la.content == nil || e.Len > uint64(max(d.swarm.InlineContent(), 0)) {
		return nil
	}
	b, err := la.content.Get(e.Hash)
	if err != nil {
		return nil
	}
	return b
}

func (la *Actor) handleStore(ev actor.Event) {
	switch ev.Kind {
	case actor.InsertLocal:
		if d := la.docs[ev.Namespace]; d != nil {
			d.localInserts++
			la.inserted(d, true)
			if errors.Is(d.swarm.PutContent(ev.Entry, la.inlineContent(d, &ev.Entry)), gossip.ErrOpTooLarge) {
				// Gossip cannot carry it: report our heads instead, so
				// that the peers sync the entry from us.
				la.reportHeads(d)
			}
		}
		la.emit(Event{Kind: EventInsertLocal, Doc: ev.Namespace, Entry: ev.Entry})
	case actor.InsertRemote:
		from := endpoint.NodeID(ev.From)
		status := la.ContentStatus(&ev.Entry)
		if status != ContentComplete && la.content != nil && la.policyAllows(ev.Namespace, ev.Entry.Key) {
			la.wantContent(ev.Namespace, &ev.Entry, from)
			la.pumpDownloads()
		}
		la.emit(Event{Kind: EventInsertRemote, Doc: ev.Namespace, Entry: ev.Entry, Peer: from, ContentStatus: status})
	case actor.Lagged:
		// Which documents lost events is unknown: tell every subscriber.
		for _, m := range la.subs {
			for s := range m {
				s.deliver(Event{Kind: EventLagged, Doc: s.doc, Missed: ev.Missed})
			}
		}
	}
}

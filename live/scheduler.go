package live

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// The scheduler is the live actor's decision core: it owns the open
// documents, their peers, the per-(document, peer) state and record, the
// report gate, catch-up, the WaitSynced waiters and the download queue. It
// has no goroutines, clocks or sockets: every input is a method call that
// carries the time, and every decision is an effect appended to out, which
// the shell (Actor) carries out. Table tests drive it directly
// (scheduler_test.go).
type scheduler struct {
	cfg  Config
	self endpoint.NodeID
	// jitter returns a number in [0, 1) for back-offs and random picks.
	jitter func() float64

	docs map[replica.NamespaceID]*sdoc
	gen  uint64 // numbers document openings, so that late results of a left one are dropped
	dl   downloads
	prog progress // per-document download counters (progress.go)
	// content: whether a content store exists; maxBlob is its size limit.
	content bool
	maxBlob uint64

	due time.Time // when the shell's timer fires; zero when stopped
	// expiry is the earliest time an idle peer record may expire; zero
	// when none is idle. A tick before it does not look for expired ones.
	expiry time.Time
	out    []effect
	stats  Stats
}

// sdoc is one document open for sync.
type sdoc struct {
	ns      replica.NamespaceID
	gen     uint64
	peers   map[endpoint.NodeID]*speer
	members map[endpoint.NodeID]endpoint.NodeAddr // swarm neighbours, as NeighborUp/Down said
	// unknown holds WaitSynced calls for peers the document did not know
	// yet: they wait up to UnreachableAfter for the peer to appear (a
	// peer that just imported a ticket dials in soon after).
	unknown map[endpoint.NodeID][]*syncWaiter
	dialing int
	// heads are this node's latest timestamp per author, seeded at open and
	// moved forward by every insert the store reports.
	heads replica.Heads
	// localInserts counts the local inserts seen, so that a peer's status
	// can tell whether one happened since its last session.
	localInserts uint64
	reports      ReportGate
	// Catch-up (Config.CatchUpDelay): the first insert since the last
	// catch-up, when the next is due, and whether a local insert was among
	// them.
	busySince, catchUpAt time.Time
	wroteSince           bool
	// lastSession is when a session of the document last completed, or
	// when it was opened (Config.AntiEntropyInterval).
	lastSession time.Time
}

// speer is the state of one document with one peer: the state machine,
// the pending dial, session numbering, the waiters, and the one record of
// what the sessions did (persisted).
type speer struct {
	addr    endpoint.NodeAddr
	state   PeerState
	pending bool       // a sync is wanted but waits for back-off or a dial slot
	reason  SyncReason // of the pending sync
	retryAt time.Time  // no dial before this
	// refusals counts dials in a row the peer refused because it was
	// already syncing with us; they back off like failures but are not
	// failures.
	refusals int

	// seq numbers the sessions with this peer in the order they started
	// (dialled or accepted); dialSeq and acceptSeq are those of the running
	// ones, dialLocal and acceptLocal the document's localInserts when they
	// started.
	seq                    uint64
	dialSeq, acceptSeq     uint64
	dialLocal, acceptLocal uint64
	waiters                []*syncWaiter
	rec                    peerRecord
	lastLocal              uint64 // localInserts when the last recorded session started
	hasLocal               bool   // lastLocal is of this run (not loaded from the store)
	// active is when the record was made or a session with the peer last
	// started or ended: an idle record's age (Config.IdlePeerTTL).
	active time.Time
}

// effectKind says what the shell must do.
type effectKind uint8

const (
	// effDial: run a session with addr for doc (generation gen).
	effDial effectKind = iota + 1
	// effJoin: join doc's swarm through addrs (best effort).
	effJoin
	// effEmit: deliver ev to doc's subscribers.
	effEmit
	// effReport: publish heads as a sync report in doc's swarm.
	effReport
	// effContentReady: announce hash in doc's swarm.
	effContentReady
	// effPersist: remember peer rec of doc (sync peer, address, record).
	effPersist
	// effTimer: make the timer fire at at.
	effTimer
	// effAnswer: answer waiter w with err.
	effAnswer
	// effFetch: start the download dl from cands.
	effFetch
	// effWant: write (data) or delete (nil) the wanted-set record of hash.
	effWant
)

// effect is one decision of the scheduler. Only the fields of its kind are
// set.
type effect struct {
	kind   effectKind
	doc    replica.NamespaceID
	gen    uint64
	addr   endpoint.NodeAddr
	addrs  []endpoint.NodeAddr
	reason SyncReason
	ev     Event
	heads  replica.Heads
	hash   replica.Hash
	rec    peerRecord
	at     time.Time
	w      *syncWaiter
	err    error
	dl     *download
	cands  []candidate
	refs   []blobs.Ref
	data   []byte
}

// Stats counts what the live actor did since it started.
type Stats struct {
	// Dials counts sessions this node dialled; Accepted those it agreed
	// to serve.
	Dials, Accepted uint64
	// Refused counts dials the peer refused because a session of the
	// pair was already running (not failures: they back off and retry).
	Refused uint64
	// Failed counts dialled sessions that ended in another error.
	Failed uint64
	// Catchups counts catch-up sessions started.
	Catchups uint64
	// EventsDropped counts the events document subscribers missed because
	// their buffer was full (each learns of its own by EventLagged).
	EventsDropped uint64
	// HintsIgnored counts gossiped sync reports and content announcements
	// not acted on because their origin, which nothing authenticates, is
	// neither a member of the document's swarm nor a peer with a record.
	HintsIgnored uint64
}

func newScheduler(cfg Config, self endpoint.NodeID, jitter func() float64) *scheduler {
	return &scheduler{
		cfg: cfg, self: self, jitter: jitter,
		docs: make(map[replica.NamespaceID]*sdoc),
		dl:   newDownloads(),
	}
}

// take returns the effects decided since the last call.
func (s *scheduler) take() []effect {
	out := s.out
	s.out = nil
	return out
}

func (s *scheduler) emit(ev Event) { s.out = append(s.out, effect{kind: effEmit, doc: ev.Doc, ev: ev}) }

// schedule makes the timer fire by t (at once when t is past).
func (s *scheduler) schedule(t time.Time) {
	if !s.due.IsZero() && !t.Before(s.due) {
		return
	}
	s.due = t
	s.out = append(s.out, effect{kind: effTimer, at: t})
}

func (d *sdoc) peer(id endpoint.NodeID) *speer {
	p := d.peers[id]
	if p == nil {
		p = &speer{addr: endpoint.NodeAddr{ID: id}}
		d.peers[id] = p
	}
	return p
}

// Per-peer state. Records are made for swarm members, for peers the
// application names (StartSync, WaitSynced), for peers that dial in, and
// for the peers of the records loaded at open: never for the origin of a
// gossiped report or content announcement alone, which nothing
// authenticates (see gossipEvent). The records of members and of peers
// with a session running or pending, waiters, or the report gate are
// kept; the others are idle, and a document keeps at most MaxIdlePeers
// of them, each for at most IdlePeerTTL after it was last active.

// idle reports whether p's record may be forgotten: p is not a member of
// d's swarm, and nothing runs, waits or is due for it.
func (d *sdoc) idle(p *speer) bool {
	_, member := d.members[p.addr.ID]
	return !member && !p.state.Running() && !p.pending && len(p.waiters) == 0 && !d.reports.Holds(p.addr.ID)
}

// trimPeers forgets the idle records of d past IdlePeerTTL and, beyond
// MaxIdlePeers, the least recently active ones. It arms the timer for the
// next expiry.
func (s *scheduler) trimPeers(now time.Time, d *sdoc) {
	var idle []*speer
	for id, p := range d.peers {
		if !d.idle(p) {
			continue
		}
		expiry := p.active.Add(s.cfg.IdlePeerTTL)
		if !now.Before(expiry) {
			delete(d.peers, id)
			continue
		}
		s.expireAt(expiry)
		idle = append(idle, p)
	}
	if len(idle) <= s.cfg.MaxIdlePeers {
		return
	}
	slices.SortFunc(idle, func(a, b *speer) int { return a.active.Compare(b.active) })
	for _, p := range idle[:len(idle)-s.cfg.MaxIdlePeers] {
		delete(d.peers, p.addr.ID)
	}
}

// idled trims d's records after p may have become idle, and arms the
// timer for p's expiry if it has.
func (s *scheduler) idled(now time.Time, d *sdoc, p *speer) {
	s.mayTrim(now, d)
	if d.peers[p.addr.ID] == p && d.idle(p) {
		s.expireAt(p.active.Add(s.cfg.IdlePeerTTL))
	}
}

// expireAt makes the timer fire by t, when an idle record expires.
func (s *scheduler) expireAt(t time.Time) {
	if s.expiry.IsZero() || t.Before(s.expiry) {
		s.expiry = t
	}
	s.schedule(t)
}

// mayTrim trims d's records when it may hold more idle ones than allowed:
// a cheap check for the paths that add records.
func (s *scheduler) mayTrim(now time.Time, d *sdoc) {
	if len(d.peers) > len(d.members)+s.cfg.MaxIdlePeers {
		s.trimPeers(now, d)
	}
}

// learn records a peer's address when it carries one.
func (p *speer) learn(addr endpoint.NodeAddr) {
	if len(addr.Addrs) > 0 {
		p.addr = addr
	}
}

// openState is what the shell read from the store for a document before
// opening it: its heads and the records of the peers it last synced with.
type openState struct {
	heads replica.Heads
	peers []peerRecord
}

// open opens doc for sync (if it is not open) and syncs with each of
// peers (direct). It returns the document's generation.
func (s *scheduler) open(now time.Time, doc replica.NamespaceID, peers []endpoint.NodeAddr, st openState) {
	d := s.docs[doc]
	if d == nil {
		s.gen++
		d = &sdoc{ns: doc, gen: s.gen, lastSession: now, peers: make(map[endpoint.NodeID]*speer),
			members: make(map[endpoint.NodeID]endpoint.NodeAddr), heads: st.heads,
			unknown: make(map[endpoint.NodeID][]*syncWaiter)}
		if d.heads == nil {
			d.heads = make(replica.Heads)
		}
		for _, r := range st.peers {
			if r.Peer == s.self || r.Peer.IsZero() {
				continue
			}
			p := d.peer(r.Peer)
			p.rec = r
			p.learn(r.Addr)
			p.active = now
		}
		s.docs[doc] = d
	}
	var join []endpoint.NodeAddr
	for _, addr := range peers {
		if addr.ID == s.self || addr.ID.IsZero() {
			continue
		}
		p := d.peer(addr.ID)
		p.learn(addr)
		p.state.Failures, p.refusals = 0, 0 // the application asks: try afresh
		p.retryAt = time.Time{}
		s.attach(d, p)
		s.want(now, d, p, ReasonDirect)
		join = append(join, p.addr)
	}
	if len(join) > 0 {
		s.out = append(s.out, effect{kind: effJoin, doc: doc, gen: d.gen, addrs: join})
	}
	s.trimPeers(now, d)
}

// isOpen reports whether doc is open for sync.
func (s *scheduler) isOpen(doc replica.NamespaceID) bool { return s.docs[doc] != nil }

// leave closes doc for sync: its waiters fail, and the results of its
// running sessions are dropped when they come.
func (s *scheduler) leave(doc replica.NamespaceID) bool {
	d := s.docs[doc]
	if d == nil {
		return false
	}
	delete(s.docs, doc)
	for _, p := range d.peers {
		for _, w := range p.waiters {
			s.answer(w, fmt.Errorf("live: %s left before %s confirmed sync: %w", doc.Short(), p.addr.ID.Short(), ErrNotSyncing))
		}
		p.waiters = nil
	}
	for peer, ws := range d.unknown {
		for _, w := range ws {
			s.answer(w, fmt.Errorf("live: %s left before %s confirmed sync: %w", doc.Short(), peer.Short(), ErrNotSyncing))
		}
	}
	return true
}

func (s *scheduler) answer(w *syncWaiter, err error) {
	s.out = append(s.out, effect{kind: effAnswer, w: w, err: err})
}

// want records a reason to sync d with p and dials when the state, the
// back-off and the document's dial budget allow; otherwise the sync stays
// pending (or flagged in the state) until they do.
func (s *scheduler) want(now time.Time, d *sdoc, p *speer, reason SyncReason) {
	if p.state.Running() {
		p.state.WantSync(reason) // sets the resync flag
		return
	}
	if now.Before(p.retryAt) || d.dialing >= s.cfg.MaxDialsPerDoc {
		if !p.pending {
			p.pending, p.reason = true, reason
		}
		if now.Before(p.retryAt) {
			s.schedule(p.retryAt)
		}
		return
	}
	p.pending = false
	if !p.state.WantSync(reason) {
		return
	}
	p.seq++
	p.dialSeq, p.dialLocal = p.seq, d.localInserts
	p.active = now
	d.dialing++
	s.stats.Dials++
	if reason == ReasonCatchUp {
		s.stats.Catchups++
	}
	s.out = append(s.out, effect{kind: effDial, doc: d.ns, gen: d.gen, addr: p.addr, reason: reason})
}

// accept decides on a session peer opened for doc (stating addr, if any).
func (s *scheduler) accept(now time.Time, doc replica.NamespaceID, peer endpoint.NodeID, addr endpoint.NodeAddr) AbortReason {
	d := s.docs[doc]
	if d == nil {
		return AbortNotFound
	}
	p := d.peer(peer)
	if addr.ID == peer {
		p.learn(addr)
	}
	p.active = now
	r := p.state.Incoming(s.self, peer)
	if r != 0 && len(d.unknown[peer]) > 0 {
		s.attach(d, p)
		s.want(now, d, p, ReasonDirect)
	}
	if r == 0 {
		// Waiters for a peer unknown until now count this session: it
		// started after their call.
		s.attach(d, p)
		p.seq++
		p.acceptSeq, p.acceptLocal = p.seq, d.localInserts
		s.stats.Accepted++
	}
	s.mayTrim(now, d)
	return r
}

// dialed takes the end of a session this node dialled for doc.
func (s *scheduler) dialed(now time.Time, doc replica.NamespaceID, gen uint64, addr endpoint.NodeAddr, out Outcome, err error) {
	d := s.docs[doc]
	if d == nil || d.gen != gen {
		return // the document was left meanwhile
	}
	d.dialing--
	p := d.peer(addr.ID)
	seq, local := p.dialSeq, p.dialLocal
	refused := errors.Is(err, ErrAlreadySyncing)
	again := p.state.DialFinished(err)
	switch {
	case refused:
		// Not a failure, and no news: the peer runs a session with us. If
		// we serve it, the resync flag follows its end. If we do not see
		// it (yet), retry after a back-off rather than at once: the peer's
		// session ends on its own time.
		s.stats.Refused++
		if !p.state.Running() {
			p.refusals++
			p.retryAt = now.Add(Backoff(p.refusals, s.cfg.RetryBase, s.cfg.RetryMax, s.jitter()))
			p.pending, p.reason = true, ReasonResync
			s.schedule(p.retryAt)
		}
	case err == nil:
		p.refusals = 0
		p.learn(addr)
		s.emit(Event{Kind: EventSyncFinished, Doc: d.ns, Peer: addr.ID, Outcome: out})
		s.synced(now, d, p, out)
	default:
		s.stats.Failed++
		s.emit(Event{Kind: EventSyncFinished, Doc: d.ns, Peer: addr.ID, Outcome: out, Err: err})
		if p.state.Failures <= s.cfg.MaxRetries {
			p.retryAt = now.Add(Backoff(p.state.Failures, s.cfg.RetryBase, s.cfg.RetryMax, s.jitter()))
			again = true
		}
	}
	if !refused {
		s.record(d, p, now, out, err, local)
	}
	if again {
		s.want(now, d, p, ReasonResync)
	}
	s.sessionEnded(now, d, p, seq, out, err, true)
	s.nextReport(now, d, p)
	s.runPending(now)
	s.idled(now, d, p)
}

// accepted takes the end of a session the peer opened.
func (s *scheduler) accepted(now time.Time, out Outcome, err error) {
	d := s.docs[out.Namespace]
	if d == nil {
		return
	}
	p := d.peers[out.Peer]
	if p == nil || p.state.Origin() != OriginAccept {
		return
	}
	// A session refused before or by the policy never held the slot.
	if !out.Served && (errors.Is(err, ErrAlreadySyncing) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrBusy)) {
		return
	}
	seq, local := p.acceptSeq, p.acceptLocal
	again := p.state.AcceptFinished(err)
	s.emit(Event{Kind: EventSyncFinished, Doc: d.ns, Peer: out.Peer, Outcome: out, Err: err})
	if err == nil {
		p.refusals = 0
		s.synced(now, d, p, out)
	}
	s.record(d, p, now, out, err, local)
	if again {
		s.want(now, d, p, ReasonResync)
	}
	s.sessionEnded(now, d, p, seq, out, err, false)
	s.nextReport(now, d, p)
	s.runPending(now)
	s.idled(now, d, p)
}

// record folds a session's end into p's record and persists it.
func (s *scheduler) record(d *sdoc, p *speer, now time.Time, out Outcome, err error, local uint64) {
	p.rec.note(now, out, err)
	p.rec.Peer, p.rec.Addr = p.addr.ID, p.addr
	p.active = now
	p.lastLocal, p.hasLocal = local, true
	s.out = append(s.out, effect{kind: effPersist, doc: d.ns, rec: p.rec, addr: p.addr})
}

// synced joins the swarm through p while the swarm has no member, and
// reports our heads to the swarm when a session brought us entries.
//
// The join at open is best effort and not retried: when the peers it was
// given had left the document or could not be reached then, the swarm
// stays without members, and the node hears no write or report and syncs
// only when a peer happens to dial it. A completed session shows that p
// is reachable and holds the document open, so its swarm can be joined.
// A swarm with members, the usual case, joins nothing: memberlist brings
// the rest, and a join per session (19 at once at the creator of a
// document 19 nodes import) only loads the peers.
func (s *scheduler) synced(now time.Time, d *sdoc, p *speer, out Outcome) {
	d.lastSession = now
	if len(d.members) == 0 && len(p.addr.Addrs) > 0 {
		s.out = append(s.out, effect{kind: effJoin, doc: d.ns, gen: d.gen, addrs: []endpoint.NodeAddr{p.addr}})
	}
	if out.Inserted > 0 {
		s.report(d)
	}
}

func (s *scheduler) report(d *sdoc) {
	s.out = append(s.out, effect{kind: effReport, doc: d.ns, heads: capHeads(d.heads)})
}

// nextReport opens d's report gate once no session with p runs or waits,
// if p held it, and syncs with a reporter whose kept report still shows
// news.
func (s *scheduler) nextReport(now time.Time, d *sdoc, p *speer) {
	if p.state.Running() || p.pending || !d.reports.Release(p.addr.ID) || !d.reports.Deferred() {
		return
	}
	if id, ok := d.reports.Next(d.heads); ok {
		s.want(now, d, d.peer(id), ReasonReport)
	}
}

// tick runs what is due: catch-ups, pending dials, waiters past their
// patience, delayed downloads.
func (s *scheduler) tick(now time.Time) {
	s.due = time.Time{}
	s.runPending(now)
	s.pumpDownloads(now)
	if !s.expiry.IsZero() && !now.Before(s.expiry) {
		s.expiry = time.Time{}
		for _, d := range s.docs {
			s.trimPeers(now, d)
		}
	}
}

// runPending runs due catch-ups and dials the pending syncs whose back-off
// has passed, as far as each document's dial budget allows.
func (s *scheduler) runPending(now time.Time) {
	for _, d := range s.docs {
		s.expireUnknown(now, d)
		if !d.catchUpAt.IsZero() {
			if now.Before(d.catchUpAt) {
				s.schedule(d.catchUpAt)
			} else {
				s.catchUp(now, d)
			}
		}
		for _, p := range d.peers {
			s.expireWaiters(now, d, p)
			if !p.pending {
				continue
			}
			if now.Before(p.retryAt) {
				s.schedule(p.retryAt)
				continue
			}
			if d.dialing >= s.cfg.MaxDialsPerDoc {
				continue
			}
			s.want(now, d, p, p.reason)
		}
	}
}

// inserted notes a local insert or a Put received by gossip in d for the
// catch-up: due CatchUpDelay after the last, at most MaxCatchUpDelay after
// the first.
func (s *scheduler) inserted(now time.Time, d *sdoc, local bool) {
	if d.catchUpAt.IsZero() {
		d.busySince = now
	}
	d.catchUpAt = now.Add(s.cfg.CatchUpDelay)
	if last := d.busySince.Add(s.cfg.MaxCatchUpDelay); last.Before(d.catchUpAt) {
		d.catchUpAt = last
	}
	d.wroteSince = d.wroteSince || local
	s.schedule(d.catchUpAt)
}

// catchUp makes sure the inserts since the last catch-up are everywhere: a
// heads report if some were local, and a session with one random
// neighbour.
func (s *scheduler) catchUp(now time.Time, d *sdoc) {
	if d.wroteSince {
		s.report(d)
	}
	d.catchUpAt, d.busySince, d.wroteSince = time.Time{}, time.Time{}, false
	if len(d.members) == 0 {
		return
	}
	s.catchUpWithMember(now, d)
}

// catchUpWithMember wants a catch-up session (ReasonCatchUp) with one
// swarm member of d, picked at random; d has at least one.
func (s *scheduler) catchUpWithMember(now time.Time, d *sdoc) {
	ids := make([]endpoint.NodeID, 0, len(d.members))
	for id := range d.members {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	id := ids[int(s.jitter()*float64(len(ids)))%len(ids)]
	p := d.peer(id)
	p.learn(d.members[id])
	s.want(now, d, p, ReasonCatchUp)
}

// antiEntropy syncs each open document with which no session completed
// for Config.AntiEntropyInterval with one random swarm member
// (ReasonCatchUp): what neither news nor catch-up shows still gets
// reconciled.
func (s *scheduler) antiEntropy(now time.Time) {
	for _, d := range s.docs {
		if now.Sub(d.lastSession) < s.cfg.AntiEntropyInterval || len(d.members) == 0 {
			continue
		}
		d.lastSession = now // one try per interval, whatever its outcome
		s.catchUpWithMember(now, d)
	}
}

func compareIDs(a, b endpoint.NodeID) int {
	switch {
	case DialWins(a, b):
		return -1
	case DialWins(b, a):
		return 1
	}
	return 0
}

// storeNews is what the store reported since the last batch, for the
// documents open then: each insert's author and timestamp (heads), which
// were local (catch-up, CaughtUp), which local ones gossip could not carry,
// and content to fetch.
type storeNews struct {
	inserts []insertNews
	wants   []contentWant
}

// insertNews is one insert the store reported.
type insertNews struct {
	doc    replica.NamespaceID
	author replica.AuthorID
	ts     uint64
	local  bool
	tooBig bool // local, and too large for a gossip op
}

// stored takes a batch of store news.
func (s *scheduler) stored(now time.Time, n *storeNews) {
	var wrote, reported *sdoc // the last document noted, to skip repeats
	for i := range n.inserts {
		in := &n.inserts[i]
		d := s.docs[in.doc]
		if d == nil {
			continue
		}
		if in.ts > d.heads[in.author] {
			d.heads[in.author] = in.ts
		}
		if in.local {
			d.localInserts++
			if d != wrote {
				s.inserted(now, d, true)
				wrote = d
			}
		}
		if in.tooBig && d != reported {
			s.report(d) // gossip cannot carry it: peers sync it from us
			reported = d
		}
	}
	for i := range n.wants {
		w := &n.wants[i]
		s.wantContent(now, w.doc, &w.entry, w.from)
	}
	if len(n.wants) > 0 {
		s.pumpDownloads(now)
	}
}

// gossipPut notes that doc's swarm delivered a Put (stored by then).
func (s *scheduler) gossipPut(now time.Time, doc replica.NamespaceID, gen uint64) {
	if d := s.docs[doc]; d != nil && d.gen == gen {
		s.inserted(now, d, false)
	}
}

// neighborUp takes a member that joined doc's swarm.
func (s *scheduler) neighborUp(now time.Time, doc replica.NamespaceID, gen uint64, addr endpoint.NodeAddr) {
	d := s.docs[doc]
	if d == nil || d.gen != gen {
		return
	}
	d.members[addr.ID] = addr
	p := d.peer(addr.ID)
	p.learn(addr)
	s.emit(Event{Kind: EventNeighborUp, Doc: doc, Peer: addr.ID})
	if len(d.unknown[addr.ID]) > 0 {
		s.attach(d, p)
		s.want(now, d, p, ReasonDirect)
	}
	// Both sides see the other come up; only the lower id dials, so that
	// they do not dial each other at once.
	if DialWins(s.self, addr.ID) {
		s.want(now, d, p, ReasonNeighbor)
	}
}

// neighborDown takes a member that left doc's swarm or was found dead.
func (s *scheduler) neighborDown(now time.Time, doc replica.NamespaceID, gen uint64, id endpoint.NodeID) {
	d := s.docs[doc]
	if d == nil || d.gen != gen {
		return
	}
	delete(d.members, id)
	s.emit(Event{Kind: EventNeighborDown, Doc: doc, Peer: id})
	if p := d.peers[id]; p != nil {
		p.active = now
		s.idled(now, d, p)
	}
}

// lagged: the swarm dropped ops for doc; members is its membership now.
// Lost ops are recovered by syncing with every neighbour.
func (s *scheduler) lagged(now time.Time, doc replica.NamespaceID, gen uint64, members []endpoint.NodeAddr) {
	d := s.docs[doc]
	if d == nil || d.gen != gen {
		return
	}
	clear(d.members)
	for _, m := range members {
		d.members[m.ID] = m
		p := d.peer(m.ID)
		p.learn(m)
		s.want(now, d, p, ReasonResync)
	}
	// Members that are gone are idle now.
	s.trimPeers(now, d)
}

// syncReport takes a gossiped report of from's heads.
func (s *scheduler) syncReport(now time.Time, doc replica.NamespaceID, gen uint64, from endpoint.NodeID, heads replica.Heads) {
	d := s.docs[doc]
	if d == nil || d.gen != gen || from == s.self || !s.knownOrigin(d, from) || !HasNewsFor(d.heads, heads) {
		return
	}
	p := d.peer(from)
	if m, ok := d.members[from]; ok {
		p.learn(m)
	}
	// A running session with the reporter is followed by another; other
	// reports wait for the document's report-started session.
	if p.state.Running() || d.reports.Report(from, heads) {
		s.want(now, d, p, ReasonReport)
	}
}

// knownOrigin reports whether a gossiped report's or content
// announcement's origin may be acted on: a member of d's swarm, or a peer
// d has a record of. Nothing authenticates an op's origin (relays carry
// ops along, and anyone who knows the document can send one with any
// origin), so an origin that is neither is a hint that creates no state
// and starts nothing; it is counted in Stats.HintsIgnored. A real
// member's news also reaches this node by its NeighborUp and by catch-up.
func (s *scheduler) knownOrigin(d *sdoc, from endpoint.NodeID) bool {
	if _, ok := d.members[from]; ok {
		return true
	}
	if _, ok := d.peers[from]; ok {
		return true
	}
	s.stats.HintsIgnored++
	return false
}

// addWaiter registers a WaitSynced call for peer in doc. known is the
// peer's stored address, if the shell found one.
func (s *scheduler) addWaiter(now time.Time, doc replica.NamespaceID, peer endpoint.NodeID, known *endpoint.NodeAddr, w *syncWaiter) {
	d := s.docs[doc]
	if d == nil {
		s.answer(w, fmt.Errorf("live: wait for %s on %s: %w", peer.Short(), doc.Short(), ErrNotSyncing))
		return
	}
	p := d.peers[peer]
	if p == nil && known == nil {
		if m, ok := d.members[peer]; ok {
			known = &m
		}
	}
	if p == nil {
		if known == nil {
			// Not known yet: wait for it to appear, for a while.
			w.since = now
			d.unknown[peer] = append(d.unknown[peer], w)
			s.schedule(now.Add(s.cfg.UnreachableAfter))
			return
		}
		p = d.peer(peer)
	}
	if known != nil && len(p.addr.Addrs) == 0 {
		p.learn(*known)
	}
	w.after, w.since = p.seq, now
	p.waiters = append(p.waiters, w)
	s.schedule(now.Add(s.cfg.UnreachableAfter))
	if p.state.Running() {
		p.state.WantSync(ReasonDirect) // flags a resync after the running session
		return
	}
	// The application asks: try afresh, past any back-off.
	p.state.Failures, p.refusals = 0, 0
	p.retryAt = time.Time{}
	s.want(now, d, p, ReasonDirect)
}

// dropWaiter takes back a waiter whose caller gave up.
func (s *scheduler) dropWaiter(now time.Time, doc replica.NamespaceID, peer endpoint.NodeID, w *syncWaiter) {
	if d := s.docs[doc]; d != nil {
		if p := d.peers[peer]; p != nil {
			p.waiters = slices.DeleteFunc(p.waiters, func(x *syncWaiter) bool { return x == w })
			s.idled(now, d, p)
		}
		if ws := slices.DeleteFunc(d.unknown[peer], func(x *syncWaiter) bool { return x == w }); len(ws) > 0 {
			d.unknown[peer] = ws
		} else {
			delete(d.unknown, peer)
		}
	}
}

// sessionEnded answers the waiters a finished session (numbered seq)
// satisfies, fails them when the peer proved unreachable, and otherwise
// makes sure another session follows while some still wait.
func (s *scheduler) sessionEnded(now time.Time, d *sdoc, p *speer, seq uint64, out Outcome, err error, dialled bool) {
	if len(p.waiters) == 0 {
		return
	}
	ok := err == nil && out.Equal
	failed := dialled && err != nil && !errors.Is(err, ErrAlreadySyncing)
	p.waiters = slices.DeleteFunc(p.waiters, func(w *syncWaiter) bool {
		switch {
		case ok && seq > w.after:
			s.answer(w, nil)
			return true
		case failed:
			w.failed = true
			if p.state.Failures > s.cfg.MaxRetries || now.Sub(w.since) >= s.cfg.UnreachableAfter {
				s.answer(w, unreachable(d, p, err))
				return true
			}
		}
		return false
	})
	if len(p.waiters) > 0 && !p.state.Running() && !p.pending {
		s.want(now, d, p, ReasonResync)
	}
}

func unreachable(d *sdoc, p *speer, err error) error {
	return fmt.Errorf("live: wait for %s on %s: %w after %d failed dials: %w",
		p.addr.ID.Short(), d.ns.Short(), ErrUnreachable, p.state.Failures, err)
}

// expireWaiters fails the waiters of p that have waited UnreachableAfter
// while dials to p failed and no session with it runs.
func (s *scheduler) expireWaiters(now time.Time, d *sdoc, p *speer) {
	if len(p.waiters) == 0 || p.state.Running() {
		return
	}
	p.waiters = slices.DeleteFunc(p.waiters, func(w *syncWaiter) bool {
		if w.failed && now.Sub(w.since) >= s.cfg.UnreachableAfter {
			s.answer(w, unreachable(d, p, errors.New("no session completed")))
			return true
		}
		return false
	})
}

// attach makes the waiters for p, unknown until now, wait for p's next
// session.
func (s *scheduler) attach(d *sdoc, p *speer) {
	ws := d.unknown[p.addr.ID]
	if len(ws) == 0 {
		return
	}
	delete(d.unknown, p.addr.ID)
	for _, w := range ws {
		w.after = p.seq
		p.waiters = append(p.waiters, w)
	}
}

// expireUnknown fails the waiters for peers that did not appear within
// UnreachableAfter.
func (s *scheduler) expireUnknown(now time.Time, d *sdoc) {
	for peer, ws := range d.unknown {
		ws = slices.DeleteFunc(ws, func(w *syncWaiter) bool {
			if now.Sub(w.since) >= s.cfg.UnreachableAfter {
				s.answer(w, fmt.Errorf("live: wait for %s on %s: %w", peer.Short(), d.ns.Short(), ErrUnknownPeer))
				return true
			}
			s.schedule(w.since.Add(s.cfg.UnreachableAfter))
			return false
		})
		if len(ws) == 0 {
			delete(d.unknown, peer)
		} else {
			d.unknown[peer] = ws
		}
	}
}

// syncStatus reports doc's record with each peer it knows, ordered by
// peer id; nil when doc is not open for sync.
func (s *scheduler) syncStatus(doc replica.NamespaceID) []SyncStatus {
	d := s.docs[doc]
	if d == nil {
		return nil
	}
	out := make([]SyncStatus, 0, len(d.peers))
	for id, p := range d.peers {
		st := p.rec.status()
		st.Peer, st.Addr = id, p.addr
		st.Running, st.Pending, st.Resync = p.state.Origin(), p.pending, p.state.ResyncRequested()
		st.CaughtUp = st.LastEqual && p.hasLocal && p.lastLocal == d.localInserts
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SyncStatus) int { return compareIDs(a.Peer, b.Peer) })
	return out
}

// gossipEvent takes one event of doc's swarm (not a Put: those go to the
// store without passing through here).
func (s *scheduler) gossipEvent(now time.Time, doc replica.NamespaceID, gen uint64, ev gossip.Event) {
	switch ev := ev.(type) {
	case gossip.NeighborUp:
		s.neighborUp(now, doc, gen, ev.Node)
	case gossip.NeighborDown:
		s.neighborDown(now, doc, gen, ev.Node)
	case gossip.OpContentReady:
		if d := s.docs[doc]; d != nil && d.gen == gen && s.knownOrigin(d, ev.From) {
			s.contentAnnounced(now, doc, ev.From, ev.Hash)
		}
	case gossip.OpSyncReport:
		s.syncReport(now, doc, gen, ev.From, ev.Heads)
	}
}

// capHeads keeps at most gossip.MaxReportAuthors heads, the latest ones
// first: a report is a hint, and the latest writers are the likeliest news.
func capHeads(h replica.Heads) replica.Heads {
	if len(h) <= gossip.MaxReportAuthors {
		return maps.Clone(h)
	}
	type head struct {
		a replica.AuthorID
		t uint64
	}
	all := make([]head, 0, len(h))
	for a, t := range h {
		all = append(all, head{a, t})
	}
	slices.SortFunc(all, func(x, y head) int {
		switch {
		case x.t > y.t:
			return -1
		case x.t < y.t:
			return 1
		}
		return 0
	})
	out := make(replica.Heads, gossip.MaxReportAuthors)
	for _, x := range all[:gossip.MaxReportAuthors] {
		out[x.a] = x.t
	}
	return out
}

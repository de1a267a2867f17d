package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// maxBatch bounds the received ops the swarm's goroutine takes from its
// inbox at once, to verify their signatures in one batch.
const maxBatch = 64

// maxHints bounds the addresses Join remembers for peers that are not
// members yet, and the lost members reconnectLoop remembers.
const maxHints = 1024

// Reconnecting to lost members. memberlist never contacts a member again
// once it has declared it dead (after GossipToTheDeadTime), so the two
// sides of a healed partition, or a member that was unreachable for a
// while, would stay apart for good. Like serf, the swarm tries to join
// again a few random members it lost, every PushPullInterval, for
// reconnectWindow.
const (
	reconnectWindow = 24 * time.Hour
	reconnectBatch  = 3
)

// Swarm is this node's membership in one document's swarm: a memberlist
// cluster of the nodes that hold the document, carried over the node's
// endpoint. It publishes ops (Put, ContentReady, SyncReport) to the other
// members, and reports received ops and neighbour changes on Events.
//
// Published ops are pushed at once to up to EagerFanout neighbours, and
// queued for the swarm's gossip rounds as the backstop. Delivery is best
// effort: receivers drop duplicates, and correctness comes from
// reconciliation.
//
// One goroutine per swarm decodes, de-duplicates and verifies received ops
// and fans events out; ops reach its inbox from the transport, and
// memberlist's callbacks never block. Its methods are safe for concurrent use.
type Swarm struct {
	r     *Router
	doc   replica.NamespaceID
	topic topicID
	self  endpoint.NodeID
	cfg   Config
	meta  []byte // this node's memberlist meta: its NodeAddr

	t           *transport
	ml          *memberlist.Memberlist
	queue       *opQueue
	stats       counters
	gossipArmed atomic.Bool // gossipLoop has a round due; for tests

	inbox             chan received
	membersChanged    chan struct{} // 1-buffered, coalesces changes
	membershipChanged chan struct{} // 1-buffered: wakes gossipLoop
	memberLost        chan struct{} // 1-buffered: wakes reconnectLoop
	events            chan Event

	// Owned by run.
	filter *opFilter
	lagged uint64 // events dropped since the last Lagged was delivered

	mu         sync.Mutex
	members    map[endpoint.NodeID]member            // alive neighbours, this node excluded
	hints      map[endpoint.NodeID]endpoint.NodeAddr // addresses from Join
	lost       map[endpoint.NodeID]lostMember        // members that went down, to reconnect
	neighbours atomic.Int64                          // len(members)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	// lifeMu orders Join, Leave and Close. wg holds run and the Join
	// goroutines; wg.Go is only called with lifeMu held and closed false.
	lifeMu sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

type member struct {
	addr endpoint.NodeAddr
	node *memberlist.Node // a copy, to address direct sends
}

type lostMember struct {
	addr  endpoint.NodeAddr
	since time.Time
}

func newSwarm(r *Router, doc replica.NamespaceID, topic topicID) (*Swarm, error) {
	self := r.ep.Addr()
	meta, err := encodeMeta(self)
	if err != nil {
		return nil, err
	}
	cfg := r.cfg
	s := &Swarm{
		r:                 r,
		doc:               doc,
		topic:             topic,
		self:              self.ID,
		cfg:               cfg,
		meta:              meta,
		inbox:             make(chan received, cfg.InboxSize),
		membersChanged:    make(chan struct{}, 1),
		membershipChanged: make(chan struct{}, 1),
		memberLost:        make(chan struct{}, 1),
		events:            make(chan Event, cfg.EventBuffer),
		filter: &opFilter{
			self:    self.ID,
			doc:     doc,
			limits:  cfg.Limits,
			seen:    newSeenSet(cfg.SeenCacheSize),
			keys:    replica.NewVerifier(0),
			limiter: r.limiter,
		},
		members: make(map[endpoint.NodeID]member),
		hints:   make(map[endpoint.NodeID]endpoint.NodeAddr),
		lost:    make(map[endpoint.NodeID]lostMember),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.queue = newOpQueue(func() int { return int(s.neighbours.Load()) + 1 }, cfg.RetransmitMult)
	s.t = newTransport(r.ep, topic, cfg, s.lookupAddr, s.receiveOp, &s.stats)

	mc := cfg.memberlistConfig(self.ID.String())
	mc.Transport = s.t
	d := &delegate{s: s}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	ml, err := memberlist.Create(mc)
	if err != nil {
		s.cancel()
		s.t.Shutdown()
		return nil, fmt.Errorf("gossip: open swarm %s: %w", doc.Short(), err)
	}
	s.ml = ml
	s.lifeMu.Lock()
	s.wg.Go(s.run)
	s.wg.Go(s.gossipLoop)
	s.wg.Go(s.reconnectLoop)
	s.lifeMu.Unlock()
	return s, nil
}

// Doc is the swarm's document.
func (s *Swarm) Doc() replica.NamespaceID { return s.doc }

// Events delivers received ops and neighbour changes. It is closed once
// the swarm is closed. A consumer that falls EventBuffer events behind
// loses events and later gets a Lagged event; the swarm never waits for it.
func (s *Swarm) Events() <-chan Event { return s.events }

// Stats returns the swarm's counters.
func (s *Swarm) Stats() Stats { return s.stats.snapshot() }

// Members returns the swarm's other live members, ordered by node id.
func (s *Swarm) Members() []endpoint.NodeAddr {
	s.mu.Lock()
	out := make([]endpoint.NodeAddr, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m.addr)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b endpoint.NodeAddr) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Join contacts peers (they must have this document's swarm open) and
// exchanges membership with each that answers, so that this node learns
// the swarm and the swarm learns this node. It returns how many peers
// answered, and an error wrapping ErrJoin if none did. Peers that are this
// node or have no address are skipped; Join may be called again at any
// time, for example with the peers of a ticket after a restart.
//
// When ctx ends first, Join returns its error while the attempt finishes
// in the background (each peer is bounded by StreamTimeout).
func (s *Swarm) Join(ctx context.Context, peers []endpoint.NodeAddr) (int, error) {
	var targets []string
	s.mu.Lock()
	for _, p := range peers {
		if p.ID == s.self || len(p.Addrs) == 0 {
			continue
		}
		// memberlist takes one address per node; the transport dials all
		// of them, found in hints.
		targets = append(targets, p.ID.String()+"/"+p.Addrs[0].String())
		if len(s.hints) >= maxHints {
			clear(s.hints)
		}
		s.hints[p.ID] = p
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return 0, ErrNoPeers
	}

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return 0, ErrClosed
	}
	s.wg.Go(func() {
		n, err := s.ml.Join(targets)
		done <- result{n, err}
	})
	s.lifeMu.Unlock()

	select {
	case res := <-done:
		if res.n == 0 {
			return 0, fmt.Errorf("%w (%d peers tried): %v", ErrJoin, len(targets), res.err)
		}
		return res.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("gossip: join: %w", ctx.Err())
	case <-s.ctx.Done():
		return 0, ErrClosed
	}
}

// Leave tells the other members that this node leaves, waits until that
// message has gone out (until ctx's deadline, or StreamTimeout without
// one), then closes the swarm. Members report NeighborDown at once rather
// than after failure detection. ctx's cancellation without a deadline does
// not cut the wait short.
func (s *Swarm) Leave(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	timeout := s.cfg.StreamTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	var errLeave error
	if timeout > 0 {
		if err := s.ml.Leave(timeout); err != nil {
			errLeave = fmt.Errorf("gossip: leave %s: %w", s.doc.Short(), err)
		}
	}
	return errors.Join(errLeave, s.closeLocked())
}

// Close stops the swarm without telling the other members, which then
// find this node dead by failure detection. It closes Events and returns
// once every goroutine this package started for the swarm has returned.
// memberlist's own goroutines see its shutdown and end shortly after;
// memberlist offers no way to wait for them.
func (s *Swarm) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.closeLocked()
}

func (s *Swarm) closeLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.r.unregister(s)
	var err error
	// Shuts the transport down first, which closes its streams.
	if e := s.ml.Shutdown(); e != nil {
		err = fmt.Errorf("gossip: close %s: %w", s.doc.Short(), e)
	}
	s.cancel()
	s.wg.Wait()
	return err
}

// Put publishes an entry this node inserted into the document.
func (s *Swarm) Put(se replica.SignedEntry) error {
	return s.PutContent(se, nil)
}

// PutContent publishes an entry this node inserted, together with its
// content when content is not nil and at most Config.InlineContent bytes:
// the neighbours it is pushed to then hold the content at once. The
// gossip queue, and so relays, carry the entry alone. content must be the
// entry's content.
func (s *Swarm) PutContent(se replica.SignedEntry, content []byte) error {
	if se.Namespace != s.doc {
		return fmt.Errorf("%w: entry of %s, swarm of %s", ErrWrongDocument, se.Namespace.Short(), s.doc.Short())
	}
	plain := &op{kind: opPut, entry: se}
	if content == nil || len(content) > s.cfg.InlineContent {
		return s.publish(plain, nil)
	}
	return s.publish(plain, &op{kind: opPutContent, entry: se, content: content})
}

// InlineContent is the largest content PutContent sends along with an
// entry; below zero when none is sent.
func (s *Swarm) InlineContent() int { return s.cfg.InlineContent }

// ContentReady publishes that this node now holds the content with hash h.
func (s *Swarm) ContentReady(h replica.Hash) error {
	return s.publish(&op{kind: opContentReady, hash: h}, nil)
}

// SyncReport publishes this node's latest timestamp per author in the
// document, at most MaxReportAuthors of them.
func (s *Swarm) SyncReport(heads replica.Heads) error {
	return s.publish(&op{kind: opSyncReport, heads: heads}, nil)
}

// publish pushes o, or eager instead when it is given and fits, to up to
// EagerFanout neighbours and queues o for gossip. It does not wait for the
// network: sends run on the transport's goroutines. An o over MaxOpSize is
// neither pushed nor queued, but counted and returned as ErrOpTooLarge.
func (s *Swarm) publish(o, eager *op) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	o.origin = s.self
	raw, err := appendOp(nil, o)
	if err != nil {
		return err
	}
	budget := s.cfg.MaxOpSize()
	if len(raw) > budget {
		s.stats.opsTooLarge.Add(1)
		return fmt.Errorf("%w: %d bytes, budget %d", ErrOpTooLarge, len(raw), budget)
	}
	push := raw
	if eager != nil {
		eager.origin = s.self
		if b, err := appendOp(nil, eager); err == nil && len(b) <= budget {
			push = b
		}
	}
	s.stats.opsPublished.Add(1)
	targets, members := s.eagerTargets()
	for _, m := range targets {
		if s.t.sendOp(m.addr.ID, push) {
			continue
		}
		// Errors mean the swarm is closing; the queue below still holds
		// the op until then.
		_ = s.ml.SendBestEffort(m.node, push)
	}
	// A swarm with no members yet queues the op for whoever comes up.
	if len(targets) < members || members == 0 || s.cfg.QueueAllOps {
		s.enqueue(raw)
	}
	return nil
}

// eagerTargets picks up to EagerFanout live neighbours at random, out of
// members.
func (s *Swarm) eagerTargets() (targets []member, members int) {
	s.mu.Lock()
	nodes := make([]member, 0, len(s.members))
	for _, m := range s.members {
		nodes = append(nodes, m)
	}
	s.mu.Unlock()
	members = len(nodes)
	if len(nodes) > s.cfg.EagerFanout {
		rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		nodes = nodes[:s.cfg.EagerFanout]
	}
	return nodes, members
}

// enqueue adds raw to memberlist's broadcast queue, keeping the queue
// within MaxQueuedBroadcasts.
func (s *Swarm) enqueue(raw []byte) {
	s.queue.QueueBroadcast(broadcast(raw))
	if n := s.queue.NumQueued(); n > s.cfg.MaxQueuedBroadcasts {
		s.queue.Prune(s.cfg.MaxQueuedBroadcasts)
		s.stats.broadcastsPruned.Add(uint64(n - s.cfg.MaxQueuedBroadcasts))
	}
}

// lookupAddr gives the transport a node's addresses: from its meta if it
// is a member, else from Join.
func (s *Swarm) lookupAddr(id endpoint.NodeID) (endpoint.NodeAddr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[id]; ok {
		return m.addr, true
	}
	a, ok := s.hints[id]
	return a, ok
}

// run is the swarm's goroutine: it filters received ops and announces
// membership changes.
func (s *Swarm) run() {
	defer close(s.events)
	announced := make(map[endpoint.NodeID]endpoint.NodeAddr)
	batch := make([]received, 0, maxBatch)
	for {
		// A pending Lagged goes out as soon as the consumer makes room.
		var lagCh chan<- Event
		if s.lagged > 0 {
			lagCh = s.events
		}
		select {
		case <-s.ctx.Done():
			return
		case lagCh <- Lagged{Dropped: s.lagged}:
			s.lagged = 0
		case raw := <-s.inbox:
			batch = append(batch[:0], raw)
		drain:
			for len(batch) < maxBatch {
				select {
				case raw := <-s.inbox:
					batch = append(batch, raw)
				default:
					break drain
				}
			}
			s.handleOps(batch)
			clear(batch)
		case <-s.membersChanged:
			s.announce(announced)
		}
	}
}

// reconnectLoop joins again, every PushPullInterval, up to reconnectBatch
// random members lost within reconnectWindow. A member that comes back is
// no longer lost (setMember). No timer runs while no member is lost.
// Shutdown makes a Join under way fail fast, as the transport's dials end
// with it.
func (s *Swarm) reconnectLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var timerC <-chan time.Time // nil while no member is lost
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.memberLost:
			if timerC == nil {
				timer.Reset(s.cfg.PushPullInterval)
				timerC = timer.C
			}
			continue
		case <-timerC:
		}
		var targets []string
		now := time.Now()
		s.mu.Lock()
		for id, l := range s.lost {
			if now.Sub(l.since) > reconnectWindow {
				delete(s.lost, id)
				continue
			}
			targets = append(targets, id.String()+"/"+l.addr.Addrs[0].String())
		}
		s.mu.Unlock()
		if len(targets) == 0 {
			timerC = nil
			continue
		}
		timer.Reset(s.cfg.PushPullInterval)
		rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		s.ml.Join(targets[:min(len(targets), reconnectBatch)]) // best effort: tried again next time
	}
}

func (s *Swarm) handleOps(batch []received) {
	ok, counts := s.filter.admit(batch, s.cfg.Now())
	s.stats.opsDuplicate.Add(counts.duplicate)
	s.stats.opsInvalid.Add(counts.invalid)
	s.stats.opsPeerLimited.Add(counts.peerLimited)
	s.stats.opsNodeLimited.Add(counts.nodeLimited)
	s.stats.opsAccepted.Add(uint64(len(ok)))
	// When the swarm is larger than the eager fanout, the origin reached
	// only some members directly: relay so that the op spreads.
	relay := s.neighbours.Load() > int64(s.cfg.EagerFanout)
	for _, a := range ok {
		s.emit(a.event())
		if relay {
			s.enqueue(a.relayBytes())
		}
	}
}

// announce reports the difference between the current members and those
// announced before, and records the current ones as announced.
func (s *Swarm) announce(announced map[endpoint.NodeID]endpoint.NodeAddr) {
	s.mu.Lock()
	current := make(map[endpoint.NodeID]endpoint.NodeAddr, len(s.members))
	for id, m := range s.members {
		current[id] = m.addr
	}
	s.mu.Unlock()
	up, down := membershipChanges(announced, current)
	for _, id := range down {
		delete(announced, id)
		s.emit(NeighborDown{Node: id})
	}
	for _, a := range up {
		announced[a.ID] = a
		s.emit(NeighborUp{Node: a})
		// Connect now rather than on the first op for the neighbour, so
		// that the first write after a join does not wait for a
		// handshake. run holds wg, so adding to it here is safe.
		s.wg.Go(func() { s.connect(a) })
	}
}

// connect dials the neighbour's gossip connection, which the transport
// then finds open (endpoint connections are shared per node and
// protocol). A failure is left to the transport's own dial.
func (s *Swarm) connect(a endpoint.NodeAddr) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.PacketTimeout)
	defer cancel()
	s.r.ep.Dial(ctx, a, endpoint.ALPNGossip)
}

// membershipChanges lists the members of current that are new or whose
// address changed since before, and the ids in before that are gone, each
// ordered by node id.
func membershipChanges(before, current map[endpoint.NodeID]endpoint.NodeAddr) (up []endpoint.NodeAddr, down []endpoint.NodeID) {
	for id, a := range current {
		if old, ok := before[id]; !ok || !slices.Equal(old.Addrs, a.Addrs) {
			up = append(up, a)
		}
	}
	for id := range before {
		if _, ok := current[id]; !ok {
			down = append(down, id)
		}
	}
	slices.SortFunc(up, func(a, b endpoint.NodeAddr) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(down, func(a, b endpoint.NodeID) int { return bytes.Compare(a[:], b[:]) })
	return up, down
}

// emit offers ev to the consumer without waiting. Only run calls it.
func (s *Swarm) emit(ev Event) {
	if s.lagged > 0 {
		select {
		case s.events <- Lagged{Dropped: s.lagged}:
			s.lagged = 0
		default:
			s.lagged++
			s.stats.eventsDropped.Add(1)
			return
		}
	}
	select {
	case s.events <- ev:
	default:
		s.lagged++
		s.stats.eventsDropped.Add(1)
	}
}

// setMember records a live member, from a memberlist callback, and tells
// the endpoint where the member says it listens: a hint, as anyone in the
// swarm may gossip a member's meta, that ranks below the address the
// member last connected from.
func (s *Swarm) setMember(n *memberlist.Node) {
	addr, err := memberAddr(n)
	if err != nil || addr.ID == s.self {
		return
	}
	s.r.ep.LearnAddr(addr) // takes the endpoint's lock briefly, never blocks
	node := &memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port}
	s.mu.Lock()
	s.members[addr.ID] = member{addr: addr, node: node}
	delete(s.hints, addr.ID)
	delete(s.lost, addr.ID)
	s.neighbours.Store(int64(len(s.members)))
	s.mu.Unlock()
	s.signalMembers()
}

func (s *Swarm) removeMember(n *memberlist.Node) {
	id, err := endpoint.ParseNodeID(n.Name)
	if err != nil {
		return
	}
	s.mu.Lock()
	if m, ok := s.members[id]; ok && len(m.addr.Addrs) > 0 {
		if len(s.lost) >= maxHints {
			clear(s.lost)
		}
		s.lost[id] = lostMember{addr: m.addr, since: time.Now()}
		select {
		case s.memberLost <- struct{}{}:
		default:
		}
	}
	delete(s.members, id)
	s.neighbours.Store(int64(len(s.members)))
	s.mu.Unlock()
	s.signalMembers()
}

// signalMembers wakes run to announce the change, and gossipLoop to
// spread the membership message memberlist queued for it.
func (s *Swarm) signalMembers() {
	select {
	case s.membersChanged <- struct{}{}:
	default:
	}
	s.signalMembership()
}

// delegate receives memberlist's callbacks for one swarm. memberlist calls
// them from its own goroutines, some with its locks held, so none blocks
// and none calls back into memberlist: they copy, record under the swarm's
// own short lock, and signal the swarm's goroutine.
type delegate struct{ s *Swarm }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.s.meta) > limit {
		return nil
	}
	return d.s.meta
}

// NotifyMsg drops and counts as invalid an op memberlist received: the
// transport takes every op out of the packets it receives (deliver), so
// one reaches memberlist only in a user message on a memberlist stream,
// which no member sends and which would not say who sent it.
func (d *delegate) NotifyMsg([]byte) { d.s.stats.opsInvalid.Add(1) }

// received is an op as it arrived: its bytes, which the receiver owns,
// and the node that sent them, as its connection proves.
type received struct {
	from endpoint.NodeID
	raw  []byte
}

// receiveOp queues an op that from sent, whose bytes the caller no
// longer uses, for the swarm's goroutine, or drops and counts it when the
// inbox is full. It never waits. The goroutine takes each op that is new
// from from's budget (opFilter.admit) before it decodes it.
func (s *Swarm) receiveOp(from endpoint.NodeID, b []byte) {
	select {
	case s.inbox <- received{from: from, raw: b}:
	default:
		s.stats.inboxDropped.Add(1)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.s.queue.GetBroadcasts(overhead, limit)
}

// Membership is all the state memberlist exchanges; ops are not replayed.
func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}
func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.s.setMember(n) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.s.setMember(n) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.s.removeMember(n) }

// NotifyAlive keeps out of the swarm any node whose name is not a node id
// or whose meta does not hold a NodeAddr of that id, and any node that is
// not a member while MaxMembers are.
func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	a, err := memberAddr(n)
	if err != nil {
		return err
	}
	return d.s.admitMember(a.ID)
}

// admitMember refuses id when it is not a member and the swarm has
// MaxMembers. memberlist calls NotifyAlive and NotifyJoin under one lock
// of its own, so two new nodes are not admitted past the bound at once.
func (s *Swarm) admitMember(id endpoint.NodeID) error {
	if id == s.self {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.members[id]; ok || len(s.members) < s.cfg.MaxMembers {
		return nil
	}
	s.stats.membersRefused.Add(1)
	return fmt.Errorf("gossip: swarm of %s has %d members, the most it admits", s.doc.Short(), len(s.members))
}

// broadcast is an op in memberlist's broadcast queue. Every op is its own
// message: none replaces another.
type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}
func (b broadcast) UniqueBroadcast()                      {}

// metaVersion starts a member's meta: version(1) NodeAddr (endpoint's
// binary encoding, at most 337 bytes, within memberlist.MetaMaxSize).
const metaVersion = 1

func encodeMeta(a endpoint.NodeAddr) ([]byte, error) {
	if len(a.Addrs) == 0 {
		return nil, errors.New("gossip: the endpoint has no address to advertise")
	}
	b, err := a.AppendBinary([]byte{metaVersion})
	if err != nil {
		return nil, fmt.Errorf("gossip: advertise %s: %w", a, err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip: node address takes %d bytes, memberlist allows %d", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// memberAddr checks a member's name and meta and returns its NodeAddr.
func memberAddr(n *memberlist.Node) (endpoint.NodeAddr, error) {
	id, err := endpoint.ParseNodeID(n.Name)
	if err != nil {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: member name: %w", err)
	}
	if len(n.Meta) == 0 || n.Meta[0] != metaVersion {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: member %s: meta is not a version %d node address", id.Short(), metaVersion)
	}
	var a endpoint.NodeAddr
	if err := a.UnmarshalBinary(n.Meta[1:]); err != nil {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: member %s: %w", id.Short(), err)
	}
	if a.ID != id {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: member %s advertises the address of %s", id.Short(), a.ID.Short())
	}
	return a, nil
}

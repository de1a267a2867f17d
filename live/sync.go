package live

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/admission"
	"github.com/docsnode/docsnode/replica"
)

// Sync reconciles the document ns with the node peer: it dials peer on
// ALPNSync (sharing a live connection if there is one), runs one session
// on a new stream as the initiator, and returns when both sides have
// stored what they received and compared their sets.
//
// The error wraps an *AbortError when the peer refused or ended the
// session (errors.Is(err, ErrNotFound), ErrAlreadySyncing, ErrBusy,
// ErrPeerFailed, ErrProtocol), one of this package's limit errors when the
// peer broke a limit, or the dial's or the store's error. The Outcome is
// filled in as far as the session got.
func Sync(ctx context.Context, ep *endpoint.Endpoint, act *actor.Actor, peer endpoint.NodeAddr, ns replica.NamespaceID, cfg SessionConfig) (Outcome, error) {
	out := Outcome{Role: Initiator, Peer: peer.ID, Namespace: ns, Start: time.Now()}
	fail := func(err error) (Outcome, error) {
		out.End = time.Now()
		return out, fmt.Errorf("live: sync %s with %s: %w", ns.Short(), peer.ID.Short(), err)
	}
	if _, err := act.Doc(ctx, ns); err != nil {
		return fail(err)
	}
	conn, err := ep.Dial(ctx, peer, endpoint.ALPNSync)
	if err != nil {
		return fail(err)
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		return fail(fmt.Errorf("open stream: %w", err))
	}
	// Init tells the peer where this node listens now, which after a
	// restart on a new port is not where the peer last reached it.
	return runSession(ctx, sessionParams{role: Initiator, act: act, st: quicStreamOf(st), peer: peer.ID, ns: ns, cfg: cfg, addrs: ep.Addr().Addrs})
}

// syncStream runs the initiator's side of one session on a stream already
// open to peer. It takes ownership of st.
func syncStream(ctx context.Context, act *actor.Actor, st stream, peer endpoint.NodeID, ns replica.NamespaceID, cfg SessionConfig) (Outcome, error) {
	return runSession(ctx, sessionParams{role: Initiator, act: act, st: st, peer: peer, ns: ns, cfg: cfg})
}

// Policy decides which incoming sessions a Server serves, and hears how
// every one ended. The live actor implements it to keep one session per
// (document, peer) and to serve only documents open for sync.
type Policy interface {
	// Accept is called when a valid Init arrives for a document this node
	// holds. It returns 0 to serve the session, or the reason to refuse it
	// (AbortNotFound for a document not open for sync, AbortAlreadySyncing,
	// AbortBusy). It runs on the session's goroutine and must not block.
	Accept(ns replica.NamespaceID, peer endpoint.NodeID) AbortReason
	// Finished is called once for every incoming session when it has
	// ended, served or not (Outcome.Served tells), with nil or the error
	// that ended it. It must not block for long.
	Finished(o Outcome, err error)
}

// PolicyFuncs adapts two functions to Policy; a nil Accept serves every
// document the store holds, a nil Finished drops the reports.
type PolicyFuncs struct {
	AcceptFunc   func(ns replica.NamespaceID, peer endpoint.NodeID) AbortReason
	FinishedFunc func(o Outcome, err error)
}

// Accept calls AcceptFunc, or serves when it is nil.
func (p PolicyFuncs) Accept(ns replica.NamespaceID, peer endpoint.NodeID) AbortReason {
	if p.AcceptFunc == nil {
		return 0
	}
	return p.AcceptFunc(ns, peer)
}

// Finished calls FinishedFunc if set.
func (p PolicyFuncs) Finished(o Outcome, err error) {
	if p.FinishedFunc != nil {
		p.FinishedFunc(o, err)
	}
}

// Server is the acceptor's side: register it with
// ep.Handle(endpoint.ALPNSync, server). Each stream a peer opens is one
// session. The server answers Abort(NotFound) for documents the store does
// not hold, Abort(AlreadySyncing) for a second session of the same
// document and peer, Abort(Busy) when its limits leave no room, and
// otherwise whatever the Policy decides.
//
// Admission. Every stream a peer opens takes a stream slot from the moment
// it is accepted, and a session slot once its Init names a document that
// is served. The limits (SessionConfig) are:
//
//   - at most 2 × MaxSessions streams and MaxSessions sessions in all;
//   - at most MaxStreamsPerPeer streams and MaxSessionsPerPeer sessions
//     for one peer (node id); beyond them the peer is refused with Busy;
//   - a stream must deliver its Init within InitTimeout, or it is reset
//     and its slot freed.
//
// When all stream slots, or all session slots, are taken, a newcomer is
// not simply refused: if its peer holds fewer slots than its fair share
// (the limit divided by the peers holding slots, the newcomer's counted)
// and some other peer holds more slots than it, the server preempts one
// slot of the peer holding the most: the stalest of them, the one whose
// last frame is oldest (ties: the one that moved fewer frames, then the
// oldest). The preempted session ends with Abort(Busy), as a refused one
// would, and its peer may come back later. So one peer, or a few, cannot
// take the last slot from another however many streams they open, and
// many identities that each hold one session they do not use (Sybils that
// stall or trickle) lose their slots to newcomers first: a session that
// makes progress has always moved a frame more recently than they, and
// finishes soon anyway. Only when every slot belongs to peers at or under
// the newcomer's count is the newcomer refused with Busy. Stats counts
// refusals, preemptions and Init timeouts.
type Server struct {
	act    *actor.Actor
	cfg    SessionConfig
	policy Policy

	mu       sync.Mutex
	running  map[sessionKey]*slot  // sessions served
	sessions *admission.Set[*slot] // the same, by peer
	streams  *admission.Set[*slot] // streams being handled, served or still waiting for Init

	refusedBusy, refusedPeerStreams, refusedPeerSessions atomic.Uint64
	preemptedStreams, preemptedSessions, initTimeouts    atomic.Uint64
}

// ServerStats counts what a Server's admission did. Every counter only
// grows.
type ServerStats struct {
	// RefusedBusy counts streams and sessions refused because every slot
	// was taken and none could be preempted.
	RefusedBusy uint64
	// RefusedPeerStreams and RefusedPeerSessions count streams and
	// sessions refused because their peer was at MaxStreamsPerPeer or
	// MaxSessionsPerPeer.
	RefusedPeerStreams, RefusedPeerSessions uint64
	// PreemptedStreams and PreemptedSessions count the slots taken from
	// the peer holding the most to admit a newcomer: a stream (still
	// waiting for Init, or serving a session) when all stream slots were
	// taken, a session when all session slots were.
	PreemptedStreams, PreemptedSessions uint64
	// InitTimeouts counts streams reset because their Init did not arrive
	// within InitTimeout.
	InitTimeouts uint64
}

// Stats returns the server's admission counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		RefusedBusy: s.refusedBusy.Load(), RefusedPeerStreams: s.refusedPeerStreams.Load(),
		RefusedPeerSessions: s.refusedPeerSessions.Load(), PreemptedStreams: s.preemptedStreams.Load(),
		PreemptedSessions: s.preemptedSessions.Load(), InitTimeouts: s.initTimeouts.Load(),
	}
}

type sessionKey struct {
	ns   replica.NamespaceID
	peer endpoint.NodeID
}

// NewServer returns a server for the documents of act. policy may be nil:
// serve every document held, report nothing.
func NewServer(act *actor.Actor, cfg SessionConfig, policy Policy) *Server {
	if policy == nil {
		policy = PolicyFuncs{}
	}
	return &Server{
		act: act, cfg: cfg.withDefaults(act.Limits()), policy: policy,
		running:  make(map[sessionKey]*slot),
		sessions: admission.NewSet[*slot](), streams: admission.NewSet[*slot](),
	}
}

// HandleConn serves the streams of one connection until it closes, each in
// its own goroutine, and returns once all have ended. It implements
// endpoint.Handler.
func (s *Server) HandleConn(ctx context.Context, conn *endpoint.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() { s.serve(ctx, quicStreamOf(st), conn.RemoteID(), conn.LearnPeerAddrs) })
	}
}

// Serve runs the acceptor's side of one session on st, opened by peer,
// reports it to the policy and returns it. It takes ownership of st.
//
// Streams that wait for Init count against the limits too (see Server):
// a stream that finds no slot is answered Abort(Busy) at once, without
// starting a session, so that peers opening streams they never use
// cannot pile up sessions.
func (s *Server) Serve(ctx context.Context, st stream, peer endpoint.NodeID) (Outcome, error) {
	return s.serve(ctx, st, peer, nil)
}

// serve is Serve; learn, if set, takes the addresses peer states in Init.
func (s *Server) serve(ctx context.Context, st stream, peer endpoint.NodeID, learn func([]netip.AddrPort)) (Outcome, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sl := newSlot(peer, cancel)
	s.mu.Lock()
	text := s.admitStream(sl)
	s.mu.Unlock()
	if text != "" {
		out, err := s.refuseAtOnce(st, peer, text)
		s.policy.Finished(out, err)
		return out, err
	}
	defer func() {
		s.mu.Lock()
		s.streams.Remove(sl)
		s.mu.Unlock()
	}()
	out, err := runSession(ctx, sessionParams{
		role: Acceptor, act: s.act, st: st, peer: peer, cfg: s.cfg, learn: learn, activity: &sl.activity,
		accept: func(ns replica.NamespaceID) (func(), error) { return s.admit(ctx, ns, peer, sl) },
	})
	if errors.Is(err, errInitTimeout) {
		s.initTimeouts.Add(1)
	}
	s.policy.Finished(out, err)
	return out, err
}

// admitStream takes a stream slot for sl, preempting another if fair, or
// returns why it cannot. s.mu is held.
func (s *Server) admitStream(sl *slot) string {
	if n := s.streams.Count(sl.peer); n >= s.cfg.MaxStreamsPerPeer {
		s.refusedPeerStreams.Add(1)
		return fmt.Sprintf("this node has %d streams open from you, the limit", n)
	}
	if limit := 2 * s.cfg.MaxSessions; s.streams.Len() >= limit {
		v, ok := s.streams.Victim(sl.peer, limit)
		if !ok {
			s.refusedBusy.Add(1)
			return fmt.Sprintf("%d streams open, the limit", limit)
		}
		s.preemptedStreams.Add(1)
		s.preempt(v, "its stream slot")
	}
	s.streams.Add(sl)
	return ""
}

// preempt ends v's stream and session with Abort(Busy) and frees its slots
// at once. s.mu is held.
func (s *Server) preempt(v *slot, what string) {
	s.streams.Remove(v)
	if s.sessions.Remove(v) && s.running[v.key] == v {
		delete(s.running, v.key)
	}
	v.cancel(&refusal{AbortBusy, fmt.Sprintf("preempted: %s went to a peer holding fewer (this node serves every peer its share)", what)})
}

// refuseAtOnce answers a stream with Abort(Busy) and closes it, without
// reading from it or starting any goroutine. The frame is small enough for
// a QUIC stream's first flow control window, so the write does not wait
// for the peer.
func (s *Server) refuseAtOnce(st stream, peer endpoint.NodeID, text string) (Outcome, error) {
	now := time.Now()
	// The peer resets its side once it has read the Abort; reading its
	// Init is not needed, and cancelling our reads now could make it see
	// a reset stream before the reason.
	if _, err := st.Write(encodeFrame(&message{Type: MsgAbort, Reason: AbortBusy, Text: text})); err == nil {
		st.Close()
	} else {
		st.CancelWrite()
		st.CancelRead()
	}
	return Outcome{Role: Acceptor, Peer: peer, Start: now, End: time.Now()},
		fmt.Errorf("live: serve to %s: %w", peer.Short(), &refusal{AbortBusy, text})
}

// admit decides whether to serve ns to peer on the stream of sl and
// reserves its session slot.
func (s *Server) admit(ctx context.Context, ns replica.NamespaceID, peer endpoint.NodeID, sl *slot) (func(), error) {
	if _, err := s.act.Doc(ctx, ns); err != nil {
		if errors.Is(err, replica.ErrNotFound) {
			return nil, &refusal{AbortNotFound, fmt.Sprintf("document %s is not held by this node", ns.Short())}
		}
		return nil, err
	}
	key := sessionKey{ns, peer}
	s.mu.Lock()
	if _, dup := s.running[key]; dup {
		s.mu.Unlock()
		return nil, &refusal{AbortAlreadySyncing, fmt.Sprintf("a session of %s with this node is already running", ns.Short())}
	}
	if !s.streams.Has(sl) {
		// Preempted while its document was looked up.
		s.mu.Unlock()
		return nil, context.Cause(ctx)
	}
	if n := s.sessions.Count(peer); n >= s.cfg.MaxSessionsPerPeer {
		s.mu.Unlock()
		s.refusedPeerSessions.Add(1)
		return nil, &refusal{AbortBusy, fmt.Sprintf("this node serves %d sessions to you, the limit", n)}
	}
	if len(s.running) >= s.cfg.MaxSessions {
		v, ok := s.sessions.Victim(peer, s.cfg.MaxSessions)
		if !ok {
			s.mu.Unlock()
			s.refusedBusy.Add(1)
			return nil, &refusal{AbortBusy, fmt.Sprintf("%d sessions running, the limit", s.cfg.MaxSessions)}
		}
		s.preemptedSessions.Add(1)
		s.preempt(v, "its session slot")
	}
	sl.key = key
	s.running[key] = sl
	s.sessions.Add(sl)
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		if s.running[key] == sl {
			delete(s.running, key)
		}
		s.sessions.Remove(sl)
		s.mu.Unlock()
	}
	if r := s.policy.Accept(ns, peer); r != 0 {
		release()
		text := fmt.Sprintf("document %s is not open for sync with this node", ns.Short())
		switch r {
		case AbortAlreadySyncing:
			text = fmt.Sprintf("a sync of %s with this node is already running", ns.Short())
		case AbortBusy:
			text = "too many sessions running; try later"
		case AbortNotFound:
		default:
			text, r = fmt.Sprintf("the accept policy refused %s (%v)", ns.Short(), r), AbortInternal
		}
		return nil, &refusal{r, text}
	}
	return release, nil
}

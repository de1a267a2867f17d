package live

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
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
// document and peer, Abort(Busy) beyond Config.MaxSessions, and otherwise
// whatever the Policy decides.
type Server struct {
	act    *actor.Actor
	cfg    SessionConfig
	policy Policy

	mu      sync.Mutex
	running map[sessionKey]struct{}
	open    int // streams being handled, served or still waiting for Init
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
	return &Server{act: act, cfg: cfg.withDefaults(act.Limits()), policy: policy, running: make(map[sessionKey]struct{})}
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
// Streams that wait for Init count against the limits too: beyond twice
// Config.MaxSessions open streams, Serve answers Abort(Busy) at once,
// without starting a session, so that peers opening streams they never use
// cannot pile up sessions.
func (s *Server) Serve(ctx context.Context, st stream, peer endpoint.NodeID) (Outcome, error) {
	return s.serve(ctx, st, peer, nil)
}

// serve is Serve; learn, if set, takes the addresses peer states in Init.
func (s *Server) serve(ctx context.Context, st stream, peer endpoint.NodeID, learn func([]netip.AddrPort)) (Outcome, error) {
	s.mu.Lock()
	over := s.open >= 2*s.cfg.MaxSessions
	if !over {
		s.open++
	}
	s.mu.Unlock()
	if over {
		out, err := s.refuseAtOnce(st, peer)
		s.policy.Finished(out, err)
		return out, err
	}
	defer func() {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}()
	out, err := runSession(ctx, sessionParams{
		role: Acceptor, act: s.act, st: st, peer: peer, cfg: s.cfg, learn: learn,
		accept: func(ns replica.NamespaceID) (func(), error) { return s.admit(ctx, ns, peer) },
	})
	s.policy.Finished(out, err)
	return out, err
}

// refuseAtOnce answers a stream with Abort(Busy) and closes it, without
// reading from it or starting any goroutine. The frame is small enough for
// a QUIC stream's first flow control window, so the write does not wait
// for the peer.
func (s *Server) refuseAtOnce(st stream, peer endpoint.NodeID) (Outcome, error) {
	now := time.Now()
	text := fmt.Sprintf("%d streams open, the limit", 2*s.cfg.MaxSessions)
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

// admit decides whether to serve ns to peer and reserves its slot.
func (s *Server) admit(ctx context.Context, ns replica.NamespaceID, peer endpoint.NodeID) (func(), error) {
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
	if len(s.running) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		return nil, &refusal{AbortBusy, fmt.Sprintf("%d sessions running, the limit", s.cfg.MaxSessions)}
	}
	s.running[key] = struct{}{}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.running, key)
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

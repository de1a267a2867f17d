package gossip

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Router serves the gossip protocol (endpoint.ALPNGossip) on a node's
// endpoint and holds the node's swarms, one per document. Streams for a
// document without an open swarm are refused as soon as their header is
// read. Its methods are safe for concurrent use.
type Router struct {
	ep  *endpoint.Endpoint
	cfg Config
	// limiter is the budget of received ops, per sender and for the node,
	// that the swarms share.
	limiter *rateLimiter

	// ctx is cancelled by Close; connection handlers return on it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	// swarms holds the open swarms by topic. A nil value reserves the
	// topic for a swarm being opened.
	swarms map[topicID]*Swarm
	// closedStats sums the counters of the swarms closed so far, taken
	// when each left swarms, so that Stats only grows.
	closedStats Stats
	// handlers counts the connection handlers running; Add is only called
	// with mu held and closed false.
	handlers sync.WaitGroup
	// streams counts the incoming streams being handled, by peer.
	streams map[endpoint.NodeID]int
	// streamsRefused counts streams reset beyond MaxStreamsPerPeer.
	streamsRefused atomic.Uint64
}

// NewRouter registers the gossip protocol on ep. The endpoint stays the
// caller's: close the Router before the endpoint.
func NewRouter(ep *endpoint.Endpoint, cfg Config) (*Router, error) {
	cfg = cfg.withDefaults()
	r := &Router{
		ep:      ep,
		cfg:     cfg,
		limiter: newRateLimiter(cfg),
		swarms:  make(map[topicID]*Swarm),
		streams: make(map[endpoint.NodeID]int),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := ep.Handle(endpoint.ALPNGossip, endpoint.HandlerFunc(r.serveConn)); err != nil {
		r.cancel()
		return nil, fmt.Errorf("gossip: register protocol: %w", err)
	}
	return r, nil
}

// Open creates the swarm of document doc on this node. It has no
// neighbours until it Joins some node or some node joins it. One swarm per
// document may be open at a time (ErrSwarmOpen).
func (r *Router) Open(doc replica.NamespaceID) (*Swarm, error) {
	topic := topicOf(doc)
	r.mu.Lock()
	switch _, ok := r.swarms[topic]; {
	case r.closed:
		r.mu.Unlock()
		return nil, ErrClosed
	case ok:
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrSwarmOpen, doc.Short())
	}
	r.swarms[topic] = nil
	r.mu.Unlock()

	s, err := newSwarm(r, doc, topic)

	r.mu.Lock()
	if err == nil && r.closed {
		err = ErrClosed
	}
	if err != nil {
		delete(r.swarms, topic)
		r.mu.Unlock()
		if s != nil {
			s.Close()
		}
		return nil, err
	}
	r.swarms[topic] = s
	r.mu.Unlock()
	return s, nil
}

func (r *Router) lookup(topic topicID) *Swarm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.swarms[topic]
}

func (r *Router) unregister(s *Swarm) {
	r.mu.Lock()
	if r.swarms[s.topic] == s {
		delete(r.swarms, s.topic)
		r.closedStats = r.closedStats.plus(s.Stats())
	}
	r.mu.Unlock()
}

// Stats returns the counters of every swarm this router opened, open or
// closed, summed: the node's gossip totals. They only grow; what a swarm
// counts once it has begun to close is left out.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.closedStats
	st.StreamsRefused = r.streamsRefused.Load()
	for _, s := range r.swarms {
		if s != nil { // nil reserves a topic for a swarm being opened
			st = st.plus(s.Stats())
		}
	}
	return st
}

// Close closes every swarm (without Leave) and stops serving the gossip
// protocol: connections that arrive later are closed at once. It returns
// once every goroutine the router and its swarms started has returned
// (see Swarm.Close for memberlist's own).
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	open := slices.Collect(maps.Values(r.swarms))
	r.mu.Unlock()

	for _, s := range open {
		if s != nil {
			s.Close()
		}
	}
	r.cancel()
	r.handlers.Wait()
	return nil
}

// serveConn accepts the gossip streams of one connection, each on its own
// goroutine, and its datagrams on one more. A peer has at most
// MaxStreamsPerPeer streams handled at once, over all its connections:
// more are reset as they arrive (Stats.StreamsRefused). Each stream must
// send its header within PacketTimeout. Peers send on connections they
// dialled, so only accepted connections carry incoming packets.
func (r *Router) serveConn(ctx context.Context, conn *endpoint.Conn) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.handlers.Add(1)
	r.mu.Unlock()
	defer r.handlers.Done()

	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	var streams sync.WaitGroup
	streams.Go(func() { r.serveDatagrams(ctx, conn) })
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			break
		}
		peer := conn.RemoteID()
		if !r.takeStream(peer) {
			r.streamsRefused.Add(1)
			st.CancelRead(codeBusy)
			st.CancelWrite(codeBusy)
			continue
		}
		streams.Go(func() {
			defer r.releaseStream(peer)
			r.serveStream(ctx, conn, st)
		})
	}
	cancel()
	streams.Wait()
}

// takeStream counts one more stream of peer, unless it has
// MaxStreamsPerPeer already.
func (r *Router) takeStream(peer endpoint.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[peer] >= r.cfg.MaxStreamsPerPeer {
		return false
	}
	r.streams[peer]++
	return true
}

func (r *Router) releaseStream(peer endpoint.NodeID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[peer]--; r.streams[peer] <= 0 {
		delete(r.streams, peer)
	}
}

// serveStream reads a stream's header and hands the stream to its swarm,
// or resets it when no swarm of that topic is open here.
func (r *Router) serveStream(ctx context.Context, conn *endpoint.Conn, st *endpoint.Stream) {
	reject := func(code quic.StreamErrorCode) {
		st.CancelRead(code)
		st.CancelWrite(code)
	}
	st.SetReadDeadline(time.Now().Add(r.cfg.PacketTimeout))
	var hdr [headerLen]byte
	if _, err := io.ReadFull(st, hdr[:]); err != nil {
		reject(codeBadHeader)
		return
	}
	topic, kind, err := decodeHeader(hdr[:])
	if err != nil {
		reject(codeBadHeader)
		return
	}
	s := r.lookup(topic)
	if s == nil {
		reject(codeUnknownTopic)
		return
	}
	st.SetReadDeadline(time.Time{})
	switch kind {
	case kindPacket:
		s.t.receivePacket(conn, st)
	case kindStream:
		s.t.receiveStream(ctx, conn, st)
	default:
		reject(codeBadHeader) // ops travel in datagrams only
	}
}

// serveDatagrams hands each datagram of conn, one memberlist packet or one
// op after the stream header, to the swarm of its topic. A datagram with a bad
// header or for a topic without an open swarm is dropped.
func (r *Router) serveDatagrams(ctx context.Context, conn *endpoint.Conn) {
	for {
		b, err := conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if len(b) < headerLen {
			continue
		}
		topic, kind, err := decodeHeader(b[:headerLen])
		if err != nil {
			continue
		}
		s := r.lookup(topic)
		switch {
		case s == nil:
		case kind == kindPacket:
			s.t.receiveDatagram(conn, b[headerLen:])
		case kind == kindOp:
			s.receiveOp(conn.RemoteID(), b[headerLen:])
		}
	}
}

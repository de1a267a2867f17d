package endpoint

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/quic-go/quic-go"
)

// Stream is a bidirectional QUIC stream. Close ends the sending side;
// CancelRead and CancelWrite abort a direction with an error code.
type Stream = quic.Stream

// Application error codes sent in CONNECTION_CLOSE frames.
const (
	// CodeNormal is a plain close by a user or handler.
	CodeNormal quic.ApplicationErrorCode = 0
	// CodeEndpointClosed means the peer's endpoint shut down.
	CodeEndpointClosed quic.ApplicationErrorCode = 1
	// CodeTooManyConns means the peer was at its MaxConns limit.
	CodeTooManyConns quic.ApplicationErrorCode = 2
	// CodeNoHandler means the negotiated protocol has no handler. The
	// handshake refuses unregistered protocols, so peers see this only in
	// a race with a configuration change.
	CodeNoHandler quic.ApplicationErrorCode = 3
	// CodePeerMoved means a newer connection from the peer came from
	// another port, so this one leads to a socket that is gone.
	CodePeerMoved quic.ApplicationErrorCode = 4
)

// Conn is an authenticated QUIC connection to one peer for one protocol.
//
// A Conn from Dial is shared: later Dials for the same peer and protocol
// return it while it lives, and closing it closes it for every holder (the
// next Dial then connects again). A Conn given to a Handler belongs to that
// handler; the endpoint closes it when the handler returns.
type Conn struct {
	e        *Endpoint
	qc       *quic.Conn
	remoteID NodeID
	alpn     string
	// datagrams: the peer accepts datagrams (this side always does).
	datagrams bool

	// dgMu guards the datagrams waiting for the connection's sender
	// goroutine, which runs while dgSending is set.
	dgMu      sync.Mutex
	dgQueue   [][]byte
	dgSending bool
}

// MaxDatagramSize is the largest datagram Conn.SendDatagram takes. Every
// QUIC path carries UDP payloads of 1200 bytes (RFC 9000, section 14), and
// quic-go reserves 37 of them for the packet header and tag when it sizes
// a datagram, so a datagram of this size fits on any connection.
const MaxDatagramSize = 1200 - 37

func newConn(e *Endpoint, qc *quic.Conn, remoteID NodeID) *Conn {
	state := qc.ConnectionState()
	return &Conn{
		e:         e,
		qc:        qc,
		remoteID:  remoteID,
		alpn:      state.TLS.NegotiatedProtocol,
		datagrams: state.SupportsDatagrams.Remote,
	}
}

// RemoteID is the peer's node id, proved during the handshake.
func (c *Conn) RemoteID() NodeID { return c.remoteID }

// ALPN is the protocol this connection was opened for.
func (c *Conn) ALPN() string { return c.alpn }

// RemoteAddr is the peer's current UDP address.
func (c *Conn) RemoteAddr() netip.AddrPort { return addrPortOf(c.qc.RemoteAddr()) }

// LocalAddr is this side's UDP address.
func (c *Conn) LocalAddr() netip.AddrPort { return addrPortOf(c.qc.LocalAddr()) }

// LearnPeerAddrs records addresses the peer stated for itself on this
// connection, as Endpoint.LearnAddr does for the peer's node id.
func (c *Conn) LearnPeerAddrs(addrs []netip.AddrPort) {
	c.e.LearnAddr(NodeAddr{ID: c.remoteID, Addrs: addrs})
}

// OpenStream opens a bidirectional stream, waiting while the peer's stream
// limit is reached. The peer learns of the stream when the first byte
// arrives, so write before expecting the peer's AcceptStream to return.
func (c *Conn) OpenStream(ctx context.Context) (*Stream, error) {
	return c.qc.OpenStreamSync(ctx)
}

// AcceptStream waits for the peer to open a bidirectional stream.
func (c *Conn) AcceptStream(ctx context.Context) (*Stream, error) {
	return c.qc.AcceptStream(ctx)
}

// SendDatagram sends p to the peer in one QUIC datagram (RFC 9221): it
// arrives whole or not at all, may be lost, and is never retransmitted.
// SendDatagram does not wait for the network: it copies p and queues it
// for the connection's sender goroutine, which hands datagrams to QUIC in
// order. Errors wrap ErrDatagramTooLarge (over MaxDatagramSize),
// ErrDatagramsUnsupported, ErrDatagramQueueFull (Config.MaxQueuedDatagrams
// are waiting, as happens while the peer is unreachable) or ErrClosed, or
// are the connection's close reason.
func (c *Conn) SendDatagram(p []byte) error {
	switch {
	case len(p) > MaxDatagramSize:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrDatagramTooLarge, len(p), MaxDatagramSize)
	case !c.datagrams:
		return ErrDatagramsUnsupported
	}
	if err := c.Err(); err != nil {
		return err
	}
	c.dgMu.Lock()
	defer c.dgMu.Unlock()
	if len(c.dgQueue) >= c.e.cfg.MaxQueuedDatagrams {
		return ErrDatagramQueueFull
	}
	if !c.dgSending {
		if !c.e.spawn(c.sendDatagrams) {
			return ErrClosed
		}
		c.dgSending = true
	}
	c.dgQueue = append(c.dgQueue, bytes.Clone(p))
	return nil
}

// sendDatagrams hands the queued datagrams to QUIC until none is left.
// quic-go's SendDatagram blocks while its own queue is full, so this runs
// on a goroutine of its own; it ends when the queue is empty, or when the
// connection closes (which also ends a blocked send).
func (c *Conn) sendDatagrams() {
	for {
		c.dgMu.Lock()
		batch := c.dgQueue
		c.dgQueue = nil
		if len(batch) == 0 || !c.live() {
			c.dgSending = false
			c.dgMu.Unlock()
			return
		}
		c.dgMu.Unlock()
		for _, p := range batch {
			// A peer whose datagram limit is below MaxDatagramSize refuses
			// some: like any datagram, they are lost.
			if err := c.qc.SendDatagram(p); err != nil && !c.live() {
				break
			}
		}
	}
}

// ReceiveDatagram waits for the next datagram from the peer. Datagrams
// that arrive while 128 wait to be received are dropped (quic-go's
// receive queue).
func (c *Conn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return c.qc.ReceiveDatagram(ctx)
}

// Done is closed once the connection is closed, by either side or by an
// idle timeout.
func (c *Conn) Done() <-chan struct{} { return c.qc.Context().Done() }

// Err returns nil while the connection is live, then why it closed.
func (c *Conn) Err() error {
	if c.qc.Context().Err() == nil {
		return nil
	}
	return context.Cause(c.qc.Context())
}

// Close closes the connection at once with CodeNormal. Data still in
// flight on its streams may be lost: end a protocol with an exchange (or
// wait for the peer to close) before closing.
func (c *Conn) Close() error {
	return c.CloseWithError(CodeNormal, "")
}

// CloseWithError closes the connection with an application error code and
// a message for the peer.
func (c *Conn) CloseWithError(code quic.ApplicationErrorCode, msg string) error {
	return c.qc.CloseWithError(code, msg)
}

// live reports whether the connection has not been closed yet.
func (c *Conn) live() bool { return c.qc.Context().Err() == nil }

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return ap
	}
}

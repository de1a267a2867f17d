package endpoint

import (
	"context"
	"net"
	"net/netip"

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
)

// Conn is an authenticated QUIC connection to one peer for one protocol.
//
// A Conn from Dial is shared: later Dials for the same peer and protocol
// return it while it lives, and closing it closes it for every holder (the
// next Dial then connects again). A Conn given to a Handler belongs to that
// handler; the endpoint closes it when the handler returns.
type Conn struct {
	qc       *quic.Conn
	remoteID NodeID
	alpn     string
}

func newConn(qc *quic.Conn, remoteID NodeID) *Conn {
	return &Conn{
		qc:       qc,
		remoteID: remoteID,
		alpn:     qc.ConnectionState().TLS.NegotiatedProtocol,
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

package gossip

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/docsnode/docsnode/endpoint"
)

// Stream error codes sent in RESET_STREAM and STOP_SENDING frames.
const (
	// codeDone ends a direction this side has no more use for.
	codeDone quic.StreamErrorCode = 0
	// codeUnknownTopic: this node has no swarm for the stream's topic.
	codeUnknownTopic quic.StreamErrorCode = 1
	// codeTooLarge: the peer sent more than this node accepts.
	codeTooLarge quic.StreamErrorCode = 2
	// codeBadHeader: the stream did not start with a valid header.
	codeBadHeader quic.StreamErrorCode = 3
	// codeBusy: the peer has Config.MaxStreamsPerPeer streams open here.
	codeBusy quic.StreamErrorCode = 4
)

var errStreamTooLong = errors.New("gossip: memberlist stream exceeds Config.MaxStreamBytes")

// streamConn presents one QUIC stream as the net.Conn memberlist expects
// for its streams. Reads stop with an error after maxRead bytes.
type streamConn struct {
	st            *endpoint.Stream
	local, remote net.Addr
	remaining     int64 // read budget; memberlist reads from one goroutine
	onClose       func(*streamConn)
	closeOnce     sync.Once
}

func newStreamConn(st *endpoint.Stream, conn *endpoint.Conn, maxRead int64, onClose func(*streamConn)) *streamConn {
	return &streamConn{
		st:        st,
		local:     net.UDPAddrFromAddrPort(conn.LocalAddr()),
		remote:    net.UDPAddrFromAddrPort(conn.RemoteAddr()),
		remaining: maxRead,
		onClose:   onClose,
	}
}

func (c *streamConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.remaining <= 0 {
		// The budget is spent: only a clean end of stream is acceptable.
		var one [1]byte
		n, err := c.st.Read(one[:])
		if n == 0 {
			return 0, err
		}
		c.st.CancelRead(codeTooLarge)
		return 0, errStreamTooLong
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.st.Read(p)
	c.remaining -= int64(n)
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) { return c.st.Write(p) }

// Close ends both directions: what was written is still delivered, and
// the peer is told to stop sending.
func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.st.CancelRead(codeDone)
		err = c.st.Close()
		if c.onClose != nil {
			c.onClose(c)
		}
	})
	if err != nil {
		return fmt.Errorf("gossip: close stream: %w", err)
	}
	return nil
}

func (c *streamConn) LocalAddr() net.Addr                { return c.local }
func (c *streamConn) RemoteAddr() net.Addr               { return c.remote }
func (c *streamConn) SetDeadline(t time.Time) error      { return c.st.SetDeadline(t) }
func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.st.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }

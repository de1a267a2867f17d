package live

import (
	"io"

	"github.com/docsnode/docsnode/endpoint"
)

// stream is the bidirectional byte stream one session runs on: a QUIC
// stream in production (quicStreamOf), an in-process pipe in tests.
type stream interface {
	io.Reader
	io.Writer
	// Close ends this side's sending direction after the data written so
	// far; the peer then reads io.EOF.
	Close() error
	// CancelRead abandons the receiving direction: pending and later
	// reads fail, and so do the peer's writes.
	CancelRead()
	// CancelWrite abandons the sending direction: pending and later
	// writes fail, unsent data is dropped, and the peer's reads fail.
	CancelWrite()
}

// codeCancelled is the QUIC stream error code of a session that ended
// abnormally; the frames (Abort) carry the reason.
const codeCancelled = 1

// quicStreamOf adapts an endpoint stream to Stream.
func quicStreamOf(s *endpoint.Stream) stream { return quicStream{s} }

type quicStream struct{ s *endpoint.Stream }

func (q quicStream) Read(p []byte) (int, error)  { return q.s.Read(p) }
func (q quicStream) Write(p []byte) (int, error) { return q.s.Write(p) }
func (q quicStream) Close() error                { return q.s.Close() }
func (q quicStream) CancelRead()                 { q.s.CancelRead(codeCancelled) }
func (q quicStream) CancelWrite()                { q.s.CancelWrite(codeCancelled) }

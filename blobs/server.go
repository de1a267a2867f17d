package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/admission"
	"github.com/docsnode/docsnode/replica"
)

// Entries finds the entry a request names. The store actor
// (actor.Actor) implements it.
type Entries interface {
	Get(ctx context.Context, ns replica.NamespaceID, author replica.AuthorID, key []byte) (replica.SignedEntry, error)
}

// ServerConfig bounds what a Server does for its peers. A zero field takes
// the default listed on it.
type ServerConfig struct {
	// MaxKeyLen bounds the key of a request. Default: replica's default
	// key limit (4 KiB).
	MaxKeyLen int
	// MaxFetches bounds the fetches served at once, counted from the
	// moment a stream arrives, before its request is read. Beyond it a
	// newcomer preempts the stalest fetch of the peer holding the most,
	// when that is fair, or is refused with Busy (see Server). Default 32.
	MaxFetches int
	// MaxFetchesPerPeer bounds the fetches served at once to one peer
	// (node id); more are refused with Busy. Default 8.
	MaxFetchesPerPeer int
	// RequestTimeout bounds reading a request and looking up its entry: a
	// stream that has not sent its whole request by then is reset and its
	// slot freed. Default 10 s.
	RequestTimeout time.Duration
	// IdleTimeout ends a fetch whose peer reads nothing for this long.
	// Default 30 s.
	IdleTimeout time.Duration
	// MaxRanges bounds the ranges of chunk groups one request asks for.
	// Default DefaultMaxRanges (64).
	MaxRanges int
	// MaxUploadRate bounds the bytes per second the server sends, to all
	// peers together. Default 0: no bound.
	MaxUploadRate int64
}

// DefaultServerConfig is the content server's config with every default
// filled in.
func DefaultServerConfig() ServerConfig { return ServerConfig{}.withDefaults() }

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxKeyLen <= 0 {
		c.MaxKeyLen = replica.DefaultLimits().MaxKeyLen
	}
	if c.MaxFetches <= 0 {
		c.MaxFetches = 32
	}
	if c.MaxFetchesPerPeer <= 0 {
		c.MaxFetchesPerPeer = 8
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.MaxRanges <= 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	return c
}

// ServerStats counts what a Server did. Every counter only grows.
type ServerStats struct {
	Served      uint64 // fetches answered with content
	NotFound    uint64 // refused: document, entry or content not held
	Busy        uint64 // refused beyond MaxFetches, with none to preempt
	PeerBusy    uint64 // refused beyond MaxFetchesPerPeer
	Preempted   uint64 // fetches reset to admit a peer holding fewer
	Timeouts    uint64 // requests not read within RequestTimeout
	BadRequests uint64 // requests that did not decode or asked for what is not there
	// Corrupt counts requests that found this node's copy of the content
	// not matching its hash: the copy is removed and the fetch reset.
	Corrupt   uint64
	BytesSent uint64
}

// Server answers fetches on ALPN docsnode/blobs/1: register it with
// ep.Handle(endpoint.ALPNBlobs, server). Each stream carries one request.
// A blob is served only to a peer that names a document this node holds
// and an entry of that document whose hash is the blob's; anything else
// is answered NotFound, the same as content not held.
//
// Admission: a stream takes a fetch slot as it arrives. One peer holds at
// most MaxFetchesPerPeer; beyond that it is answered Busy. When all
// MaxFetches slots are taken, a newcomer whose peer holds fewer than its
// fair share (MaxFetches over the peers holding slots) preempts the
// stalest fetch (the one that last moved a byte longest ago) of the peer
// holding the most, if that peer holds more than the newcomer's; the
// preempted stream is reset, and its fetcher resumes later. Otherwise the
// newcomer is answered Busy. A stream must send its whole request within
// RequestTimeout, and a transfer that moves nothing for IdleTimeout ends.
type Server struct {
	store   *Store
	entries Entries
	cfg     ServerConfig

	mu      sync.Mutex
	fetches *admission.Set[*fetch]
	pace    *pacer // nil without MaxUploadRate

	served, notFound, busy, peerBusy, preempted, timeouts, badRequests, corrupt, bytesSent atomic.Uint64
}

// fetch is one stream being served.
type fetch struct {
	peer     endpoint.NodeID
	st       *endpoint.Stream
	activity admission.Activity
}

func (f *fetch) SlotPeer() endpoint.NodeID         { return f.peer }
func (f *fetch) SlotActivity() *admission.Activity { return &f.activity }

// NewServer returns a server of the blobs in store for the documents of
// entries.
func NewServer(store *Store, entries Entries, cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{store: store, entries: entries, cfg: cfg, fetches: admission.NewSet[*fetch](), pace: newPacer(cfg.MaxUploadRate)}
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Served: s.served.Load(), NotFound: s.notFound.Load(), Busy: s.busy.Load(),
		PeerBusy: s.peerBusy.Load(), Preempted: s.preempted.Load(), Timeouts: s.timeouts.Load(),
		BadRequests: s.badRequests.Load(), Corrupt: s.corrupt.Load(), BytesSent: s.bytesSent.Load()}
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
		wg.Go(func() { s.serve(ctx, st, conn.RemoteID()) })
	}
}

// codeCancelled is the stream error code of a fetch that ended abnormally.
const codeCancelled = 1

// admit takes a fetch slot for f, preempting another if fair, or returns
// why it cannot.
func (s *Server) admit(f *fetch) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.fetches.Count(f.peer); n >= s.cfg.MaxFetchesPerPeer {
		s.peerBusy.Add(1)
		return fmt.Sprintf("%d fetches of yours running, the limit", n)
	}
	if s.fetches.Len() >= s.cfg.MaxFetches {
		v, ok := s.fetches.Victim(f.peer, s.cfg.MaxFetches)
		if !ok {
			s.busy.Add(1)
			return fmt.Sprintf("%d fetches running, the limit", s.cfg.MaxFetches)
		}
		s.fetches.Remove(v)
		s.preempted.Add(1)
		// Its goroutine sees the reset and returns.
		v.st.CancelRead(codeCancelled)
		v.st.CancelWrite(codeCancelled)
	}
	s.fetches.Add(f)
	return ""
}

func (s *Server) serve(ctx context.Context, st *endpoint.Stream, peer endpoint.NodeID) {
	slot := &fetch{peer: peer, st: st}
	slot.activity.Begin(time.Now())
	if text := s.admit(slot); text != "" {
		s.refuse(st, statusBusy, text)
		return
	}
	defer func() {
		s.mu.Lock()
		s.fetches.Remove(slot)
		s.mu.Unlock()
	}()
	st.SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
	limit := maxRequestLen(s.cfg.MaxKeyLen, s.cfg.MaxRanges)
	b, err := io.ReadAll(io.LimitReader(st, int64(limit)+1))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.timeouts.Add(1)
		}
		st.CancelRead(codeCancelled)
		st.CancelWrite(codeCancelled)
		return
	}
	slot.activity.Tick(time.Now())
	if len(b) > limit {
		s.badRequests.Add(1)
		st.CancelRead(codeCancelled)
		s.refuse(st, statusBadRequest, fmt.Sprintf("request over %d bytes", limit))
		return
	}
	req, err := DecodeRequest(b, s.cfg.MaxKeyLen, s.cfg.MaxRanges)
	if err != nil {
		s.badRequests.Add(1)
		s.refuse(st, statusBadRequest, err.Error())
		return
	}
	if req.GroupLog != s.store.groupLog {
		s.badRequests.Add(1)
		s.refuse(st, statusBadRequest, fmt.Sprintf("this node checks content in chunk groups of %d bytes, the request in groups of %d",
			1024<<s.store.groupLog, 1024<<req.GroupLog))
		return
	}
	bt, err := s.lookup(ctx, &req)
	if err != nil {
		s.notFound.Add(1)
		s.refuse(st, statusNotFound, "not found")
		return
	}
	defer bt.Close()
	if last := req.Ranges[len(req.Ranges)-1]; last.End > bt.tree.groups() {
		s.badRequests.Add(1)
		s.refuse(st, statusBadRequest, fmt.Sprintf("groups up to %d asked for, the content has %d", last.End, bt.tree.groups()))
		return
	}
	cw := &countingWriter{w: &deadlineWriter{st, s.cfg.IdleTimeout, &slot.activity, s.pace}}
	w := newPipeWriter(cw, sendChunk)
	w.Write(appendResponse(nil, &response{status: statusOK, size: bt.tree.size}))
	src, buf := bt.source(), make([]byte, bt.tree.groupSize())
	for _, rg := range req.Ranges {
		// What is sent is checked on the way out: a copy that went bad on
		// disk is caught here, not by the peer.
		if err = bt.tree.verify(req.Hash, rg.Start, rg.End, src, sliceWriter{w}, buf); err != nil {
			break
		}
	}
	if err != nil {
		st.CancelWrite(codeCancelled) // and the sending goroutine stops
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	s.bytesSent.Add(cw.n)
	if err != nil {
		if errors.Is(err, ErrHashMismatch) {
			s.corrupt.Add(1)
			s.store.removeCorrupt(req.Hash)
		}
		// The peer must not take a short or failed answer for the content.
		st.CancelWrite(codeCancelled)
		return
	}
	s.served.Add(1)
	st.Close()
}

// lookup checks that the request names a held document and an entry of it
// with the requested hash, and opens the content. One point read and one
// open: cheap enough for every request.
func (s *Server) lookup(ctx context.Context, req *Request) (*blobTree, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	se, err := s.entries.Get(ctx, req.Namespace, req.Author, req.Key)
	if err != nil {
		return nil, err
	}
	if se.Hash != req.Hash || se.IsTombstone() {
		return nil, ErrNotFound
	}
	bt, err := s.store.openTree(req.Hash)
	if err != nil {
		return nil, err
	}
	if bt.tree.size != se.Len {
		// Our copy is not whole (a crash interrupted its sync).
		bt.Close()
		return nil, ErrNotFound
	}
	return bt, nil
}

// sendChunk is the piece a fetch is sent in: one is read and checked
// while the one before is sent.
const sendChunk = 128 << 10

// pipeWriter hands what is written to it, in chunks of up to size bytes,
// to a goroutine that writes them to w, so that reading and checking the
// next chunk overlaps sending this one. It holds two chunks. Close sends
// the rest and returns the first error of w.
type pipeWriter struct {
	w      io.Writer
	cur    []byte
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	failed atomic.Bool
	err    error // the goroutine's, read after done
}

func newPipeWriter(w io.Writer, size int) *pipeWriter {
	p := &pipeWriter{w: w, full: make(chan []byte, 1), free: make(chan []byte, 2), done: make(chan struct{})}
	p.free <- make([]byte, 0, size)
	p.cur = make([]byte, 0, size)
	go p.run()
	return p
}

func (p *pipeWriter) run() {
	defer close(p.done)
	for b := range p.full {
		if p.err == nil {
			if _, p.err = p.w.Write(b); p.err != nil {
				p.failed.Store(true)
			}
		}
		p.free <- b[:0]
	}
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.failed.Load() {
			return n, errors.New("blobs: send failed")
		}
		k := min(len(b), cap(p.cur)-len(p.cur))
		p.cur = append(p.cur, b[:k]...)
		b, n = b[k:], n+k
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = <-p.free
		}
	}
	return n, nil
}

// Close sends what is buffered, waits for the goroutine and returns its
// error.
func (p *pipeWriter) Close() error {
	if len(p.cur) > 0 {
		p.full <- p.cur
	}
	close(p.full)
	<-p.done
	return p.err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// refuse writes a refusal and closes the stream.
func (s *Server) refuse(st *endpoint.Stream, status byte, text string) {
	st.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
	if _, err := st.Write(appendResponse(nil, &response{status: status, text: text})); err != nil {
		st.CancelWrite(codeCancelled)
		return
	}
	st.Close()
}

// deadlineWriter gives every write IdleTimeout to make progress, and
// ticks activity, if set, after each; with a pacer it waits its turn
// first.
type deadlineWriter struct {
	st       *endpoint.Stream
	idle     time.Duration
	activity *admission.Activity
	pace     *pacer
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.pace.wait(len(p))
	d.st.SetWriteDeadline(time.Now().Add(d.idle))
	n, err := d.st.Write(p)
	if d.activity != nil && n > 0 {
		d.activity.Tick(time.Now())
	}
	return n, err
}

// deadlineReader gives every read IdleTimeout to make progress.
type deadlineReader struct {
	st   *endpoint.Stream
	idle time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.st.SetReadDeadline(time.Now().Add(d.idle))
	return d.st.Read(p)
}

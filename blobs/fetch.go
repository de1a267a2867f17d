package blobs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Ref names the content of one entry: the entry's document, author and key,
// and the hash and length its record carries.
type Ref struct {
	Namespace replica.NamespaceID
	Author    replica.AuthorID
	Key       []byte
	Hash      replica.Hash
	Len       uint64
}

// RefOf returns the Ref of an entry's content.
func RefOf(ns replica.NamespaceID, se *replica.SignedEntry) Ref {
	return Ref{Namespace: ns, Author: se.Author, Key: se.Key, Hash: se.Hash, Len: se.Len}
}

// DefaultFetchIdleTimeout ends a fetch that receives nothing for this long.
const DefaultFetchIdleTimeout = 30 * time.Second

// Fetch fetches the content ref names from peer into store, over ALPN
// docsnode/blobs/1 (sharing a live connection if there is one), resuming
// with exactly the chunk groups an earlier fetch left missing. Every group
// is checked against ref.Hash as it arrives and only then written; a peer
// that sends a group or a proof that does not match (ErrHashMismatch),
// another length (ErrLength) or more bytes (ErrTooLarge) is caught there,
// and the groups checked before it are kept. A read that waits longer
// than idle (0: DefaultFetchIdleTimeout) fails the fetch.
//
// It returns the number of bytes received, and nil once the blob is stored
// (at once if it already was). A peer's refusal is ErrNotFound or ErrBusy.
// Download fetches from several peers at once.
func Fetch(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, store *Store, ref Ref, idle time.Duration) (uint64, error) {
	fail := func(n uint64, err error) (uint64, error) {
		return n, fmt.Errorf("blobs: fetch %x… from %s: %w", ref.Hash[:5], peer.ID.Short(), err)
	}
	if ref.Len == 0 || ref.Hash == replica.EmptyHash {
		return fail(0, fmt.Errorf("%w: a tombstone has no content", ErrMalformed))
	}
	if store.Status(ref.Hash, ref.Len) == Complete {
		return 0, nil
	}
	p, err := store.BeginFetch(ref.Hash, ref.Len)
	if err != nil {
		return fail(0, err)
	}
	defer p.Close() // keeps what is held for a resume unless finished
	var total uint64
	for missing := p.Missing(); len(missing) > 0; missing = p.Missing() {
		rs := missing[:min(len(missing), DefaultMaxRanges)]
		n, err := fetchRanges(ctx, ep, peer, p, ref, rs, idle, nil, nil)
		total += n
		if err != nil {
			return fail(total, err)
		}
	}
	if err := p.Finish(); err != nil {
		return fail(total, err)
	}
	return total, nil
}

// fetchRanges asks peer for the groups rs of ref's content on a new stream
// and writes what it checks into p. It stops at the first group at or past
// stop, when stop is set (the rest was handed to another peer), with
// errStopped; at, when set, follows the group being read. It returns the
// bytes received.
func fetchRanges(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, p *Partial, ref Ref, rs []Range, idle time.Duration, stop, at *atomic.Uint64) (uint64, error) {
	buf := make([]byte, p.tree.groupSize())
	return exchange(ctx, ep, peer, ref, p.GroupLog(), rs, idle, func(br io.Reader, rg Range) error {
		return p.readSlice(br, rg.Start, rg.End, stop, at, buf)
	})
}

// exchange asks peer for the groups rs of ref's content on a new stream,
// checks the response's header and hands each range's slice to decode,
// which must read it whole. It returns the bytes received.
func exchange(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, ref Ref, groupLog uint8, rs []Range, idle time.Duration, decode func(r io.Reader, rg Range) error) (uint64, error) {
	if idle <= 0 {
		idle = DefaultFetchIdleTimeout
	}
	conn, err := ep.Dial(ctx, peer, endpoint.ALPNBlobs)
	if err != nil {
		return 0, err
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	stopCtx := context.AfterFunc(ctx, func() {
		st.CancelRead(codeCancelled)
		st.CancelWrite(codeCancelled)
	})
	defer stopCtx()
	req := Request{Namespace: ref.Namespace, Author: ref.Author, Key: ref.Key, Hash: ref.Hash, GroupLog: groupLog, Ranges: rs}
	st.SetWriteDeadline(time.Now().Add(idle))
	if _, err := st.Write(req.AppendBinary(nil)); err != nil {
		st.CancelRead(codeCancelled)
		return 0, ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	st.Close()
	cr := &countingReader{r: &deadlineReader{st, idle}}
	br := bufio.NewReaderSize(cr, 64<<10)
	// What was read, not what bufio read ahead of it.
	consumed := func() uint64 { return cr.n - uint64(br.Buffered()) }
	abort := func(err error) (uint64, error) {
		st.CancelRead(codeCancelled)
		return consumed(), ctxErr(ctx, err)
	}
	resp, err := readResponse(br, ref.Len)
	switch {
	case errors.Is(err, ErrTooLarge):
		// The peer announced more than the entry's length.
		return abort(fmt.Errorf("%w: %w", ErrLength, err))
	case err != nil:
		return abort(err)
	case resp.status == statusNotFound:
		return abort(fmt.Errorf("%w: %s", ErrNotFound, resp.text))
	case resp.status == statusBusy:
		return abort(fmt.Errorf("%w: %s", ErrBusy, resp.text))
	case resp.status == statusBadRequest:
		return abort(fmt.Errorf("%w: the peer refused our request: %s", ErrRefused, resp.text))
	case resp.size != ref.Len:
		return abort(fmt.Errorf("%w: the peer has %d bytes, the entry says %d", ErrLength, resp.size, ref.Len))
	}
	for _, rg := range rs {
		if err := decode(br, rg); err != nil {
			return abort(err)
		}
	}
	// The slices must end the stream: a peer that sends more is lying.
	if _, err := br.ReadByte(); err == nil {
		return abort(fmt.Errorf("%w: the peer sent more than the groups asked for", ErrTooLarge))
	}
	return consumed(), nil
}

// PeerFault reports whether err shows that the peer sent what the content
// is not: a group or proof that does not match, another length, more
// bytes than asked for, or a message that does not decode. Such a peer is
// not asked again for that content.
func PeerFault(err error) bool {
	return errors.Is(err, ErrHashMismatch) || errors.Is(err, ErrLength) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// ctxErr prefers the context's error, which explains a cancelled stream.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// FetchRange fetches bytes [off, off+n) of the content ref names from peer
// without storing them: it asks for the chunk groups that hold them (in
// groups of 1024<<groupLog bytes, the peer's), checks each against
// ref.Hash as it arrives, and writes to w only bytes of the range that
// matched. A reader can so read part of a blob it does not hold, checked,
// without fetching the rest. It returns the bytes received; on an error w
// may have been given a checked prefix of the range.
func FetchRange(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, ref Ref, groupLog uint8, off, n uint64, w io.Writer, idle time.Duration) (uint64, error) {
	t := newTree(ref.Len, groupLog)
	if groupLog > MaxGroupLog || off > ref.Len || n > ref.Len-off {
		return 0, fmt.Errorf("blobs: fetch bytes [%d,%d) of %d: %w", off, off+n, ref.Len, ErrMalformed)
	}
	if n == 0 {
		return 0, nil
	}
	lo, hi := t.groupsOf(off, n)
	buf := make([]byte, t.groupSize())
	sink := &rangeSink{w: w, t: t, off: off, end: off + n}
	got, err := exchange(ctx, ep, peer, ref, groupLog, []Range{{lo, hi}}, idle, func(r io.Reader, rg Range) error {
		return t.verify(ref.Hash, rg.Start, rg.End, streamSource{r: r, t: t}, sink, buf)
	})
	if err != nil {
		return got, fmt.Errorf("blobs: fetch bytes [%d,%d) of %x… from %s: %w", off, off+n, ref.Hash[:5], peer.ID.Short(), err)
	}
	return got, nil
}

// rangeSink writes the bytes [off, end) of the checked groups it is given.
type rangeSink struct {
	w        io.Writer
	t        groupTree
	off, end uint64
}

func (s *rangeSink) parent(uint64, *[64]byte) error { return nil }

func (s *rangeSink) group(i uint64, p []byte) error {
	start, _ := s.t.groupSpan(i)
	lo, hi := max(s.off, start), min(s.end, start+uint64(len(p)))
	if lo >= hi {
		return nil
	}
	_, err := s.w.Write(p[lo-start : hi-start])
	return err
}

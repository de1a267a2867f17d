package blobs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
// the partial data an earlier fetch left. It hashes while it receives and
// installs the blob only when it is exactly ref.Len bytes that hash to
// ref.Hash; a peer that sends other bytes (ErrHashMismatch) or more bytes
// (ErrTooLarge) leaves nothing under the hash. A read that waits longer
// than idle (0: DefaultFetchIdleTimeout) fails the fetch.
//
// It returns the number of content bytes received, and nil once the blob
// is stored (at once if it already was). A peer's refusal is ErrNotFound
// or ErrBusy.
func Fetch(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, store *Store, ref Ref, idle time.Duration) (uint64, error) {
	if idle <= 0 {
		idle = DefaultFetchIdleTimeout
	}
	fail := func(n uint64, err error) (uint64, error) {
		return n, fmt.Errorf("blobs: fetch %x… from %s: %w", ref.Hash[:5], peer.ID.Short(), err)
	}
	if ref.Len == 0 || ref.Hash == replica.EmptyHash {
		return fail(0, fmt.Errorf("%w: a tombstone has no content", ErrMalformed))
	}
	var total uint64
	// A resumed fetch whose data fails the check may have resumed bad
	// bytes another peer left: try once more from the start.
	for attempt := 0; ; attempt++ {
		if store.Status(ref.Hash, ref.Len) == Complete {
			return total, nil
		}
		p, err := store.BeginFetch(ref.Hash, ref.Len)
		if err != nil {
			return fail(total, err)
		}
		resumed := p.Offset() > 0
		n, err := fetchInto(ctx, ep, peer, p, ref, idle)
		total += n
		if err == nil {
			return total, nil
		}
		if errors.Is(err, ErrHashMismatch) && resumed && attempt == 0 {
			continue
		}
		return fail(total, err)
	}
}

// fetchInto runs one request on a new stream and writes the answer to p,
// which it finishes, keeps for a resume, or discards.
func fetchInto(ctx context.Context, ep *endpoint.Endpoint, peer endpoint.NodeAddr, p *Partial, ref Ref, idle time.Duration) (uint64, error) {
	defer p.Close() // keeps the data for a resume unless finished or discarded
	if p.Offset() == ref.Len {
		return 0, p.Finish()
	}
	conn, err := ep.Dial(ctx, peer, endpoint.ALPNBlobs)
	if err != nil {
		return 0, err
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelRead(codeCancelled)
		st.CancelWrite(codeCancelled)
	})
	defer stop()
	req := Request{Namespace: ref.Namespace, Author: ref.Author, Key: ref.Key, Hash: ref.Hash, Offset: p.Offset()}
	st.SetWriteDeadline(time.Now().Add(idle))
	if _, err := st.Write(req.AppendBinary(nil)); err != nil {
		st.CancelRead(codeCancelled)
		return 0, ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	st.Close()
	abort := func(err error) (uint64, error) {
		st.CancelRead(codeCancelled)
		return 0, ctxErr(ctx, err)
	}
	br := bufio.NewReaderSize(&deadlineReader{st, idle}, 32<<10)
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
		return abort(fmt.Errorf("%w: the peer refused our request: %s", ErrMalformed, resp.text))
	case resp.size != ref.Len:
		return abort(fmt.Errorf("%w: the peer has %d bytes, the entry says %d", ErrLength, resp.size, ref.Len))
	}
	want := ref.Len - p.Offset()
	n, err := io.CopyN(p, br, int64(want))
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: the peer sent %d of %d bytes", ErrLength, n, want)
		}
		st.CancelRead(codeCancelled)
		return uint64(n), ctxErr(ctx, err) // the data so far is kept for a resume
	}
	// The content must end the stream: a peer that sends more is lying
	// about the content, so none of what it sent is kept. After the whole
	// content, any other end of the stream leaves the hash to decide.
	if _, err := br.ReadByte(); err == nil {
		st.CancelRead(codeCancelled)
		p.Discard()
		return uint64(n), fmt.Errorf("%w: the peer sent more than the entry's %d bytes", ErrTooLarge, ref.Len)
	}
	return uint64(n), p.Finish()
}

// ctxErr prefers the context's error, which explains a cancelled stream.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/readseek"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// ErrCorrupt: the stored content does not hash to its entry's hash. A
// ContentReader's read that meets a chunk group that does not match says
// so; the content is fetched again from peers.
var ErrCorrupt = blobs.ErrCorrupt

// ContentReader opens the content behind an entry for streaming: a large
// value is never read into memory, and the reader seeks (for HTTP Range).
// The caller closes it. Every read checks, through the content's outboard,
// the chunk groups it touches before it returns a byte of them
// (blobs.Store.Open): reading a part never hashes the whole, and no read
// returns a byte that does not match the entry's hash. A group that fails
// the check makes the read fail with an error wrapping ErrCorrupt; the
// bad copy is dropped and the content fetched again from peers.
//
// The content is pinned (Engine.PinContent) until Close: garbage
// collection keeps it while it streams.
//
// When the content is not held, ContentReader returns an error wrapping
// ErrContentNotHeld and queues a download, as Content does.
func (d *Doc) ContentReader(e replica.SignedEntry) (io.ReadSeekCloser, error) {
	if e.IsTombstone() {
		return nopCloser{bytes.NewReader(nil)}, nil
	}
	// Pinned while it streams: garbage collection keeps the content even
	// if the entry is overwritten meanwhile.
	unpin := d.e.PinContent(e.Hash)
	r, size, err := d.e.blobs.Open(e.Hash)
	if err != nil {
		unpin()
	}
	if errors.Is(err, blobs.ErrNotFound) || errors.Is(err, blobs.ErrCorrupt) {
		d.e.live.WantContent(d.id, e)
		return nil, fmt.Errorf("engine: content of %q: %w (queued for download)", e.Key, blobs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if uint64(size) != e.Len {
		r.Close()
		unpin()
		d.refetch(e)
		return nil, fmt.Errorf("engine: content of %q is %d bytes, its entry says %d: %w (queued for download)", e.Key, size, e.Len, blobs.ErrCorrupt)
	}
	return &refetchOnCorrupt{ReadSeekCloser: r, refetch: func() { d.e.live.WantContent(d.id, e) }, unpin: unpin}, nil
}

// refetch drops a corrupt copy of e's content and queues a download:
// Content checks the stored bytes, removes them when they do not match,
// and queues the download.
func (d *Doc) refetch(e replica.SignedEntry) { _, _ = d.Content(e) }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// refetchOnCorrupt queues a download when a read finds the content
// corrupt (the store has dropped it by then), and unpins the content on
// Close.
type refetchOnCorrupt struct {
	io.ReadSeekCloser
	refetch func()
	once    sync.Once
	unpin   func() // releases the content's pin; safe to call twice
}

func (r *refetchOnCorrupt) Read(p []byte) (int, error) {
	n, err := r.ReadSeekCloser.Read(p)
	if err != nil && errors.Is(err, blobs.ErrCorrupt) {
		r.once.Do(r.refetch)
		err = fmt.Errorf("engine: %w", err)
	}
	return n, err
}

func (r *refetchOnCorrupt) Close() error {
	r.unpin()
	return r.ReadSeekCloser.Close()
}

// RemoteWindow is how much of a value OpenContent's reader fetches from a
// peer at once when the value is not held here.
const RemoteWindow = 1 << 20

// OpenContent is ContentReader that also reads content this node does not
// hold: it streams the value from peers that hold it, checked chunk group
// by chunk group against the entry's hash, fetching only the parts that
// are read, RemoteWindow bytes at a time, so a seek and a short read fetch
// a short range, not the value. Nothing fetched so is stored, and the
// value's download is not queued (Content, ContentReader and the download
// policy do that). ctx bounds every fetch of the reader.
//
// When the content is not held, OpenContent fetches the first window
// before it returns, so that a value no peer can serve fails here, with an
// error wrapping ErrContentNotHeld, and not at the first Read.
func (d *Doc) OpenContent(ctx context.Context, e replica.SignedEntry) (io.ReadSeekCloser, error) {
	if d.e.blobs.Status(e.Hash, e.Len) == blobs.Complete || e.IsTombstone() {
		return d.ContentReader(e)
	}
	err := fmt.Errorf("engine: content of %q: %w", e.Key, blobs.ErrNotFound)
	provs, perr := d.e.live.ContentProviders(ctx, d.id, e)
	if perr != nil {
		return nil, fmt.Errorf("%w; %w", err, perr)
	}
	rctx, cancel := context.WithCancel(ctx)
	rr := &remoteReader{ctx: rctx, cancel: cancel, ep: d.e.ep, provs: provs, hash: e.Hash, size: e.Len,
		groupLog: d.e.blobs.GroupLog()}
	if ferr := rr.fill(0); ferr != nil {
		rr.Close()
		return nil, fmt.Errorf("%w: %w", err, ferr)
	}
	return rr, nil
}

// remoteReader reads a value from peers, a window at a time. Once half of
// a window has been read, the next is fetched in the background while
// the caller reads the rest (one window ahead), so a sequential read
// overlaps fetching with reading and a seek with a short read fetches one
// window.
type remoteReader struct {
	ctx      context.Context
	cancel   context.CancelFunc // ends a fetch ahead on Close
	ep       *endpoint.Endpoint
	hash     replica.Hash
	size     uint64
	groupLog uint8

	mu    sync.Mutex       // guards provs: a fetch ahead and a read may fetch at once
	provs []blobs.Provider // the next to ask first; peers at fault are dropped

	pos    int64
	win    []byte // the bytes [winOff, winOff+len(win))
	winOff int64
	ahead  *window // the next window, being fetched; nil when none
}

// window is a window fetched in the background.
type window struct {
	off  int64
	done chan struct{} // closed once data and err are set
	data []byte
	err  error
}

// fetch fetches the window that starts at off from the first provider that
// serves it.
func (r *remoteReader) fetch(off int64) ([]byte, error) {
	n := min(uint64(RemoteWindow), r.size-uint64(off))
	var buf bytes.Buffer
	var errs []error
	for {
		r.mu.Lock()
		if len(r.provs) == 0 || len(errs) >= 2*len(r.provs)+2 {
			r.mu.Unlock()
			break
		}
		p := r.provs[0]
		r.mu.Unlock()
		buf.Reset()
		_, err := blobs.FetchRange(r.ctx, r.ep, p.Addr, p.Ref, r.groupLog, uint64(off), n, &buf, 0)
		if err == nil {
			return buf.Bytes(), nil
		}
		errs = append(errs, err)
		if r.ctx.Err() != nil {
			return nil, r.ctx.Err()
		}
		// Next time ask the next peer first; one at fault is not asked
		// again.
		r.mu.Lock()
		if len(r.provs) > 0 && r.provs[0].Addr.ID == p.Addr.ID {
			r.provs = r.provs[1:]
			if !blobs.PeerFault(err) {
				r.provs = append(r.provs, p)
			}
		}
		r.mu.Unlock()
	}
	if len(errs) == 0 {
		return nil, live.ErrNoProviders
	}
	return nil, errors.Join(errs...)
}

// fill makes the window that starts at off the current one, and starts
// fetching the one after it.
func (r *remoteReader) fill(off int64) error {
	var data []byte
	var err error
	if a := r.ahead; a != nil && a.off == off {
		<-a.done
		data, err = a.data, a.err
	} else {
		data, err = r.fetch(off)
	}
	r.ahead = nil
	if err != nil {
		return err
	}
	r.win, r.winOff = data, off
	return nil
}

// fetchAhead starts fetching the window after the current one, if there
// is one and none is being fetched.
func (r *remoteReader) fetchAhead() {
	next := r.winOff + int64(len(r.win))
	if r.ahead != nil || next >= int64(r.size) || r.ctx.Err() != nil {
		return
	}
	a := &window{off: next, done: make(chan struct{})}
	r.ahead = a
	go func() {
		defer close(a.done)
		a.data, a.err = r.fetch(next)
	}()
}

func (r *remoteReader) Read(p []byte) (int, error) {
	if r.pos >= int64(r.size) {
		return 0, io.EOF
	}
	if r.pos < r.winOff || r.pos >= r.winOff+int64(len(r.win)) {
		if err := r.fill(r.pos); err != nil {
			return 0, fmt.Errorf("engine: read content: %w", err)
		}
	}
	n := copy(p, r.win[r.pos-r.winOff:])
	r.pos += int64(n)
	// Half of a window read in order: the next is likely wanted too.
	if r.pos-r.winOff >= int64(len(r.win))/2 {
		r.fetchAhead()
	}
	return n, nil
}

func (r *remoteReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := readseek.Offset(r.pos, int64(r.size), offset, whence)
	if err != nil {
		return 0, err
	}
	r.pos = pos
	return pos, nil
}

// Close ends a fetch ahead and waits for it.
func (r *remoteReader) Close() error {
	r.cancel()
	if a := r.ahead; a != nil {
		<-a.done
		r.ahead = nil
	}
	return nil
}

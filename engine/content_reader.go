package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/replica"
)

// ErrCorrupt: the stored content does not hash to its entry's hash. A
// ContentReader that read the whole content says so at the end; the
// content is fetched again from peers.
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

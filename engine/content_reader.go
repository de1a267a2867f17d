package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/replica"
	"lukechampine.com/blake3"
)

// ErrCorrupt: the stored content does not hash to its entry's hash. A
// ContentReader that read the whole content says so at the end; the
// content is fetched again from peers.
var ErrCorrupt = blobs.ErrCorrupt

// ContentReader opens the content behind an entry for streaming: a large
// value is never read into memory, and the reader seeks (for HTTP Range).
// The caller closes it. A reader that reads the whole content from the
// start checks it against the entry's hash as it goes, and its last Read
// returns an error wrapping ErrCorrupt rather than io.EOF when the bytes
// do not match (the content is then fetched again); a reader of a part
// cannot check, and is not checked.
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
	if errors.Is(err, blobs.ErrNotFound) {
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
	return &checkedReader{r: r, size: size, want: e.Hash, h: blake3.New(32, nil), onCorrupt: func() { d.refetch(e) }, unpin: unpin}, nil
}

// refetch drops a corrupt copy of e's content and queues a download:
// Content checks the stored bytes, removes them when they do not match,
// and queues the download.
func (d *Doc) refetch(e replica.SignedEntry) { _, _ = d.Content(e) }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// checkedReader hashes what is read in order from the start; once that
// covers the whole content, it compares the hash.
type checkedReader struct {
	r         io.ReadSeekCloser
	size      int64
	pos       int64 // where the next Read reads
	hashed    int64 // bytes hashed: the prefix [0, hashed) was read in order
	broken    bool  // a read skipped ahead: the hash cannot be checked
	want      replica.Hash
	h         *blake3.Hasher
	onCorrupt func()
	unpin     func() // releases the content's pin; safe to call twice
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if !c.broken && n > 0 {
		switch {
		case c.pos == c.hashed:
			c.h.Write(p[:n])
			c.hashed += int64(n)
		case c.pos+int64(n) <= c.hashed:
			// A reread of hashed bytes.
		default:
			c.broken = true
		}
	}
	c.pos += int64(n)
	if !c.broken && c.hashed == c.size && (err == io.EOF || c.pos == c.size) {
		var got replica.Hash
		c.h.Sum(got[:0])
		c.broken = true // compare once
		if got != c.want {
			c.onCorrupt()
			return n, fmt.Errorf("engine: %w", blobs.ErrCorrupt)
		}
	}
	return n, err
}

func (c *checkedReader) Seek(offset int64, whence int) (int64, error) {
	p, err := c.r.Seek(offset, whence)
	if err == nil {
		c.pos = p
	}
	return p, err
}

func (c *checkedReader) Close() error {
	c.unpin()
	return c.r.Close()
}

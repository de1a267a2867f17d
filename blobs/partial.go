package blobs

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"lukechampine.com/blake3"

	"github.com/docsnode/docsnode/replica"
)

// Partial writes a blob that is being fetched, in order, under .partial/,
// outside the names of complete blobs. It knows the hash and the length
// the content must have: it refuses bytes beyond the length, and Finish
// installs the blob only when the whole content hashes to its name.
// Partial data left by Close is resumed by the next BeginFetch. A blob
// small enough for the small-blob database (Options.SmallMax) is collected
// in memory instead, and a fetch of it starts over.
//
// A Partial is used by one goroutine.
type Partial struct {
	s    *Store
	hash replica.Hash
	size uint64
	f    vfs.File // nil for a small blob, collected in buf
	buf  []byte
	h    hash.Hash
	off  uint64
	done bool
}

// BeginFetch starts or resumes writing the blob with hash h and length
// size. Bytes a previous fetch left are kept (Offset says how many) and
// hashed again, so the final check covers them. At most one Partial per
// hash is open at once (ErrFetching).
func (s *Store) BeginFetch(h replica.Hash, size uint64) (*Partial, error) {
	if size > uint64(s.maxSize) {
		return nil, fmt.Errorf("begin fetch of %x…: %w: %d bytes, the limit is %d", h[:5], ErrTooLarge, size, s.maxSize)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if _, busy := s.fetching[h]; busy {
		s.mu.Unlock()
		return nil, fmt.Errorf("begin fetch of %x…: %w", h[:5], ErrFetching)
	}
	s.fetching[h] = struct{}{}
	s.mu.Unlock()
	p, err := s.openPartial(h, size)
	if err != nil {
		s.release(h)
		return nil, fmt.Errorf("begin fetch of %x…: %w", h[:5], err)
	}
	return p, nil
}

func (s *Store) openPartial(h replica.Hash, size uint64) (*Partial, error) {
	if s.small.fits(size) {
		// A partial file left by a store that kept small blobs in files
		// would read as Incomplete forever.
		if err := s.fs.Remove(s.partialPath(h)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return &Partial{s: s, hash: h, size: size, buf: make([]byte, 0, size), h: blake3.New(32, nil)}, nil
	}
	path := s.partialPath(h)
	f, err := s.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &Partial{s: s, hash: h, size: size, f: f, h: blake3.New(32, nil)}
	if uint64(st.Size()) > size {
		// Left by a fetch for another length: useless. Create replaces
		// it with an empty file.
		f.Close()
		if p.f, err = s.fs.Create(path, vfs.WriteCategoryUnspecified); err != nil {
			return nil, err
		}
	} else if st.Size() > 0 {
		n, err := io.Copy(p.h, io.NewSectionReader(f, 0, st.Size()))
		if err != nil {
			f.Close()
			return nil, err
		}
		p.off = uint64(n)
	}
	return p, nil
}

func (s *Store) release(h replica.Hash) {
	s.mu.Lock()
	delete(s.fetching, h)
	s.mu.Unlock()
}

// Offset is how many bytes the partial blob holds: where a fetch resumes.
func (p *Partial) Offset() uint64 { return p.off }

// Size is the length the blob must have.
func (p *Partial) Size() uint64 { return p.size }

// Write appends content. It refuses (ErrTooLarge) a write that would go
// beyond the blob's length, and writes none of it.
func (p *Partial) Write(b []byte) (int, error) {
	if p.done {
		return 0, ErrClosed
	}
	if uint64(len(b)) > p.size-p.off {
		return 0, fmt.Errorf("%w: more than the entry's %d bytes", ErrTooLarge, p.size)
	}
	if p.f == nil {
		p.buf = append(p.buf, b...)
		p.h.Write(b)
		p.off += uint64(len(b))
		return len(b), nil
	}
	n, err := p.f.WriteAt(b, int64(p.off))
	p.h.Write(b[:n])
	p.off += uint64(n)
	return n, err
}

// Finish checks that the content is whole and hashes to its name and
// installs it under its name. Like Put, it leaves the fsync to the
// background sync within FlushInterval; the wanted set is synced after the
// blobs in each round, so a want removed after Finish is never durable
// before the blob it waited for. On
// a hash mismatch the partial data is dropped (ErrHashMismatch); when
// bytes are missing it is kept for a resume (ErrLength). The Partial is
// closed either way.
func (p *Partial) Finish() error {
	if p.done {
		return ErrClosed
	}
	if p.off != p.size {
		p.Close()
		return fmt.Errorf("finish %x…: %w: %d of %d bytes", p.hash[:5], ErrLength, p.off, p.size)
	}
	var sum replica.Hash
	p.h.Sum(sum[:0])
	if sum != p.hash {
		p.Discard()
		return fmt.Errorf("finish %x…: %w", p.hash[:5], ErrHashMismatch)
	}
	p.done = true
	defer p.s.release(p.hash)
	if p.f == nil {
		if err := p.s.putSmall(p.hash, p.buf, false); err != nil {
			return fmt.Errorf("finish %x…: %w", p.hash[:5], err)
		}
		p.buf = nil
		return nil
	}
	err := p.f.Close()
	if err == nil {
		err = p.s.install(p.s.partialPath(p.hash), p.hash, false)
	}
	if err != nil {
		p.s.fs.Remove(p.s.partialPath(p.hash))
		return fmt.Errorf("finish %x…: %w", p.hash[:5], err)
	}
	return nil
}

// Close stops writing and keeps the data for a later resume. It is a
// no-op after Finish or Discard.
func (p *Partial) Close() error {
	if p.done {
		return nil
	}
	p.done = true
	defer p.s.release(p.hash)
	if p.f == nil {
		p.buf = nil
		return nil
	}
	return p.f.Close()
}

// Discard stops writing and removes the partial data. It is a no-op
// after Finish or Close.
func (p *Partial) Discard() error {
	if p.done {
		return nil
	}
	p.done = true
	defer p.s.release(p.hash)
	if p.f == nil {
		p.buf = nil
		return nil
	}
	p.f.Close()
	err := p.s.fs.Remove(p.s.partialPath(p.hash))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

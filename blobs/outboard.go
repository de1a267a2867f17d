package blobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"lukechampine.com/blake3/bao"

	"github.com/docsnode/docsnode/internal/readseek"
	"github.com/docsnode/docsnode/replica"
)

// outboardSuffix names a blob's outboard, beside its data file.
const outboardSuffix = ".obao"

// maxMemOutboard is the largest outboard built in memory before it is
// written out in one piece; a larger one is written to its file as it is
// computed.
const maxMemOutboard = 8 << 20

func (s *Store) outboardPath(h replica.Hash) string { return s.path(h) + outboardSuffix }

// GroupLog is the store's chunk group: groups of 1024<<GroupLog bytes.
func (s *Store) GroupLog() uint8 { return s.groupLog }

// encodeOutboard computes the tree of the n bytes of data, writes its
// outboard to a new file at obPath, and returns the root: the content's
// hash. With durable the file is synced.
func (s *Store) encodeOutboard(data io.Reader, n int64, obPath string, durable bool) (replica.Hash, error) {
	t := newTree(uint64(n), s.groupLog)
	f, err := s.fs.Create(obPath, vfs.WriteCategoryUnspecified)
	if err != nil {
		return replica.Hash{}, err
	}
	var root [32]byte
	if t.outboardSize() <= maxMemOutboard {
		mem := &memWriterAt{b: make([]byte, t.outboardSize())}
		if root, err = bao.Encode(mem, data, n, int(s.groupLog), true); err == nil {
			_, err = f.Write(mem.b)
		}
	} else {
		root, err = bao.Encode(fileWriterAt{f}, data, n, int(s.groupLog), true)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.fs.Remove(obPath)
		return replica.Hash{}, err
	}
	return replica.Hash(root), nil
}

type memWriterAt struct{ b []byte }

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, io.ErrShortWrite
	}
	return copy(m.b[off:], p), nil
}

type fileWriterAt struct{ f vfs.File }

func (w fileWriterAt) WriteAt(p []byte, off int64) (int, error) { return w.f.WriteAt(p, off) }

// blobTree is a stored blob opened for checked reads: its data, its
// outboard and its shape. Close it after use.
type blobTree struct {
	hash     replica.Hash
	tree     groupTree
	data     io.ReaderAt
	outboard io.ReaderAt
	closers  []io.Closer
}

func (b *blobTree) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// source reads the blob's nodes at their offsets, through caches that
// read ahead, as a walk in pre-order reads both files in increasing order.
func (b *blobTree) source() localSource {
	return localSource{data: &cachedReaderAt{r: b.data, size: dataReadAhead},
		outboard: &cachedReaderAt{r: b.outboard, size: outboardReadAhead}, t: b.tree}
}

// openTree opens the stored blob h for checked reads. A small blob's
// outboard is computed in memory; a file blob whose outboard is missing or
// of the wrong size (a store from before outboards, or a crash between
// the two renames) gets it rebuilt, and a blob that does not hash to its
// name is removed (ErrCorrupt). ErrNotFound when h is not held.
func (s *Store) openTree(h replica.Hash) (*blobTree, error) {
	if s.small != nil {
		b, ok, err := s.small.get(h)
		if err != nil {
			return nil, err
		}
		if ok {
			ob, root := bao.EncodeBuf(b, int(s.groupLog), true)
			if replica.Hash(root) != h {
				s.small.delete(h)
				return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrCorrupt)
			}
			return &blobTree{hash: h, tree: newTree(uint64(len(b)), s.groupLog),
				data: bytes.NewReader(b), outboard: bytes.NewReader(ob)}, nil
		}
	}
	f, size, err := openFileBlob(s.fs, s.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	t := newTree(uint64(size), s.groupLog)
	ob, err := s.fs.Open(s.outboardPath(h))
	if err == nil {
		if st, serr := ob.Stat(); serr != nil || uint64(st.Size()) != t.outboardSize() {
			ob.Close()
			err = os.ErrNotExist
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		ob, err = s.rebuildOutboard(h, f, size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &blobTree{hash: h, tree: t, data: f, outboard: ob, closers: []io.Closer{f, ob}}, nil
}

// rebuildOutboard computes the outboard of the stored blob h from its
// data, checking the data against the name on the way.
func (s *Store) rebuildOutboard(h replica.Hash, data io.ReaderAt, size int64) (vfs.File, error) {
	tmp := s.fs.PathJoin(s.dir, tmpDir, tmpName("outboard"))
	root, err := s.encodeOutboard(io.NewSectionReader(data, 0, size), size, tmp, false)
	if err != nil {
		return nil, err
	}
	if root != h {
		s.fs.Remove(tmp)
		s.fs.Remove(s.path(h))
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrCorrupt)
	}
	if err := s.fs.Rename(tmp, s.outboardPath(h)); err != nil {
		s.fs.Remove(tmp)
		return nil, err
	}
	s.markUnsynced(s.outboardPath(h))
	return s.fs.Open(s.outboardPath(h))
}

// cachedReaderAt serves small reads in increasing order, the way a walk
// of the tree reads a blob, from a window of size bytes read ahead in one
// piece.
type cachedReaderAt struct {
	r    io.ReaderAt
	size int
	buf  []byte
	off  int64 // of buf[0]
}

const (
	outboardReadAhead = 64 << 10
	dataReadAhead     = 256 << 10
)

func (c *cachedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.off && off+int64(len(p)) <= c.off+int64(len(c.buf)) {
		return copy(p, c.buf[off-c.off:]), nil
	}
	if len(p) > c.size {
		return c.r.ReadAt(p, off)
	}
	if c.buf == nil {
		c.buf = make([]byte, c.size)
	}
	c.buf = c.buf[:cap(c.buf)]
	n, err := c.r.ReadAt(c.buf, off)
	c.buf, c.off = c.buf[:n], off
	if n >= len(p) {
		return copy(p, c.buf), nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return copy(p, c.buf), err
}

// checkedReader reads a stored blob, checking through the outboard the
// groups each read touches, a window of them at a time; the whole blob is
// never hashed to read a part of it. A group that fails the check ends
// the read with ErrCorrupt, and onCorrupt runs (once).
type checkedReader struct {
	bt        *blobTree
	src       localSource
	pos       int64
	win       []byte // the checked bytes of groups [winLo, winHi)
	winLo     uint64
	winHi     uint64
	winGroups uint64
	gbuf      []byte
	onCorrupt func()
	err       error // sticky: corruption found
}

// readWindow is how much a checkedReader checks and buffers at once.
const readWindow = 256 << 10

func newCheckedReader(bt *blobTree, onCorrupt func()) *checkedReader {
	gs := bt.tree.groupSize()
	return &checkedReader{bt: bt, src: bt.source(), winGroups: max(1, readWindow/gs),
		gbuf: make([]byte, gs), onCorrupt: onCorrupt}
}

// Size is the blob's length.
func (c *checkedReader) Size() int64 { return int64(c.bt.tree.size) }

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	t := c.bt.tree
	if c.pos >= int64(t.size) {
		return 0, io.EOF
	}
	g := uint64(c.pos) / t.groupSize()
	if c.win == nil || g < c.winLo || g >= c.winHi {
		lo, hi := g, min(g+c.winGroups, t.groups())
		w := &collectSink{data: c.win[:0]}
		if err := t.verify(c.bt.hash, lo, hi, c.src, w, c.gbuf); err != nil {
			c.win = nil
			if errors.Is(err, ErrHashMismatch) {
				c.err = fmt.Errorf("blob %x…: %w (%v)", c.bt.hash[:5], ErrCorrupt, err)
				if c.onCorrupt != nil {
					c.onCorrupt()
				}
				return 0, c.err
			}
			return 0, err
		}
		c.win, c.winLo, c.winHi = w.data, lo, hi
	}
	start, _ := t.groupSpan(c.winLo)
	n := copy(p, c.win[uint64(c.pos)-start:])
	c.pos += int64(n)
	return n, nil
}

func (c *checkedReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := readseek.Offset(c.pos, int64(c.bt.tree.size), offset, whence)
	if err != nil {
		return 0, err
	}
	c.pos = pos
	return pos, nil
}

func (c *checkedReader) Close() error { return c.bt.Close() }

// collectSink appends the groups it is given.
type collectSink struct{ data []byte }

func (c *collectSink) parent(uint64, *[64]byte) error { return nil }

func (c *collectSink) group(_ uint64, p []byte) error {
	c.data = append(c.data, p...)
	return nil
}

package blobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// Partial holds a blob that is being fetched, under .partial/, outside the
// names of complete blobs: the data file, written at the offsets of the
// groups as they arrive, the outboard, written as the parents arrive, and a
// bitfield of the groups verified. Nothing is written before it was
// checked against the blob's hash (tree.go), so every group the bitfield
// names is good, and Finish installs the blob once every group is there.
//
// The bitfield is persisted after the data and outboard are synced, every
// PersistEvery bytes and on Close; after a restart, BeginFetch resumes with
// exactly the groups not yet verified (Missing), whoever fetches them. A
// blob small enough for the small-blob database (Options.SmallMax) is
// collected in memory instead, and a fetch of it starts over.
//
// Its methods are safe for concurrent use: several fetches from several
// peers may fill one Partial at once.
type Partial struct {
	s    *Store
	hash replica.Hash
	tree groupTree

	data, ob vfs.File // nil for a small blob, collected in buf
	bitsF    vfs.File
	buf      []byte

	mu        sync.Mutex
	have      []uint64 // bitfield of verified groups
	held      uint64   // groups verified
	heldBytes uint64
	sinceSync uint64 // bytes verified since the bitfield was persisted
	done      bool
	persistMu sync.Mutex // one persist at a time
	// persisting says a background persist runs (under mu); persistWG
	// joins it.
	persisting bool
	persistWG  sync.WaitGroup
}

// PersistEvery is how many bytes a fetch verifies between two syncs of a
// partial blob and its bitfield: what a crash can make it fetch again.
const PersistEvery = 16 << 20

// bitsMagic starts a partial blob's bitfield file.
const bitsMagic = "DNPB"

// bitsHeader is magic(4) version(1)=1 groupLog(1) size(8, little-endian).
const bitsHeader = 4 + 1 + 1 + 8

// BeginFetch starts or resumes the blob with hash h and length size.
// Groups a previous fetch verified are kept (Missing lists the others). At
// most one Partial per hash is open at once (ErrFetching).
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
	s.fetching[h] = nil
	s.mu.Unlock()
	p, err := s.openPartial(h, size)
	if err != nil {
		s.release(h)
		return nil, fmt.Errorf("begin fetch of %x…: %w", h[:5], err)
	}
	s.mu.Lock()
	s.fetching[h] = p
	s.mu.Unlock()
	return p, nil
}

func (s *Store) partialPaths(h replica.Hash) (data, ob, bits string) {
	base := s.partialPath(h)
	return base, base + outboardSuffix, base + ".bits"
}

func (s *Store) openPartial(h replica.Hash, size uint64) (*Partial, error) {
	t := newTree(size, s.groupLog)
	p := &Partial{s: s, hash: h, tree: t, have: make([]uint64, (t.groups()+63)/64)}
	dataPath, obPath, bitsPath := s.partialPaths(h)
	if s.small.fits(size) {
		// Partial files left by a store that kept small blobs in files
		// would read as Incomplete forever.
		for _, path := range []string{dataPath, obPath, bitsPath} {
			if err := s.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		p.buf = make([]byte, size)
		return p, nil
	}
	resumed := p.loadBits(bitsPath)
	var err error
	open := func(path string) (vfs.File, error) {
		if resumed {
			return s.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
		}
		return s.fs.Create(path, vfs.WriteCategoryUnspecified)
	}
	if p.data, err = open(dataPath); err == nil {
		if p.ob, err = open(obPath); err == nil {
			p.bitsF, err = open(bitsPath)
		}
	}
	if err == nil && !resumed {
		// A fresh bitfield, all clear, so that Incomplete is seen once a
		// group is verified.
		_, err = p.bitsF.WriteAt(p.bitsBytes(), 0)
	}
	if err != nil {
		p.closeFiles()
		return nil, err
	}
	return p, nil
}

// loadBits reads the bitfield a previous fetch persisted, and reports
// whether it belongs to a fetch of this blob at this length and group.
func (p *Partial) loadBits(path string) bool {
	b, err := readFile(p.s.fs, path)
	if err != nil || len(b) != bitsHeader+len(p.have)*8 || string(b[:4]) != bitsMagic ||
		b[4] != 1 || b[5] != p.tree.groupLog || binary.LittleEndian.Uint64(b[6:]) != p.tree.size {
		return false
	}
	for i := range p.have {
		p.have[i] = binary.LittleEndian.Uint64(b[bitsHeader+8*i:])
	}
	// Bits past the last group are never set.
	if extra := uint64(len(p.have))*64 - p.tree.groups(); extra > 0 {
		p.have[len(p.have)-1] &= ^uint64(0) >> extra
	}
	for i := uint64(0); i < p.tree.groups(); i++ {
		if p.has(i) {
			p.held++
			_, n := p.tree.groupSpan(i)
			p.heldBytes += n
		}
	}
	return true
}

// bitsBytes encodes the bitfield file. Called with mu held, or before the
// Partial is shared.
func (p *Partial) bitsBytes() []byte {
	b := make([]byte, bitsHeader, bitsHeader+8*len(p.have))
	copy(b, bitsMagic)
	b[4], b[5] = 1, p.tree.groupLog
	binary.LittleEndian.PutUint64(b[6:], p.tree.size)
	for _, w := range p.have {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

func (p *Partial) has(i uint64) bool { return p.have[i/64]&(1<<(i%64)) != 0 }

func (s *Store) release(h replica.Hash) {
	s.mu.Lock()
	delete(s.fetching, h)
	s.mu.Unlock()
}

// Hash is the hash of the blob being fetched.
func (p *Partial) Hash() replica.Hash { return p.hash }

// Size is the length the blob must have.
func (p *Partial) Size() uint64 { return p.tree.size }

// Groups is the number of chunk groups of the blob.
func (p *Partial) Groups() uint64 { return p.tree.groups() }

// GroupLog is the chunk group of the fetch: groups of 1024<<GroupLog bytes.
func (p *Partial) GroupLog() uint8 { return p.tree.groupLog }

// Held is how many bytes of the blob are verified and held.
func (p *Partial) Held() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heldBytes
}

// Complete reports whether every group is held.
func (p *Partial) Complete() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held == p.tree.groups()
}

// Range is a range of chunk groups [Start, End).
type Range struct{ Start, End uint64 }

// Len is the number of groups in the range.
func (r Range) Len() uint64 { return r.End - r.Start }

// Missing lists the groups not yet held, in order, as ranges.
func (p *Partial) Missing() []Range {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.missingIn(0, p.tree.groups())
}

// missingIn lists the groups of [lo, hi) not held. Called with mu held.
func (p *Partial) missingIn(lo, hi uint64) []Range {
	var out []Range
	for i := lo; i < hi; {
		w := p.have[i/64] >> (i % 64)
		if w&1 != 0 {
			i += max(1, uint64(bits.TrailingZeros64(^w)))
			continue
		}
		start := i
		for i < hi && !p.has(i) {
			i++
		}
		out = append(out, Range{start, min(i, hi)})
	}
	return out
}

// MissingIn lists the groups of [lo, hi) not yet held.
func (p *Partial) MissingIn(lo, hi uint64) []Range {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.missingIn(lo, min(hi, p.tree.groups()))
}

// partialSink writes verified nodes into the Partial. It gathers
// consecutive groups and parents and writes them in pieces of up to
// sinkBuffer bytes; flush writes what it holds, the parents first, and
// only then marks the groups held, so a group is never marked before its
// bytes and the proofs above it are written. The caller flushes after the
// check ends, whether it failed or not: the groups before a bad one count.
type partialSink struct {
	p       *Partial
	obOff   uint64 // outboard offset of obBuf[0]
	obBuf   []byte
	dataOff uint64 // blob offset of data[0]
	data    []byte
	lo, hi  uint64 // the groups in data
}

// sinkBuffer bounds the bytes a partialSink holds before it writes.
const sinkBuffer = 512 << 10

func (w *partialSink) parent(off uint64, node *[64]byte) error {
	if w.p.ob == nil {
		return nil // a small blob keeps no outboard
	}
	if len(w.obBuf) > 0 && (off != w.obOff+uint64(len(w.obBuf)) || len(w.obBuf) >= outboardReadAhead) {
		if err := w.flushParents(); err != nil {
			return err
		}
	}
	if len(w.obBuf) == 0 {
		w.obOff = off
	}
	w.obBuf = append(w.obBuf, node[:]...)
	return nil
}

func (w *partialSink) flushParents() error {
	if len(w.obBuf) == 0 {
		return nil
	}
	_, err := w.p.ob.WriteAt(w.obBuf, int64(w.obOff))
	w.obBuf = w.obBuf[:0]
	return err
}

func (w *partialSink) group(i uint64, b []byte) error {
	off, _ := w.p.tree.groupSpan(i)
	if w.hi > w.lo && (i != w.hi || len(w.data)+len(b) > sinkBuffer) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.hi == w.lo {
		w.lo, w.hi, w.dataOff = i, i, off
	}
	w.data = append(w.data, b...)
	w.hi = i + 1
	return nil
}

// flush writes the parents and groups held and marks the groups.
func (w *partialSink) flush() error {
	p := w.p
	if err := w.flushParents(); err != nil {
		return err
	}
	if w.hi == w.lo {
		return nil
	}
	lo, hi := w.lo, w.hi
	w.lo, w.hi = 0, 0
	data := w.data
	w.data = w.data[:0]
	if p.data == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.done {
			return ErrClosed
		}
		copy(p.buf[w.dataOff:], data)
		for i := lo; i < hi; i++ {
			_, n := p.tree.groupSpan(i)
			p.mark(i, n)
		}
		return nil
	}
	if _, err := p.data.WriteAt(data, int64(w.dataOff)); err != nil {
		return err
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return ErrClosed
	}
	for i := lo; i < hi; i++ {
		_, n := p.tree.groupSpan(i)
		p.mark(i, n)
	}
	persist := p.sinceSync >= PersistEvery && !p.persisting
	if persist {
		p.persisting = true
		p.sinceSync = 0
	}
	p.mu.Unlock()
	if persist {
		// In the background: the fetch goes on writing while the files
		// are synced.
		p.persistWG.Go(func() {
			p.persist()
			p.mu.Lock()
			p.persisting = false
			p.mu.Unlock()
		})
	}
	return nil
}

// mark records group i, of n bytes, as held. Called with mu held.
func (p *Partial) mark(i, n uint64) {
	if p.has(i) {
		return
	}
	p.have[i/64] |= 1 << (i % 64)
	p.held++
	p.heldBytes += n
	p.sinceSync += n
}

// persist syncs the data and the outboard, then writes the bitfield: a
// bit on disk never names a group whose bytes are not. The bitfield
// itself is not synced: a bit lost in a crash costs a group fetched again.
func (p *Partial) persist() error {
	p.persistMu.Lock()
	defer p.persistMu.Unlock()
	if p.data == nil {
		return nil
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	snapshot := p.bitsBytes()
	p.sinceSync = 0
	p.mu.Unlock()
	if err := p.data.Sync(); err != nil {
		return err
	}
	if err := p.ob.Sync(); err != nil {
		return err
	}
	_, err := p.bitsF.WriteAt(snapshot, 0)
	return err
}

// errStopped ends a slice read at a group another fetch took over.
var errStopped = errors.New("blobs: the rest of the range was handed to another peer")

// stopSource ends a read at the first group at or past stop, and keeps at
// on the group being read; either may be nil.
type stopSource struct {
	nodeSource
	stop, at *atomic.Uint64
}

func (s stopSource) group(i uint64, b []byte) error {
	if s.stop != nil && i >= s.stop.Load() {
		return errStopped
	}
	if s.at != nil {
		s.at.Store(i)
	}
	return s.nodeSource.group(i, b)
}

// ReadSlice reads the encoding of groups [lo, hi) from r (tree.go),
// checks every node as it arrives and writes the groups that match. It
// stops at the first node that does not match, with an error wrapping
// ErrHashMismatch: the groups before it are kept, and nothing of it or
// after it is written. buf must hold a group (nil allocates one).
func (p *Partial) ReadSlice(r io.Reader, lo, hi uint64, buf []byte) error {
	return p.readSlice(r, lo, hi, nil, nil, buf)
}

func (p *Partial) readSlice(r io.Reader, lo, hi uint64, stop, at *atomic.Uint64, buf []byte) error {
	if hi > p.tree.groups() || lo >= hi {
		return fmt.Errorf("%w: groups [%d,%d) of %d", ErrMalformed, lo, hi, p.tree.groups())
	}
	if uint64(len(buf)) < p.tree.groupSize() {
		buf = make([]byte, p.tree.groupSize())
	}
	src := stopSource{streamSource{r: r, t: p.tree}, stop, at}
	sink := &partialSink{p: p}
	err := p.tree.verify(p.hash, lo, hi, src, sink, buf)
	return errors.Join(err, sink.flush())
}

// ReadAt reads verified bytes of the blob: p must lie in groups held.
func (p *Partial) ReadAt(b []byte, off int64) (int, error) {
	lo, hi := p.tree.groupsOf(uint64(off), uint64(len(b)))
	if len(p.MissingIn(lo, hi)) > 0 {
		return 0, fmt.Errorf("blobs: read of groups [%d,%d): not all held", lo, hi)
	}
	if p.data == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return copy(b, p.buf[off:]), nil
	}
	return p.data.ReadAt(b, off)
}

// Finish installs the blob under its name once every group is held. Like
// Put, it leaves the fsync to the background sync within FlushInterval;
// the wanted set is synced after the blobs in each round, so a want
// removed after Finish is never durable before the blob it waited for.
// When groups are missing it fails with ErrLength and keeps what is held
// for a resume. The Partial is closed either way.
func (p *Partial) Finish() error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.held != p.tree.groups() {
		held, groups := p.held, p.tree.groups()
		p.mu.Unlock()
		p.Close()
		return fmt.Errorf("finish %x…: %w: %d of %d chunk groups", p.hash[:5], ErrLength, held, groups)
	}
	p.done = true
	p.mu.Unlock()
	p.persistWG.Wait()
	defer p.s.release(p.hash)
	if p.data == nil {
		if err := p.s.putSmall(p.hash, p.buf, false); err != nil {
			return fmt.Errorf("finish %x…: %w", p.hash[:5], err)
		}
		p.buf = nil
		return nil
	}
	dataPath, obPath, bitsPath := p.s.partialPaths(p.hash)
	err := p.closeFiles()
	if err == nil {
		err = p.s.install(dataPath, obPath, p.hash, false)
	}
	p.s.fs.Remove(bitsPath)
	if err != nil {
		p.s.fs.Remove(dataPath)
		p.s.fs.Remove(obPath)
		return fmt.Errorf("finish %x…: %w", p.hash[:5], err)
	}
	return nil
}

func (p *Partial) closeFiles() error {
	var errs []error
	for _, f := range []vfs.File{p.data, p.ob, p.bitsF} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// Close stops writing and keeps what is held for a later resume: the
// files are synced and the bitfield written. It is a no-op after Finish
// or Discard.
func (p *Partial) Close() error {
	p.persistWG.Wait()
	err := p.persist()
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	p.mu.Unlock()
	defer p.s.release(p.hash)
	p.buf = nil
	return errors.Join(err, p.closeFiles())
}

// Discard stops writing and removes the partial data. It is a no-op
// after Finish or Close.
func (p *Partial) Discard() error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	p.mu.Unlock()
	p.persistWG.Wait()
	defer p.s.release(p.hash)
	p.buf = nil
	p.closeFiles()
	var errs []error
	dataPath, obPath, bitsPath := p.s.partialPaths(p.hash)
	for _, path := range []string{dataPath, obPath, bitsPath} {
		if err := p.s.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// partialHeld is how many bytes of the blob h of length size the bitfield
// of its partial blob, as last persisted, names as held.
func (s *Store) partialHeld(h replica.Hash, size uint64) uint64 {
	_, _, bitsPath := s.partialPaths(h)
	p := &Partial{s: s, hash: h, tree: newTree(size, s.groupLog)}
	p.have = make([]uint64, (p.tree.groups()+63)/64)
	if !p.loadBits(bitsPath) {
		return 0
	}
	return p.heldBytes
}

package blobs

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"lukechampine.com/blake3/guts"

	"github.com/docsnode/docsnode/replica"
)

// A blob's BLAKE3 hash is the root of a binary tree over its 1 KiB chunks.
// The store cuts that tree at chunk groups of 1024<<GroupLog bytes: the
// nodes above the groups (parents, 64 bytes each: the chaining values of
// their two children) are the blob's outboard, and a group is the smallest
// piece of content that can be checked on its own, against the chaining
// value its parent holds. Checking a group costs its parents on the way
// down from the root, so a reader or a fetch checks every group as it
// arrives, and a peer that lies is caught within one group.
//
// The outboard is Bao's outboard encoding: the blob's length as 8 bytes
// little-endian, then the parents in pre-order (a parent, its left subtree,
// its right subtree). A tree of n groups has n-1 parents. A slice of groups
// [lo, hi) on the wire is Bao's slice encoding without its length header:
// in pre-order, every parent whose span meets the slice and every group in
// it, so that a reader holding only the root checks the slice as it
// streams in.

// DefaultGroupLog makes chunk groups of 16 KiB (16 chunks of 1 KiB).
const DefaultGroupLog = 4

// MaxGroupLog bounds the chunk group at 1 MiB.
const MaxGroupLog = 10

// groupTree is the shape of one blob's tree.
type groupTree struct {
	size     uint64
	groupLog uint8
}

func newTree(size uint64, groupLog uint8) groupTree {
	return groupTree{size: size, groupLog: groupLog}
}

// groupSize is the length of every group but maybe the last.
func (t groupTree) groupSize() uint64 { return guts.ChunkSize << t.groupLog }

// groups is the number of groups; an empty blob has one, empty.
func (t groupTree) groups() uint64 {
	if t.size == 0 {
		return 1
	}
	return (t.size + t.groupSize() - 1) / t.groupSize()
}

// outboardSize is the length of the outboard.
func (t groupTree) outboardSize() uint64 { return 8 + 64*(t.groups()-1) }

// groupSpan is the byte range of group i.
func (t groupTree) groupSpan(i uint64) (off, n uint64) {
	off = i * t.groupSize()
	return off, min(t.groupSize(), t.size-off)
}

// groupsOf is the range of groups that holds the bytes [off, off+n).
func (t groupTree) groupsOf(off, n uint64) (lo, hi uint64) {
	if n == 0 {
		return 0, 0
	}
	return off / t.groupSize(), (off + n + t.groupSize() - 1) / t.groupSize()
}

// sliceSize is the length of the encoding of groups [lo, hi).
func (t groupTree) sliceSize(lo, hi uint64) uint64 {
	var n uint64
	t.walk(lo, hi, func(uint64) { n += 64 }, func(i uint64) {
		_, gn := t.groupSpan(i)
		n += gn
	})
	return n
}

// walk calls parent with the outboard offset of each parent whose span
// meets groups [lo, hi), and group with the index of each group in it, in
// pre-order: the order of the slice encoding.
func (t groupTree) walk(lo, hi uint64, parent func(off uint64), group func(i uint64)) {
	gs := t.groupSize()
	var rec func(pos, n, off uint64)
	rec = func(pos, n, off uint64) {
		if pos/gs >= hi || (pos+n+gs-1)/gs <= lo && n > 0 {
			return
		}
		if n <= gs {
			group(pos / gs)
			return
		}
		parent(off)
		mid := splitPoint(n)
		rec(pos, mid, off+64)
		rec(pos+mid, n-mid, off+64+64*(mid/gs-1))
	}
	if t.size == 0 {
		if lo == 0 && hi > 0 {
			group(0)
		}
		return
	}
	rec(0, t.size, 8)
}

// splitPoint is the length of the left subtree of a node over n bytes, more
// than one group: the largest power of two below n.
func splitPoint(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// nodeSource yields the nodes a check visits.
type nodeSource interface {
	// parent fills p with the parent at outboard offset off.
	parent(off uint64, p *[64]byte) error
	// group fills p, the group's length, with group i.
	group(i uint64, p []byte) error
}

// nodeSink takes the nodes a check verified, in pre-order.
type nodeSink interface {
	parent(off uint64, p *[64]byte) error
	group(i uint64, p []byte) error
}

// errGroup is a group or parent that does not match the chaining value
// above it. It wraps ErrHashMismatch.
type errGroup struct {
	group uint64 // the first group under the node that failed
}

func (e *errGroup) Error() string {
	return fmt.Sprintf("%v: at chunk group %d", ErrHashMismatch, e.group)
}

func (e *errGroup) Unwrap() error { return ErrHashMismatch }

// verify checks groups [lo, hi) of the blob with hash root: it takes the
// nodes from src in pre-order, checks each against the chaining value
// above it, and hands each to dst once checked, so dst never sees a byte
// that did not match. It stops at the first node that fails, with an
// *errGroup, or at the first error of src or dst. buf must hold a group.
func (t groupTree) verify(root replica.Hash, lo, hi uint64, src nodeSource, dst nodeSink, buf []byte) error {
	gs := t.groupSize()
	var node [64]byte
	var rec func(cv [8]uint32, pos, n, off uint64, flags uint32) error
	rec = func(cv [8]uint32, pos, n, off uint64, flags uint32) error {
		if pos/gs >= hi || (pos+n+gs-1)/gs <= lo && n > 0 {
			return nil
		}
		if n <= gs {
			i := pos / gs
			p := buf[:n]
			if err := src.group(i, p); err != nil {
				return err
			}
			g := groupNode(p, pos/guts.ChunkSize)
			g.Flags |= flags
			if guts.ChainingValue(g) != cv {
				return &errGroup{group: i}
			}
			return dst.group(i, p)
		}
		if err := src.parent(off, &node); err != nil {
			return err
		}
		l, r := wordsOf(node[:32]), wordsOf(node[32:])
		if guts.ChainingValue(guts.ParentNode(l, r, &guts.IV, flags)) != cv {
			return &errGroup{group: pos / gs}
		}
		if err := dst.parent(off, &node); err != nil {
			return err
		}
		mid := splitPoint(n)
		if err := rec(l, pos, mid, off+64, 0); err != nil {
			return err
		}
		return rec(r, pos+mid, n-mid, off+64+64*(mid/gs-1), 0)
	}
	return rec(wordsOf(root[:]), 0, t.size, 8, guts.FlagRoot)
}

// groupNode is the tree node over one group's bytes p, the first of which
// is chunk number counter of the blob, without the root flag.
func groupNode(p []byte, counter uint64) guts.Node {
	const simd = guts.MaxSIMD * guts.ChunkSize
	if len(p) <= simd {
		var b [simd]byte
		copy(b[:], p)
		return guts.CompressBuffer(&b, len(p), &guts.IV, counter, 0)
	}
	mid := splitPoint(uint64(len(p)))
	l := guts.ChainingValue(groupNode(p[:mid], counter))
	r := guts.ChainingValue(groupNode(p[mid:], counter+mid/guts.ChunkSize))
	return guts.ParentNode(l, r, &guts.IV, 0)
}

func wordsOf(b []byte) (w [8]uint32) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// streamSource reads a slice encoding in order from r.
type streamSource struct {
	r io.Reader
	t groupTree
}

func (s streamSource) parent(_ uint64, p *[64]byte) error {
	_, err := io.ReadFull(s.r, p[:])
	return noEOF(err)
}

func (s streamSource) group(_ uint64, p []byte) error {
	_, err := io.ReadFull(s.r, p)
	return noEOF(err)
}

// localSource reads a stored blob's data and outboard at their offsets.
type localSource struct {
	data, outboard io.ReaderAt
	t              groupTree
}

func (s localSource) parent(off uint64, p *[64]byte) error {
	return readFullAt(s.outboard, p[:], int64(off))
}

func (s localSource) group(i uint64, p []byte) error {
	off, _ := s.t.groupSpan(i)
	return readFullAt(s.data, p, int64(off))
}

func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// sliceWriter writes verified nodes to w: the slice encoding.
type sliceWriter struct{ w io.Writer }

func (s sliceWriter) parent(_ uint64, p *[64]byte) error {
	_, err := s.w.Write(p[:])
	return err
}

func (s sliceWriter) group(_ uint64, p []byte) error {
	_, err := s.w.Write(p)
	return err
}

package blobs

import (
	"bytes"
	"fmt"
	"io"

	"lukechampine.com/blake3/bao"

	"github.com/docsnode/docsnode/replica"
)

// SliceEncoder writes the slice encoding of ranges of chunk groups of
// content it reads from an io.ReaderAt (tree.go; docs/protocol.md): what a
// server sends for them. It does not check what it reads, so tools and
// tests can make a peer that sends content other than its hash. It keeps
// the outboard in memory: 64 bytes per group.
type SliceEncoder struct {
	data     io.ReaderAt
	tree     groupTree
	outboard []byte
	root     replica.Hash
}

// NewSliceEncoder reads the size bytes of data once to build their tree in
// groups of 1024<<groupLog bytes.
func NewSliceEncoder(data io.ReaderAt, size int64, groupLog uint8) (*SliceEncoder, error) {
	if groupLog > MaxGroupLog {
		return nil, fmt.Errorf("blobs: chunk group log %d, at most %d", groupLog, MaxGroupLog)
	}
	t := newTree(uint64(size), groupLog)
	mem := &memWriterAt{b: make([]byte, t.outboardSize())}
	root, err := bao.Encode(mem, io.NewSectionReader(data, 0, size), size, int(groupLog), true)
	if err != nil {
		return nil, err
	}
	return &SliceEncoder{data: data, tree: t, outboard: mem.b, root: root}, nil
}

// Root is the content's hash.
func (e *SliceEncoder) Root() replica.Hash { return e.root }

// Groups is the number of chunk groups of the content.
func (e *SliceEncoder) Groups() uint64 { return e.tree.groups() }

// WriteSlice writes the encoding of groups r to w, reading the groups from
// the data as they are now.
func (e *SliceEncoder) WriteSlice(w io.Writer, r Range) error {
	if r.End > e.tree.groups() || r.Start >= r.End {
		return fmt.Errorf("blobs: groups [%d,%d) of %d", r.Start, r.End, e.tree.groups())
	}
	src := localSource{data: e.data, outboard: bytes.NewReader(e.outboard), t: e.tree}
	buf := make([]byte, e.tree.groupSize())
	var err error
	e.tree.walk(r.Start, r.End, func(off uint64) {
		var node [64]byte
		if err == nil {
			if err = src.parent(off, &node); err == nil {
				_, err = w.Write(node[:])
			}
		}
	}, func(i uint64) {
		_, n := e.tree.groupSpan(i)
		if err == nil {
			if err = src.group(i, buf[:n]); err == nil {
				_, err = w.Write(buf[:n])
			}
		}
	})
	return err
}

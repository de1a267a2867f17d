package blobs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"lukechampine.com/blake3/bao"
	"pgregory.net/rapid"

	"github.com/docsnode/docsnode/replica"
)

// blobOfSize is deterministic content of n bytes.
func blobOfSize(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sizeFor draws a blob size around the interesting boundaries of a tree
// of groups of gs bytes: 0, 1, gs-1, gs, gs+1, and many groups.
func sizeFor(t *rapid.T, gs int) int {
	return rapid.SampledFrom([]int{0, 1, gs - 1, gs, gs + 1, 2 * gs, 3*gs + 7, 8 * gs, 8*gs + 1,
		rapid.IntRange(0, 40*gs).Draw(t, "any")}).Draw(t, "size")
}

type flipSource struct {
	nodeSource
	flipParent, flipGroup int // the n-th node of the kind to corrupt, -1 none
	bit                   int
	parents, groups       int
}

func (f *flipSource) parent(off uint64, p *[64]byte) error {
	err := f.nodeSource.parent(off, p)
	if f.parents == f.flipParent {
		p[f.bit%64] ^= 1 << (f.bit % 8)
	}
	f.parents++
	return err
}

func (f *flipSource) group(i uint64, p []byte) error {
	err := f.nodeSource.group(i, p)
	if f.groups == f.flipGroup && len(p) > 0 {
		p[f.bit%len(p)] ^= 1 << (f.bit % 8)
	}
	f.groups++
	return err
}

// TestTreeRangesVerify: every range of groups of blobs of every shape
// verifies through an outboard made by bao.Encode, gives exactly the bytes
// of the range, encodes as bao.ExtractSlice does, and any flipped bit in a
// node of it is refused, with no byte of the bad node passed on.
func TestTreeRangesVerify(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		groupLog := uint8(rapid.IntRange(0, 5).Draw(t, "groupLog"))
		tr := newTree(0, groupLog)
		size := sizeFor(t, int(tr.groupSize()))
		data := blobOfSize(size, 1)
		ob, root := bao.EncodeBuf(data, int(groupLog), true)
		tr = newTree(uint64(size), groupLog)
		if uint64(len(ob)) != tr.outboardSize() {
			t.Fatalf("outboard of %d bytes, tree says %d", len(ob), tr.outboardSize())
		}
		if replica.Hash(root) != replica.HashContent(data) {
			t.Fatal("bao root is not the content hash")
		}
		lo := rapid.Uint64Range(0, tr.groups()-1).Draw(t, "lo")
		hi := rapid.Uint64Range(lo+1, tr.groups()).Draw(t, "hi")
		src := localSource{data: bytes.NewReader(data), outboard: bytes.NewReader(ob), t: tr}
		var enc bytes.Buffer
		buf := make([]byte, tr.groupSize())
		if err := tr.verify(root, lo, hi, src, sliceWriter{&enc}, buf); err != nil {
			t.Fatalf("range [%d,%d) of %d bytes: %v", lo, hi, size, err)
		}
		if uint64(enc.Len()) != tr.sliceSize(lo, hi) {
			t.Fatalf("slice of %d bytes, sliceSize says %d", enc.Len(), tr.sliceSize(lo, hi))
		}
		// The same bytes as bao's slice of that byte range, without its
		// length header.
		off, _ := tr.groupSpan(lo)
		end := min(hi*tr.groupSize(), uint64(size))
		var want bytes.Buffer
		var groupsData []byte
		if size > 0 {
			groupsData = data[off:end]
		}
		if err := bao.ExtractSlice(&want, bytes.NewReader(groupsData), bytes.NewReader(ob), int(groupLog), off, end-off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.Bytes(), want.Bytes()[8:]) {
			t.Fatalf("range [%d,%d) of %d bytes: slice differs from bao's", lo, hi, size)
		}
		// Decoding the slice as a stream gives the range's bytes.
		var got collectSink
		if err := tr.verify(root, lo, hi, streamSource{bytes.NewReader(enc.Bytes()), tr}, &got, buf); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !bytes.Equal(got.data, data[off:end]) {
			t.Fatal("decoded bytes differ")
		}
		// One flipped bit anywhere is refused.
		nParents := (enc.Len() - int(end-off)) / 64
		nGroups := int(hi - lo)
		which := rapid.IntRange(0, nParents+nGroups-1).Draw(t, "which")
		f := &flipSource{nodeSource: src, flipParent: -1, flipGroup: -1, bit: rapid.IntRange(0, 1<<20).Draw(t, "bit")}
		if which < nParents {
			f.flipParent = which
		} else {
			f.flipGroup = which - nParents
		}
		if size == 0 {
			return // nothing to flip
		}
		var bad collectSink
		err := tr.verify(root, lo, hi, f, &bad, buf)
		var eg *errGroup
		if !errors.As(err, &eg) || !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("flipped node %d (of %d parents, %d groups): %v", which, nParents, nGroups, err)
		}
		if !bytes.Equal(bad.data, data[off:off+uint64(len(bad.data))]) {
			t.Fatal("a corrupt byte was passed on")
		}
	})
}

// TestOutboardRebuilt: a blob whose outboard is missing (a store from
// before outboards, or a crash between the two renames) gets it built
// and checked against its name when it is opened; a blob that does not
// match its name is then removed.
func TestOutboardRebuilt(t *testing.T) {
	s := openStore(t, 1<<20)
	content := blobOfSize(100_000, 4)
	h, _, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.fs.Remove(s.outboardPath(h)); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read without an outboard: %v", err)
	}
	if st, err := s.fs.Stat(s.outboardPath(h)); err != nil || uint64(st.Size()) != newTree(uint64(len(content)), s.groupLog).outboardSize() {
		t.Fatalf("outboard not rebuilt: %v", err)
	}
	// Bad bytes and no outboard: refused and removed.
	f, err := os.OpenFile(s.path(h), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{content[0] ^ 1}, 0)
	f.Close()
	s.fs.Remove(s.outboardPath(h))
	if _, _, err := s.Open(h); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a bad blob without an outboard: %v", err)
	}
	if s.Has(h) {
		t.Fatal("a bad blob is still held")
	}
}

// TestReadChecksGroups: a read of a stored blob fails at the first group
// that does not match, after returning only good bytes, and the blob is
// removed.
func TestReadChecksGroups(t *testing.T) {
	s := openStore(t, 1<<20)
	content := blobOfSize(600_000, 6) // 37 groups of 16 KiB
	h, _, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	bad := int64(20*16<<10 + 77)
	f, err := os.OpenFile(s.path(h), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{content[bad] ^ 1}, bad)
	f.Close()
	r, _, err := s.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A part before the bad group reads fine.
	if _, err := r.Seek(16<<10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 50_000)
	if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, content[16<<10:16<<10+50_000]) {
		t.Fatalf("read before the bad group: %v", err)
	}
	r.Seek(0, io.SeekStart)
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read across the bad group: %v", err)
	}
	if int64(len(got)) > 20*16<<10 || !bytes.Equal(got, content[:len(got)]) {
		t.Fatalf("%d bytes read before the bad group at %d, or bytes that differ", len(got), bad)
	}
	if s.Has(h) {
		t.Fatal("the bad blob is still held")
	}
}

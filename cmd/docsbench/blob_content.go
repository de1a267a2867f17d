package main

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
)

// blobSeed seeds the blob scenario's value.
var blobSeed = [32]byte{'b', 'l', 'o', 'b'}

// contentBlock is the span of the value drawn from one ChaCha8 stream.
const contentBlock = 16 << 10

// blobContent is the blob scenario's value: size bytes of deterministic
// pseudo-random data. Block b (contentBlock bytes at b*contentBlock) is
// the start of the ChaCha8 stream seeded with blobSeed whose last 8 bytes
// hold b, little-endian, so any range can be made alone: p0 streams the
// value into its API and the liar serves it, and neither holds it whole.
type blobContent struct{ size int64 }

// ReadAt fills p with the value's bytes from off; it returns io.EOF with
// fewer bytes at the end of the value.
func (c blobContent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob content: negative offset")
	}
	if off >= c.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := c.size - off; int64(want) > rem {
		p = p[:rem]
	}
	var rng rand.ChaCha8
	var scratch []byte
	n := 0
	for n < len(p) {
		at := off + int64(n)
		block, in := at/contentBlock, int(at%contentBlock)
		seed := blobSeed
		binary.LittleEndian.PutUint64(seed[24:], uint64(block))
		rng.Seed(seed)
		if in == 0 && len(p)-n >= contentBlock {
			rng.Read(p[n : n+contentBlock])
			n += contentBlock
			continue
		}
		if scratch == nil {
			scratch = make([]byte, contentBlock)
		}
		rng.Read(scratch)
		n += copy(p[n:], scratch[in:])
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// The liar corrupts the chunk groups whose index is liarGroup modulo
// liarEvery.
const (
	liarEvery = 10
	liarGroup = 3
)

// liarCorrupts reports whether the liar corrupts chunk group i.
func liarCorrupts(i int64) bool { return i%liarEvery == liarGroup }

// liarData reads the value from honest and, once lying is on, flips the
// first byte of every chunk group of groupSize bytes that liarCorrupts. A
// blobs.SliceEncoder builds its tree from it while lying is off, so the
// tree is the honest one, and then sends the corrupt groups with honest
// proofs: what a peer with a damaged copy, or a lying one, would send.
type liarData struct {
	honest    io.ReaderAt
	groupSize int64
	lying     atomic.Bool
}

// ReadAt reads honest's bytes, corrupted while lying is on.
func (d *liarData) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.honest.ReadAt(p, off)
	if n == 0 || !d.lying.Load() {
		return n, err
	}
	end := off + int64(n)
	// Each group that starts within what was read.
	for g := (off + d.groupSize - 1) / d.groupSize; g*d.groupSize < end; g++ {
		if liarCorrupts(g) {
			p[g*d.groupSize-off] ^= 0xff
		}
	}
	return n, err
}

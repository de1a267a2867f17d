package recon

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
)

// Infinity is the timestamp reserved by the protocol for the upper end of the
// key space. No item may carry it.
const Infinity = math.MaxUint64

// Item is one element of a reconciled set: in docsnode, an entry's timestamp
// and the BLAKE3 hash of its signed bytes. Ids must be unique within a set:
// the protocol compares id lists by id alone.
type Item struct {
	Timestamp uint64
	ID        [32]byte
}

// Compare orders items by timestamp, then by id bytes; it returns -1, 0 or +1.
func (a Item) Compare(b Item) int {
	switch {
	case a.Timestamp < b.Timestamp:
		return -1
	case a.Timestamp > b.Timestamp:
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// Less reports whether a sorts before b.
func (a Item) Less(b Item) bool { return a.Compare(b) < 0 }

func (a Item) String() string {
	return fmt.Sprintf("%d:%s", a.Timestamp, hex.EncodeToString(a.ID[:6]))
}

// Fingerprint is the protocol's 16-byte digest of a range of items.
type Fingerprint [16]byte

// Accumulator is the sum of item ids, read as 256-bit little-endian integers,
// modulo 2^256. Sums of disjoint ranges add and subtract, which is what lets
// an index answer a range's fingerprint from per-subtree sums.
type Accumulator struct {
	limbs [4]uint64 // little-endian
}

// Add adds id to the sum.
func (a *Accumulator) Add(id [32]byte) { a.add(&id) }

// Sub removes id from the sum.
func (a *Accumulator) Sub(id [32]byte) { a.sub(&id) }

func (a *Accumulator) add(id *[32]byte) {
	var c uint64
	a.limbs[0], c = bits.Add64(a.limbs[0], binary.LittleEndian.Uint64(id[0:]), 0)
	a.limbs[1], c = bits.Add64(a.limbs[1], binary.LittleEndian.Uint64(id[8:]), c)
	a.limbs[2], c = bits.Add64(a.limbs[2], binary.LittleEndian.Uint64(id[16:]), c)
	a.limbs[3], _ = bits.Add64(a.limbs[3], binary.LittleEndian.Uint64(id[24:]), c)
}

func (a *Accumulator) sub(id *[32]byte) {
	var b uint64
	a.limbs[0], b = bits.Sub64(a.limbs[0], binary.LittleEndian.Uint64(id[0:]), 0)
	a.limbs[1], b = bits.Sub64(a.limbs[1], binary.LittleEndian.Uint64(id[8:]), b)
	a.limbs[2], b = bits.Sub64(a.limbs[2], binary.LittleEndian.Uint64(id[16:]), b)
	a.limbs[3], _ = bits.Sub64(a.limbs[3], binary.LittleEndian.Uint64(id[24:]), b)
}

// AddSum adds another accumulator's sum.
func (a *Accumulator) AddSum(o Accumulator) {
	var c uint64
	a.limbs[0], c = bits.Add64(a.limbs[0], o.limbs[0], 0)
	a.limbs[1], c = bits.Add64(a.limbs[1], o.limbs[1], c)
	a.limbs[2], c = bits.Add64(a.limbs[2], o.limbs[2], c)
	a.limbs[3], _ = bits.Add64(a.limbs[3], o.limbs[3], c)
}

// SubSum subtracts another accumulator's sum.
func (a *Accumulator) SubSum(o Accumulator) {
	var b uint64
	a.limbs[0], b = bits.Sub64(a.limbs[0], o.limbs[0], 0)
	a.limbs[1], b = bits.Sub64(a.limbs[1], o.limbs[1], b)
	a.limbs[2], b = bits.Sub64(a.limbs[2], o.limbs[2], b)
	a.limbs[3], _ = bits.Sub64(a.limbs[3], o.limbs[3], b)
}

// Bytes returns the sum as 32 little-endian bytes.
func (a Accumulator) Bytes() [32]byte {
	var out [32]byte
	for i, l := range a.limbs {
		binary.LittleEndian.PutUint64(out[8*i:], l)
	}
	return out
}

// Fingerprint returns the protocol fingerprint of a range whose ids sum to a
// and which holds count items: the first 16 bytes of
// SHA-256(sum || varint(count)).
func (a Accumulator) Fingerprint(count int) Fingerprint {
	var buf [32 + maxVarintLen]byte
	sum := a.Bytes()
	copy(buf[:], sum[:])
	n := len(appendVarint(buf[32:32], uint64(count)))
	h := sha256.Sum256(buf[:32+n])
	var fp Fingerprint
	copy(fp[:], h[:16])
	return fp
}

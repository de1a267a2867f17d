package recon

import (
	"fmt"
	"math"
)

// ProtocolVersion is the first byte of every Negentropy v1 message.
const ProtocolVersion byte = 0x61

// Range modes of the wire format.
const (
	modeSkip        = 0
	modeFingerprint = 1
	modeIDList      = 2
)

const (
	maxVarintLen = 10 // ceil(64/7)
	// maxBoundLen is the longest encoding of a bound: timestamp, prefix
	// length and a full id.
	maxBoundLen = maxVarintLen + 1 + 32
)

// appendVarint appends v as the protocol's varint: base-128 digits, most
// significant first, the high bit set on every byte but the last.
func appendVarint(b []byte, v uint64) []byte {
	var tmp [maxVarintLen]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

func varintLen(v uint64) int {
	n := 1
	for v >>= 7; v != 0; v >>= 7 {
		n++
	}
	return n
}

// decodeVarint reads one varint from the front of b and returns the value
// and the number of bytes it took. Encodings longer than needed and values
// above 2^64-1 are rejected, so every accepted value has one encoding.
func decodeVarint(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] == 0x80 {
		return 0, 0, fmt.Errorf("%w: leading zero digit", ErrVarint)
	}
	var v uint64
	for i, c := range b {
		if v > math.MaxUint64>>7 {
			return 0, 0, fmt.Errorf("%w: value exceeds 64 bits", ErrVarint)
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: varint", ErrTruncated)
}

// bound is a range boundary: the items below it are those that compare less
// than key, whose id is the wire prefix padded with zero bytes.
type bound struct {
	key       Item
	prefixLen int // id bytes on the wire, 0..32
}

var (
	zeroBound     = bound{}
	infinityBound = bound{key: Item{Timestamp: Infinity}}
)

// minimalBound returns the shortest bound that separates prev from next
// (prev < next): every item <= prev is below it and next is not.
func minimalBound(prev, next Item) bound {
	if prev.Timestamp != next.Timestamp {
		return bound{key: Item{Timestamp: next.Timestamp}}
	}
	shared := 0
	for shared < 32 && prev.ID[shared] == next.ID[shared] {
		shared++
	}
	b := bound{key: Item{Timestamp: next.Timestamp}, prefixLen: min(shared+1, 32)}
	copy(b.key.ID[:b.prefixLen], next.ID[:])
	return b
}

// encoder writes one message. Timestamps are delta-coded against the
// previous bound of the same message.
type encoder struct {
	buf    []byte
	lastTS uint64
}

func newEncoder(capHint int) *encoder {
	e := &encoder{buf: make([]byte, 0, capHint)}
	e.buf = append(e.buf, ProtocolVersion)
	return e
}

type checkpoint struct {
	n      int
	lastTS uint64
}

func (e *encoder) mark() checkpoint          { return checkpoint{len(e.buf), e.lastTS} }
func (e *encoder) reset(c checkpoint)        { e.buf, e.lastTS = e.buf[:c.n], c.lastTS }
func (e *encoder) size() int                 { return len(e.buf) }
func (e *encoder) varint(v uint64)           { e.buf = appendVarint(e.buf, v) }
func (e *encoder) fingerprint(f Fingerprint) { e.buf = append(e.buf, f[:]...) }

func (e *encoder) bound(b bound) {
	if b.key.Timestamp == Infinity {
		e.varint(0)
		e.lastTS = Infinity
	} else {
		e.varint(b.key.Timestamp - e.lastTS + 1)
		e.lastTS = b.key.Timestamp
	}
	e.varint(uint64(b.prefixLen))
	e.buf = append(e.buf, b.key.ID[:b.prefixLen]...)
}

// boundLen is the encoded size of b if written next.
func (e *encoder) boundLen(b bound) int {
	n := 1
	if b.key.Timestamp != Infinity {
		n = varintLen(b.key.Timestamp - e.lastTS + 1)
	}
	return n + 1 + b.prefixLen
}

// wireRange is one decoded range of a message.
type wireRange struct {
	upper bound
	mode  int
	fp    Fingerprint
	ids   []byte // IdList payload: 32 bytes per id, aliasing the message
}

// decoder reads the ranges of one message.
type decoder struct {
	buf    []byte
	off    int
	lastTS uint64
}

func (d *decoder) varint() (uint64, error) {
	v, n, err := decodeVarint(d.buf[d.off:])
	d.off += n
	return v, err
}

func (d *decoder) bound() (bound, error) {
	enc, err := d.varint()
	if err != nil {
		return bound{}, fmt.Errorf("bound timestamp: %w", err)
	}
	var b bound
	if enc == 0 {
		b.key.Timestamp = Infinity
	} else {
		ts := d.lastTS + (enc - 1)
		if ts < d.lastTS || ts == Infinity {
			return bound{}, fmt.Errorf("%w: bound timestamp overflows", ErrMalformed)
		}
		b.key.Timestamp = ts
	}
	d.lastTS = b.key.Timestamp
	n, err := d.varint()
	if err != nil {
		return bound{}, fmt.Errorf("bound prefix length: %w", err)
	}
	if n > 32 {
		return bound{}, fmt.Errorf("%w: bound id prefix of %d bytes (at most 32)", ErrMalformed, n)
	}
	if len(d.buf)-d.off < int(n) {
		return bound{}, fmt.Errorf("%w: bound id prefix", ErrTruncated)
	}
	b.prefixLen = int(n)
	copy(b.key.ID[:], d.buf[d.off:d.off+int(n)])
	d.off += int(n)
	return b, nil
}

// decodeMessage parses a whole message after its version byte. Bounds must
// not decrease and nothing may follow a range that ends at infinity. The
// payloads are checked against the bytes present before anything is
// allocated for them.
func decodeMessage(body []byte) ([]wireRange, error) {
	d := decoder{buf: body}
	var ranges []wireRange
	prev := zeroBound
	for d.off < len(d.buf) {
		if prev.key.Timestamp == Infinity && len(ranges) > 0 {
			return nil, fmt.Errorf("%w: range after the infinity bound", ErrBoundOrder)
		}
		var r wireRange
		var err error
		if r.upper, err = d.bound(); err != nil {
			return nil, err
		}
		if r.upper.key.Less(prev.key) {
			return nil, fmt.Errorf("%w: bound %v after %v", ErrBoundOrder, r.upper.key, prev.key)
		}
		prev = r.upper
		mode, err := d.varint()
		if err != nil {
			return nil, fmt.Errorf("range mode: %w", err)
		}
		switch mode {
		case modeSkip:
		case modeFingerprint:
			if len(d.buf)-d.off < len(r.fp) {
				return nil, fmt.Errorf("%w: fingerprint", ErrTruncated)
			}
			copy(r.fp[:], d.buf[d.off:])
			d.off += len(r.fp)
		case modeIDList:
			n, err := d.varint()
			if err != nil {
				return nil, fmt.Errorf("id list length: %w", err)
			}
			if rest := uint64(len(d.buf) - d.off); n > rest/32 {
				return nil, fmt.Errorf("%w: id list of %d ids in %d bytes", ErrTruncated, n, rest)
			}
			r.ids = d.buf[d.off : d.off+int(n)*32 : d.off+int(n)*32]
			d.off += int(n) * 32
		default:
			return nil, fmt.Errorf("%w: unknown range mode %d", ErrMalformed, mode)
		}
		r.mode = int(mode)
		ranges = append(ranges, r)
	}
	return ranges, nil
}

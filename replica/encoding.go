package replica

import (
	"encoding/binary"
	"fmt"

	"github.com/docsnode/docsnode/internal/uvarint"
)

// The entry encoding, used on the wire and in the store:
//
//	namespace(32) author(32) uvarint(len(key)) key uvarint(len) hash(32)
//	uvarint(timestamp) namespace_sig(64) author_sig(64)
//
// Varints keep small lengths and keys short; everything else is fixed size.
// Varints must be in their shortest form, so that one entry has exactly one
// encoding.

// minEncodedEntryLen is the smallest possible encoding: empty key, varints of one byte.
const minEncodedEntryLen = 32 + 32 + 1 + 1 + 32 + 1 + 64 + 64

// EncodedLen returns the size of se's encoding.
func (se *SignedEntry) EncodedLen() int {
	return 32 + 32 + uvarintLen(uint64(len(se.Key))) + len(se.Key) + uvarintLen(se.Len) + 32 +
		uvarintLen(se.Timestamp) + 64 + 64
}

// AppendBinary appends the encoding of se to dst.
func (se *SignedEntry) AppendBinary(dst []byte) []byte {
	dst = append(dst, se.Namespace[:]...)
	dst = append(dst, se.Author[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(se.Key)))
	dst = append(dst, se.Key...)
	dst = binary.AppendUvarint(dst, se.Len)
	dst = append(dst, se.Hash[:]...)
	dst = binary.AppendUvarint(dst, se.Timestamp)
	dst = append(dst, se.NamespaceSig[:]...)
	dst = append(dst, se.AuthorSig[:]...)
	return dst
}

// MarshalBinary returns the encoding of se.
func (se *SignedEntry) MarshalBinary() ([]byte, error) {
	return se.AppendBinary(make([]byte, 0, se.EncodedLen())), nil
}

// DecodeSignedEntry decodes one entry from the front of b and returns the
// bytes after it. Keys longer than maxKeyLen are refused before any
// allocation. The returned entry's key is a copy: it does not alias b.
// Signatures are not checked.
func DecodeSignedEntry(b []byte, maxKeyLen int) (SignedEntry, []byte, error) {
	var se SignedEntry
	if len(b) < minEncodedEntryLen {
		return se, nil, fmt.Errorf("%w: entry needs at least %d bytes, have %d", ErrMalformed, minEncodedEntryLen, len(b))
	}
	d := decoder{b: b}
	d.fixed(se.Namespace[:])
	d.fixed(se.Author[:])
	kl := d.uvarint()
	if d.err == nil && kl > uint64(maxKeyLen) {
		return se, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, kl, maxKeyLen)
	}
	se.Key = d.bytes(kl)
	se.Len = d.uvarint()
	d.fixed(se.Hash[:])
	se.Timestamp = d.uvarint()
	d.fixed(se.NamespaceSig[:])
	d.fixed(se.AuthorSig[:])
	if d.err != nil {
		return SignedEntry{}, nil, d.err
	}
	return se, d.b, nil
}

// UnmarshalSignedEntry decodes b, which must hold exactly one entry.
func UnmarshalSignedEntry(b []byte, maxKeyLen int) (SignedEntry, error) {
	se, rest, err := DecodeSignedEntry(b, maxKeyLen)
	if err != nil {
		return se, err
	}
	if len(rest) != 0 {
		return SignedEntry{}, fmt.Errorf("%w: %d trailing bytes after entry", ErrMalformed, len(rest))
	}
	return se, nil
}

// decoder reads from b; the first failure sticks in err and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fixed(dst []byte) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(dst) {
		d.err = fmt.Errorf("%w: truncated: need %d bytes, have %d", ErrMalformed, len(dst), len(d.b))
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := uvarint.Decode(d.b)
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = fmt.Errorf("%w: truncated: need %d bytes, have %d", ErrMalformed, n, len(d.b))
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b)
	d.b = d.b[n:]
	return out
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

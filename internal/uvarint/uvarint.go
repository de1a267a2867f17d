// Package uvarint decodes the unsigned LEB128 varints of docsnode's wire
// formats (encoding/binary's Uvarint form) from untrusted bytes, accepting
// only the shortest encoding of each value, so that one value has exactly
// one encoding on the wire. encoding/binary accepts padded forms such as
// 0x80 0x00 for 0; a decoder that did would let a peer send one message
// under many encodings, which breaks de-duplication on the bytes and the
// round trip decode(encode(x)) == x that the fuzz targets check.
//
//	v, n, err := uvarint.Decode(b) // b = 0x80 0x00: ErrNotShortest
//	b = b[n:]
//
// Encode with binary.AppendUvarint, which writes the shortest form.
package uvarint

import (
	"encoding/binary"
	"errors"
	"io"
)

// MaxLen is the longest encoding of a uint64.
const MaxLen = binary.MaxVarintLen64

var (
	// ErrTruncated: the input ends inside the varint.
	ErrTruncated = errors.New("uvarint: truncated")
	// ErrOverflow: the value does not fit in 64 bits.
	ErrOverflow = errors.New("uvarint: value overflows 64 bits")
	// ErrNotShortest: the value has a shorter encoding (a padded form
	// whose last byte is 0x00).
	ErrNotShortest = errors.New("uvarint: not in its shortest form")
)

// Decode reads one varint from the front of b and returns its value and
// the number of bytes it took.
func Decode(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < MaxLen; i++ {
		if i == len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		if i == MaxLen-1 && c > 1 {
			return 0, 0, ErrOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, ErrNotShortest
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrOverflow
}

// Read reads one varint from r. An io.EOF before the first byte is
// returned as is; one inside the varint becomes io.ErrUnexpectedEOF.
func Read(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < MaxLen; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == MaxLen-1 && c > 1 {
			return 0, ErrOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, ErrNotShortest
			}
			return v, nil
		}
	}
	return 0, ErrOverflow
}

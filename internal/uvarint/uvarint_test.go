package uvarint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   []byte
		v    uint64
		n    int
		want error
	}{
		{[]byte{0}, 0, 1, nil},
		{[]byte{0x7f, 9}, 127, 1, nil},
		{[]byte{0x80, 1}, 128, 2, nil},
		{binary.AppendUvarint(nil, 1<<64-1), 1<<64 - 1, MaxLen, nil},
		{nil, 0, 0, ErrTruncated},
		{[]byte{0x80}, 0, 0, ErrTruncated},
		{[]byte{0x80, 0}, 0, 0, ErrNotShortest},
		{[]byte{0x81, 0x80, 0}, 0, 0, ErrNotShortest},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2}, 0, 0, ErrOverflow},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0}, 0, 0, ErrOverflow},
	}
	for _, tt := range tests {
		v, n, err := Decode(tt.in)
		if !errors.Is(err, tt.want) || v != tt.v || n != tt.n {
			t.Errorf("Decode(%x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, err, tt.v, tt.n, tt.want)
		}
		rv, rerr := Read(bytes.NewReader(tt.in))
		want := tt.want
		if want == ErrTruncated {
			want = io.ErrUnexpectedEOF
			if len(tt.in) == 0 {
				want = io.EOF
			}
		}
		if !errors.Is(rerr, want) || rv != tt.v {
			t.Errorf("Read(%x) = %d, %v; want %d, %v", tt.in, rv, rerr, tt.v, want)
		}
	}
}

// FuzzDecode: Decode and Read agree, and whatever decodes re-encodes to
// the bytes it took.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x80, 0x00})
	f.Add(binary.AppendUvarint(nil, 300))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Decode(b)
		rv, rerr := Read(bufio.NewReader(bytes.NewReader(b)))
		if (err == nil) != (rerr == nil) || rv != v {
			t.Fatalf("Decode = %d, %v; Read = %d, %v", v, err, rv, rerr)
		}
		if err != nil {
			return
		}
		if enc := binary.AppendUvarint(nil, v); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("%x decodes to %d, which encodes as %x", b[:n], v, enc)
		}
	})
}

package blobs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// FuzzDecodeRequest: every failure is ErrMalformed, and every request
// accepted re-encodes to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	r := Request{Namespace: replica.NamespaceID{1}, Author: replica.AuthorID{2}, Key: []byte("key"), Hash: replica.Hash{3}, Offset: 300}
	f.Add(r.AppendBinary(nil))
	f.Add((&Request{}).AppendBinary(nil))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b, 64)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		if len(req.Key) > 64 {
			t.Fatalf("key of %d bytes accepted", len(req.Key))
		}
		if !bytes.Equal(req.AppendBinary(nil), b) {
			t.Fatal("re-encodes to other bytes")
		}
	})
}

// FuzzReadResponse: a response header never claims more than the limit,
// every failure is a protocol error or a short read, and an accepted
// header re-encodes to the bytes it read.
func FuzzReadResponse(f *testing.F) {
	f.Add(appendResponse(nil, &response{status: statusOK, size: 1000}))
	f.Add(appendResponse(nil, &response{status: statusNotFound, text: "not found"}))
	f.Add([]byte{statusBusy, 0xff, 0xff, 0xff, 0xff, 0x0f})
	// A header followed by more than bufio's buffer of content.
	f.Add(append(appendResponse(nil, &response{status: statusNotFound, text: "gone"}), make([]byte, 5000)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		// bufio pulls up to its buffer size from below at a time, so what
		// the decoder consumed is what bufio pulled minus what it holds.
		src := &countingReader{r: bytes.NewReader(b)}
		r := bufio.NewReader(src)
		resp, err := readResponse(r, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if resp.status == statusOK && resp.size > 1<<20 {
			t.Fatalf("size %d over the limit", resp.size)
		}
		read := src.n - r.Buffered()
		if enc := appendResponse(nil, &resp); !bytes.Equal(enc, b[:read]) {
			t.Fatalf("re-encodes to %x, read %x", enc, b[:read])
		}
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

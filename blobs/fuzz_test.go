package blobs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"lukechampine.com/blake3/bao"

	"github.com/docsnode/docsnode/replica"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// FuzzDecodeRequest: every failure is ErrMalformed, and every request
// accepted re-encodes to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	r := Request{Namespace: replica.NamespaceID{1}, Author: replica.AuthorID{2}, Key: []byte("key"), Hash: replica.Hash{3},
		GroupLog: 4, Ranges: []Range{{0, 3}, {300, 400}}}
	f.Add(r.AppendBinary(nil))
	f.Add((&Request{Ranges: []Range{{0, 1}}}).AppendBinary(nil))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b, 64, 8)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		if len(req.Key) > 64 || len(req.Ranges) > 8 || len(req.Ranges) == 0 {
			t.Fatalf("key of %d bytes, %d ranges accepted", len(req.Key), len(req.Ranges))
		}
		for i, rg := range req.Ranges {
			if rg.End <= rg.Start || i > 0 && rg.Start <= req.Ranges[i-1].End {
				t.Fatalf("ranges %v accepted", req.Ranges)
			}
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
		read := int(src.n) - r.Buffered()
		if enc := appendResponse(nil, &resp); !bytes.Equal(enc, b[:read]) {
			t.Fatalf("re-encodes to %x, read %x", enc, b[:read])
		}
	})
}

// FuzzReadSlice: whatever a peer sends for a range of groups of a known
// blob, the groups written are exactly the blob's, in order from the
// range's start, and a stream that is not the range's encoding fails.
func FuzzReadSlice(f *testing.F) {
	const groupLog = 0 // 1 KiB groups: many groups from little input
	content := blobOfSize(5*1024+100, 3)
	ob, root := bao.EncodeBuf(content, groupLog, true)
	tr := newTree(uint64(len(content)), groupLog)
	src := localSource{data: bytes.NewReader(content), outboard: bytes.NewReader(ob), t: tr}
	encode := func(lo, hi uint64) []byte {
		var b bytes.Buffer
		if err := tr.verify(root, lo, hi, src, sliceWriter{&b}, make([]byte, 1024)); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(uint8(0), uint8(6), encode(0, 6))
	f.Add(uint8(2), uint8(3), encode(2, 3))
	f.Add(uint8(5), uint8(6), encode(5, 6))
	f.Add(uint8(1), uint8(4), encode(1, 4)[:100])
	f.Fuzz(func(t *testing.T, lo, hi uint8, b []byte) {
		if uint64(hi) > tr.groups() || lo >= hi {
			return
		}
		var got collectSink
		r := bytes.NewReader(b)
		err := tr.verify(root, uint64(lo), uint64(hi), streamSource{r, tr}, &got, make([]byte, 1024))
		start, _ := tr.groupSpan(uint64(lo))
		if !bytes.Equal(got.data, content[start:start+uint64(len(got.data))]) {
			t.Fatal("bytes written that are not the blob's")
		}
		want := encode(uint64(lo), uint64(hi))
		if err == nil && !bytes.Equal(b[:len(b)-r.Len()], want) {
			t.Fatal("accepted a stream that is not the range's encoding")
		}
		if err != nil && bytes.HasPrefix(b, want) {
			t.Fatalf("refused the range's encoding: %v", err)
		}
	})
}

package main

import (
	"bufio"
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"slices"
	"testing"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
	"lukechampine.com/blake3"
)

// TestBlobContentReadAt: any range of the value reads the same as the
// same bytes of one read of the whole, the end of the value is io.EOF, and
// blocks differ from each other.
func TestBlobContentReadAt(t *testing.T) {
	const size = 5*contentBlock + 777
	c := blobContent{size}
	whole := make([]byte, size)
	if n, err := c.ReadAt(whole, 0); n != size || err != nil {
		t.Fatalf("whole: %d, %v", n, err)
	}
	if bytes.Equal(whole[:contentBlock], whole[contentBlock:2*contentBlock]) {
		t.Fatal("blocks 0 and 1 are equal")
	}
	for _, r := range [][2]int{{0, 1}, {1, 100}, {contentBlock - 3, 10}, {contentBlock, contentBlock}, {7, 3 * contentBlock}, {size - 800, 800}} {
		got := make([]byte, r[1])
		if n, err := c.ReadAt(got, int64(r[0])); n != r[1] || err != nil {
			t.Fatalf("[%d,+%d): %d, %v", r[0], r[1], n, err)
		}
		if !bytes.Equal(got, whole[r[0]:r[0]+r[1]]) {
			t.Fatalf("[%d,+%d) differs from the whole read", r[0], r[1])
		}
	}
	// Streamed in odd pieces, as p0's set reads it.
	streamed, err := io.ReadAll(bufio.NewReaderSize(io.NewSectionReader(c, 0, size), 1000))
	if err != nil || !bytes.Equal(streamed, whole) {
		t.Fatalf("streamed: %d bytes, %v; equal %v", len(streamed), err, bytes.Equal(streamed, whole))
	}
	tail := make([]byte, 100)
	if n, err := c.ReadAt(tail, size-10); n != 10 || !errors.Is(err, io.EOF) || !bytes.Equal(tail[:10], whole[size-10:]) {
		t.Fatalf("past the end: %d, %v", n, err)
	}
	if n, err := c.ReadAt(tail, size); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %d, %v", n, err)
	}
}

// TestLiarData: honest while lying is off; then exactly the first byte of
// each group that liarCorrupts differs, however the reads are cut.
func TestLiarData(t *testing.T) {
	const gs = 1024
	const size = 25*gs + 100
	honest := make([]byte, size)
	blobContent{size}.ReadAt(honest, 0)
	d := &liarData{honest: bytes.NewReader(honest), groupSize: gs}
	read := func(piece int) []byte {
		out := make([]byte, size)
		for off := 0; off < size; off += piece {
			if n, err := d.ReadAt(out[off:min(off+piece, size)], int64(off)); err != nil && !errors.Is(err, io.EOF) || n != min(piece, size-off) {
				t.Fatalf("read %d at %d: %d, %v", piece, off, n, err)
			}
		}
		return out
	}
	if !bytes.Equal(read(size), honest) {
		t.Fatal("not lying yet, but the data differs")
	}
	d.lying.Store(true)
	for _, piece := range []int{size, gs, 333, 1} {
		got := read(piece)
		var diff []int
		for i := range got {
			if got[i] != honest[i] {
				diff = append(diff, i)
			}
		}
		want := []int{3 * gs, 13 * gs, 23 * gs}
		if !slices.Equal(diff, want) {
			t.Fatalf("reads of %d: bytes %v differ, want %v", piece, diff, want)
		}
	}
}

// TestLiarRespond: the liar's answer decodes as the content protocol's,
// and a client's check (blobs.Partial.ReadSlice) keeps the groups before
// group 3 and fails at it with ErrHashMismatch; a range without a corrupt
// group checks; another hash is refused with NotFound.
func TestLiarRespond(t *testing.T) {
	const size = 21*16<<10 + 5000 // 22 groups of 16 KiB, the last short
	content := make([]byte, size)
	blobContent{size}.ReadAt(content, 0)
	hash := replica.Hash(blake3.Sum256(content))
	l, err := newLiar(bytes.NewReader(content), size, blobs.DefaultGroupLog)
	if err != nil {
		t.Fatal(err)
	}
	if l.enc.Root() != hash || l.enc.Groups() != 22 {
		t.Fatalf("tree of %d groups with root %x, want 22 and %x", l.enc.Groups(), l.enc.Root(), hash)
	}
	store, err := blobs.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := store.BeginFetch(hash, size)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	answer := func(req *blobs.Request) *bytes.Reader {
		var b bytes.Buffer
		if err := l.respond(&b, req); err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(b.Bytes())
	}
	header := func(r *bytes.Reader) (byte, uint64) {
		st, err := r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			t.Fatal(err)
		}
		return st, n
	}

	req := &blobs.Request{Hash: hash, GroupLog: blobs.DefaultGroupLog, Ranges: []blobs.Range{{Start: 0, End: 22}}}
	// The request goes over the wire as a client encodes it.
	dec, err := blobs.DecodeRequest(req.AppendBinary(nil), 4096, blobs.DefaultMaxRanges)
	if err != nil {
		t.Fatal(err)
	}
	r := answer(&dec)
	if st, n := header(r); st != liarStatusOK || n != size {
		t.Fatalf("header: status %d, size %d; want OK, %d", st, n, size)
	}
	if err := p.ReadSlice(r, 0, 22, nil); !errors.Is(err, blobs.ErrHashMismatch) {
		t.Fatalf("ReadSlice of the liar's groups 0-21: %v, want ErrHashMismatch", err)
	}
	if m := p.Missing(); len(m) == 0 || m[0] != (blobs.Range{Start: 3, End: 22}) {
		t.Fatalf("missing after the corrupt group: %v, want [3,22)", m)
	}

	r = answer(&blobs.Request{Hash: hash, GroupLog: blobs.DefaultGroupLog, Ranges: []blobs.Range{{Start: 4, End: 13}}})
	header(r)
	if err := p.ReadSlice(r, 4, 13, nil); err != nil {
		t.Fatalf("ReadSlice of the honest groups 4-12: %v", err)
	}
	if m := p.Missing(); !slices.Equal(m, []blobs.Range{{Start: 3, End: 4}, {Start: 13, End: 22}}) {
		t.Fatalf("missing: %v, want [3,4) [13,22)", m)
	}

	other := hash
	other[0] ^= 1
	r = answer(&blobs.Request{Hash: other, GroupLog: blobs.DefaultGroupLog, Ranges: []blobs.Range{{Start: 0, End: 1}}})
	if st, n := header(r); st != liarStatusNotFound || int(n) != r.Len() {
		t.Fatalf("another hash: status %d, text of %d bytes (%d left); want NotFound", st, n, r.Len())
	}
	r = answer(&blobs.Request{Hash: hash, GroupLog: blobs.DefaultGroupLog, Ranges: []blobs.Range{{Start: 20, End: 23}}})
	if st, _ := header(r); st != liarStatusBadRequest {
		t.Fatalf("groups beyond the content: status %d, want BadRequest", st)
	}
}

// TestLiarServes: a download from the liar over QUIC (blobs.Download, the
// fetcher's own code) drops it as a peer at fault after the groups before
// group 3, and the liar counts the request and the bytes it wrote.
func TestLiarServes(t *testing.T) {
	const size = 40 * 16 << 10
	content := make([]byte, size)
	blobContent{size}.ReadAt(content, 0)
	l, err := newLiar(blobContent{size}, size, blobs.DefaultGroupLog)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	server, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Handle(endpoint.ALPNBlobs, l); err != nil {
		t.Fatal(err)
	}
	client, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := blobs.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hash := replica.Hash(blake3.Sum256(content))
	ref := blobs.Ref{Key: []byte("blob"), Hash: hash, Len: size}
	res, err := blobs.Download(ctx, client, store, hash, size, []blobs.Provider{{Addr: server.Addr(), Ref: ref}}, blobs.DownloadConfig{})
	if err == nil || len(res.Providers) != 1 || !blobs.PeerFault(res.Providers[0].Err) || !errors.Is(res.Providers[0].Err, blobs.ErrHashMismatch) {
		t.Fatalf("download from the liar: %+v, %v; want the liar dropped for a hash mismatch", res, err)
	}
	if res.Providers[0].Received < 3*16<<10 {
		t.Fatalf("received %d bytes from the liar, want groups 0-2 at least", res.Providers[0].Received)
	}
	server.Close() // waits for the liar's handlers
	if l.requests.Load() != 1 || l.bytes.Load() < 3*16<<10 {
		t.Fatalf("the liar counted %d requests, %d bytes; want 1 and groups 0-2 at least", l.requests.Load(), l.bytes.Load())
	}
}

// TestTicketWith: the liar's address goes first, the other providers'
// last, and the rest of the ticket is kept.
func TestTicketWith(t *testing.T) {
	ns, err := replica.NewNamespace(cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	honest := endpoint.NodeAddr{ID: endpoint.GenerateSecretKey().Public(), Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4000")}}
	liarAddr := endpoint.NodeAddr{ID: endpoint.GenerateSecretKey().Public(), Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5000")}}
	tk, err := ticket.New(replica.ReadCapability(ns.ID()), honest)
	if err != nil {
		t.Fatal(err)
	}
	text, err := tk.ExportText()
	if err != nil {
		t.Fatal(err)
	}
	other := endpoint.NodeAddr{ID: endpoint.GenerateSecretKey().Public(), Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6000")}}
	out, err := ticketWith(text, []endpoint.NodeAddr{liarAddr}, []endpoint.NodeAddr{other})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ticket.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ticket.New(tk.Capability, liarAddr, honest, other)
	if !got.Equal(want) {
		t.Fatalf("got %#v, want %#v", got.Nodes, want.Nodes)
	}
	if _, err := ticketWith("docnotaticket", nil, []endpoint.NodeAddr{liarAddr}); err == nil {
		t.Fatal("a bad ticket was taken")
	}
}

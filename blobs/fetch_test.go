package blobs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"lukechampine.com/blake3/bao"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

// entryTable is an Entries over a map.
type entryTable struct {
	mu sync.Mutex
	m  map[string]replica.SignedEntry
}

func entryKey(ns replica.NamespaceID, a replica.AuthorID, key []byte) string {
	return string(ns[:]) + string(a[:]) + string(key)
}

func (t *entryTable) Get(_ context.Context, ns replica.NamespaceID, a replica.AuthorID, key []byte) (replica.SignedEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	se, ok := t.m[entryKey(ns, a, key)]
	if !ok {
		return se, replica.ErrNotFound
	}
	return se, nil
}

func (t *entryTable) add(se replica.SignedEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]replica.SignedEntry)
	}
	t.m[entryKey(se.Namespace, se.Author, se.Key)] = se
}

func signed(t testing.TB, key string, content []byte) replica.SignedEntry {
	return signedHash(t, key, replica.HashContent(content), uint64(len(content)))
}

// signedHash is an entry of a new document naming the content h of size
// bytes.
func signedHash(t testing.TB, key string, h replica.Hash, size uint64) replica.SignedEntry {
	t.Helper()
	ns, err := replica.NewNamespace(nil)
	if err != nil {
		t.Fatal(err)
	}
	author, err := replica.NewAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.MustSign(ns, author, replica.Entry{Namespace: ns.ID(), Author: author.ID(), Key: []byte(key),
		Record: replica.Record{Hash: h, Len: size, Timestamp: 1}})
}

func openEndpoint(t testing.TB) *endpoint.Endpoint {
	t.Helper()
	ep, err := endpoint.Open(context.Background(), endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// server is a node that serves the blobs of its store.
type server struct {
	ep      *endpoint.Endpoint
	store   *Store
	entries *entryTable
	srv     *Server
}

func newServer(t testing.TB) *server {
	t.Helper()
	s := &server{ep: openEndpoint(t), store: openStore(t, 1<<30), entries: &entryTable{}}
	s.srv = NewServer(s.store, s.entries, ServerConfig{MaxKeyLen: 4096})
	if err := s.ep.Handle(endpoint.ALPNBlobs, s.srv); err != nil {
		t.Fatal(err)
	}
	return s
}

// hold stores content and an entry naming it; it returns the entry.
func (s *server) hold(t *testing.T, key string, content []byte) replica.SignedEntry {
	t.Helper()
	if _, _, err := s.store.Put(bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	se := signed(t, key, content)
	s.entries.add(se)
	return se
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFetch(t *testing.T) {
	srv := newServer(t)
	content := bytes.Repeat([]byte("docsnode "), 50000) // several flow control windows
	se := srv.hold(t, "k", content)
	client := openEndpoint(t)
	store := openStore(t, 1<<20)

	n, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, RefOf(se.Namespace, &se), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The content, its proofs (the outboard's parents) and the header.
	proofs := newTree(uint64(len(content)), DefaultGroupLog).outboardSize() - 8
	if n < uint64(len(content))+proofs || n > uint64(len(content))+proofs+16 {
		t.Fatalf("received %d bytes for %d of content and %d of proofs", n, len(content), proofs)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get: %v", err)
	}
	if st := srv.srv.Stats(); st.Served != 1 || st.BytesSent != n {
		t.Fatalf("server stats %+v", st)
	}
	// Held already: nothing to fetch.
	if n, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, RefOf(se.Namespace, &se), time.Second); err != nil || n != 0 {
		t.Fatalf("second fetch: %d, %v", n, err)
	}

	// A small blob: served from the server's small-blob database and
	// stored in the client's.
	small := []byte("a small value")
	se = srv.hold(t, "small", small)
	if _, ok := srv.store.smallSize(se.Hash); !ok {
		t.Fatal("the server holds the small value outside its small-blob database")
	}
	if n, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, RefOf(se.Namespace, &se), time.Second); err != nil || n < uint64(len(small)) {
		t.Fatalf("small fetch: %d, %v", n, err)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("Get of the small blob: %q, %v", got, err)
	}
	if _, ok := store.smallSize(se.Hash); !ok {
		t.Fatal("the fetched small value is not in the small-blob database")
	}
}

// TestFetchRefused checks that a blob is served only for a document the
// server holds and an entry of it that names the blob.
func TestFetchRefused(t *testing.T) {
	srv := newServer(t)
	se := srv.hold(t, "k", []byte("secret content"))
	other := srv.hold(t, "other", []byte("other content"))
	client := openEndpoint(t)
	store := openStore(t, 1<<20)

	// A peer that does not present the document id.
	ref := RefOf(se.Namespace, &se)
	ref.Namespace = replica.NamespaceID{1}
	if _, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, ref, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch without the document: %v", err)
	}
	// The right document, an entry that names another blob.
	ref = RefOf(se.Namespace, &se)
	ref.Key = []byte("nothing here")
	if _, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, ref, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch through a missing entry: %v", err)
	}
	ref = RefOf(other.Namespace, &other)
	ref.Hash, ref.Len = se.Hash, se.Len
	if _, err := Fetch(ctxT(t), client, srv.ep.Addr(), store, ref, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch through another document's entry: %v", err)
	}
	if store.Has(se.Hash) {
		t.Fatal("refused content stored")
	}
	if st := srv.srv.Stats(); st.NotFound != 3 || st.Served != 0 {
		t.Fatalf("server stats %+v", st)
	}
}

// liar serves its own answers to fetch requests.
type liar struct {
	mu     sync.Mutex
	answer func(req Request) []byte // the whole response, then the stream ends
	asks   [][]Range
}

func (l *liar) HandleConn(ctx context.Context, conn *endpoint.Conn) {
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		b, err := io.ReadAll(io.LimitReader(st, 1<<16))
		if err != nil {
			return
		}
		req, err := DecodeRequest(b, 4096, DefaultMaxRanges)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.asks = append(l.asks, req.Ranges)
		answer := l.answer
		l.mu.Unlock()
		st.Write(answer(req))
		st.Close()
	}
}

func (l *liar) set(answer func(req Request) []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answer, l.asks = answer, nil
}

func (l *liar) asked() [][]Range {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asks
}

func okResponse(size uint64, body []byte) []byte {
	return append(appendResponse(nil, &response{status: statusOK, size: size}), body...)
}

// encodeSlices is the honest encoding of the ranges of content, in groups of
// 1024<<groupLog bytes, with bad applied to each group before it is
// written (nil: none).
func encodeSlices(t testing.TB, content []byte, groupLog uint8, rs []Range, bad func(i uint64, g []byte)) []byte {
	ob, root := bao.EncodeBuf(content, int(groupLog), true)
	tr := newTree(uint64(len(content)), groupLog)
	src := localSource{data: bytes.NewReader(content), outboard: bytes.NewReader(ob), t: tr}
	var out bytes.Buffer
	w := &corruptingWriter{w: sliceWriter{&out}, bad: bad}
	for _, rg := range rs {
		if err := tr.verify(root, rg.Start, rg.End, src, w, make([]byte, tr.groupSize())); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

type corruptingWriter struct {
	w   sliceWriter
	bad func(i uint64, g []byte)
}

func (c *corruptingWriter) parent(off uint64, p *[64]byte) error { return c.w.parent(off, p) }

func (c *corruptingWriter) group(i uint64, p []byte) error {
	if c.bad != nil {
		p = append([]byte{}, p...)
		c.bad(i, p)
	}
	return c.w.group(i, p)
}

func TestFetchFromLiar(t *testing.T) {
	l := &liar{}
	liarEP := openEndpoint(t)
	if err := liarEP.Handle(endpoint.ALPNBlobs, l); err != nil {
		t.Fatal(err)
	}
	client := openEndpoint(t)
	store := openStore(t, 1<<20)
	content := blobOfSize(4*16<<10, 7) // four groups
	se := signed(t, "k", content)
	ref := RefOf(se.Namespace, &se)
	size := uint64(len(content))
	honestFor := func(content []byte, bad func(uint64, []byte)) func(Request) []byte {
		return func(req Request) []byte {
			return okResponse(uint64(len(content)), encodeSlices(t, content, req.GroupLog, req.Ranges, bad))
		}
	}
	flip := func(at uint64) func(uint64, []byte) {
		return func(i uint64, g []byte) {
			if i == at {
				g[100] ^= 1
			}
		}
	}

	cases := []struct {
		name   string
		answer func(Request) []byte
		want   error
		status Status
	}{
		{"first group wrong", honestFor(content, flip(0)), ErrHashMismatch, Missing},
		{"too many bytes", func(r Request) []byte { return append(honestFor(content, nil)(r), "more"...) }, ErrTooLarge, Incomplete},
		{"larger size", func(Request) []byte { return okResponse(size+1, nil) }, ErrLength, Missing},
		{"smaller size", func(Request) []byte { return okResponse(size-1, nil) }, ErrLength, Missing},
		{"over the store limit", func(Request) []byte { return okResponse(1<<40, nil) }, ErrLength, Missing},
		{"garbage", func(Request) []byte { return []byte{9, 9, 9} }, ErrMalformed, Missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l.set(c.answer)
			_, err := Fetch(ctxT(t), client, liarEP.Addr(), store, ref, time.Second)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !PeerFault(err) {
				t.Fatalf("%v is not counted as the peer's fault", err)
			}
			if store.Has(se.Hash) || store.Status(se.Hash, size) != c.status {
				t.Fatalf("status %v after a lying answer, want %v", store.Status(se.Hash, size), c.status)
			}
			// Start the next case from nothing.
			p, err := store.BeginFetch(se.Hash, size)
			if err != nil {
				t.Fatal(err)
			}
			p.Discard()
		})
	}

	// A liar that corrupts the third group: the two before it are kept,
	// and an honest peer is asked for exactly the two missing ones.
	l.set(honestFor(content, flip(2)))
	if _, err := Fetch(ctxT(t), client, liarEP.Addr(), store, ref, time.Second); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("a fetch from a liar: %v", err)
	}
	if store.Status(se.Hash, size) != Incomplete {
		t.Fatalf("status %v after the liar", store.Status(se.Hash, size))
	}
	honest := &liar{answer: honestFor(content, nil)}
	honestEP := openEndpoint(t)
	honestEP.Handle(endpoint.ALPNBlobs, honest)
	n, err := Fetch(ctxT(t), client, honestEP.Addr(), store, ref, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if asks := honest.asked(); len(asks) != 1 || len(asks[0]) != 1 || asks[0][0] != (Range{2, 4}) {
		t.Fatalf("the honest peer was asked for %v, want [{2 4}]", asks)
	}
	if n > size/2+4*64 {
		t.Fatalf("%d bytes received to finish, more than the missing half", n)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get after the resume: %v", err)
	}

	// A peer that stops half way keeps what it sent for the next fetch.
	content2 := blobOfSize(4*16<<10, 8)
	se2 := signed(t, "k2", content2)
	ref2 := RefOf(se2.Namespace, &se2)
	l.set(func(r Request) []byte {
		b := honestFor(content2, nil)(r)
		return b[:len(b)/2]
	})
	if _, err := Fetch(ctxT(t), client, liarEP.Addr(), store, ref2, time.Second); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a fetch that stopped half way: %v", err)
	}
	if store.Status(se2.Hash, size) != Incomplete {
		t.Fatalf("status %v after a broken-off fetch", store.Status(se2.Hash, size))
	}
	honest.set(honestFor(content2, nil))
	if _, err := Fetch(ctxT(t), client, honestEP.Addr(), store, ref2, time.Second); err != nil {
		t.Fatal(err)
	}
	if asks := honest.asked(); len(asks) != 1 || asks[0][0].Start == 0 {
		t.Fatalf("the honest peer was asked for %v, want a resume", asks)
	}
	if got, err := store.Get(se2.Hash); err != nil || !bytes.Equal(got, content2) {
		t.Fatalf("Get after the resume: %v", err)
	}
}

func TestRequestCodec(t *testing.T) {
	r := Request{Namespace: replica.NamespaceID{1}, Author: replica.AuthorID{2}, Key: []byte("a/b"), Hash: replica.Hash{3},
		GroupLog: 4, Ranges: []Range{{0, 3}, {5, 6}, {1 << 40, 1<<40 + 7}}}
	b := r.AppendBinary(nil)
	got, err := DecodeRequest(b, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != r.Namespace || got.Author != r.Author || !bytes.Equal(got.Key, r.Key) || got.Hash != r.Hash ||
		got.GroupLog != r.GroupLog || !reflect.DeepEqual(got.Ranges, r.Ranges) {
		t.Fatalf("decoded %+v", got)
	}
	if len(b) > maxRequestLen(3, 3) {
		t.Fatalf("request of %d bytes over maxRequestLen %d", len(b), maxRequestLen(3, 3))
	}
	for i := range len(b) {
		if _, err := DecodeRequest(b[:i], 16, 3); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
	if _, err := DecodeRequest(append(b, 0), 16, 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := DecodeRequest(b, 2, 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("key over the limit: %v", err)
	}
	if _, err := DecodeRequest(b, 16, 2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ranges over the limit: %v", err)
	}
	bad := append([]byte{}, b...)
	bad[0] = 1
	if _, err := DecodeRequest(bad, 16, 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown version: %v", err)
	}
	for _, rs := range [][]Range{nil, {{2, 2}}, {{0, 2}, {2, 4}}} {
		r.Ranges = rs
		if _, err := DecodeRequest(r.AppendBinary(nil), 16, 3); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ranges %v: %v", rs, err)
		}
	}
}

func TestResponseCodec(t *testing.T) {
	for _, r := range []response{{status: statusOK, size: 12345}, {status: statusNotFound, text: "not found"}, {status: statusBusy}, {status: statusBadRequest, text: "bad"}} {
		b := appendResponse(nil, &r)
		got, err := readResponse(bufioReader(b), 1<<20)
		if err != nil || got != r {
			t.Fatalf("%+v decoded as %+v, %v", r, got, err)
		}
	}
	if _, err := readResponse(bufioReader(appendResponse(nil, &response{status: statusOK, size: 1 << 21})), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("size over the limit: %v", err)
	}
	long := appendResponse(nil, &response{status: statusNotFound, text: string(bytes.Repeat([]byte("x"), 1000))})
	if got, err := readResponse(bufioReader(long), 1); err != nil || len(got.text) != MaxStatusText {
		t.Fatalf("long text: %d bytes, %v", len(got.text), err)
	}
}

// TestFetchRange: any byte range of a blob not held is fetched, checked
// and written, and nothing is stored; a peer that corrupts a group yields
// at most the checked bytes before it, then ErrHashMismatch.
func TestFetchRange(t *testing.T) {
	srv := newServer(t)
	content := blobOfSize(10*16<<10+777, 21) // 11 groups, the last short
	se := srv.hold(t, "k", content)
	ref := RefOf(se.Namespace, &se)
	client := openEndpoint(t)
	size := uint64(len(content))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		off := r.Uint64N(size)
		n := r.Uint64N(size - off + 1)
		if i == 0 {
			off, n = 0, size
		}
		var got bytes.Buffer
		if _, err := FetchRange(ctxT(t), client, srv.ep.Addr(), ref, DefaultGroupLog, off, n, &got, time.Second); err != nil {
			t.Fatalf("[%d,%d): %v", off, off+n, err)
		}
		if !bytes.Equal(got.Bytes(), content[off:off+n]) {
			t.Fatalf("[%d,%d): %d bytes differ", off, off+n, got.Len())
		}
	}
	if _, err := FetchRange(ctxT(t), client, srv.ep.Addr(), ref, DefaultGroupLog, size-1, 2, io.Discard, time.Second); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a range past the end: %v", err)
	}

	l, liarEP := lyingProvider(t, content) // corrupts groups 1 mod 4
	var got bytes.Buffer
	_, err := FetchRange(ctxT(t), client, liarEP.Addr(), ref, DefaultGroupLog, 100, 3*16<<10, &got, time.Second)
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("from the liar: %v", err)
	}
	if got.Len() != 16<<10-100 || !bytes.Equal(got.Bytes(), content[100:16<<10]) {
		t.Fatalf("from the liar: %d bytes, want the %d of group 0 only", got.Len(), 16<<10-100)
	}
	if len(l.asked()) != 1 {
		t.Fatalf("liar asked %d times", len(l.asked()))
	}
}

// TestServeChecksWhatItSends: a server whose copy went bad on disk finds
// it out while sending, removes the copy and resets the stream: the
// client gets no bad byte and does not take the server for a liar.
func TestServeChecksWhatItSends(t *testing.T) {
	srv := newServer(t)
	content := blobOfSize(5*16<<10, 31)
	se := srv.hold(t, "k", content)
	// Flip a byte in the third group of the stored file.
	f, err := os.OpenFile(srv.store.path(se.Hash), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{content[2*16<<10+5] ^ 1}, 2*16<<10+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	store := openStore(t, 1<<20)
	_, err = Fetch(ctxT(t), openEndpoint(t), srv.ep.Addr(), store, RefOf(se.Namespace, &se), time.Second)
	if err == nil || PeerFault(err) {
		t.Fatalf("fetch from a server with a bad copy: %v", err)
	}
	if st := srv.srv.Stats(); st.Corrupt != 1 || srv.store.Has(se.Hash) {
		t.Fatalf("server stats %+v, still holds the copy: %v", st, srv.store.Has(se.Hash))
	}
}

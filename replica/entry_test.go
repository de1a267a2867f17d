package replica

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func conformanceKeys() (NamespaceSecret, Author) {
	var as, ns [32]byte
	for i := range as {
		as[i], ns[i] = 0xa1, 0xb2
	}
	return NamespaceFromSeed(ns), AuthorFromSeed(as)
}

// mustSign is Sign for the tests' real keys; it panics if signing fails,
// which only a zero key makes it do.
func mustSign(ns NamespaceSecret, author Author, e Entry) SignedEntry {
	se, err := Sign(ns, author, e)
	if err != nil {
		panic(err)
	}
	return se
}

// mustSignAll is SignAll as mustSign is Sign.
func mustSignAll(ns NamespaceSecret, author Author, entries []Entry) []SignedEntry {
	out, err := SignAll(ns, author, entries)
	if err != nil {
		panic(err)
	}
	return out
}

// TestConformanceVector checks the signing layout against DESIGN §1 with the
// published seeds, building the signed bytes by hand rather than through
// SigningBytes.
func TestConformanceVector(t *testing.T) {
	ns, author := conformanceKeys()
	if got := author.ID().String(); !strings.HasPrefix(got, "bc7cbcb5") {
		t.Fatalf("author id = %s, want prefix bc7cbcb5", got)
	}
	if got := ns.ID().String(); !strings.HasPrefix(got, "55154f42") {
		t.Fatalf("namespace id = %s, want prefix 55154f42", got)
	}
	const ts = 1_700_000_000_000_000
	se := mustSign(ns, author, Entry{Key: []byte("wire-format-test"), Record: Record{Hash: HashContent(nil), Len: 0, Timestamp: ts}})

	// af1349b9... is the published BLAKE3 digest of the empty input.
	if hex.EncodeToString(EmptyHash[:]) != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("EmptyHash = %x", EmptyHash)
	}
	var want []byte
	nsID, authorID := ns.ID(), author.ID()
	want = append(want, nsID[:]...)
	want = append(want, authorID[:]...)
	want = append(want, "wire-format-test"...)
	want = binary.BigEndian.AppendUint64(want, 0)
	want = append(want, EmptyHash[:]...)
	want = binary.BigEndian.AppendUint64(want, ts)
	if !bytes.Equal(se.SigningBytes(), want) {
		t.Fatalf("signing bytes differ from the DESIGN layout:\n got %x\nwant %x", se.SigningBytes(), want)
	}
	if !ed25519.Verify(ed25519.PublicKey(nsID[:]), want, se.NamespaceSig[:]) {
		t.Fatal("namespace signature does not verify with crypto/ed25519")
	}
	if !ed25519.Verify(ed25519.PublicKey(authorID[:]), want, se.AuthorSig[:]) {
		t.Fatal("author signature does not verify with crypto/ed25519")
	}
	if err := se.Verify(); err != nil {
		t.Fatal(err)
	}
	if all := mustSignAll(ns, author, []Entry{se.Entry, se.Entry}); all[1].NamespaceSig != se.NamespaceSig || all[1].AuthorSig != se.AuthorSig {
		t.Fatal("SignAll differs from Sign")
	}
	if !se.IsTombstone() {
		t.Fatal("empty-hash zero-length entry must be a tombstone")
	}
	t.Logf("namespace sig %x", se.NamespaceSig)
	t.Logf("author sig    %x", se.AuthorSig)
}

func testEntry(t testing.TB, key string, content string, ts uint64) (NamespaceSecret, Author, SignedEntry) {
	t.Helper()
	ns, author := conformanceKeys()
	return ns, author, mustSign(ns, author, Entry{Key: []byte(key), Record: Record{Hash: HashContent([]byte(content)), Len: uint64(len(content)), Timestamp: ts}})
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, key := range []string{"a", "wire-format-test", strings.Repeat("k", 300)} {
		_, _, se := testEntry(t, key, "hello", 1<<62)
		b, _ := se.MarshalBinary()
		if len(b) != se.EncodedLen() {
			t.Fatalf("EncodedLen %d, encoding %d", se.EncodedLen(), len(b))
		}
		got, err := UnmarshalSignedEntry(b, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Key, se.Key) || got.Record != se.Record || got.NamespaceSig != se.NamespaceSig || got.AuthorSig != se.AuthorSig || got.Namespace != se.Namespace || got.Author != se.Author {
			t.Fatalf("round trip changed the entry")
		}
		if err := got.Verify(); err != nil {
			t.Fatal(err)
		}
		// Every truncation fails cleanly.
		for n := range len(b) {
			if _, err := UnmarshalSignedEntry(b[:n], 4096); !errors.Is(err, ErrMalformed) {
				t.Fatalf("truncated to %d: err = %v, want ErrMalformed", n, err)
			}
		}
		if _, err := UnmarshalSignedEntry(append(b, 0), 4096); !errors.Is(err, ErrMalformed) {
			t.Fatalf("trailing byte: err = %v", err)
		}
	}
	_, _, se := testEntry(t, strings.Repeat("k", 100), "x", 1)
	b, _ := se.MarshalBinary()
	if _, err := UnmarshalSignedEntry(b, 99); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("key over limit: err = %v, want ErrKeyTooLong", err)
	}
}

func TestValidateRemote(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_000_000)
	ns, author, good := testEntry(t, "k", "v", uint64(now.UnixMicro()))
	lim := DefaultLimits()
	if err := lim.ValidateRemote(&good, ns.ID(), now); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	other, _ := NewNamespace(nil)
	mk := func(key string, r Record) SignedEntry {
		return mustSign(ns, author, Entry{Key: []byte(key), Record: r})
	}
	ts := uint64(now.UnixMicro())
	badSig := good
	badSig.AuthorSig[3] ^= 1
	badNsSig := good
	badNsSig.NamespaceSig[10] ^= 1
	tampered := good.Clone()
	tampered.Timestamp++
	cases := []struct {
		name string
		se   SignedEntry
		ns   NamespaceID
		want error
	}{
		{"wrong namespace", good, other.ID(), ErrWrongNamespace},
		{"bad author signature", badSig, ns.ID(), ErrBadSignature},
		{"bad namespace signature", badNsSig, ns.ID(), ErrBadSignature},
		{"tampered record", tampered, ns.ID(), ErrBadSignature},
		{"future", mk("k", Record{Hash: HashContent([]byte("v")), Len: 1, Timestamp: ts + uint64(11*time.Minute/time.Microsecond)}), ns.ID(), ErrFutureTimestamp},
		{"empty hash with length", mk("k", Record{Hash: EmptyHash, Len: 3, Timestamp: ts}), ns.ID(), ErrMalformedTombstone},
		{"zero length with hash", mk("k", Record{Hash: HashContent([]byte("v")), Len: 0, Timestamp: ts}), ns.ID(), ErrMalformedTombstone},
		{"key too long", mk(strings.Repeat("x", 4097), Record{Hash: HashContent([]byte("v")), Len: 1, Timestamp: ts}), ns.ID(), ErrKeyTooLong},
		{"empty key", mk("", Record{Hash: HashContent([]byte("v")), Len: 1, Timestamp: ts}), ns.ID(), ErrEmptyKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := lim.ValidateRemote(&c.se, c.ns, now)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// Nine minutes ahead is within the default window; an empty-prefix
	// tombstone is a valid "delete everything of this author".
	ok := []SignedEntry{
		mk("k", Record{Hash: HashContent([]byte("v")), Len: 1, Timestamp: ts + uint64(9*time.Minute/time.Microsecond)}),
		mk("", Record{Hash: EmptyHash, Len: 0, Timestamp: ts}),
	}
	for i := range ok {
		if err := lim.ValidateRemote(&ok[i], ns.ID(), now); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}

func TestVerifyBatch(t *testing.T) {
	ns, author := conformanceKeys()
	var entries []SignedEntry
	for i := range 300 {
		entries = append(entries, mustSign(ns, author, Entry{Key: []byte{byte(i), byte(i >> 8)}, Record: Record{Hash: HashContent([]byte{byte(i)}), Len: 1, Timestamp: uint64(i + 1)}}))
	}
	bad := map[int]bool{0: true, 77: true, 299: true}
	for i := range bad {
		if i%2 == 0 {
			entries[i].AuthorSig[0] ^= 1
		} else {
			entries[i].NamespaceSig[5] ^= 1
		}
	}
	// An author id that is not a curve point fails verification, not the batch.
	var notAPoint AuthorID
	for i := range notAPoint {
		notAPoint[i] = 0xff
	}
	entries[150].Author = notAPoint
	bad[150] = true
	errs := VerifyBatch(entries)
	for i, err := range errs {
		if bad[i] != (err != nil) {
			t.Fatalf("entry %d: err = %v, bad = %v", i, err, bad[i])
		}
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("entry %d: err = %v, want ErrBadSignature", i, err)
		}
	}
	if errs := VerifyBatch(entries[1:2]); errs[0] != nil {
		t.Fatalf("single good entry: %v", errs[0])
	}
}

func TestCapabilityMerge(t *testing.T) {
	ns, _ := conformanceKeys()
	r, w := ReadCapability(ns.ID()), WriteCapability(ns)
	if got, err := r.Merge(w); err != nil || got.Kind() != Write {
		t.Fatalf("read+write = %v, %v; want write", got.Kind(), err)
	}
	if got, err := w.Merge(r); err != nil || got.Kind() != Write {
		t.Fatalf("write+read = %v, %v; want write (no downgrade)", got.Kind(), err)
	}
	other, _ := NewNamespace(nil)
	if _, err := r.Merge(ReadCapability(other.ID())); !errors.Is(err, ErrNamespaceMismatch) {
		t.Fatalf("mismatched merge: err = %v", err)
	}
	for _, c := range []Capability{r, w} {
		b, err := c.ExportBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalCapability(b)
		if err != nil || got.Kind() != c.Kind() || got.ID() != c.ID() {
			t.Fatalf("capability round trip: %v %v", got, err)
		}
	}
	if _, err := UnmarshalCapability([]byte{9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short capability: %v", err)
	}
}

func TestKeyTextRoundTrip(t *testing.T) {
	ns, author := conformanceKeys()
	a2, err := ParseAuthor(author.ExportSecret())
	if err != nil || a2.ID() != author.ID() {
		t.Fatalf("author export/import: %v", err)
	}
	n2, err := ParseNamespaceSecret(ns.ExportSecret())
	if err != nil || n2.ID() != ns.ID() {
		t.Fatalf("namespace export/import: %v", err)
	}
	id, err := ParseAuthorID(author.ID().String())
	if err != nil || id != author.ID() {
		t.Fatalf("author id: %v", err)
	}
	if len(author.ID().Short()) != 10 {
		t.Fatal("short id must be 10 characters")
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64), strings.Repeat("a", 63)} {
		if _, err := ParseNamespaceID(bad); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("ParseNamespaceID(%q) err = %v", bad, err)
		}
	}
}

// BenchmarkVerifyBatch reports the cost of checking both signatures of one
// entry of a document with one author, on all cores.
func BenchmarkVerifyBatch(b *testing.B) {
	ns, author := conformanceKeys()
	entries := make([]Entry, 1024)
	for i := range entries {
		entries[i] = Entry{Key: []byte{byte(i), byte(i >> 8)}, Record: Record{Hash: HashContent([]byte{byte(i)}), Len: 1, Timestamp: uint64(i + 1)}}
	}
	signed := mustSignAll(ns, author, entries)
	for b.Loop() {
		for _, err := range VerifyBatch(signed) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(signed)), "µs/entry")
}

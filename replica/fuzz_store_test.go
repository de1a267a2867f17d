package replica

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

func signum(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// FuzzKeyEscape checks that escaping round-trips, that anything appended
// after an escaped key leaves the order of the raw keys intact, and that the
// escaped body of a prefix matches exactly the keys that start with it.
func FuzzKeyEscape(f *testing.F) {
	f.Add([]byte("a"), []byte("a\x00"), []byte{0xFF}, []byte{})
	f.Add([]byte("a\x00"), []byte("ab"), []byte{}, []byte{0})
	f.Add([]byte{}, []byte{0}, []byte{0xFF, 0xFF}, []byte{0x01})
	f.Add([]byte{0, 1}, []byte{0, 0xFF}, []byte{0, 2}, []byte{})
	f.Fuzz(func(t *testing.T, a, b, x, y []byte) {
		ea, eb := appendEscaped(nil, a), appendEscaped(nil, b)
		if len(ea) != escapedLen(a) {
			t.Fatalf("escapedLen(%x) = %d, escaping is %d bytes", a, escapedLen(a), len(ea))
		}
		got, rest, err := unescapeKey(append(bytes.Clone(ea), x...))
		if err != nil || !bytes.Equal(got, a) || !bytes.Equal(rest, x) {
			t.Fatalf("unescape(escape(%x)||%x) = %x, %x, %v", a, x, got, rest, err)
		}
		if !bytes.Equal(a, b) {
			want := signum(bytes.Compare(a, b))
			if c := signum(bytes.Compare(append(bytes.Clone(ea), x...), append(bytes.Clone(eb), y...))); c != want {
				t.Fatalf("escape changes the order of %x and %x: %d, want %d", a, b, c, want)
			}
		}
		if bytes.HasPrefix(ea, appendEscapedBody(nil, b)) != bytes.HasPrefix(a, b) {
			t.Fatalf("escaped body of %x as a prefix of escape(%x) disagrees with the raw keys", b, a)
		}
		// Index keys split back into key and author.
		var author AuthorID
		copy(author[:], y)
		k := indexKey(NamespaceID{}, a, author)
		key, gotAuthor, err := splitIndexKey(k[1+IDLen:])
		if err != nil || !bytes.Equal(key, a) || gotAuthor != author {
			t.Fatalf("splitIndexKey: %x %v %v", key, gotAuthor, err)
		}
		// Arbitrary bytes never panic.
		_, _, _ = unescapeKey(x)
		_, _, _ = splitIndexKey(y)
	})
}

// FuzzDecodeRecordValue checks the records table value decoder never panics
// and that whatever it accepts re-encodes to a value it decodes the same.
func FuzzDecodeRecordValue(f *testing.F) {
	se := rawEntry(NamespaceID{1}, AuthorID{2}, "k", "content", 1_700_000_000_000_000)
	val := appendRecordValue(nil, &se)
	f.Add(val, uint64(7), uint64(1<<63))
	f.Add(val[:len(val)-1], uint64(0), uint64(0))
	f.Add([]byte{}, uint64(1), uint64(2))
	f.Add([]byte{0x80, 0x80}, uint64(1<<40), uint64(3))
	f.Fuzz(func(t *testing.T, b []byte, length, ts uint64) {
		var got SignedEntry
		if err := decodeRecordValue(b, &got); err == nil {
			if enc := appendRecordValue(nil, &got); !bytes.Equal(enc, b) {
				t.Fatalf("%x decodes to a record that encodes as %x", b, enc)
			}
			var again SignedEntry
			if err := decodeRecordValue(appendRecordValue(nil, &got), &again); err != nil || again.Record != got.Record || again.NamespaceSig != got.NamespaceSig || again.AuthorSig != got.AuthorSig {
				t.Fatalf("re-encoding changed the record: %+v vs %+v (%v)", again, got, err)
			}
		}
		// Every record value round-trips.
		want := SignedEntry{Entry: Entry{Record: Record{Len: length, Timestamp: ts, Hash: HashContent(b)}}}
		copy(want.NamespaceSig[:], b)
		copy(want.AuthorSig[:], b[min(len(b), 64):])
		enc := appendRecordValue(nil, &want)
		if len(enc) != recordValueLen(&want) {
			t.Fatalf("recordValueLen %d, encoding %d", recordValueLen(&want), len(enc))
		}
		var dec SignedEntry
		if err := decodeRecordValue(enc, &dec); err != nil || dec.Record != want.Record || dec.NamespaceSig != want.NamespaceSig || dec.AuthorSig != want.AuthorSig {
			t.Fatalf("round trip: %+v vs %+v (%v)", dec, want, err)
		}
		// Index values too.
		r, err := decodeIndexValue(appendIndexValue(nil, &want.Record))
		if err != nil || r.Timestamp != ts || r.Hash != want.Hash {
			t.Fatalf("index value round trip: %+v, %v", r, err)
		}
		_, _ = decodeIndexValue(b)
	})
}

// FuzzDownloadPolicy checks the policy decoder never panics, respects its
// bounds, and that what it accepts round-trips.
func FuzzDownloadPolicy(f *testing.F) {
	p := DownloadPolicy{Mode: DownloadNothingExcept, Filters: []KeyFilter{{Prefix: true, Key: []byte("photos/")}, {Key: []byte("a\x00")}, {Key: []byte{}}}}
	b, _ := p.MarshalBinary()
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{0, 0})
	f.Add(binary.AppendUvarint([]byte{1}, 1<<32))
	f.Add([]byte{1, 1, 1, 0x80, 0x20})
	f.Add([]byte{1, 0x81, 0x00, 0, 0}) // one filter, its count a padded varint
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalDownloadPolicy(b)
		if err != nil {
			return
		}
		if len(p.Filters) > MaxPolicyFilters {
			t.Fatalf("%d filters decoded", len(p.Filters))
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded policy does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("%x decodes to a policy that encodes as %x", b, enc)
		}
		again, err := UnmarshalDownloadPolicy(enc)
		if err != nil || again.Mode != p.Mode || !slices.EqualFunc(again.Filters, p.Filters, func(a, b KeyFilter) bool {
			return a.Prefix == b.Prefix && bytes.Equal(a.Key, b.Key) && len(a.Key) <= MaxPolicyFilterKey
		}) {
			t.Fatalf("round trip changed the policy: %+v vs %+v (%v)", again, p, err)
		}
		// ShouldDownload agrees with the filters.
		for _, f := range p.Filters {
			if p.ShouldDownload(f.Key) != (p.Mode == DownloadNothingExcept) {
				t.Fatalf("filter key %x not matched by its own filter", f.Key)
			}
		}
	})
}

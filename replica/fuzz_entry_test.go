package replica

import (
	"bytes"
	"testing"
)

func FuzzDecodeSignedEntry(f *testing.F) {
	_, _, se := testEntry(f, "wire-format-test", "v", 1_700_000_000_000_000)
	b, _ := se.MarshalBinary()
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		se, rest, err := DecodeSignedEntry(b, 4096)
		if err != nil {
			return
		}
		if len(se.Key) > 4096 {
			t.Fatalf("decoded key of %d bytes past the limit", len(se.Key))
		}
		enc := se.AppendBinary(nil)
		// Varints have more than one encoding; re-encoding must decode to the same entry.
		se2, rest2, err := DecodeSignedEntry(enc, 4096)
		if err != nil || len(rest2) != 0 {
			t.Fatalf("re-decode: %v, %d left", err, len(rest2))
		}
		if !bytes.Equal(se.Key, se2.Key) || se.Record != se2.Record || se.NamespaceSig != se2.NamespaceSig || se.AuthorSig != se2.AuthorSig {
			t.Fatal("re-encoding changed the entry")
		}
		if len(rest) > len(b) {
			t.Fatal("rest longer than input")
		}
	})
}

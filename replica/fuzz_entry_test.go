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
	// The key length 16 as a padded varint (0x90 0x00): not canonical.
	padded := append(append(append([]byte{}, b[:64]...), 0x90, 0x00), b[65:]...)
	f.Add(padded)
	f.Fuzz(func(t *testing.T, b []byte) {
		se, rest, err := DecodeSignedEntry(b, 4096)
		if err != nil {
			return
		}
		if len(se.Key) > 4096 {
			t.Fatalf("decoded key of %d bytes past the limit", len(se.Key))
		}
		enc := se.AppendBinary(nil)
		// One entry has one encoding: what decoded is exactly what it
		// re-encodes to.
		if !bytes.Equal(enc, b[:len(b)-len(rest)]) {
			t.Fatalf("%x decodes to an entry that encodes as %x", b[:len(b)-len(rest)], enc)
		}
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

package replica

import (
	"crypto/rand"
	"errors"
	"testing"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"pgregory.net/rapid"
)

// Encodings of the identity point, a small-order point: the canonical one
// (y = 1) and a non-canonical one (y = p + 1). ZIP-215 accepts both for keys
// and for R.
var (
	identityCanonical    = [32]byte{0: 0x01}
	identityNonCanonical = func() [32]byte {
		var b [32]byte
		b[0] = 0xee
		for i := 1; i < 31; i++ {
			b[i] = 0xff
		}
		b[31] = 0x7f
		return b
	}()
)

// TestVerifyBatchMatchesSingle checks that VerifyBatch and a Verifier
// (with a small key cache, so that keys are evicted) accept exactly what
// SignedEntry.Verify accepts, on random mixes of valid entries, corrupted
// signatures, non-minimal s, keys that are not points and the ZIP-215 edge
// cases of small-order and non-canonical keys and R values.
func TestVerifyBatchMatchesSingle(t *testing.T) {
	ns, _ := conformanceKeys()
	authors := make([]Author, 4)
	for i := range authors {
		var seed [32]byte
		seed[0] = byte(i + 1)
		authors[i] = AuthorFromSeed(seed)
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 600).Draw(t, "n")
		entries := make([]SignedEntry, n)
		for i := range entries {
			a := authors[rapid.IntRange(0, len(authors)-1).Draw(t, "author")]
			entries[i] = mustSign(ns, a, Entry{Key: []byte{byte(i), byte(i >> 8)}, Record: Record{Hash: HashContent([]byte{byte(i)}), Len: 1, Timestamp: uint64(i + 1)}})
			switch rapid.IntRange(0, 20).Draw(t, "fault") {
			case 0: // flipped bit in R
				entries[i].AuthorSig[rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
			case 1: // flipped bit in s
				entries[i].NamespaceSig[32+rapid.IntRange(0, 30).Draw(t, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
			case 2: // s not reduced: the top bits set
				entries[i].AuthorSig[63] |= 0xf0
			case 3: // an author key that is not a point
				for j := range entries[i].Author {
					entries[i].Author[j] = 0xff
				}
			case 4, 5: // small-order key and R with s = 0: valid under ZIP-215
				key, r := identityCanonical, identityNonCanonical
				if rapid.Bool().Draw(t, "swap") {
					key, r = r, key
				}
				entries[i].Author = AuthorID(key)
				entries[i].AuthorSig = [64]byte{}
				copy(entries[i].AuthorSig[:32], r[:])
			case 6: // the same, with s = 1: invalid
				entries[i].Author = AuthorID(identityCanonical)
				entries[i].AuthorSig = [64]byte{32: 1}
				copy(entries[i].AuthorSig[:32], identityCanonical[:])
			case 7: // signed by another author's key
				entries[i].Author = authors[(rapid.IntRange(0, len(authors)-1).Draw(t, "other"))].ID()
			}
		}
		errs := VerifyBatch(entries)
		v := NewVerifier(rapid.IntRange(1, 8).Draw(t, "cached keys"))
		for i := range entries {
			want := entries[i].Verify()
			if (want == nil) != (errs[i] == nil) {
				t.Fatalf("entry %d: batch says %v, single says %v", i, errs[i], want)
			}
			if got := v.Verify(&entries[i]); (got == nil) != (want == nil) {
				t.Fatalf("entry %d: Verifier says %v, single says %v", i, got, want)
			}
			if errs[i] != nil && !errors.Is(errs[i], ErrBadSignature) {
				t.Fatalf("entry %d: %v, want ErrBadSignature", i, errs[i])
			}
		}
	})
}

// TestVerifyBatchKeyLimit checks entries whose keys are beyond the decoded
// key limit are still verified.
func TestVerifyBatchKeyLimit(t *testing.T) {
	ns, _ := conformanceKeys()
	entries := make([]SignedEntry, maxBatchKeys+10)
	for i := range entries {
		var seed [32]byte
		seed[0], seed[1] = byte(i), byte(i>>8)
		entries[i] = mustSign(ns, AuthorFromSeed(seed), Entry{Key: []byte("k"), Record: Record{Hash: HashContent([]byte{1}), Len: 1, Timestamp: 1}})
	}
	last := len(entries) - 1
	entries[last].AuthorSig[40] ^= 1
	for i, err := range VerifyBatch(entries) {
		if (i == last) != (err != nil) {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}

// BenchmarkVerifyBatchGeneric is the cost of the same work through the
// library's generic batch verifier, for comparison with
// BenchmarkVerifyBatch.
func BenchmarkVerifyBatchGeneric(b *testing.B) {
	ns, author := conformanceKeys()
	entries := make([]Entry, 1024)
	for i := range entries {
		entries[i] = Entry{Key: []byte{byte(i), byte(i >> 8)}, Record: Record{Hash: HashContent([]byte{byte(i)}), Len: 1, Timestamp: uint64(i + 1)}}
	}
	signed := mustSignAll(ns, author, entries)
	nsKey, _ := voi.NewExpandedPublicKey(voi.PublicKey(signed[0].Namespace[:]))
	auKey, _ := voi.NewExpandedPublicKey(voi.PublicKey(signed[0].Author[:]))
	for b.Loop() {
		parallel(len(signed), 64, func(lo, hi int) {
			bv := voi.NewBatchVerifierWithCapacity(2 * (hi - lo))
			for i := lo; i < hi; i++ {
				msg := signed[i].SigningBytes()
				bv.AddExpandedWithOptions(nsKey, msg, signed[i].NamespaceSig[:], zip215)
				bv.AddExpandedWithOptions(auKey, msg, signed[i].AuthorSig[:], zip215)
			}
			if ok, _ := bv.Verify(rand.Reader); !ok {
				b.Error("batch failed")
			}
		})
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(signed)), "µs/entry")
}

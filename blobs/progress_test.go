package blobs

import (
	"bytes"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

// TestHeldBytes: a missing blob holds nothing, a fetch stopped part way
// holds what it wrote, and a complete blob its length, in both tiers.
func TestHeldBytes(t *testing.T) {
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			s := openStoreOptions(t, Options{SmallMax: tier.smallMax, GroupLog: 0, GroupLogSet: true})
			// 33000 bytes is a file; 5500 fits the small-blob database.
			content := bytes.Repeat([]byte("held bytes "), 3000)
			if tier.smallMax == 0 {
				content = content[:5500]
			}
			h, n := replica.HashContent(content), uint64(len(content))
			if got := s.HeldBytes(h, n); got != 0 {
				t.Fatalf("missing blob: %d bytes held", got)
			}
			p, err := s.BeginFetch(h, n)
			if err != nil {
				t.Fatal(err)
			}
			// The first two groups of 1 KiB arrive.
			enc, err := NewSliceEncoder(bytes.NewReader(content), int64(n), s.GroupLog())
			if err != nil {
				t.Fatal(err)
			}
			var slice bytes.Buffer
			if err := enc.WriteSlice(&slice, Range{0, 2}); err != nil {
				t.Fatal(err)
			}
			if err := p.ReadSlice(&slice, 0, 2, nil); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			want := uint64(2048)
			if tier.smallMax == 0 {
				want = 0 // a small blob's fetch is collected in memory and starts over
			}
			if got := s.HeldBytes(h, n); got != want || (want > 0) != (s.Status(h, n) == Incomplete) {
				t.Fatalf("partial: %d bytes held, want %d (status %v)", got, want, s.Status(h, n))
			}
			if _, _, err := s.PutBytes(content); err != nil {
				t.Fatal(err)
			}
			if got := s.HeldBytes(h, n); got != n {
				t.Fatalf("complete blob: %d of %d bytes held", got, n)
			}
			// Another length names another blob: not held.
			if got := s.HeldBytes(h, n+1); got == n+1 {
				t.Fatalf("wrong length counted as complete")
			}
		})
	}
}

package blobs

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

// TestEachAndDelete: Each reports every blob held, small, file and
// partial, with its size, and skips other files; Delete removes each kind
// and reports the bytes freed.
func TestEachAndDelete(t *testing.T) {
	s := openStoreOptions(t, Options{SmallMax: 64, GroupLog: 0, GroupLogSet: true})
	smallH, _, err := s.PutBytes([]byte("small"))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("b"), 1000)
	bigH, _, err := s.PutBytes(big)
	if err != nil {
		t.Fatal(err)
	}
	partContent := bytes.Repeat([]byte("p"), 3000) // three groups of 1 KiB
	partH := replica.HashContent(partContent)
	p, err := s.BeginFetch(partH, uint64(len(partContent)))
	if err != nil {
		t.Fatal(err)
	}
	writeGroups(t, p, partContent, Range{0, 1})
	p.Close()
	// A file beside a blob that is not one is not reported.
	if err := os.WriteFile(s.path(bigH)+".extra", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	held, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(held, func(a, b Held) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	want := []Held{{Hash: smallH, Size: 5}, {Hash: bigH, Size: 1000}, {Hash: partH, Size: 1024, Partial: true}}
	slices.SortFunc(want, func(a, b Held) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	if !slices.Equal(held, want) {
		t.Fatalf("List = %+v, want %+v", held, want)
	}

	for _, c := range []struct {
		h    replica.Hash
		size int64
	}{{smallH, 5}, {bigH, 1000 + int64(newTree(1000, 0).outboardSize())}, {partH, 1024}} {
		n, err := s.Delete(c.h)
		// A partial blob's outboard and bitfield count too.
		if err != nil || n != c.size && (c.h != partH || n < c.size) {
			t.Fatalf("Delete(%x…) = %d, %v; want %d", c.h[:4], n, err, c.size)
		}
		if n, err := s.Delete(c.h); err != nil || n != 0 {
			t.Fatalf("second Delete = %d, %v", n, err)
		}
	}
	if s.Has(smallH) || s.Has(bigH) || s.Status(partH, uint64(len(partContent))) != Missing {
		t.Fatal("a deleted blob is still held")
	}
	held, err = s.List()
	if err != nil || len(held) != 0 {
		t.Fatalf("List after Delete = %+v, %v", held, err)
	}
}

// TestDeleteRefusesFetch: Delete never removes a blob a fetch is writing,
// and a fetch cannot begin while Delete holds the hash.
func TestDeleteRefusesFetch(t *testing.T) {
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			s := openStoreOptions(t, Options{SmallMax: tier.smallMax})
			content := bytes.Repeat([]byte("f"), 100)
			h := replica.HashContent(content)
			p, err := s.BeginFetch(h, uint64(len(content)))
			if err != nil {
				t.Fatal(err)
			}
			if !s.Fetching(h) {
				t.Fatal("Fetching is false during a fetch")
			}
			if _, err := s.Delete(h); !errors.Is(err, ErrFetching) {
				t.Fatalf("Delete during a fetch: %v, want ErrFetching", err)
			}
			writeGroups(t, p, content, Range{0, p.Groups()})
			if err := p.Finish(); err != nil {
				t.Fatal(err)
			}
			if s.Fetching(h) || !s.Has(h) {
				t.Fatalf("after Finish: fetching %v, has %v", s.Fetching(h), s.Has(h))
			}
			if n, err := s.Delete(h); err != nil || n < 100 || s.Has(h) {
				t.Fatalf("Delete after the fetch = %d, %v; has %v", n, err, s.Has(h))
			}
		})
	}
}

// TestWanted: Wanted follows PutWant and DeleteWant.
func TestWanted(t *testing.T) {
	s := openStore(t, 0)
	h := replica.HashContent([]byte("w"))
	if s.Wanted(h) {
		t.Fatal("wanted before PutWant")
	}
	if err := s.PutWant(h, []byte("rec")); err != nil {
		t.Fatal(err)
	}
	if !s.Wanted(h) {
		t.Fatal("not wanted after PutWant")
	}
	if err := s.DeleteWant(h); err != nil {
		t.Fatal(err)
	}
	if s.Wanted(h) {
		t.Fatal("wanted after DeleteWant")
	}
}

// writeGroups writes groups r of content into p, as a fetch would.
func writeGroups(t *testing.T, p *Partial, content []byte, r Range) {
	t.Helper()
	enc, err := NewSliceEncoder(bytes.NewReader(content), int64(len(content)), p.GroupLog())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := enc.WriteSlice(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := p.ReadSlice(&b, r.Start, r.End, nil); err != nil {
		t.Fatal(err)
	}
}

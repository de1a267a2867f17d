package actor

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

// TestContentHashesPages: paging through a document with ContentHashes
// yields the hash of every live entry once, of every author, and none of
// an overwritten value or a tombstone.
func TestContentHashesPages(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Batched)
	other, err := a.CreateAuthor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[replica.Hash]int{}
	for i := range 23 {
		v := fmt.Sprintf("v%d", i)
		set(t, a, ns, author, fmt.Sprintf("k%02d", i), v)
		want[replica.HashContent([]byte(v))]++
	}
	set(t, a, ns, other, "k00", "other")
	want[replica.HashContent([]byte("other"))]++
	// Overwritten: v0's entry at k00 now names "new".
	set(t, a, ns, author, "k00", "new")
	delete(want, replica.HashContent([]byte("v0")))
	want[replica.HashContent([]byte("new"))]++
	if _, _, err := a.DeletePrefix(ctx, ns, author, []byte("k1")); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		delete(want, replica.HashContent(fmt.Appendf(nil, "v%d", i)))
	}

	got := map[replica.Hash]int{}
	var after replica.Cursor
	pages := 0
	for {
		hashes, next, err := a.ContentHashes(ctx, ns, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(hashes) > 5 {
			t.Fatalf("page of %d hashes, max 5", len(hashes))
		}
		for _, h := range hashes {
			if h == replica.EmptyHash {
				t.Fatal("a tombstone's hash was returned")
			}
			got[h]++
		}
		if next == nil {
			break
		}
		after = next
	}
	if pages < 3 {
		t.Fatalf("%d pages for %d entries in pages of 5", pages, len(want))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hashes %v, want %v", got, want)
	}
	if _, _, err := a.ContentHashes(ctx, replica.NamespaceID{1}, nil, 5); !errors.Is(err, replica.ErrNotFound) {
		t.Fatalf("ContentHashes of an unknown document: %v, want replica.ErrNotFound", err)
	}
}

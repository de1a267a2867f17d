package replica

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The reference model of Txn.Insert: the stored state as a function of the
// set of entries received, with no notion of arrival order.

func sameSlot(a, b *Entry) bool {
	return a.Namespace == b.Namespace && a.Author == b.Author
}

// coversByPrefix reports whether tombstone t deletes e: same author, t's key
// a proper prefix of e's, and a later record.
func coversByPrefix(t, e *Entry) bool {
	return t.IsTombstone() && sameSlot(t, e) && len(t.Key) < len(e.Key) &&
		bytes.HasPrefix(e.Key, t.Key) && t.Record.Compare(e.Record) > 0
}

// modelValues returns, per (author, key), the latest entry received, unless
// a later tombstone at a proper prefix covers it.
func modelValues(all []SignedEntry) []SignedEntry {
	var out []SignedEntry
	for i := range all {
		e := &all[i]
		keep := true
		for j := range all {
			f := &all[j]
			if (sameSlot(&f.Entry, &e.Entry) && bytes.Equal(f.Key, e.Key) && f.Record.Compare(e.Record) > 0) || coversByPrefix(&f.Entry, &e.Entry) {
				keep = false
				break
			}
		}
		if keep && !slices.ContainsFunc(out, func(o SignedEntry) bool { return sameEntry(&o, e) }) {
			out = append(out, *e)
		}
	}
	sortAuthorKey(out)
	return out
}

// modelTombs returns the tombstones that no later tombstone at a prefix of
// (or at) their key covers.
func modelTombs(all []SignedEntry) []SignedEntry {
	var out []SignedEntry
	for i := range all {
		e := &all[i]
		if !e.IsTombstone() {
			continue
		}
		keep := true
		for j := range all {
			f := &all[j]
			if f.IsTombstone() && sameSlot(&f.Entry, &e.Entry) && bytes.HasPrefix(e.Key, f.Key) && f.Record.Compare(e.Record) > 0 {
				keep = false
				break
			}
		}
		if keep && !slices.ContainsFunc(out, func(o SignedEntry) bool { return sameEntry(&o, e) }) {
			out = append(out, *e)
		}
	}
	return out
}

// modelStored is the union of the two layers: what Items lists.
func modelStored(all []SignedEntry) []SignedEntry {
	out := modelValues(all)
	for _, t := range modelTombs(all) {
		if !slices.ContainsFunc(out, func(o SignedEntry) bool { return sameEntry(&o, &t) }) {
			out = append(out, t)
		}
	}
	sortAuthorKey(out)
	return out
}

func sameEntry(a, b *SignedEntry) bool {
	return a.Namespace == b.Namespace && a.Author == b.Author && bytes.Equal(a.Key, b.Key) && a.Record == b.Record
}

// refStore replays arrivals against the model.
type refStore struct {
	received []SignedEntry
}

func newRefStore() *refStore { return &refStore{} }

// insert returns the outcome Insert must report for se.
func (r *refStore) insert(se SignedEntry) InsertOutcome {
	before := modelStored(r.received)
	r.received = append(r.received, se)
	after := modelStored(r.received)
	in := func(set []SignedEntry, e *SignedEntry) bool {
		return slices.ContainsFunc(set, func(o SignedEntry) bool { return sameEntry(&o, e) })
	}
	switch {
	case in(before, &se):
		return InsertOutcome{Reason: Duplicate}
	case !in(after, &se):
		// Refused: by the entry at its own key (for a tombstone, the
		// tombstone at its key) or by a covering tombstone.
		for _, f := range before {
			if !sameSlot(&f.Entry, &se.Entry) || !bytes.Equal(f.Key, se.Key) || f.Record.Compare(se.Record) <= 0 {
				continue
			}
			if !se.IsTombstone() || f.IsTombstone() {
				return InsertOutcome{Reason: Superseded}
			}
		}
		return InsertOutcome{Reason: DeletedByPrefix}
	}
	out := InsertOutcome{Inserted: true}
	for i := range before {
		if !in(after, &before[i]) {
			out.Removed++
		}
	}
	return out
}

func sortAuthorKey(es []SignedEntry) {
	slices.SortFunc(es, func(a, b SignedEntry) int {
		return cmp.Or(bytes.Compare(a.Author[:], b.Author[:]), bytes.Compare(a.Key, b.Key))
	})
}

func describeAll(es []SignedEntry) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = fmt.Sprintf("%s#%x", describe(&es[i].Entry), es[i].Hash[:2])
	}
	return out
}

// signer caches signatures: signing dominates the cost of a check, and the
// same few entries come up again and again.
type signer struct {
	f     fixture
	cache map[string]SignedEntry
}

func (s *signer) sign(author int, key string, content string, tomb bool, ts uint64) SignedEntry {
	id := fmt.Sprintf("%d|%q|%q|%v|%d", author, key, content, tomb, ts)
	if se, ok := s.cache[id]; ok {
		return se.Clone()
	}
	var se SignedEntry
	if tomb {
		se = s.f.tombstone(author, key, ts)
	} else {
		se = s.f.entry(author, key, content, ts)
	}
	s.cache[id] = se
	return se.Clone()
}

var propKeys = []string{"", "a", "ab", "abc", "b", "ba", "a\x00"}

// drawUniverse draws a small set of entries where keys share prefixes,
// timestamps collide and same-key same-timestamp entries differ by hash.
func drawUniverse(t *rapid.T, sg *signer) []SignedEntry {
	n := rapid.IntRange(1, 24).Draw(t, "n")
	out := make([]SignedEntry, 0, n)
	for i := range n {
		author := rapid.IntRange(0, len(sg.f.authors)-1).Draw(t, fmt.Sprintf("author%d", i))
		key := rapid.SampledFrom(propKeys).Draw(t, fmt.Sprintf("key%d", i))
		tomb := key == "" || rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("tomb%d", i)) == 0
		content := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, fmt.Sprintf("content%d", i))
		ts := rapid.Uint64Range(1, 6).Draw(t, fmt.Sprintf("ts%d", i))
		out = append(out, sg.sign(author, key, content, tomb, ts))
	}
	return out
}

// replay inserts order into a fresh store and the reference, committing at
// random points, and checks every outcome against the reference.
func replay(t *rapid.T, label string, f fixture, order []SignedEntry) (*Store, *refStore) {
	s, err := OpenStore("", StoreOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	putDocRapid(t, s, f)
	ref := newRefStore()
	txn := s.NewTxn()
	defer func() { txn.Close() }()
	// Sometimes a transaction starts with a Prefetch of every entry still
	// to come, as the store actor does for a batch: outcomes must not
	// change.
	prefetch := func(i int) {
		if rapid.Bool().Draw(t, fmt.Sprintf("%s-prefetch%d", label, i)) {
			if err := txn.Prefetch(order[i:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	prefetch(0)
	for i, se := range order {
		var removed []Entry
		got, err := txn.Insert(&se, func(e Entry) { removed = append(removed, e) })
		if err != nil {
			t.Fatalf("%s: insert %d: %v", label, i, err)
		}
		want := ref.insert(se)
		if got != want || len(removed) != got.Removed {
			t.Fatalf("%s: insert %d (%s): got %+v (%d removed reported), reference %+v", label, i, describe(&se.Entry), got, len(removed), want)
		}
		if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("%s-commit%d", label, i)) == 0 {
			if err := txn.Commit(false); err != nil {
				t.Fatal(err)
			}
			txn = s.NewTxn()
			prefetch(i + 1)
		}
	}
	if err := txn.Commit(false); err != nil {
		t.Fatal(err)
	}
	return s, ref
}

func putDocRapid(t *rapid.T, s *Store, f fixture) {
	txn := s.NewTxn()
	defer txn.Close()
	if _, err := txn.PutDoc(DocInfo{Capability: WriteCapability(f.ns)}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(false); err != nil {
		t.Fatal(err)
	}
}

func stored(t *rapid.T, s *Store, ns NamespaceID) []SignedEntry {
	var out []SignedEntry
	for se, err := range s.Query(ns, Query{IncludeTombstones: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, se)
	}
	return out
}

// items returns the ids Items lists, sorted.
func itemIDs(t *rapid.T, s *Store, ns NamespaceID) []string {
	var out []string
	for it, err := range s.Items(ns) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d/%x", it.Timestamp, it.ID[:4]))
	}
	slices.Sort(out)
	return out
}

func itemsOf(es []SignedEntry) []string {
	var out []string
	for i := range es {
		id := es[i].ID()
		out = append(out, fmt.Sprintf("%d/%x", es[i].Timestamp, id[:4]))
	}
	slices.Sort(out)
	return out
}

// TestLWWProperties inserts one universe of entries in two random orders,
// with duplicates, and checks that
//   - every Insert outcome, and the number of removals it reports, matches
//     the model replayed in the same order;
//   - both stores end with the model's values (Query) and the model's stored
//     set (Items, Count), whatever the order;
//   - heads are the latest timestamp of each author among all entries.
func TestLWWProperties(t *testing.T) {
	f := newFixture(20, 2)
	sg := &signer{f: f, cache: map[string]SignedEntry{}}
	ns := f.id()
	rapid.Check(t, func(t *rapid.T) {
		universe := drawUniverse(t, sg)
		orderA := rapid.Permutation(universe).Draw(t, "orderA")
		orderB := rapid.Permutation(universe).Draw(t, "orderB")
		dups := rapid.SliceOfN(rapid.SampledFrom(universe), 0, 4).Draw(t, "dups")
		orderB = append(orderB, dups...)

		sa, _ := replay(t, "A", f, orderA)
		defer sa.Close()
		sb, _ := replay(t, "B", f, orderB)
		defer sb.Close()

		wantValues := describeAll(modelValues(universe))
		wantItems := itemsOf(modelStored(universe))
		for label, s := range map[string]*Store{"A": sa, "B": sb} {
			if got := describeAll(stored(t, s, ns)); !slices.Equal(got, wantValues) {
				t.Fatalf("order %s: values %v, model %v", label, got, wantValues)
			}
			if got := itemIDs(t, s, ns); !slices.Equal(got, wantItems) {
				t.Fatalf("order %s: items %v, model %v", label, got, wantItems)
			}
			if n, err := s.Count(ns); err != nil || n != len(wantItems) {
				t.Fatalf("order %s: Count = %d, %v; model %d", label, n, err, len(wantItems))
			}
		}

		wantHeads := Heads{}
		for _, se := range universe {
			if h, ok := wantHeads[se.Author]; !ok || se.Timestamp > h {
				wantHeads[se.Author] = se.Timestamp
			}
		}
		for label, s := range map[string]*Store{"A": sa, "B": sb} {
			h, err := s.Heads(ns)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(h) != fmt.Sprint(wantHeads) {
				t.Fatalf("order %s: heads %v, want %v", label, h, wantHeads)
			}
		}
	})
}

// TestWriteOverTombstoneKeepsItsDeletes: deleting the prefix "a" and then
// writing "a" must not bring back "ab", in any arrival order. With tombstone
// "a"@10, "ab"@5 and ordinary "a"@20 every order ends with only "a"@20
// visible, and the tombstone kept as a stored (hidden) entry.
func TestWriteOverTombstoneKeepsItsDeletes(t *testing.T) {
	f := newFixture(21, 1)
	tomb, under, over := f.tombstone(0, "a", 10), f.entry(0, "ab", "x", 5), f.entry(0, "a", "y", 20)
	orders := [][]SignedEntry{
		{under, tomb, over}, {under, over, tomb}, {tomb, under, over},
		{tomb, over, under}, {over, under, tomb}, {over, tomb, under},
	}
	for _, order := range orders {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		for _, se := range order {
			insert(t, s, se)
		}
		got := all(t, s, f.id())
		if len(got) != 1 || got[0] != describe(&over.Entry) {
			t.Fatalf("order %s, %s, %s: values %v, want only %s", describe(&order[0].Entry), describe(&order[1].Entry), describe(&order[2].Entry), got, describe(&over.Entry))
		}
		if n, err := s.Count(f.id()); err != nil || n != 2 {
			t.Fatalf("Count = %d, %v; want 2 (the value and the hidden tombstone)", n, err)
		}
	}
}

// TestEntryByIDListsTheStoredSet checks that every item Items lists can be
// fetched by its id, one at a time and in a batch, and that entries which
// left the set cannot.
func TestEntryByIDListsTheStoredSet(t *testing.T) {
	f := newFixture(22, 2)
	sg := &signer{f: f, cache: map[string]SignedEntry{}}
	ns := f.id()
	rapid.Check(t, func(t *rapid.T) {
		universe := drawUniverse(t, sg)
		s, _ := replay(t, "A", f, universe)
		defer s.Close()
		want := modelStored(universe)
		for i := range want {
			got, err := s.EntryByID(ns, want[i].ID())
			if err != nil {
				t.Fatalf("stored entry %s: %v", describe(&want[i].Entry), err)
			}
			if !sameEntry(&got, &want[i]) || got.Verify() != nil {
				t.Fatalf("EntryByID(%s) = %s", describe(&want[i].Entry), describe(&got.Entry))
			}
		}
		for i := range universe {
			e := &universe[i]
			if slices.ContainsFunc(want, func(o SignedEntry) bool { return sameEntry(&o, e) }) {
				continue
			}
			if _, err := s.EntryByID(ns, e.ID()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("entry %s left the set but EntryByID = %v", describe(&e.Entry), err)
			}
		}
		// The batched lookup returns exactly the stored set for the ids of
		// the whole universe, duplicates and unknown ids included.
		ids := make([]EntryID, 0, 2*len(universe)+1)
		for i := range universe {
			ids = append(ids, universe[i].ID(), universe[i].ID())
		}
		ids = append(ids, EntryID{0xff})
		got, err := s.EntriesByID(ns, ids)
		if err != nil {
			t.Fatalf("EntriesByID: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("EntriesByID returned %d entries, want %d", len(got), len(want))
		}
		for i := range got {
			if !slices.ContainsFunc(want, func(o SignedEntry) bool { return sameEntry(&o, &got[i]) }) {
				t.Fatalf("EntriesByID returned %s, not in the stored set", describe(&got[i].Entry))
			}
		}
	})
}

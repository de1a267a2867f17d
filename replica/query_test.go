package replica

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// rawEntry builds an entry with dummy signatures: Insert does not verify
// them, which lets tests choose author ids at the edges of the id space.
func rawEntry(ns NamespaceID, author AuthorID, key string, content string, ts uint64) SignedEntry {
	se := SignedEntry{Entry: Entry{Namespace: ns, Author: author, Key: []byte(key), Record: Record{Timestamp: ts}}}
	if content == "" {
		se.Hash = EmptyHash
	} else {
		se.Hash, se.Len = HashContent([]byte(content)), uint64(len(content))
	}
	se.NamespaceSig[0], se.AuthorSig[0] = byte(ts), byte(len(key))
	return se
}

// queryData fills a store with entries of three authors (the smallest and
// largest possible ids among them) in a namespace wedged between two
// neighbours, and returns the reference model's stored set.
func queryData(t testing.TB) (*Store, NamespaceID, []AuthorID, []SignedEntry) {
	var ns NamespaceID
	for i := range ns {
		ns[i] = 0x80
	}
	lowNS, highNS := ns, ns
	lowNS[IDLen-1]--
	highNS[IDLen-1]++
	var lo, mid, hi AuthorID
	for i := range hi {
		hi[i] = 0xFF
	}
	mid[0] = 0x42
	authors := []AuthorID{lo, mid, hi}

	s := openMem(t, StoreOptions{})
	ref := newRefStore()
	update(t, s, func(txn *Txn) error {
		for _, id := range []NamespaceID{lowNS, ns, highNS} {
			if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(id)}); err != nil {
				return err
			}
		}
		keys := []string{"a", "a\x00", "a\x00b", "ab", "abc", "b", "b\xff", "ba", "\xff", "\xff\xff", "c/1", "c/2"}
		ts := uint64(100)
		for ai, author := range authors {
			for ki, key := range keys {
				if (ai+ki)%3 == 2 {
					continue
				}
				ts++
				// Same timestamp across authors on some keys: the hash decides.
				stamp := ts
				if ki%4 == 0 {
					stamp = 50
				}
				se := rawEntry(ns, author, key, fmt.Sprintf("%d-%s", ai, key), stamp)
				if _, err := txn.Insert(&se, nil); err != nil {
					return err
				}
				ref.insert(se)
			}
			// Neighbour documents share authors and keys.
			for _, other := range []NamespaceID{lowNS, highNS} {
				se := rawEntry(other, author, "a", "other", 1)
				if _, err := txn.Insert(&se, nil); err != nil {
					return err
				}
			}
		}
		// Tombstones: one wins key "b" across authors, one sits under newer
		// entries of another author, one deletes a subtree, one is the only
		// entry at its key.
		for _, se := range []SignedEntry{
			rawEntry(ns, mid, "b", "", 1000),
			rawEntry(ns, hi, "ab", "", 60),
			rawEntry(ns, lo, "c/", "", 1001),
			rawEntry(ns, hi, "zz", "", 1002),
		} {
			if _, err := txn.Insert(&se, nil); err != nil {
				return err
			}
			ref.insert(se)
		}
		return nil
	})
	return s, ns, authors, modelValues(ref.received)
}

// queryOrder is the order of q's results: the plan's table order.
func queryOrder(q *Query) func(a, b *SignedEntry) int {
	var c func(a, b *SignedEntry) int
	switch q.planKind() {
	case planRecords:
		c = func(a, b *SignedEntry) int {
			return cmp.Or(bytes.Compare(a.Author[:], b.Author[:]), bytes.Compare(a.Key, b.Key))
		}
	case planIndex:
		c = func(a, b *SignedEntry) int {
			return cmp.Or(bytes.Compare(a.Key, b.Key), bytes.Compare(a.Author[:], b.Author[:]))
		}
	default:
		c = func(a, b *SignedEntry) int { return bytes.Compare(a.Key, b.Key) }
	}
	if q.Descending {
		return func(a, b *SignedEntry) int { return c(b, a) }
	}
	return c
}

// expect computes q's results from the model, ignoring Limit and After.
func expect(model []SignedEntry, q Query) []SignedEntry {
	var sel []SignedEntry
	for _, se := range model {
		if q.Author != nil && se.Author != *q.Author {
			continue
		}
		if q.Key != nil && !bytes.Equal(se.Key, q.Key) {
			continue
		}
		if q.KeyPrefix != nil && !bytes.HasPrefix(se.Key, q.KeyPrefix) {
			continue
		}
		sel = append(sel, se)
	}
	if q.LatestPerKey {
		latest := map[string]SignedEntry{}
		for _, se := range sel {
			if cur, ok := latest[string(se.Key)]; !ok || se.Record.Compare(cur.Record) > 0 {
				latest[string(se.Key)] = se
			}
		}
		sel = sel[:0]
		for _, se := range latest {
			sel = append(sel, se)
		}
	}
	sel = slices.DeleteFunc(sel, func(se SignedEntry) bool { return se.IsTombstone() && !q.IncludeTombstones })
	order := queryOrder(&q)
	slices.SortFunc(sel, func(a, b SignedEntry) int { return order(&a, &b) })
	return sel
}

func run(t testing.TB, s *Store, ns NamespaceID, q Query) []SignedEntry {
	t.Helper()
	var out []SignedEntry
	for se, err := range s.Query(ns, q) {
		if err != nil {
			t.Fatalf("query %s: %v", describeQuery(q), err)
		}
		out = append(out, se)
	}
	return out
}

func describeQuery(q Query) string {
	author := "-"
	if q.Author != nil {
		author = q.Author.Short()[:4]
	}
	return fmt.Sprintf("{author %s key %q prefix %q sort %d desc %v latest %v tombs %v limit %d}",
		author, q.Key, q.KeyPrefix, q.SortBy, q.Descending, q.LatestPerKey, q.IncludeTombstones, q.Limit)
}

func sameEntries(a, b []SignedEntry) bool {
	return slices.EqualFunc(a, b, func(x, y SignedEntry) bool {
		return sameEntry(&x, &y) && x.NamespaceSig == y.NamespaceSig && x.AuthorSig == y.AuthorSig
	})
}

type keyFilter struct {
	key, prefix []byte
}

func queryMatrix(authors []AuthorID) []Query {
	stranger := AuthorID{7}
	authorFilters := []*AuthorID{nil, &authors[0], &authors[2], &stranger}
	keyFilters := []keyFilter{
		{}, {key: []byte("a")}, {key: []byte("b")}, {key: []byte("nope")}, {key: []byte{}},
		{prefix: []byte("a")}, {prefix: []byte("a\x00")}, {prefix: []byte{}}, {prefix: []byte("\xff")},
		{prefix: []byte("c/")},
		{key: []byte("abc"), prefix: []byte("ab")}, {key: []byte("b"), prefix: []byte("a")},
	}
	var qs []Query
	for _, a := range authorFilters {
		for _, kf := range keyFilters {
			for _, sortBy := range []SortBy{SortAuthorKey, SortKeyAuthor} {
				for _, desc := range []bool{false, true} {
					for _, latest := range []bool{false, true} {
						for _, tombs := range []bool{false, true} {
							qs = append(qs, Query{Author: a, Key: kf.key, KeyPrefix: kf.prefix, SortBy: sortBy,
								Descending: desc, LatestPerKey: latest, IncludeTombstones: tombs})
						}
					}
				}
			}
		}
	}
	return qs
}

// TestQueryMatrix runs every combination of filters, order, LatestPerKey and
// IncludeTombstones against the model, then pages through each result with
// Limit and After and checks the pages add up to the whole.
func TestQueryMatrix(t *testing.T) {
	s, ns, authors, model := queryData(t)
	nonEmpty := 0
	for i, q := range queryMatrix(authors) {
		want := expect(model, q)
		got := run(t, s, ns, q)
		if !sameEntries(got, want) {
			t.Fatalf("%s:\n got  %v\n want %v", describeQuery(q), describeAll(got), describeAll(want))
		}
		if len(want) > 0 {
			nonEmpty++
		}
		limit := 1 + i%3 // every page size meets every kind of query across the matrix
		var paged []SignedEntry
		page := q
		page.Limit = limit
		for range len(want) + 2 {
			batch := run(t, s, ns, page)
			if len(batch) > limit {
				t.Fatalf("%s: page of %d entries", describeQuery(page), len(batch))
			}
			paged = append(paged, batch...)
			if len(batch) < limit {
				break
			}
			page.After = q.CursorOf(&batch[len(batch)-1].Entry)
		}
		if !sameEntries(paged, want) {
			t.Fatalf("%s paged by %d:\n got  %v\n want %v", describeQuery(q), limit, describeAll(paged), describeAll(want))
		}
	}
	if nonEmpty < 100 {
		t.Fatalf("only %d queries had results: the data does not exercise the matrix", nonEmpty)
	}
}

// TestQueryAfterArbitraryPosition resumes after positions that are not
// results (other keys, other authors, tombstones hidden from the query) and
// checks the query returns exactly the results past them.
func TestQueryAfterArbitraryPosition(t *testing.T) {
	s, ns, authors, model := queryData(t)
	positions := []Entry{{Key: []byte("")}, {Key: []byte("a\x00a")}, {Key: []byte("ab"), Author: AuthorID{0x50}},
		{Key: []byte("b")}, {Key: []byte("zz"), Author: authors[2]}, {Key: []byte("\xff\xff\xff")}}
	for _, q := range queryMatrix(authors) {
		all := expect(model, q)
		order := queryOrder(&q)
		for _, pos := range positions {
			pos.Namespace = ns
			p := SignedEntry{Entry: pos}
			var want []SignedEntry
			for _, se := range all {
				if order(&se, &p) > 0 {
					want = append(want, se)
				}
			}
			qa := q
			qa.After = q.CursorOf(&pos)
			if got := run(t, s, ns, qa); !sameEntries(got, want) {
				t.Fatalf("%s after %s:\n got  %v\n want %v", describeQuery(q), describe(&pos), describeAll(got), describeAll(want))
			}
		}
	}
}

func TestQueryEdges(t *testing.T) {
	s, ns, _, model := queryData(t)

	// Breaking out early closes the iterators: Close (in cleanup) reports leaks.
	for _, q := range []Query{{}, {SortBy: SortKeyAuthor}, {LatestPerKey: true}} {
		for range s.Query(ns, q) {
			break
		}
	}
	// Entries do not alias store memory.
	first := run(t, s, ns, Query{Limit: 1})
	key := bytes.Clone(first[0].Key)
	first[0].Key[0] ^= 0xFF
	if again := run(t, s, ns, Query{Limit: 1}); !bytes.Equal(again[0].Key, key) {
		t.Fatal("query results alias each other")
	}
	// A cursor of another plan is refused, not misread.
	c := Query{SortBy: SortKeyAuthor}.CursorOf(&model[0].Entry)
	var err error
	for _, e := range s.Query(ns, Query{After: c}) {
		err = e
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("foreign cursor: %v", err)
	}
	// A query of a document the store does not hold is an error, not an
	// empty result.
	var unknownErr error
	for se, err := range s.Query(NamespaceID{1}, Query{IncludeTombstones: true}) {
		if err == nil {
			t.Fatalf("unknown document yields %s", describe(&se.Entry))
		}
		unknownErr = err
	}
	if !errors.Is(unknownErr, ErrNotFound) {
		t.Fatalf("unknown document: %v, want ErrNotFound", unknownErr)
	}
	// Limit alone returns a prefix of the full result.
	full := run(t, s, ns, Query{SortBy: SortKeyAuthor, Descending: true})
	if got := run(t, s, ns, Query{SortBy: SortKeyAuthor, Descending: true, Limit: 4}); !sameEntries(got, full[:4]) {
		t.Fatal("Limit is not a prefix of the full result")
	}
}

var bench1M struct {
	once sync.Once
	s    *Store
	ns   NamespaceID
	n    int
	err  error
}

// BenchmarkQuery1M iterates a document of one million entries (ten authors,
// keys in key order) with the default query.
func BenchmarkQuery1M(b *testing.B) {
	const total, authors, perTxn = 1_000_000, 10, 10_000
	bench1M.once.Do(func() {
		s, err := OpenStore("", StoreOptions{InMemory: true})
		if err != nil {
			bench1M.err = err
			return
		}
		ns := NamespaceID{0xbe}
		bench1M.s, bench1M.ns, bench1M.n = s, ns, total
		txn := s.NewTxn()
		if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(ns)}); err != nil {
			bench1M.err = err
			return
		}
		for i := range total {
			se := rawEntry(ns, AuthorID{byte(i % authors)}, fmt.Sprintf("key/%08d", i), "content", uint64(i+1))
			if _, err := txn.Insert(&se, nil); err != nil {
				bench1M.err = err
				return
			}
			if (i+1)%perTxn == 0 {
				if err := txn.Commit(false); err != nil {
					bench1M.err = err
					return
				}
				txn = s.NewTxn()
			}
		}
		if bench1M.err = txn.Commit(false); bench1M.err != nil {
			return
		}
		// Measure a settled store, not one busy compacting the load.
		bench1M.err = s.db.Compact(context.Background(), []byte{0}, []byte{0xFF}, true)
	})
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	b.ResetTimer()
	seen := 0
	for b.Loop() {
		n := 0
		for _, err := range bench1M.s.Query(bench1M.ns, Query{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != bench1M.n {
			b.Fatalf("iterated %d entries, want %d", n, bench1M.n)
		}
		seen += n
	}
	b.ReportMetric(float64(seen)/b.Elapsed().Seconds(), "entries/s")
}

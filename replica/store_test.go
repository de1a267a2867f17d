package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fixture holds a namespace and authors with fixed seeds.
type fixture struct {
	ns      NamespaceSecret
	authors []Author
}

func newFixture(seed byte, nAuthors int) fixture {
	f := fixture{ns: NamespaceFromSeed([32]byte{seed})}
	for i := range nAuthors {
		f.authors = append(f.authors, AuthorFromSeed([32]byte{seed, byte(i + 1)}))
	}
	return f
}

func (f fixture) id() NamespaceID { return f.ns.ID() }

// entry signs content at key by author i.
func (f fixture) entry(i int, key, content string, ts uint64) SignedEntry {
	return mustSign(f.ns, f.authors[i], Entry{Key: []byte(key), Record: Record{Hash: HashContent([]byte(content)), Len: uint64(len(content)), Timestamp: ts}})
}

// tombstone signs a prefix deletion at prefix by author i.
func (f fixture) tombstone(i int, prefix string, ts uint64) SignedEntry {
	return mustSign(f.ns, f.authors[i], Entry{Key: []byte(prefix), Record: Record{Hash: EmptyHash, Timestamp: ts}})
}

func openMem(t testing.TB, opts StoreOptions) *Store {
	t.Helper()
	opts.InMemory = true
	s, err := OpenStore("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// update runs fn in a transaction and commits it.
func update(t testing.TB, s *Store, fn func(*Txn) error) {
	t.Helper()
	txn := s.NewTxn()
	defer txn.Close()
	if err := fn(txn); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(false); err != nil {
		t.Fatal(err)
	}
}

func putDoc(t testing.TB, s *Store, f fixture) {
	t.Helper()
	update(t, s, func(txn *Txn) error {
		_, err := txn.PutDoc(DocInfo{Capability: WriteCapability(f.ns)})
		return err
	})
}

// insert inserts se in its own transaction and returns the outcome and the
// entries the insert reported removed.
func insert(t testing.TB, s *Store, se SignedEntry) (InsertOutcome, []Entry) {
	t.Helper()
	var out InsertOutcome
	var removed []Entry
	update(t, s, func(txn *Txn) error {
		var err error
		out, err = txn.Insert(&se, func(e Entry) { removed = append(removed, e) })
		return err
	})
	return out, removed
}

// all returns every stored entry of ns, tombstones included, as "author/key@ts" strings.
func all(t testing.TB, s *Store, ns NamespaceID) []string {
	t.Helper()
	var out []string
	for se, err := range s.Query(ns, Query{IncludeTombstones: true}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, describe(&se.Entry))
	}
	return out
}

func describe(e *Entry) string {
	kind := ""
	if e.IsTombstone() {
		kind = "del"
	}
	return fmt.Sprintf("%s/%q@%d%s", e.Author.Short()[:4], e.Key, e.Timestamp, kind)
}

func TestInsertLWW(t *testing.T) {
	f := newFixture(1, 2)
	ns := f.id()

	t.Run("later wins, earlier is superseded, same is duplicate", func(t *testing.T) {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		if out, _ := insert(t, s, f.entry(0, "k", "v1", 10)); !out.Inserted {
			t.Fatalf("first insert: %+v", out)
		}
		out, removed := insert(t, s, f.entry(0, "k", "v2", 20))
		if !out.Inserted || out.Removed != 1 || len(removed) != 1 || removed[0].Timestamp != 10 {
			t.Fatalf("later insert: %+v, removed %v", out, removed)
		}
		if out, _ := insert(t, s, f.entry(0, "k", "v0", 5)); out.Inserted || out.Reason != Superseded {
			t.Fatalf("earlier insert: %+v", out)
		}
		if out, _ := insert(t, s, f.entry(0, "k", "v2", 20)); out.Inserted || out.Reason != Duplicate {
			t.Fatalf("duplicate insert: %+v", out)
		}
		got, err := s.Get(ns, f.authors[0].ID(), []byte("k"))
		if err != nil || got.Timestamp != 20 || got.Hash != HashContent([]byte("v2")) {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("stored entry no longer verifies: %v", err)
		}
	})

	t.Run("equal timestamps: larger hash wins in both orders", func(t *testing.T) {
		a, b := f.entry(0, "k", "x", 7), f.entry(0, "k", "y", 7)
		if bytes.Compare(a.Hash[:], b.Hash[:]) > 0 {
			a, b = b, a
		}
		for _, order := range [][]SignedEntry{{a, b}, {b, a}} {
			s := openMem(t, StoreOptions{})
			putDoc(t, s, f)
			insert(t, s, order[0])
			out, _ := insert(t, s, order[1])
			if order[1].Hash == b.Hash && !out.Inserted {
				t.Fatalf("larger hash refused: %+v", out)
			}
			if order[1].Hash == a.Hash && (out.Inserted || out.Reason != Superseded) {
				t.Fatalf("smaller hash after larger: %+v", out)
			}
			got, err := s.Get(ns, f.authors[0].ID(), []byte("k"))
			if err != nil || got.Hash != b.Hash {
				t.Fatalf("stored %x, want %x (%v)", got.Hash[:4], b.Hash[:4], err)
			}
		}
	})

	t.Run("delete then an older write stays deleted", func(t *testing.T) {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		insert(t, s, f.tombstone(0, "a", 50))
		for _, key := range []string{"a", "ab", "abc"} {
			out, _ := insert(t, s, f.entry(0, key, "old", 40))
			want := DeletedByPrefix
			if key == "a" {
				want = Superseded
			}
			if out.Inserted || out.Reason != want {
				t.Fatalf("older write at %q after delete: %+v, want %v", key, out, want)
			}
		}
		// Older tombstones take part too.
		if out, _ := insert(t, s, f.tombstone(0, "ab", 40)); out.Inserted || out.Reason != DeletedByPrefix {
			t.Fatalf("older tombstone under a later one: %+v", out)
		}
		// A later write is accepted, as is another author's older one.
		if out, _ := insert(t, s, f.entry(0, "ab", "new", 60)); !out.Inserted {
			t.Fatalf("later write: %+v", out)
		}
		if out, _ := insert(t, s, f.entry(1, "ab", "other", 40)); !out.Inserted {
			t.Fatalf("other author: %+v", out)
		}
		// The empty prefix covers everything of the author.
		if out, _ := insert(t, s, f.tombstone(1, "", 100)); !out.Inserted || out.Removed != 1 {
			t.Fatalf("empty-prefix tombstone: %+v", out)
		}
		if out, _ := insert(t, s, f.entry(1, "zzz", "late", 99)); out.Inserted || out.Reason != DeletedByPrefix {
			t.Fatalf("write under empty-prefix tombstone: %+v", out)
		}
	})

	t.Run("tombstone removes longer keys of the same author only", func(t *testing.T) {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		for _, se := range []SignedEntry{
			f.entry(0, "a", "1", 10), f.entry(0, "ab", "2", 10), f.entry(0, "abc", "3", 30),
			f.tombstone(0, "abd", 5), f.entry(0, "b", "4", 10), f.entry(0, "a\x00", "5", 10),
			f.entry(1, "ab", "6", 10),
		} {
			if out, _ := insert(t, s, se); !out.Inserted {
				t.Fatalf("setup insert %s: %+v", describe(&se.Entry), out)
			}
		}
		out, removed := insert(t, s, f.tombstone(0, "a", 20))
		if !out.Inserted || out.Removed != 4 {
			t.Fatalf("tombstone: %+v, removed %d", out, len(removed))
		}
		var keys []string
		for _, e := range removed {
			keys = append(keys, string(e.Key))
			if e.Author != f.authors[0].ID() || e.Namespace != ns {
				t.Fatalf("removed entry of another author or namespace: %s", describe(&e))
			}
		}
		slices.Sort(keys)
		if want := []string{"a", "a\x00", "ab", "abd"}; !slices.Equal(keys, want) {
			t.Fatalf("removed %q, want %q", keys, want)
		}
		a0, a1 := f.authors[0].ID().Short()[:4], f.authors[1].ID().Short()[:4]
		want := []string{a0 + `/"a"@20del`, a0 + `/"abc"@30`, a0 + `/"b"@10`, a1 + `/"ab"@10`}
		slices.Sort(want)
		got := all(t, s, ns)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("stored %v, want %v", got, want)
		}
	})

	t.Run("a normal entry does not delete by prefix", func(t *testing.T) {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		insert(t, s, f.entry(0, "ab", "x", 10))
		if out, _ := insert(t, s, f.entry(0, "a", "y", 20)); !out.Inserted || out.Removed != 0 {
			t.Fatalf("insert at a: %+v", out)
		}
		if out, _ := insert(t, s, f.entry(0, "abc", "z", 5)); !out.Inserted {
			t.Fatalf("older write under a normal entry: %+v", out)
		}
		if n, err := s.Count(ns); err != nil || n != 3 {
			t.Fatalf("Count = %d, %v; want 3", n, err)
		}
	})

	t.Run("heads move forward only on insert", func(t *testing.T) {
		s := openMem(t, StoreOptions{})
		putDoc(t, s, f)
		a := f.authors[0].ID()
		insert(t, s, f.entry(0, "k", "v", 30))
		insert(t, s, f.entry(0, "j", "v", 20))
		insert(t, s, f.entry(0, "k", "v", 10)) // superseded
		h, err := s.Heads(ns)
		if err != nil || len(h) != 1 || h[a] != 30 {
			t.Fatalf("Heads = %v, %v", h, err)
		}
		insert(t, s, f.tombstone(1, "", 0))
		if h, _ := s.Heads(ns); h[f.authors[1].ID()] != 0 || len(h) != 2 {
			t.Fatalf("an insert at timestamp 0 should add the author to heads: %v", h)
		}
	})

	t.Run("shape and document are checked", func(t *testing.T) {
		s := openMem(t, StoreOptions{Limits: Limits{MaxKeyLen: 8}})
		txn := s.NewTxn()
		defer txn.Close()
		se := f.entry(0, "k", "v", 1)
		if _, err := txn.Insert(&se, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("insert without document: %v", err)
		}
		if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(ns)}); err != nil {
			t.Fatal(err)
		}
		long := f.entry(0, "123456789", "v", 1)
		if _, err := txn.Insert(&long, nil); !errors.Is(err, ErrKeyTooLong) {
			t.Fatalf("long key: %v", err)
		}
		bad := f.entry(0, "k", "v", 1)
		bad.Hash = EmptyHash
		if _, err := txn.Insert(&bad, nil); !errors.Is(err, ErrMalformedTombstone) {
			t.Fatalf("bad tombstone: %v", err)
		}
		empty := f.entry(0, "", "v", 1)
		if _, err := txn.Insert(&empty, nil); !errors.Is(err, ErrEmptyKey) {
			t.Fatalf("empty key: %v", err)
		}
		if s.Limits().MaxKeyLen != 8 || s.Limits().MaxFutureShift == 0 {
			t.Fatalf("Limits = %+v", s.Limits())
		}
	})
}

// TestInsertLongKeyPrefixWalk checks the prefix walk against many stored
// neighbours of a long key, including tombstones that must not count.
func TestInsertLongKeyPrefixWalk(t *testing.T) {
	f := newFixture(2, 1)
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	long := strings.Repeat("x", 4000)
	// Neighbours that sort between prefixes of long but are not prefixes.
	for i := 1; i < len(long); i += 397 {
		insert(t, s, f.tombstone(0, long[:i]+"a", 100))
		insert(t, s, f.entry(0, long[:i]+"\x00", "n", 100))
	}
	// A tombstone at a prefix, but older: does not cover.
	insert(t, s, f.tombstone(0, long[:1000], 10))
	if out, _ := insert(t, s, f.entry(0, long, "v", 50)); !out.Inserted {
		t.Fatalf("insert under an older tombstone: %+v", out)
	}
	insert(t, s, f.tombstone(0, long[:2000], 60))
	if _, err := s.Get(f.id(), f.authors[0].ID(), []byte(long)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry under a later tombstone still stored: %v", err)
	}
	if out, _ := insert(t, s, f.entry(0, long, "v", 55)); out.Reason != DeletedByPrefix {
		t.Fatalf("insert under a later tombstone: %+v", out)
	}
	if out, _ := insert(t, s, f.entry(0, long[:3999]+"y", "v", 55)); out.Reason != DeletedByPrefix {
		t.Fatalf("insert of a sibling under a later tombstone: %+v", out)
	}
	if out, _ := insert(t, s, f.entry(0, long[:1999], "v", 55)); !out.Inserted {
		t.Fatalf("insert just above the tombstone's prefix: %+v", out)
	}
}

func TestTxnSeesOwnWrites(t *testing.T) {
	f := newFixture(3, 1)
	ns, a := f.id(), f.authors[0].ID()
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)

	txn := s.NewTxn()
	se := f.entry(0, "k", "v", 42)
	if out, err := txn.Insert(&se, nil); err != nil || !out.Inserted {
		t.Fatal(out, err)
	}
	if got, err := txn.Get(ns, a, []byte("k")); err != nil || got.Timestamp != 42 {
		t.Fatalf("txn.Get = %+v, %v", got, err)
	}
	if h, err := txn.Heads(ns, a); err != nil || h != 42 {
		t.Fatalf("txn.Heads = %d, %v", h, err)
	}
	if out, err := txn.Insert(&se, nil); err != nil || out.Reason != Duplicate {
		t.Fatalf("second insert in the same txn: %+v, %v", out, err)
	}
	if txn.Len() == 0 {
		t.Fatal("Len = 0 with writes queued")
	}
	if _, err := s.Get(ns, a, []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("uncommitted write visible to the store: %v", err)
	}
	txn.Close()
	txn.Close()
	if _, err := txn.Get(ns, a, []byte("k")); err == nil {
		t.Fatal("closed txn still usable")
	}
	if _, err := s.Get(ns, a, []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("discarded write visible: %v", err)
	}

	txn = s.NewTxn()
	if _, err := txn.Insert(&se, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(true); err != nil {
		t.Fatal(err)
	}
	txn.Close()
	if err := txn.Commit(false); err == nil {
		t.Fatal("second Commit succeeded")
	}
	if got, err := s.Get(ns, a, []byte("k")); err != nil || got.Timestamp != 42 {
		t.Fatalf("committed write: %+v, %v", got, err)
	}
	// A document created in a txn is visible to inserts in the same txn.
	g := newFixture(4, 1)
	update(t, s, func(txn *Txn) error {
		if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(g.id())}); err != nil {
			return err
		}
		e := g.entry(0, "x", "y", 1)
		_, err := txn.Insert(&e, nil)
		return err
	})
}

func TestPutDocMergesCapability(t *testing.T) {
	f := newFixture(5, 0)
	ns := f.id()
	s := openMem(t, StoreOptions{})
	step := func(c Capability, d Durability, want CapabilityKind) {
		t.Helper()
		var got DocInfo
		update(t, s, func(txn *Txn) error {
			var err error
			got, err = txn.PutDoc(DocInfo{Capability: c, Durability: d})
			return err
		})
		stored, err := s.Doc(ns)
		if err != nil {
			t.Fatal(err)
		}
		if got.Capability.Kind() != want || stored.Capability.Kind() != want || stored.Durability != d || got.Durability != d {
			t.Fatalf("PutDoc(%v, %v): returned %v/%v, stored %v/%v, want %v", c.Kind(), d, got.Capability.Kind(), got.Durability, stored.Capability.Kind(), stored.Durability, want)
		}
	}
	if _, err := s.Doc(ns); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Doc before PutDoc: %v", err)
	}
	step(ReadCapability(ns), Batched, Read)
	step(WriteCapability(f.ns), Durable, Write)
	step(ReadCapability(ns), Batched, Write) // never downgraded
	stored, _ := s.Doc(ns)
	if sec, ok := stored.Capability.Secret(); !ok || sec.ID() != ns {
		t.Fatal("write capability lost its secret")
	}
	docs, err := s.Docs()
	if err != nil || len(docs) != 1 || docs[0].ID() != ns {
		t.Fatalf("Docs = %v, %v", docs, err)
	}
	txn := s.NewTxn()
	defer txn.Close()
	if _, err := txn.PutDoc(DocInfo{}); err == nil {
		t.Fatal("PutDoc with a zero capability succeeded")
	}
}

func TestRemoveDoc(t *testing.T) {
	keep, gone := newFixture(6, 2), newFixture(7, 2)
	s := openMem(t, StoreOptions{})
	peer := PeerID{9}
	for _, f := range []fixture{keep, gone} {
		putDoc(t, s, f)
		insert(t, s, f.entry(0, "a", "1", 10))
		insert(t, s, f.entry(1, "b", "2", 11))
		insert(t, s, f.tombstone(1, "c", 12))
		update(t, s, func(txn *Txn) error {
			if err := txn.AddSyncPeer(f.id(), peer); err != nil {
				return err
			}
			return txn.SetDownloadPolicy(f.id(), DownloadPolicy{Mode: DownloadNothingExcept, Filters: []KeyFilter{{Key: []byte("a")}}})
		})
	}
	before := all(t, s, keep.id())
	update(t, s, func(txn *Txn) error { return txn.RemoveDoc(gone.id()) })

	if _, err := s.Doc(gone.id()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Doc after remove: %v", err)
	}
	// Reads that name the removed document say it is not held.
	if _, err := s.Count(gone.id()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Count of a removed document: %v", err)
	}
	if _, err := s.Heads(gone.id()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Heads of a removed document: %v", err)
	}
	var queryErr error
	for _, err := range s.Query(gone.id(), Query{}) {
		queryErr = err
	}
	if !errors.Is(queryErr, ErrNotFound) {
		t.Fatalf("Query of a removed document: %v", queryErr)
	}
	// Added again, it holds nothing of what it held before.
	putDoc(t, s, gone)
	if got := all(t, s, gone.id()); len(got) != 0 {
		t.Fatalf("entries left: %v", got)
	}
	if n, _ := s.Count(gone.id()); n != 0 {
		t.Fatalf("Count = %d", n)
	}
	if h, _ := s.Heads(gone.id()); len(h) != 0 {
		t.Fatalf("heads left: %v", h)
	}
	if p, _ := s.SyncPeers(gone.id()); len(p) != 0 {
		t.Fatalf("peers left: %v", p)
	}
	if p, _ := s.DownloadPolicy(gone.id()); p.Mode != DownloadEverythingExcept || len(p.Filters) != 0 {
		t.Fatalf("policy left: %+v", p)
	}
	for _, err := range s.Items(gone.id()) {
		t.Fatalf("item left (%v)", err)
	}
	for se, err := range s.Query(gone.id(), Query{SortBy: SortKeyAuthor, IncludeTombstones: true}) {
		t.Fatalf("index row left: %v %v", se, err)
	}
	update(t, s, func(txn *Txn) error { return txn.RemoveDoc(gone.id()) })
	// No key of any table mentions the removed document.
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	gid := gone.id()
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); len(k) >= 1+IDLen && k[0] >= tableDocs && bytes.Equal(k[1:1+IDLen], gid[:]) {
			t.Errorf("key %x of the removed document left", k)
		}
	}
	it.Close()

	// The other document is untouched.
	if got := all(t, s, keep.id()); !slices.Equal(got, before) {
		t.Fatalf("other document changed: %v, was %v", got, before)
	}
	if h, _ := s.Heads(keep.id()); len(h) != 2 {
		t.Fatalf("other heads: %v", h)
	}
	if p, _ := s.SyncPeers(keep.id()); len(p) != 1 {
		t.Fatalf("other peers: %v", p)
	}
	if p, _ := s.DownloadPolicy(keep.id()); p.Mode != DownloadNothingExcept {
		t.Fatalf("other policy: %+v", p)
	}
	if n, _ := s.Count(keep.id()); n != 3 {
		t.Fatalf("other Count = %d", n)
	}

	// Removing again reports not found; re-creating starts empty.
	txn := s.NewTxn()
	if err := txn.RemoveDoc(gone.id()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveDoc: %v", err)
	}
	txn.Close()
	putDoc(t, s, gone)
	if out, _ := insert(t, s, gone.entry(0, "a", "1", 1)); !out.Inserted {
		t.Fatalf("insert into re-created document: %+v", out)
	}
}

func TestRemoveDocInTxnHidesData(t *testing.T) {
	f := newFixture(8, 1)
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	insert(t, s, f.entry(0, "a", "1", 10))
	txn := s.NewTxn()
	defer txn.Close()
	if h, err := txn.Heads(f.id(), f.authors[0].ID()); err != nil || h != 10 {
		t.Fatalf("head before removal = %d, %v", h, err)
	}
	if err := txn.RemoveDoc(f.id()); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Get(f.id(), f.authors[0].ID(), []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("txn.Get after RemoveDoc: %v", err)
	}
	se := f.entry(0, "b", "1", 10)
	if _, err := txn.Insert(&se, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("insert after RemoveDoc in the same txn: %v", err)
	}
	// Re-created in the same transaction, the document starts empty: the
	// old entry does not supersede, and heads start again.
	if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(f.id())}); err != nil {
		t.Fatal(err)
	}
	older := f.entry(0, "a", "0", 5)
	if out, err := txn.Insert(&older, nil); err != nil || !out.Inserted || out.Removed != 0 {
		t.Fatalf("insert into the re-created document: %+v, %v", out, err)
	}
	if h, err := txn.Heads(f.id(), f.authors[0].ID()); err != nil || h != 5 {
		t.Fatalf("head after re-creation = %d, %v; want 5", h, err)
	}
	if err := txn.Commit(false); err != nil {
		t.Fatal(err)
	}
	if got := all(t, s, f.id()); len(got) != 1 {
		t.Fatalf("after re-creation: %v", got)
	}
	if h, _ := s.Heads(f.id()); h[f.authors[0].ID()] != 5 {
		t.Fatalf("committed heads %v", h)
	}
}

func TestAuthorsAndMeta(t *testing.T) {
	s := openMem(t, StoreOptions{})
	f := newFixture(9, 3)
	update(t, s, func(txn *Txn) error {
		for _, a := range f.authors {
			if err := txn.PutAuthor(a); err != nil {
				return err
			}
		}
		return txn.SetMeta("default-author", []byte("x"))
	})
	ids, err := s.Authors()
	if err != nil || len(ids) != 3 {
		t.Fatalf("Authors = %v, %v", ids, err)
	}
	if !slices.IsSortedFunc(ids, func(a, b AuthorID) int { return bytes.Compare(a[:], b[:]) }) {
		t.Fatal("Authors not sorted")
	}
	a, err := s.Author(f.authors[1].ID())
	if err != nil || a.SecretSeed() != f.authors[1].SecretSeed() {
		t.Fatalf("Author = %v", err)
	}
	update(t, s, func(txn *Txn) error { return txn.DeleteAuthor(f.authors[1].ID()) })
	if _, err := s.Author(f.authors[1].ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted author: %v", err)
	}
	txn := s.NewTxn()
	if err := txn.DeleteAuthor(f.authors[1].ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing author: %v", err)
	}
	if err := txn.PutAuthor(Author{}); err == nil {
		t.Fatal("PutAuthor with a zero author succeeded")
	}
	txn.Close()

	if v, err := s.Meta("default-author"); err != nil || string(v) != "x" {
		t.Fatalf("Meta = %q, %v", v, err)
	}
	if _, err := s.Meta("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing meta: %v", err)
	}
	update(t, s, func(txn *Txn) error { return txn.SetMeta("empty", nil) })
	if v, err := s.Meta("empty"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty meta = %v, %v", v, err)
	}
}

func TestSyncPeersLRU(t *testing.T) {
	f := newFixture(10, 0)
	s := openMem(t, StoreOptions{SyncPeersPerDoc: 3})
	putDoc(t, s, f)
	if p, err := s.SyncPeers(f.id()); err != nil || len(p) != 0 {
		t.Fatalf("SyncPeers of a fresh doc = %v, %v", p, err)
	}
	for _, p := range []byte{1, 2, 3, 2, 4, 4} {
		update(t, s, func(txn *Txn) error { return txn.AddSyncPeer(f.id(), PeerID{p}) })
	}
	got, err := s.SyncPeers(f.id())
	if err != nil {
		t.Fatal(err)
	}
	if want := []PeerID{{4}, {2}, {3}}; !slices.Equal(got, want) {
		t.Fatalf("SyncPeers = %v, want %v", got, want)
	}
	txn := s.NewTxn()
	defer txn.Close()
	if err := txn.AddSyncPeer(NamespaceID{1}, PeerID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddSyncPeer to a missing document: %v", err)
	}
	// The default cap is 8.
	s8 := openMem(t, StoreOptions{})
	putDoc(t, s8, f)
	for i := range 20 {
		update(t, s8, func(txn *Txn) error { return txn.AddSyncPeer(f.id(), PeerID{byte(i), 1}) })
	}
	if got, _ := s8.SyncPeers(f.id()); len(got) != 8 || got[0] != (PeerID{19, 1}) || got[7] != (PeerID{12, 1}) {
		t.Fatalf("default cap: %v", got)
	}
}

func TestDownloadPolicy(t *testing.T) {
	f := newFixture(11, 0)
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	p, err := s.DownloadPolicy(f.id())
	if err != nil || p.Mode != DownloadEverythingExcept || len(p.Filters) != 0 {
		t.Fatalf("default policy = %+v, %v", p, err)
	}
	if !p.ShouldDownload([]byte("anything")) {
		t.Fatal("default policy refuses a download")
	}
	want := DownloadPolicy{Mode: DownloadNothingExcept, Filters: []KeyFilter{
		{Prefix: true, Key: []byte("photos/")}, {Key: []byte("readme")},
	}}
	update(t, s, func(txn *Txn) error { return txn.SetDownloadPolicy(f.id(), want) })
	got, err := s.DownloadPolicy(f.id())
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != want.Mode || len(got.Filters) != 2 || !bytes.Equal(got.Filters[0].Key, []byte("photos/")) || !got.Filters[0].Prefix || got.Filters[1].Prefix {
		t.Fatalf("round trip: %+v", got)
	}
	for _, tc := range []struct {
		mode DownloadMode
		key  string
		want bool
	}{
		{DownloadNothingExcept, "photos/a.jpg", true},
		{DownloadNothingExcept, "photos/", true},
		{DownloadNothingExcept, "photos", false},
		{DownloadNothingExcept, "readme", true},
		{DownloadNothingExcept, "readme.md", false},
		{DownloadEverythingExcept, "photos/a.jpg", false},
		{DownloadEverythingExcept, "readme", false},
		{DownloadEverythingExcept, "readme.md", true},
		{DownloadEverythingExcept, "", true},
	} {
		p := DownloadPolicy{Mode: tc.mode, Filters: got.Filters}
		if p.ShouldDownload([]byte(tc.key)) != tc.want {
			t.Errorf("%v ShouldDownload(%q) = %v", tc.mode, tc.key, !tc.want)
		}
	}
	everything := DownloadPolicy{Mode: DownloadEverythingExcept, Filters: []KeyFilter{{Prefix: true, Key: []byte{}}}}
	if everything.ShouldDownload([]byte("x")) {
		t.Fatal("an empty prefix filter matches every key")
	}
	tooMany := DownloadPolicy{Filters: make([]KeyFilter, MaxPolicyFilters+1)}
	if _, err := tooMany.MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too many filters: %v", err)
	}
	tooLong := DownloadPolicy{Filters: []KeyFilter{{Key: make([]byte, MaxPolicyFilterKey+1)}}}
	if _, err := tooLong.MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("filter key too long: %v", err)
	}
	// A count past the limit is refused before allocating.
	b := binary.AppendUvarint([]byte{0}, 1<<40)
	if _, err := UnmarshalDownloadPolicy(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge count: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir() + "/store"
	f := newFixture(12, 2)
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(txn *Txn) error {
		if _, err := txn.PutDoc(DocInfo{Capability: WriteCapability(f.ns), Durability: Durable}); err != nil {
			return err
		}
		for _, a := range f.authors {
			if err := txn.PutAuthor(a); err != nil {
				return err
			}
		}
		if err := txn.SetMeta("m", []byte("v")); err != nil {
			return err
		}
		if err := txn.AddSyncPeer(f.id(), PeerID{7}); err != nil {
			return err
		}
		return txn.SetDownloadPolicy(f.id(), DownloadPolicy{Mode: DownloadNothingExcept})
	})
	insert(t, s, f.entry(0, "a", "1", 10))
	insert(t, s, f.entry(1, "b", "2", 20))
	insert(t, s, f.tombstone(1, "c", 30))
	before := all(t, s, f.id())
	beforeItems := items(t, s, f.id())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Docs(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Docs after Close: %v", err)
	}
	for _, err := range s.Query(f.id(), Query{}) {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Query after Close: %v", err)
		}
	}
	if _, err := s.NewTxn().PutDoc(DocInfo{Capability: ReadCapability(f.id())}); !errors.Is(err, ErrClosed) {
		t.Fatalf("txn after Close: %v", err)
	}

	s, err = OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := all(t, s, f.id()); !slices.Equal(got, before) {
		t.Fatalf("after reopen %v, want %v", got, before)
	}
	if got := items(t, s, f.id()); !slices.Equal(got, beforeItems) {
		t.Fatal("items changed across reopen")
	}
	info, err := s.Doc(f.id())
	if err != nil || info.Capability.Kind() != Write || info.Durability != Durable {
		t.Fatalf("Doc = %+v, %v", info, err)
	}
	if ids, _ := s.Authors(); len(ids) != 2 {
		t.Fatalf("Authors = %v", ids)
	}
	if v, _ := s.Meta("m"); string(v) != "v" {
		t.Fatalf("Meta = %q", v)
	}
	if p, _ := s.SyncPeers(f.id()); len(p) != 1 || p[0] != (PeerID{7}) {
		t.Fatalf("SyncPeers = %v", p)
	}
	if p, _ := s.DownloadPolicy(f.id()); p.Mode != DownloadNothingExcept {
		t.Fatalf("DownloadPolicy = %+v", p)
	}
	if h, _ := s.Heads(f.id()); h[f.authors[0].ID()] != 10 || h[f.authors[1].ID()] != 30 {
		t.Fatalf("Heads = %v", h)
	}
}

func items(t testing.TB, s *Store, ns NamespaceID) []Item {
	t.Helper()
	var out []Item
	for it, err := range s.Items(ns) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func TestItemsAreReconciliationIDs(t *testing.T) {
	f := newFixture(13, 2)
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	want := map[EntryID]uint64{}
	for _, se := range []SignedEntry{f.entry(0, "a", "1", 10), f.entry(1, "a", "2", 20), f.tombstone(1, "z", 5)} {
		insert(t, s, se)
		want[se.ID()] = se.Timestamp
	}
	got := items(t, s, f.id())
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for _, it := range got {
		if ts, ok := want[it.ID]; !ok || ts != it.Timestamp {
			t.Fatalf("item %x@%d not among the inserted entries", it.ID[:4], it.Timestamp)
		}
	}
	// Stopping early closes the iterator (Close would report a leak otherwise).
	for range s.Items(f.id()) {
		break
	}
}

func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := pebble.Open(dir, &pebble.Options{Logger: &storeLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(versionKey, binary.AppendUvarint(nil, 2), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = OpenStore(dir, StoreOptions{})
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "format version 2; this build understands 1") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open with version 2: %v", err)
	}

	// Data without a version is not ours.
	other := t.TempDir()
	db, err = pebble.Open(other, &pebble.Options{Logger: &storeLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	db.Set([]byte("foreign"), []byte("data"), pebble.Sync)
	db.Close()
	if _, err := OpenStore(other, StoreOptions{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("open foreign data: %v", err)
	}
	if _, err := OpenStore("", StoreOptions{}); err == nil {
		t.Fatal("OpenStore without a directory succeeded")
	}
}

func TestCrashKeepsSyncedWrites(t *testing.T) {
	fs := vfs.NewCrashableMem()
	f := newFixture(14, 1)
	s, err := OpenStore("db", StoreOptions{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	txn := s.NewTxn()
	txn.PutDoc(DocInfo{Capability: ReadCapability(f.id())})
	se := f.entry(0, "synced", "v", 1)
	txn.Insert(&se, nil)
	if err := txn.Commit(true); err != nil {
		t.Fatal(err)
	}
	insert(t, s, f.entry(0, "batched", "v", 2)) // NoSync
	if err := s.SyncWAL(); err != nil {
		t.Fatal(err)
	}
	insert(t, s, f.entry(0, "lost", "v", 3)) // NoSync, never synced
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	s, err = OpenStore("db", StoreOptions{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := f.authors[0].ID()
	for _, k := range []string{"synced", "batched"} {
		if _, err := s.Get(f.id(), a, []byte(k)); err != nil {
			t.Fatalf("%s write lost in the crash: %v", k, err)
		}
	}
	if _, err := s.Get(f.id(), a, []byte("lost")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unsynced write survived a crash that keeps only synced data: %v", err)
	}
}

func TestCorruptValuesAreErrors(t *testing.T) {
	f := newFixture(15, 1)
	ns, a := f.id(), f.authors[0].ID()
	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	insert(t, s, f.entry(0, "a", "1", 10))
	insert(t, s, f.entry(0, "b", "1", 10))
	good, _ := s.Get(ns, a, []byte("b"))
	val := appendRecordValue(nil, &good)
	for _, bad := range [][]byte{nil, {0x80}, val[:len(val)-1], append(bytes.Clone(val), 0)} {
		if err := s.db.Set(recordKey(ns, a, []byte("b")), bad, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ns, a, []byte("b")); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Get of corrupt value %x: %v", bad, err)
		}
		var qerr error
		n := 0
		for _, err := range s.Query(ns, Query{}) {
			if err != nil {
				qerr = err
				break
			}
			n++
		}
		if !errors.Is(qerr, ErrMalformed) || n != 1 {
			t.Fatalf("Query over corrupt value: %d entries, %v", n, qerr)
		}
		for _, err := range s.Query(ns, Query{SortBy: SortKeyAuthor}) {
			if err != nil {
				qerr = err
			}
		}
		if !errors.Is(qerr, ErrMalformed) {
			t.Fatalf("index query over corrupt value: %v", qerr)
		}
		var ierr error
		for _, err := range s.Items(ns) {
			if err != nil {
				ierr = err
			}
		}
		if !errors.Is(ierr, ErrMalformed) {
			t.Fatalf("Items over corrupt value: %v", ierr)
		}
		txn := s.NewTxn()
		se := f.entry(0, "b", "2", 20)
		if _, err := txn.Insert(&se, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Insert over corrupt value: %v", err)
		}
		ts := f.tombstone(0, "", 30)
		if _, err := txn.Insert(&ts, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("tombstone over corrupt value: %v", err)
		}
		txn.Close()
	}
	// Other tables.
	// Documents and heads are read into memory when the store opens.
	doc, err := getCopy(s.db, nsKey(tableDocs, ns))
	if err != nil {
		t.Fatal(err)
	}
	s.db.Set(nsKey(tableDocs, ns), []byte{1, 2, 3}, pebble.Sync)
	if err := s.loadCaches(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt doc: %v", err)
	}
	s.db.Set(nsKey(tableDocs, ns), doc, pebble.Sync)
	if err := s.loadCaches(); err != nil {
		t.Fatal(err)
	}
	s.db.Set(nsKey(tableSyncPeer, ns), []byte{1, 2, 3}, pebble.Sync)
	if _, err := s.SyncPeers(ns); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt peers: %v", err)
	}
	s.db.Set(headsKey(ns, a), []byte{1}, pebble.Sync)
	if err := s.loadCaches(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt heads: %v", err)
	}
	s.db.Set(authorKey(a), []byte{1}, pebble.Sync)
	if _, err := s.Author(a); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt author: %v", err)
	}
	s.db.Set(nsKey(tablePolicy, ns), []byte{7, 0}, pebble.Sync)
	if _, err := s.DownloadPolicy(ns); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt policy: %v", err)
	}
}

// BenchmarkInsert inserts new keys of ten authors, 10k per transaction.
func BenchmarkInsert(b *testing.B) {
	s := openMem(b, StoreOptions{})
	ns := NamespaceID{0xbe}
	txn := s.NewTxn()
	defer func() { txn.Close() }()
	if _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(ns)}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		se := rawEntry(ns, AuthorID{byte(i % 10)}, fmt.Sprintf("key/%08d", i), "content", uint64(i+1))
		if _, err := txn.Insert(&se, nil); err != nil {
			b.Fatal(err)
		}
		i++
		if i%10_000 == 0 {
			if err := txn.Commit(false); err != nil {
				b.Fatal(err)
			}
			txn = s.NewTxn()
		}
	}
	if err := txn.Commit(false); err != nil {
		b.Fatal(err)
	}
}

package replica

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// dumpStore returns every key and value of the store's pebble database.
func dumpStore(t *testing.T, s *Store) []string {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, fmt.Sprintf("%x=%x", it.Key(), it.Value()))
	}
	return out
}

// noPanic runs f and turns a panic into an error.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// TestZeroKeysAreErrors calls every public function of the package that
// takes a key or an id with the zero value (and the ids that no secret key
// has) and checks that each returns an error, never panics, and changes
// nothing stored.
func TestZeroKeysAreErrors(t *testing.T) {
	f := newFixture(40, 1)
	ns, author := f.ns, f.authors[0]
	var zeroNS NamespaceSecret
	var zeroAuthor Author
	var zeroID NamespaceID
	var zeroAuthorID AuthorID
	var notAPoint, smallOrder [IDLen]byte
	notAPoint[0] = 2  // y = 2 is not the y of any curve point
	smallOrder[0] = 1 // y = 1: the identity, a small-order point
	entry := Entry{Key: []byte("k"), Record: Record{Hash: HashContent([]byte("v")), Len: 1, Timestamp: 1}}
	good := mustSign(ns, author, entry)

	s := openMem(t, StoreOptions{})
	putDoc(t, s, f)
	insert(t, s, good)
	update(t, s, func(txn *Txn) error { return txn.PutAuthor(author) })

	pure := []struct {
		name string
		call func() error
		want error
	}{
		{"NamespaceSecret{}.Sign", func() error { _, err := zeroNS.Sign([]byte("m")); return err }, ErrInvalidKey},
		{"Author{}.Sign", func() error { _, err := zeroAuthor.Sign([]byte("m")); return err }, ErrInvalidKey},
		{"Sign zero namespace", func() error { _, err := Sign(zeroNS, author, entry); return err }, ErrInvalidKey},
		{"Sign zero author", func() error { _, err := Sign(ns, zeroAuthor, entry); return err }, ErrInvalidKey},
		{"SignAll zero namespace", func() error { _, err := SignAll(zeroNS, author, []Entry{entry, entry}); return err }, ErrInvalidKey},
		{"SignAll zero author", func() error { _, err := SignAll(ns, zeroAuthor, []Entry{entry}); return err }, ErrInvalidKey},
		{"ParseNamespaceSecret(NamespaceSecret{}.ExportSecret())", func() error {
			if seed := zeroNS.SecretSeed(); seed != ([SeedLen]byte{}) {
				return fmt.Errorf("seed %x", seed)
			}
			_, err := ParseNamespaceSecret(zeroNS.ExportSecret())
			return err
		}, ErrInvalidKey},
		{"ParseAuthor(Author{}.ExportSecret())", func() error {
			if seed := zeroAuthor.SecretSeed(); seed != ([SeedLen]byte{}) {
				return fmt.Errorf("seed %x", seed)
			}
			_, err := ParseAuthor(zeroAuthor.ExportSecret())
			return err
		}, ErrInvalidKey},
		{"NamespaceID{}.Validate", zeroID.Validate, ErrInvalidKey},
		{"AuthorID{}.Validate", zeroAuthorID.Validate, ErrInvalidKey},
		{"NamespaceID not a point", NamespaceID(notAPoint).Validate, ErrInvalidKey},
		{"AuthorID small order", AuthorID(smallOrder).Validate, ErrInvalidKey},
		{"ReadCapability(zero).Validate", ReadCapability(zeroID).Validate, ErrInvalidKey},
		{"ReadCapability(not a point).Validate", ReadCapability(notAPoint).Validate, ErrInvalidKey},
		{"WriteCapability(zero).Validate", WriteCapability(zeroNS).Validate, ErrInvalidKey},
		{"Capability{}.Validate", Capability{}.Validate, ErrMalformed},
		{"WriteCapability(zero).ExportBinary", func() error { _, err := WriteCapability(zeroNS).ExportBinary(); return err }, ErrInvalidKey},
		{"Capability{}.ExportBinary", func() error { _, err := Capability{}.ExportBinary(); return err }, ErrMalformed},
		{"Store.Doc", func() error { _, err := s.Doc(zeroID); return err }, ErrNotFound},
		{"Store.Author", func() error { _, err := s.Author(zeroAuthorID); return err }, ErrNotFound},
		{"Store.Get zero namespace", func() error { _, err := s.Get(zeroID, author.ID(), []byte("k")); return err }, ErrNotFound},
		{"Store.Get zero author", func() error { _, err := s.Get(ns.ID(), zeroAuthorID, []byte("k")); return err }, ErrNotFound},
		{"Store.EntryByID", func() error { _, err := s.EntryByID(zeroID, good.ID()); return err }, ErrNotFound},
		{"Store.EntriesByID", func() error { _, err := s.EntriesByID(zeroID, []EntryID{good.ID()}); return err }, ErrNotFound},
		{"Store.Heads", func() error { _, err := s.Heads(zeroID); return err }, ErrNotFound},
		{"Store.SyncPeers", func() error { _, err := s.SyncPeers(zeroID); return err }, ErrNotFound},
		{"Store.DownloadPolicy", func() error { _, err := s.DownloadPolicy(zeroID); return err }, ErrNotFound},
		{"Store.Count", func() error { _, err := s.Count(zeroID); return err }, ErrNotFound},
		{"Store.Items", func() error {
			for _, err := range s.Items(zeroID) {
				return err
			}
			return nil
		}, ErrNotFound},
		{"Store.Query", func() error {
			for _, err := range s.Query(zeroID, Query{}) {
				return err
			}
			return nil
		}, ErrNotFound},
	}
	before := dumpStore(t, s)
	for _, c := range pure {
		err := noPanic(c.call)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	zeroEntry := good
	zeroEntry.Namespace = zeroID
	txnCalls := []struct {
		name string
		call func(*Txn) error
		want error
	}{
		{"PutDoc read zero id", func(txn *Txn) error { _, err := txn.PutDoc(DocInfo{Capability: ReadCapability(zeroID)}); return err }, ErrInvalidKey},
		{"PutDoc write zero secret", func(txn *Txn) error { _, err := txn.PutDoc(DocInfo{Capability: WriteCapability(zeroNS)}); return err }, ErrInvalidKey},
		{"PutDoc zero capability", func(txn *Txn) error { _, err := txn.PutDoc(DocInfo{}); return err }, ErrMalformed},
		{"PutAuthor", func(txn *Txn) error { return txn.PutAuthor(zeroAuthor) }, ErrInvalidKey},
		{"DeleteAuthor", func(txn *Txn) error { return txn.DeleteAuthor(zeroAuthorID) }, ErrNotFound},
		{"RemoveDoc", func(txn *Txn) error { return txn.RemoveDoc(zeroID) }, ErrNotFound},
		{"Get", func(txn *Txn) error { _, err := txn.Get(zeroID, author.ID(), []byte("k")); return err }, ErrNotFound},
		{"Heads", func(txn *Txn) error { _, err := txn.Heads(zeroID, author.ID()); return err }, ErrNotFound},
		{"AddSyncPeer zero namespace", func(txn *Txn) error { return txn.AddSyncPeer(zeroID, PeerID{1}) }, ErrNotFound},
		{"AddSyncPeer zero peer", func(txn *Txn) error { return txn.AddSyncPeer(ns.ID(), PeerID{}) }, ErrInvalidKey},
		{"SetDownloadPolicy", func(txn *Txn) error { return txn.SetDownloadPolicy(zeroID, DownloadPolicy{}) }, ErrNotFound},
		{"Insert zero namespace", func(txn *Txn) error { _, err := txn.Insert(&zeroEntry, nil); return err }, ErrNotFound},
	}
	for _, c := range txnCalls {
		txn := s.NewTxn()
		err := noPanic(func() error { return c.call(txn) })
		if !errors.Is(err, c.want) {
			t.Errorf("Txn.%s: %v, want %v", c.name, err, c.want)
		}
		// Whatever the refused call left in the transaction is committed.
		if err := txn.Commit(true); err != nil {
			t.Fatalf("Txn.%s: commit: %v", c.name, err)
		}
		txn.Close()
	}
	if after := dumpStore(t, s); !slices.Equal(before, after) {
		t.Fatalf("refused calls changed the store:\nbefore %v\nafter  %v", before, after)
	}
	if docs, _ := s.Docs(); len(docs) != 1 || docs[0].ID() != ns.ID() {
		t.Fatalf("documents after refused calls: %v", docs)
	}
}

// TestValidateAcceptsRealKeys checks that Validate accepts every id a
// secret key has.
func TestValidateAcceptsRealKeys(t *testing.T) {
	for i := range 64 {
		seed := [SeedLen]byte{byte(i), 7}
		if err := NamespaceFromSeed(seed).ID().Validate(); err != nil {
			t.Fatalf("namespace from seed %d: %v", i, err)
		}
		if err := AuthorFromSeed(seed).ID().Validate(); err != nil {
			t.Fatalf("author from seed %d: %v", i, err)
		}
		if err := WriteCapability(NamespaceFromSeed(seed)).Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

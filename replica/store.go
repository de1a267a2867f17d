package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"lukechampine.com/blake3"
)

// Store is the pebble-backed replica store: documents, their entries under
// last-writer-wins with prefix deletion, authors, heads, sync peers, download
// policies and node metadata. See keyenc.go for the on-disk layout.
//
// Reads go straight to the database and see committed data only. Writes go
// through a Txn. The store itself is safe for concurrent use, but Insert's
// checks are only meaningful when one goroutine writes at a time (the store
// actor).
type Store struct {
	db     *pebble.DB
	dir    string
	limits Limits
	opts   StoreOptions

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// defaultCacheSize is pebble's block cache when StoreOptions.CacheSize is 0.
const defaultCacheSize = 64 << 20

// OpenStore opens or creates the store in dir (ignored when opts.InMemory;
// opts.FS, when set, overrides both).
func OpenStore(dir string, opts StoreOptions) (*Store, error) {
	if opts.SyncPeersPerDoc <= 0 {
		opts.SyncPeersPerDoc = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	fs := opts.FS
	switch {
	case fs != nil:
	case opts.InMemory:
		fs = vfs.NewMem()
		dir = ""
	default:
		fs = vfs.Default
		if dir == "" {
			return nil, errors.New("open store: no directory given (set StoreOptions.InMemory for a store in memory)")
		}
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	popts := &pebble.Options{
		FS:                 fs,
		Logger:             quietLogger{},
		FormatMajorVersion: pebble.FormatNewest,
		CacheSize:          opts.CacheSize,
	}
	if popts.CacheSize <= 0 {
		popts.CacheSize = defaultCacheSize
	}
	// Bloom filters make the point lookups of Insert (mostly for keys that
	// are not stored yet) skip tables.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("open store at %s: %w", displayDir(dir), err)
	}
	s := &Store{db: db, dir: dir, limits: opts.Limits.withDefaults(), opts: opts}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

func displayDir(dir string) string {
	if dir == "" {
		return "(memory)"
	}
	return dir
}

// checkFormat writes the format version into an empty database and refuses
// a database written in another format.
func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(versionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := s.db.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := it.Close(); err != nil {
			return err
		}
		if nonEmpty {
			return fmt.Errorf("%w: store at %s holds data but no format version; this build understands %d",
				ErrUnknownFormat, displayDir(s.dir), formatVersion)
		}
		return s.db.Set(versionKey, binary.AppendUvarint(nil, formatVersion), pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	got, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return fmt.Errorf("%w: store at %s has an unreadable format version %x; this build understands %d",
			ErrUnknownFormat, displayDir(s.dir), v, formatVersion)
	}
	if got != formatVersion {
		return fmt.Errorf("%w: store at %s has format version %d; this build understands %d",
			ErrUnknownFormat, displayDir(s.dir), got, formatVersion)
	}
	return nil
}

// Close closes the database. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Limits returns the limits the store enforces, defaults filled in.
func (s *Store) Limits() Limits { return s.limits }

// SyncWAL makes every committed write durable.
func (s *Store) SyncWAL() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	return nil
}

// reader is what pebble's DB, snapshots and indexed batches share.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// getCopy returns a copy of the value at key, or ErrNotFound.
func getCopy(r reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, closer.Close()
}

// scanPrefix calls fn with every key and value under prefix, in order. The
// arguments alias iterator memory and are valid only during the call.
func scanPrefix(r reader, prefix []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

func encodeDocInfo(info DocInfo) ([]byte, error) {
	b, err := info.Capability.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(b, byte(info.Durability)), nil
}

func decodeDocInfo(b []byte) (DocInfo, error) {
	if len(b) != capabilityLen+1 {
		return DocInfo{}, fmt.Errorf("%w: document record is %d bytes, want %d", ErrMalformed, len(b), capabilityLen+1)
	}
	c, err := UnmarshalCapability(b[:capabilityLen])
	if err != nil {
		return DocInfo{}, err
	}
	d := Durability(b[capabilityLen])
	if d != Batched && d != Durable {
		return DocInfo{}, fmt.Errorf("%w: durability %d", ErrMalformed, d)
	}
	return DocInfo{Capability: c, Durability: d}, nil
}

func readDoc(r reader, ns NamespaceID) (DocInfo, error) {
	v, err := getCopy(r, nsKey(tableDocs, ns))
	if errors.Is(err, ErrNotFound) {
		return DocInfo{}, fmt.Errorf("document %s: %w", ns.Short(), ErrNotFound)
	}
	if err != nil {
		return DocInfo{}, err
	}
	info, err := decodeDocInfo(v)
	if err != nil {
		return DocInfo{}, fmt.Errorf("document %s: %w", ns.Short(), err)
	}
	if info.ID() != ns {
		return DocInfo{}, fmt.Errorf("document %s: %w: stored capability is for %s", ns.Short(), ErrMalformed, info.ID().Short())
	}
	return info, nil
}

// Docs returns every document, ordered by id.
func (s *Store) Docs() ([]DocInfo, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var docs []DocInfo
	err := scanPrefix(s.db, []byte{tableDocs}, func(k, v []byte) error {
		info, err := decodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("document %x: %w", k[1:], err)
		}
		docs = append(docs, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return docs, nil
}

// Doc returns what the store holds about the document ns.
func (s *Store) Doc(ns NamespaceID) (DocInfo, error) {
	if s.closed.Load() {
		return DocInfo{}, ErrClosed
	}
	return readDoc(s.db, ns)
}

func decodeAuthor(id AuthorID, v []byte) (Author, error) {
	if len(v) != SeedLen {
		return Author{}, fmt.Errorf("author %s: %w: seed is %d bytes", id.Short(), ErrMalformed, len(v))
	}
	a := AuthorFromSeed([SeedLen]byte(v))
	if a.ID() != id {
		return Author{}, fmt.Errorf("author %s: %w: stored seed belongs to %s", id.Short(), ErrMalformed, a.ID().Short())
	}
	return a, nil
}

// Author returns the author key stored under id.
func (s *Store) Author(id AuthorID) (Author, error) {
	if s.closed.Load() {
		return Author{}, ErrClosed
	}
	v, err := getCopy(s.db, authorKey(id))
	if errors.Is(err, ErrNotFound) {
		return Author{}, fmt.Errorf("author %s: %w", id.Short(), ErrNotFound)
	}
	if err != nil {
		return Author{}, err
	}
	return decodeAuthor(id, v)
}

// Authors returns the ids of every stored author, ordered by id.
func (s *Store) Authors() ([]AuthorID, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var ids []AuthorID
	err := scanPrefix(s.db, []byte{tableAuthors}, func(k, _ []byte) error {
		if len(k) != 1+IDLen {
			return fmt.Errorf("%w: author key of %d bytes", ErrMalformed, len(k))
		}
		ids = append(ids, AuthorID(k[1:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list authors: %w", err)
	}
	return ids, nil
}

// Meta returns a node-level setting.
func (s *Store) Meta(key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	v, err := getCopy(s.db, metaKey(key))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("meta %q: %w", key, ErrNotFound)
	}
	return v, err
}

func getEntry(r reader, ns NamespaceID, author AuthorID, key []byte) (SignedEntry, error) {
	v, err := getCopy(r, recordKey(ns, author, key))
	if errors.Is(err, ErrNotFound) {
		return SignedEntry{}, fmt.Errorf("entry %q of %s in %s: %w", truncKey(key), author.Short(), ns.Short(), ErrNotFound)
	}
	if err != nil {
		return SignedEntry{}, err
	}
	se := SignedEntry{Entry: Entry{Namespace: ns, Author: author, Key: bytes.Clone(key)}}
	if se.Key == nil {
		se.Key = []byte{}
	}
	if err := decodeRecordValue(v, &se); err != nil {
		return SignedEntry{}, fmt.Errorf("entry %q of %s in %s: %w", truncKey(key), author.Short(), ns.Short(), err)
	}
	return se, nil
}

// Get returns the stored entry of author at exactly key, tombstones included.
func (s *Store) Get(ns NamespaceID, author AuthorID, key []byte) (SignedEntry, error) {
	if s.closed.Load() {
		return SignedEntry{}, ErrClosed
	}
	return getEntry(s.db, ns, author, key)
}

func decodeHead(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: head is %d bytes, want 8", ErrMalformed, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Heads returns the latest timestamp of every author in the document. A
// document without entries, or one that does not exist, has empty heads.
func (s *Store) Heads(ns NamespaceID) (Heads, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	h := Heads{}
	prefix := nsKey(tableHeads, ns)
	err := scanPrefix(s.db, prefix, func(k, v []byte) error {
		if len(k) != len(prefix)+IDLen {
			return fmt.Errorf("%w: heads key of %d bytes", ErrMalformed, len(k))
		}
		ts, err := decodeHead(v)
		if err != nil {
			return err
		}
		h[AuthorID(k[len(prefix):])] = ts
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heads of %s: %w", ns.Short(), err)
	}
	return h, nil
}

func decodePeers(v []byte) ([]PeerID, error) {
	if len(v)%32 != 0 {
		return nil, fmt.Errorf("%w: sync peer list is %d bytes, not a multiple of 32", ErrMalformed, len(v))
	}
	peers := make([]PeerID, len(v)/32)
	for i := range peers {
		peers[i] = PeerID(v[32*i : 32*i+32])
	}
	return peers, nil
}

// SyncPeers returns the peers the document last synced with, most recent first.
func (s *Store) SyncPeers(ns NamespaceID) ([]PeerID, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	v, err := getCopy(s.db, nsKey(tableSyncPeer, ns))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	peers, err := decodePeers(v)
	if err != nil {
		return nil, fmt.Errorf("sync peers of %s: %w", ns.Short(), err)
	}
	return peers, nil
}

// DownloadPolicy returns the document's download policy; without one set,
// everything is downloaded.
func (s *Store) DownloadPolicy(ns NamespaceID) (DownloadPolicy, error) {
	if s.closed.Load() {
		return DownloadPolicy{}, ErrClosed
	}
	v, err := getCopy(s.db, nsKey(tablePolicy, ns))
	if errors.Is(err, ErrNotFound) {
		return DownloadPolicy{Mode: DownloadEverythingExcept}, nil
	}
	if err != nil {
		return DownloadPolicy{}, err
	}
	p, err := UnmarshalDownloadPolicy(v)
	if err != nil {
		return DownloadPolicy{}, fmt.Errorf("download policy of %s: %w", ns.Short(), err)
	}
	return p, nil
}

// Items streams every stored entry of the document, tombstones included, as
// reconciliation items, in records table order (author, key).
func (s *Store) Items(ns NamespaceID) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		if s.closed.Load() {
			yield(Item{}, ErrClosed)
			return
		}
		prefix := nsKey(tableRecords, ns)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			yield(Item{}, err)
			return
		}
		defer it.Close()
		var se SignedEntry
		se.Namespace = ns
		buf := make([]byte, 0, 256)
		for ok := it.First(); ok; ok = it.Next() {
			author, key, err := splitRecordKey(it.Key())
			if err == nil {
				var v []byte
				v, err = it.ValueAndErr()
				if err == nil {
					err = decodeRecordValue(v, &se)
				}
			}
			if err != nil {
				yield(Item{}, fmt.Errorf("items of %s: %w", ns.Short(), err))
				return
			}
			se.Author, se.Key = author, key
			buf = se.AppendSigningBytes(buf[:0])
			if !yield(Item{Timestamp: se.Timestamp, ID: hashSigningBytes(buf)}, nil) {
				return
			}
		}
		if err := it.Error(); err != nil {
			yield(Item{}, fmt.Errorf("items of %s: %w", ns.Short(), err))
		}
	}
}

// Count returns the number of stored entries of the document, tombstones
// included. It scans the document's keys.
func (s *Store) Count(ns NamespaceID) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	prefix := nsKey(tableRecords, ns)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, fmt.Errorf("count %s: %w", ns.Short(), err)
	}
	return n, nil
}

// Txn is a write transaction over an indexed batch: its reads see its own
// uncommitted writes. A Txn is used by one goroutine; it is finished by
// Commit or Close.
type Txn struct {
	s    *Store
	b    *pebble.Batch
	done bool
	// docs caches documents known to exist in this transaction, heads the
	// heads it has read or written. RemoveDoc invalidates both.
	docs  map[NamespaceID]struct{}
	heads map[headSlot]uint64
}

// NewTxn starts a transaction.
func (s *Store) NewTxn() *Txn {
	t := &Txn{s: s}
	if s.closed.Load() {
		t.done = true
		return t
	}
	t.b = s.db.NewIndexedBatch()
	return t
}

var errTxnDone = fmt.Errorf("%w: transaction already committed or closed", ErrClosed)

func (t *Txn) check() error {
	if t.done {
		return errTxnDone
	}
	if t.s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Len returns the number of operations queued.
func (t *Txn) Len() int {
	if t.b == nil || t.done {
		return 0
	}
	return int(t.b.Count())
}

// Commit applies the transaction, syncing the WAL when sync is set. The
// transaction is finished afterwards, whether or not Commit succeeded.
func (t *Txn) Commit(sync bool) error {
	if err := t.check(); err != nil {
		return err
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	err := t.b.Commit(wo)
	t.Close()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close discards the transaction if it was not committed. It is safe to call
// after Commit and more than once.
func (t *Txn) Close() {
	if t.done {
		return
	}
	t.done = true
	if t.b != nil {
		_ = t.b.Close()
		t.b = nil
	}
}

func (t *Txn) set(k, v []byte) error { return t.b.Set(k, v, nil) }

func (t *Txn) requireDoc(ns NamespaceID) error {
	if _, ok := t.docs[ns]; ok {
		return nil
	}
	if _, err := readDoc(t.b, ns); err != nil {
		return err
	}
	if t.docs == nil {
		t.docs = make(map[NamespaceID]struct{})
	}
	t.docs[ns] = struct{}{}
	return nil
}

// PutDoc creates the document or merges the capability into the stored one
// (Read can become Write, never the reverse) and sets its durability. It
// returns what is stored afterwards.
func (t *Txn) PutDoc(info DocInfo) (DocInfo, error) {
	if err := t.check(); err != nil {
		return DocInfo{}, err
	}
	ns := info.ID()
	old, err := readDoc(t.b, ns)
	switch {
	case err == nil:
		merged, err := old.Capability.Merge(info.Capability)
		if err != nil {
			return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
		}
		info.Capability = merged
	case !errors.Is(err, ErrNotFound):
		return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
	}
	v, err := encodeDocInfo(info)
	if err != nil {
		return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
	}
	if err := t.set(nsKey(tableDocs, ns), v); err != nil {
		return DocInfo{}, err
	}
	return info, nil
}

// RemoveDoc removes the document and everything stored for it: entries,
// index, heads, sync peers and download policy.
func (t *Txn) RemoveDoc(ns NamespaceID) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, err := readDoc(t.b, ns); err != nil {
		return fmt.Errorf("remove document: %w", err)
	}
	delete(t.docs, ns)
	for slot := range t.heads {
		if slot.ns == ns {
			delete(t.heads, slot)
		}
	}
	for _, table := range []byte{tableRecords, tableIndex, tableTombs, tableHeads} {
		start := nsKey(table, ns)
		if err := t.b.DeleteRange(start, prefixEnd(start), nil); err != nil {
			return err
		}
	}
	for _, table := range []byte{tableDocs, tableSyncPeer, tablePolicy} {
		if err := t.b.Delete(nsKey(table, ns), nil); err != nil {
			return err
		}
	}
	return nil
}

// PutAuthor stores an author key.
func (t *Txn) PutAuthor(a Author) error {
	if err := t.check(); err != nil {
		return err
	}
	if a.IsZero() {
		return fmt.Errorf("put author: %w: zero author", ErrInvalidKey)
	}
	seed := a.Seed()
	return t.set(authorKey(a.ID()), seed[:])
}

// DeleteAuthor removes an author key. Entries it signed stay.
func (t *Txn) DeleteAuthor(id AuthorID) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, err := getCopy(t.b, authorKey(id)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("delete author %s: %w", id.Short(), ErrNotFound)
		}
		return err
	}
	return t.b.Delete(authorKey(id), nil)
}

// SetMeta stores a node-level setting.
func (t *Txn) SetMeta(key string, val []byte) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.set(metaKey(key), val)
}

// Get returns the entry of author at exactly key, as this transaction sees it.
func (t *Txn) Get(ns NamespaceID, author AuthorID, key []byte) (SignedEntry, error) {
	if err := t.check(); err != nil {
		return SignedEntry{}, err
	}
	return getEntry(t.b, ns, author, key)
}

// Heads returns the latest timestamp of author in ns, 0 if none, as this
// transaction sees it.
func (t *Txn) Heads(ns NamespaceID, author AuthorID) (uint64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	h, _, err := t.head(ns, author)
	if err != nil {
		return 0, fmt.Errorf("heads of %s: %w", ns.Short(), err)
	}
	return h, nil
}

// AddSyncPeer records that the document synced with peer: the peer moves to
// the front of the list, which keeps StoreOptions.SyncPeersPerDoc peers. The
// document must exist.
func (t *Txn) AddSyncPeer(ns NamespaceID, peer PeerID) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.requireDoc(ns); err != nil {
		return fmt.Errorf("add sync peer: %w", err)
	}
	key := nsKey(tableSyncPeer, ns)
	old, err := getCopy(t.b, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	peers, err := decodePeers(old)
	if err != nil {
		return fmt.Errorf("add sync peer to %s: %w", ns.Short(), err)
	}
	v := make([]byte, 0, 32*min(len(peers)+1, t.s.opts.SyncPeersPerDoc))
	v = append(v, peer[:]...)
	for _, p := range peers {
		if len(v) >= 32*t.s.opts.SyncPeersPerDoc {
			break
		}
		if p != peer {
			v = append(v, p[:]...)
		}
	}
	return t.set(key, v)
}

// SetDownloadPolicy sets the document's download policy. The document must exist.
func (t *Txn) SetDownloadPolicy(ns NamespaceID, p DownloadPolicy) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.requireDoc(ns); err != nil {
		return fmt.Errorf("set download policy: %w", err)
	}
	v, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	return t.set(nsKey(tablePolicy, ns), v)
}

// Insert stores se under last-writer-wins with prefix deletion. Within one
// author of one document, an entry is dominated by a stored entry at the same
// key with a later record, and by a stored tombstone at a prefix of its key
// (or at the key itself) with a later record. Insert
//
//   - refuses se when the store holds it already (Duplicate), when the entry
//     at the same key is later (Superseded), or when a later tombstone at a
//     prefix covers it (DeletedByPrefix);
//   - otherwise stores se, replacing the entry at the same key, and when se
//     is a tombstone removes every entry of the author whose key starts with
//     se.Key and whose record is earlier;
//   - calls removed, when non-nil, for every entry it removes (the replaced
//     one included) and counts them in Removed;
//   - moves the author's head forward to se's timestamp.
//
// The stored set is therefore the entries no other entry dominates, whatever
// the order of arrival. Insert checks the entry's shape against the store's
// limits, but neither signatures nor the clock: callers do that. The
// document must exist.
func (t *Txn) Insert(se *SignedEntry, removed func(Entry)) (InsertOutcome, error) {
	if err := t.check(); err != nil {
		return InsertOutcome{}, err
	}
	if err := t.s.limits.ValidateShape(&se.Entry); err != nil {
		return InsertOutcome{}, fmt.Errorf("insert: %w", err)
	}
	ns, author := se.Namespace, se.Author
	if err := t.requireDoc(ns); err != nil {
		return InsertOutcome{}, fmt.Errorf("insert: %w", err)
	}
	recKey := recordKey(ns, author, se.Key)
	prefix := recKey[:recordKeyLen]

	// The entry at the same key.
	var old SignedEntry
	hasOld := false
	if v, err := getCopy(t.b, recKey); err == nil {
		old = SignedEntry{Entry: Entry{Namespace: ns, Author: author, Key: se.Key}}
		if err := decodeRecordValue(v, &old); err != nil {
			return InsertOutcome{}, fmt.Errorf("insert: stored entry %q: %w", truncKey(se.Key), err)
		}
		switch c := old.Record.Compare(se.Record); {
		case c == 0:
			return InsertOutcome{Reason: Duplicate}, nil
		case c > 0:
			return InsertOutcome{Reason: Superseded}, nil
		}
		hasOld = true
	} else if !errors.Is(err, ErrNotFound) {
		return InsertOutcome{}, fmt.Errorf("insert: %w", err)
	}

	deleted, err := t.coveredByTombstone(se)
	if err != nil {
		return InsertOutcome{}, fmt.Errorf("insert: %w", err)
	}
	if deleted {
		return InsertOutcome{Reason: DeletedByPrefix}, nil
	}

	out := InsertOutcome{Inserted: true}
	if hasOld {
		out.Removed++
		if removed != nil {
			removed(old.Entry.Clone())
		}
		if old.IsTombstone() && !se.IsTombstone() {
			if err := t.b.Delete(tombKey(ns, author, se.Key), nil); err != nil {
				return InsertOutcome{}, err
			}
		}
	}
	if se.IsTombstone() {
		n, err := t.deleteCovered(prefix, recKey, se, removed)
		out.Removed += n
		if err != nil {
			return InsertOutcome{}, fmt.Errorf("insert: %w", err)
		}
		if err := t.set(tombKey(ns, author, se.Key), appendIndexValue(make([]byte, 0, indexValueLen), &se.Record)); err != nil {
			return InsertOutcome{}, err
		}
	}

	val := appendRecordValue(make([]byte, 0, recordValueLen(se)), se)
	if err := t.set(recKey, val); err != nil {
		return InsertOutcome{}, err
	}
	if err := t.set(indexKey(ns, se.Key, author), appendIndexValue(make([]byte, 0, indexValueLen), &se.Record)); err != nil {
		return InsertOutcome{}, err
	}
	head, found, err := t.head(ns, author)
	if err != nil {
		return InsertOutcome{}, fmt.Errorf("insert: %w", err)
	}
	if !found || se.Timestamp > head {
		if err := t.set(headsKey(ns, author), binary.BigEndian.AppendUint64(nil, se.Timestamp)); err != nil {
			return InsertOutcome{}, err
		}
		if t.heads == nil {
			t.heads = make(map[headSlot]uint64)
		}
		t.heads[headSlot{ns, author}] = se.Timestamp
	}
	return out, nil
}

type headSlot struct {
	ns     NamespaceID
	author AuthorID
}

// head returns author's head in ns and whether there is one, through the
// transaction's cache.
func (t *Txn) head(ns NamespaceID, author AuthorID) (uint64, bool, error) {
	if h, ok := t.heads[headSlot{ns, author}]; ok {
		return h, true, nil
	}
	v, err := getCopy(t.b, headsKey(ns, author))
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	h, err := decodeHead(v)
	if err != nil {
		return 0, false, err
	}
	if t.heads == nil {
		t.heads = make(map[headSlot]uint64)
	}
	t.heads[headSlot{ns, author}] = h
	return h, true, nil
}

func hashSigningBytes(b []byte) EntryID { return blake3.Sum256(b) }

// coveredByTombstone reports whether a stored tombstone of se's author at a
// proper prefix of se.Key has a later record than se. (se.Key itself was
// checked by the caller.)
//
// It walks the tombstones table down from se.Key instead of probing every
// prefix: the greatest stored tombstone key s below the target is either a
// prefix of se.Key (check it, then look below s) or shares only its first L
// bytes with se.Key, in which case no prefix of se.Key longer than L holds a
// tombstone (it would lie between s and se.Key) and the walk continues at
// se.Key[:L]. Each step shortens the target, so the walk takes one seek per
// tombstone on the way; without tombstones it is one seek into an empty range.
func (t *Txn) coveredByTombstone(se *SignedEntry) (bool, error) {
	prefix := tombKey(se.Namespace, se.Author, nil)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	key := se.Key
	seek := make([]byte, 0, len(prefix)+len(key)+1)
	seek = append(append(seek, prefix...), key...)
	for it.SeekLT(seek) {
		s := it.Key()[len(prefix):]
		if bytes.HasPrefix(key, s) {
			v, err := it.ValueAndErr()
			if err != nil {
				return false, err
			}
			r, err := decodeIndexValue(v)
			if err != nil {
				return false, fmt.Errorf("stored tombstone %q: %w", truncKey(s), err)
			}
			if r.Compare(se.Record) > 0 {
				return true, nil
			}
			if len(s) == 0 {
				return false, nil
			}
			seek = append(seek[:len(prefix)], s...)
			continue
		}
		l := commonPrefixLen(s, key)
		seek = append(append(seek[:len(prefix)], key[:l]...), 0) // includes key[:l] itself
	}
	return false, it.Error()
}

func commonPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// deleteCovered removes the author's entries whose keys start with the
// tombstone se's key (the key itself excluded: the caller replaces it) and
// whose records are earlier than se's. prefix is the author's records prefix.
func (t *Txn) deleteCovered(prefix, recKey []byte, se *SignedEntry, removed func(Entry)) (int, error) {
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: keySuccessor(recKey), UpperBound: prefixEnd(recKey)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	var f SignedEntry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return n, err
		}
		if err := decodeRecordValue(v, &f); err != nil {
			return n, fmt.Errorf("stored entry %q: %w", truncKey(k[len(prefix):]), err)
		}
		if f.Record.Compare(se.Record) >= 0 {
			continue
		}
		key := bytes.Clone(k[len(prefix):])
		if err := t.b.Delete(k, nil); err != nil {
			return n, err
		}
		if err := t.b.Delete(indexKey(se.Namespace, key, se.Author), nil); err != nil {
			return n, err
		}
		if f.IsTombstone() {
			if err := t.b.Delete(tombKey(se.Namespace, se.Author, key), nil); err != nil {
				return n, err
			}
		}
		n++
		if removed != nil {
			removed(Entry{Namespace: se.Namespace, Author: se.Author, Key: key, Record: f.Record})
		}
	}
	return n, it.Error()
}

// quietLogger drops pebble's informational messages and passes on errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	log.Printf("docsnode store: "+format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	log.Fatalf("docsnode store: "+format, args...)
}

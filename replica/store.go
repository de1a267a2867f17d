package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log"
	"maps"
	"slices"
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
	logger *storeLogger // keeps a failure of the write-ahead log

	// In-memory views of small tables, loaded at open and changed only by
	// committed transactions: documents, heads, and how many tombstones each
	// author has per document (so inserts by authors without tombstones skip
	// the prefix check).
	mu    sync.RWMutex
	docs  map[NamespaceID]DocInfo
	heads map[headSlot]uint64
	tombs map[headSlot]int

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// defaultCacheSize is pebble's block cache when StoreOptions.CacheSize is 0.
const defaultCacheSize = 64 << 20

// defaultMemTableSize is pebble's memtable when StoreOptions.MemTableSize
// is 0. Pebble starts with a small memtable and grows it up to this size,
// so a node with little to write does not pay for it.
const defaultMemTableSize = 16 << 20

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
	logger := &storeLogger{}
	popts := &pebble.Options{
		FS:                 fs,
		Logger:             logger,
		FormatMajorVersion: pebble.FormatNewest,
		CacheSize:          opts.CacheSize,
	}
	if popts.CacheSize <= 0 {
		popts.CacheSize = defaultCacheSize
	}
	popts.MemTableSize = opts.MemTableSize
	if popts.MemTableSize == 0 {
		popts.MemTableSize = defaultMemTableSize
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
	s := &Store{db: db, dir: dir, limits: opts.Limits.withDefaults(), opts: opts, logger: logger}
	if err := errors.Join(s.checkFormat(), s.logFailure()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.loadCaches(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// loadCaches reads the documents, heads and tombstone counts into memory.
func (s *Store) loadCaches() error {
	s.docs = make(map[NamespaceID]DocInfo)
	s.heads = make(map[headSlot]uint64)
	s.tombs = make(map[headSlot]int)
	err := scanPrefix(s.db, []byte{tableDocs}, func(k, v []byte) error {
		info, err := decodeDocInfo(v)
		if err == nil && (len(k) != 1+IDLen || info.ID() != NamespaceID(k[1:])) {
			err = fmt.Errorf("%w: capability stored under another id", ErrMalformed)
		}
		if err != nil {
			return fmt.Errorf("document %x: %w", k[1:], err)
		}
		s.docs[info.ID()] = info
		return nil
	})
	if err != nil {
		return err
	}
	err = scanPrefix(s.db, []byte{tableHeads}, func(k, v []byte) error {
		if len(k) != 1+2*IDLen {
			return fmt.Errorf("%w: heads key of %d bytes", ErrMalformed, len(k))
		}
		ts, err := decodeHead(v)
		if err != nil {
			return err
		}
		s.heads[headSlot{NamespaceID(k[1:33]), AuthorID(k[33:65])}] = ts
		return nil
	})
	if err != nil {
		return err
	}
	return scanPrefix(s.db, []byte{tableTombs}, func(k, _ []byte) error {
		if len(k) < 1+2*IDLen {
			return fmt.Errorf("%w: tombstone key of %d bytes", ErrMalformed, len(k))
		}
		s.tombs[headSlot{NamespaceID(k[1:33]), AuthorID(k[33:65])}]++
		return nil
	})
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

// DiskUsage returns the bytes the database's files take: the tables,
// the write-ahead log, and pebble's manifest and options files (for a
// store in memory, what those files would take).
func (s *Store) DiskUsage() (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.db.Metrics().DiskSpaceUsage(), nil
}

// Limits returns the limits the store enforces, defaults filled in.
func (s *Store) Limits() Limits { return s.limits }

// SyncWAL makes every committed write durable. Once the write-ahead log
// has failed, it returns that failure.
func (s *Store) SyncWAL() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.logFailure(); err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	err := s.db.LogData(nil, pebble.Sync)
	if err == nil {
		err = s.logFailure()
	}
	if err != nil {
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
	b, err := info.Capability.ExportBinary()
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

// Docs returns every document, ordered by id.
func (s *Store) Docs() ([]DocInfo, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.RLock()
	docs := make([]DocInfo, 0, len(s.docs))
	for _, info := range s.docs {
		docs = append(docs, info)
	}
	s.mu.RUnlock()
	slices.SortFunc(docs, func(a, b DocInfo) int {
		x, y := a.ID(), b.ID()
		return bytes.Compare(x[:], y[:])
	})
	return docs, nil
}

// Doc returns what the store holds about the document ns.
func (s *Store) Doc(ns NamespaceID) (DocInfo, error) {
	if s.closed.Load() {
		return DocInfo{}, ErrClosed
	}
	s.mu.RLock()
	info, ok := s.docs[ns]
	s.mu.RUnlock()
	if !ok {
		return DocInfo{}, fmt.Errorf("document %s: %w", ns.Short(), ErrNotFound)
	}
	return info, nil
}

// requireDoc returns an error wrapping ErrNotFound unless the store holds
// the document ns. Every read that names a document checks it, so that a
// mistyped or zero id is an error rather than an empty answer.
func (s *Store) requireDoc(ns NamespaceID) error {
	s.mu.RLock()
	_, ok := s.docs[ns]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("document %s: %w", ns.Short(), ErrNotFound)
	}
	return nil
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

// EntryByID returns the stored entry (a value or a hidden tombstone) whose
// reconciliation id is id.
func (s *Store) EntryByID(ns NamespaceID, id EntryID) (SignedEntry, error) {
	if s.closed.Load() {
		return SignedEntry{}, ErrClosed
	}
	if err := s.requireDoc(ns); err != nil {
		return SignedEntry{}, err
	}
	v, err := getCopy(s.db, idKey(ns, id))
	if errors.Is(err, ErrNotFound) {
		return SignedEntry{}, fmt.Errorf("entry %x… in %s: %w", id[:5], ns.Short(), ErrNotFound)
	}
	if err != nil {
		return SignedEntry{}, err
	}
	if len(v) < IDLen {
		return SignedEntry{}, fmt.Errorf("entry %x… in %s: %w: id record of %d bytes", id[:5], ns.Short(), ErrMalformed, len(v))
	}
	author, key := AuthorID(v[:IDLen]), v[IDLen:]
	se, err := getEntry(s.db, ns, author, key)
	if err == nil && se.ID() == id {
		return se, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return SignedEntry{}, err
	}
	tv, err := getCopy(s.db, tombKey(ns, author, key))
	if err == nil {
		se = SignedEntry{Entry: Entry{Namespace: ns, Author: author, Key: key}}
		if err = decodeRecordValue(tv, &se); err == nil && se.ID() == id {
			return se, nil
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return SignedEntry{}, err
	}
	return SignedEntry{}, fmt.Errorf("entry %x… in %s: %w: the id table names a key that holds another entry", id[:5], ns.Short(), ErrMalformed)
}

// EntriesByID returns the stored entries (values or hidden tombstones) whose
// reconciliation ids are in ids, in no particular order; ids not held are
// left out. It serves a batch with two ordered passes, one over the id table
// and one over the records, each with one iterator, which costs far less
// than a point lookup per id when the batch is large.
func (s *Store) EntriesByID(ns NamespaceID, ids []EntryID) ([]SignedEntry, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.requireDoc(ns); err != nil {
		return nil, err
	}
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b EntryID) int { return bytes.Compare(a[:], b[:]) })
	sorted = slices.Compact(sorted)

	// Pass 1: id -> (author, key), in id order.
	type loc struct {
		id  EntryID
		rec []byte // record key
	}
	locs := make([]loc, 0, len(sorted))
	idPrefix := nsKey(tableIDs, ns)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: idPrefix, UpperBound: prefixEnd(idPrefix)})
	if err != nil {
		return nil, err
	}
	for _, id := range sorted {
		k := idKey(ns, id)
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, err
		}
		if len(v) < IDLen {
			it.Close()
			return nil, fmt.Errorf("entry %x… in %s: %w: id record of %d bytes", id[:5], ns.Short(), ErrMalformed, len(v))
		}
		locs = append(locs, loc{id: id, rec: recordKey(ns, AuthorID(v[:IDLen]), v[IDLen:])})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}

	// Pass 2: the records, in key order.
	slices.SortFunc(locs, func(a, b loc) int { return bytes.Compare(a.rec, b.rec) })
	recPrefix := nsKey(tableRecords, ns)
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: recPrefix, UpperBound: prefixEnd(recPrefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([]SignedEntry, 0, len(locs))
	for _, l := range locs {
		author, key, err := splitRecordKey(l.rec)
		if err != nil {
			return nil, err
		}
		if it.SeekGE(l.rec) && bytes.Equal(it.Key(), l.rec) {
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			se := SignedEntry{Entry: Entry{Namespace: ns, Author: author, Key: bytes.Clone(key)}}
			if err := decodeRecordValue(v, &se); err != nil {
				return nil, fmt.Errorf("entry %x… in %s: %w", l.id[:5], ns.Short(), err)
			}
			if se.ID() == l.id {
				out = append(out, se)
				continue
			}
		}
		// Not the value at its key: a hidden tombstone, or an id record
		// that went stale.
		se, err := s.EntryByID(ns, l.id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, nil
}

// Get returns the stored entry of author at exactly key, tombstones included.
func (s *Store) Get(ns NamespaceID, author AuthorID, key []byte) (SignedEntry, error) {
	if s.closed.Load() {
		return SignedEntry{}, ErrClosed
	}
	if err := s.requireDoc(ns); err != nil {
		return SignedEntry{}, err
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
// document without entries has empty heads; one the store does not hold is
// an error wrapping ErrNotFound.
func (s *Store) Heads(ns NamespaceID) (Heads, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	h := Heads{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.docs[ns]; !ok {
		return nil, fmt.Errorf("document %s: %w", ns.Short(), ErrNotFound)
	}
	for slot, ts := range s.heads {
		if slot.ns == ns {
			h[slot.author] = ts
		}
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
	if err := s.requireDoc(ns); err != nil {
		return nil, err
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
	if err := s.requireDoc(ns); err != nil {
		return DownloadPolicy{}, err
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

// Items streams every stored entry of the document as reconciliation
// items: the values in records table order (author, key), then the
// tombstones that later ordinary values hide (see Txn.Insert).
func (s *Store) Items(ns NamespaceID) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		if s.closed.Load() {
			yield(Item{}, ErrClosed)
			return
		}
		if err := s.requireDoc(ns); err != nil {
			yield(Item{}, err)
			return
		}
		buf := make([]byte, 0, 256)
		item := func(se *SignedEntry) Item {
			buf = se.AppendSigningBytes(buf[:0])
			return Item{Timestamp: se.Timestamp, ID: hashSigningBytes(buf)}
		}
		for se, err := range s.scanEntries(nsKey(tableRecords, ns), ns) {
			if err != nil || !yield(item(se), nil) {
				if err != nil {
					yield(Item{}, err)
				}
				return
			}
		}
		for se, err := range s.hiddenTombs(ns) {
			if err != nil || !yield(item(se), nil) {
				if err != nil {
					yield(Item{}, err)
				}
				return
			}
		}
	}
}

// scanEntries streams the entries of a records or tombstones table range of
// one document. The yielded entry's key aliases iterator memory and is
// valid until the next step.
func (s *Store) scanEntries(prefix []byte, ns NamespaceID) iter.Seq2[*SignedEntry, error] {
	return func(yield func(*SignedEntry, error) bool) {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			yield(nil, err)
			return
		}
		defer it.Close()
		var se SignedEntry
		se.Namespace = ns
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
				yield(nil, fmt.Errorf("entries of %s: %w", ns.Short(), err))
				return
			}
			se.Author, se.Key = author, key
			if !yield(&se, nil) {
				return
			}
		}
		if err := it.Error(); err != nil {
			yield(nil, fmt.Errorf("entries of %s: %w", ns.Short(), err))
		}
	}
}

// hiddenTombs streams the tombstones that are not also the value at their
// key: a later ordinary write replaced them there, but they still delete
// older entries under their prefix and take part in reconciliation.
func (s *Store) hiddenTombs(ns NamespaceID) iter.Seq2[*SignedEntry, error] {
	return func(yield func(*SignedEntry, error) bool) {
		for se, err := range s.scanEntries(nsKey(tableTombs, ns), ns) {
			if err != nil {
				yield(nil, err)
				return
			}
			v, err := getCopy(s.db, recordKey(ns, se.Author, se.Key))
			if err == nil {
				var value SignedEntry
				if err = decodeRecordValue(v, &value); err == nil && value.Record == se.Record {
					continue
				}
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				yield(nil, err)
				return
			}
			if !yield(se, nil) {
				return
			}
		}
	}
}

// Count returns the number of entries Items streams. It scans the
// document's keys.
func (s *Store) Count(ns NamespaceID) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if err := s.requireDoc(ns); err != nil {
		return 0, err
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
	for _, err := range s.hiddenTombs(ns) {
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", ns.Short(), err)
		}
		n++
	}
	return n, nil
}

// Txn is a write transaction over an indexed batch: its reads see its own
// uncommitted writes. A Txn is used by one goroutine; it is finished by
// Commit or Close. Only one Txn may write at a time (the store actor's).
type Txn struct {
	s    *Store
	b    *pebble.Batch
	done bool

	// Changes to the store's in-memory views, applied when Commit succeeds.
	docs    map[NamespaceID]DocInfo
	removed map[NamespaceID]bool
	heads   map[headSlot]uint64
	tombs   map[headSlot]int // tombstone count deltas

	// absent holds records keys that Prefetch found empty and nothing has
	// written since, so lookup answers them without a point read.
	absent map[string]struct{}
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
//
// Once the write-ahead log has failed, Commit returns that failure and
// writes nothing. A commit without sync cannot see a log failure: its
// record is written to the log later, and a failure of that write shows at
// the next commit with sync or SyncWAL. A commit that failed may or may not
// have stored its writes; the store's in-memory views keep what they held.
func (t *Txn) Commit(sync bool) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.s.logFailure(); err != nil {
		t.Close()
		return fmt.Errorf("commit: %w", err)
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	err := t.b.Commit(wo)
	if err == nil {
		err = t.s.logFailure()
	}
	if err == nil {
		t.publish()
	}
	t.Close()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// publish applies the transaction's changes to the store's in-memory views.
func (t *Txn) publish() {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns := range t.removed {
		delete(s.docs, ns)
		for slot := range s.heads {
			if slot.ns == ns {
				delete(s.heads, slot)
			}
		}
		for slot := range s.tombs {
			if slot.ns == ns {
				delete(s.tombs, slot)
			}
		}
	}
	maps.Copy(s.docs, t.docs)
	maps.Copy(s.heads, t.heads)
	for slot, d := range t.tombs {
		if n := s.tombs[slot] + d; n > 0 {
			s.tombs[slot] = n
		} else {
			delete(s.tombs, slot)
		}
	}
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

func (t *Txn) set(k, v []byte) error {
	if t.absent != nil {
		delete(t.absent, string(k))
	}
	return t.b.Set(k, v, nil)
}

// Prefetch prepares the Insert of a batch of entries: one ordered pass
// over the records finds the keys that hold no value yet, and their
// inserts then skip a point lookup each. It changes nothing stored. A
// fresh replica receiving a document is the case it is for: there every
// key is new.
func (t *Txn) Prefetch(entries []SignedEntry) error {
	if err := t.check(); err != nil || len(entries) == 0 {
		return err
	}
	keys := make([][]byte, len(entries))
	for i := range entries {
		keys[i] = recordKey(entries[i].Namespace, entries[i].Author, entries[i].Key)
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: keySuccessor(keys[len(keys)-1])})
	if err != nil {
		return err
	}
	if t.absent == nil {
		t.absent = make(map[string]struct{}, len(keys))
	}
	for _, k := range keys {
		if it.SeekGE(k) && bytes.Equal(it.Key(), k) {
			continue
		}
		t.absent[string(k)] = struct{}{}
	}
	return it.Close()
}

// doc returns the document as this transaction sees it.
func (t *Txn) doc(ns NamespaceID) (DocInfo, bool) {
	if info, ok := t.docs[ns]; ok {
		return info, true
	}
	if t.removed[ns] {
		return DocInfo{}, false
	}
	t.s.mu.RLock()
	info, ok := t.s.docs[ns]
	t.s.mu.RUnlock()
	return info, ok
}

func (t *Txn) requireDoc(ns NamespaceID) error {
	if _, ok := t.doc(ns); !ok {
		return fmt.Errorf("document %s: %w", ns.Short(), ErrNotFound)
	}
	return nil
}

// PutDoc creates the document or merges the capability into the stored one
// (Read can become Write, never the reverse) and sets its durability. It
// returns what is stored afterwards. It refuses, wrapping ErrInvalidKey, a
// capability for the zero id or a write capability without a secret; like
// Insert, which leaves signatures to its callers, it does not check that
// the id is a valid Ed25519 key (Capability.Validate does; the store actor
// applies it).
func (t *Txn) PutDoc(info DocInfo) (DocInfo, error) {
	if err := t.check(); err != nil {
		return DocInfo{}, err
	}
	ns := info.ID()
	if err := info.Capability.checkStorable(); err != nil {
		return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
	}
	if old, ok := t.doc(ns); ok {
		merged, err := old.Capability.Merge(info.Capability)
		if err != nil {
			return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
		}
		info.Capability = merged
	}
	v, err := encodeDocInfo(info)
	if err != nil {
		return DocInfo{}, fmt.Errorf("put document %s: %w", ns.Short(), err)
	}
	if err := t.set(nsKey(tableDocs, ns), v); err != nil {
		return DocInfo{}, err
	}
	if t.docs == nil {
		t.docs = make(map[NamespaceID]DocInfo)
	}
	t.docs[ns] = info
	return info, nil
}

// RemoveDoc removes the document and everything stored for it: entries,
// index, heads, sync peers and download policy.
func (t *Txn) RemoveDoc(ns NamespaceID) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.requireDoc(ns); err != nil {
		return fmt.Errorf("remove document: %w", err)
	}
	delete(t.docs, ns)
	for slot := range t.heads {
		if slot.ns == ns {
			delete(t.heads, slot)
		}
	}
	for slot := range t.tombs {
		if slot.ns == ns {
			delete(t.tombs, slot)
		}
	}
	if t.removed == nil {
		t.removed = make(map[NamespaceID]bool)
	}
	t.removed[ns] = true
	for _, table := range []byte{tableRecords, tableIndex, tableTombs, tableIDs, tableHeads} {
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
	seed := a.SecretSeed()
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
	if err := t.requireDoc(ns); err != nil {
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
	if err := t.requireDoc(ns); err != nil {
		return 0, err
	}
	h, _ := t.head(headSlot{ns, author})
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
	if peer == (PeerID{}) {
		return fmt.Errorf("add sync peer to %s: %w: zero peer id", ns.Short(), ErrInvalidKey)
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

// Insert stores se under last-writer-wins with prefix tombstones. Within one
// author of one document the store keeps two layers:
//
//   - values: per key, the entry with the latest record, unless a tombstone
//     at a proper prefix of the key has a later record;
//   - tombstones: every tombstone that no tombstone at a prefix of its key
//     (or at the key itself) with a later record covers.
//
// A tombstone is usually in both layers. It stays in the second when a later
// ordinary write at its own key replaces it in the first, and so goes on
// deleting the older entries under its prefix: without that, "delete a/,
// then write a" would delete a/b on one replica and keep it on another,
// depending on arrival order. Both layers are functions of the set of
// entries received, so the store ends the same whatever the order. The
// stored set (what Items lists and reconciliation compares) is their union.
//
// Insert refuses se when it is already stored (Duplicate), when the value at
// its key is later (Superseded), or when a later tombstone at a prefix
// covers it (DeletedByPrefix). removed, when non-nil, is called for every
// entry that leaves the stored set, and Removed counts them. The author's
// head moves forward to se's timestamp. Insert checks the entry's shape
// against the store's limits, but neither signatures nor the clock: callers
// do that. The document must exist.
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
	out, err := t.insert(se, removed)
	if err != nil {
		return InsertOutcome{}, fmt.Errorf("insert %q: %w", truncKey(se.Key), err)
	}
	if !out.Inserted {
		return out, nil
	}
	slot := headSlot{ns, author}
	if head, found := t.head(slot); !found || se.Timestamp > head {
		if err := t.set(headsKey(ns, author), binary.BigEndian.AppendUint64(nil, se.Timestamp)); err != nil {
			return InsertOutcome{}, err
		}
		if t.heads == nil {
			t.heads = make(map[headSlot]uint64)
		}
		t.heads[slot] = se.Timestamp
	}
	return out, nil
}

func (t *Txn) insert(se *SignedEntry, removed func(Entry)) (out InsertOutcome, err error) {
	ns, author := se.Namespace, se.Author
	slot := headSlot{ns, author}
	recKey := recordKey(ns, author, se.Key)

	// The value at the same key.
	old, hasOld, err := t.lookup(recKey, se)
	if err != nil {
		return InsertOutcome{}, err
	}
	valueWins := !hasOld || se.Record.Compare(old.Record) > 0
	if hasOld && se.Record.Compare(old.Record) == 0 {
		return InsertOutcome{Reason: Duplicate}, nil
	}

	// A tombstone is also checked against the tombstone at its own key,
	// which a later ordinary value may be hiding.
	var oldTomb SignedEntry
	hasOldTomb := false
	if se.IsTombstone() && t.tombCount(slot) > 0 {
		if oldTomb, hasOldTomb, err = t.lookup(tombKey(ns, author, se.Key), se); err != nil {
			return InsertOutcome{}, err
		}
		if hasOldTomb {
			switch c := se.Record.Compare(oldTomb.Record); {
			case c == 0:
				return InsertOutcome{Reason: Duplicate}, nil
			case c < 0:
				return InsertOutcome{Reason: Superseded}, nil
			}
		}
	}
	if !valueWins && !se.IsTombstone() {
		return InsertOutcome{Reason: Superseded}, nil
	}
	if t.tombCount(slot) > 0 {
		covered, err := t.coveredByTombstone(se)
		if err != nil {
			return InsertOutcome{}, err
		}
		if covered {
			return InsertOutcome{Reason: DeletedByPrefix}, nil
		}
	}

	out = InsertOutcome{Inserted: true}
	var left []Entry
	leave := func(e Entry) { left = append(left, e) }
	defer func() {
		if err == nil {
			err = t.updateIDs(se, left, removed)
			out.Removed = len(left)
		}
	}()
	if se.IsTombstone() {
		// se joins the tombstone layer, replacing an earlier tombstone at
		// its key, and deletes what is earlier under its prefix.
		if hasOldTomb {
			// When the old tombstone is also the value at its key, se
			// replaces it there too and the values step reports it.
			if !hasOld || old.Record != oldTomb.Record {
				leave(oldTomb.Entry.Clone())
			}
		} else {
			t.addTombs(slot, 1)
		}
		if err := t.set(tombKey(ns, author, se.Key), appendRecordValue(nil, se)); err != nil {
			return InsertOutcome{}, err
		}
		if err := t.deleteCovered(se, leave); err != nil {
			return InsertOutcome{}, err
		}
		if !valueWins {
			return out, nil
		}
	}
	if hasOld && !(old.IsTombstone() && t.isStoredTomb(&old)) {
		leave(old.Entry.Clone())
	}
	if err := t.set(recKey, appendRecordValue(make([]byte, 0, recordValueLen(se)), se)); err != nil {
		return InsertOutcome{}, err
	}
	if err := t.set(indexKey(ns, se.Key, author), appendIndexValue(make([]byte, 0, indexValueLen), &se.Record)); err != nil {
		return InsertOutcome{}, err
	}
	return out, nil
}

// updateIDs keeps the entry ids table equal to the stored set after se
// joined it and the entries in left left it.
func (t *Txn) updateIDs(se *SignedEntry, left []Entry, removed func(Entry)) error {
	v := make([]byte, 0, IDLen+len(se.Key))
	v = append(append(v, se.Author[:]...), se.Key...)
	if err := t.set(idKey(se.Namespace, se.ID()), v); err != nil {
		return err
	}
	for i := range left {
		if err := t.b.Delete(idKey(se.Namespace, left[i].ID()), nil); err != nil {
			return err
		}
		if removed != nil {
			removed(left[i])
		}
	}
	return nil
}

// lookup reads the entry stored under a records or tombstones table key of
// like's author.
func (t *Txn) lookup(k []byte, like *SignedEntry) (SignedEntry, bool, error) {
	if _, ok := t.absent[string(k)]; ok {
		return SignedEntry{}, false, nil
	}
	v, closer, err := t.b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return SignedEntry{}, false, nil
	}
	if err != nil {
		return SignedEntry{}, false, err
	}
	defer closer.Close()
	// The decoded entry copies every field out of v: nothing aliases it.
	e := SignedEntry{Entry: Entry{Namespace: like.Namespace, Author: like.Author, Key: like.Key}}
	if err := decodeRecordValue(v, &e); err != nil {
		return SignedEntry{}, false, fmt.Errorf("stored entry: %w", err)
	}
	return e, true, nil
}

// isStoredTomb reports whether the tombstone layer holds exactly e. Called
// after the tombstone layer was updated, it tells whether e, leaving the
// value layer, stays in the stored set.
func (t *Txn) isStoredTomb(e *SignedEntry) bool {
	got, ok, err := t.lookup(tombKey(e.Namespace, e.Author, e.Key), e)
	return err == nil && ok && got.Record == e.Record
}

type headSlot struct {
	ns     NamespaceID
	author AuthorID
}

// head returns the author's head in the document as this transaction sees it.
func (t *Txn) head(slot headSlot) (uint64, bool) {
	if h, ok := t.heads[slot]; ok {
		return h, true
	}
	if t.removed[slot.ns] {
		return 0, false
	}
	t.s.mu.RLock()
	h, ok := t.s.heads[slot]
	t.s.mu.RUnlock()
	return h, ok
}

// tombCount returns how many tombstones the author has in the document as
// this transaction sees it.
func (t *Txn) tombCount(slot headSlot) int {
	n := t.tombs[slot]
	if !t.removed[slot.ns] {
		t.s.mu.RLock()
		n += t.s.tombs[slot]
		t.s.mu.RUnlock()
	}
	return n
}

func (t *Txn) addTombs(slot headSlot, d int) {
	if t.tombs == nil {
		t.tombs = make(map[headSlot]int)
	}
	t.tombs[slot] += d
}

func hashSigningBytes(b []byte) EntryID { return blake3.Sum256(b) }

// coveredByTombstone reports whether a stored tombstone of se's author at a
// proper prefix of se.Key has a later record than se.
//
// It walks the tombstones table down from se.Key instead of probing every
// prefix: the greatest stored tombstone key s below the target is either a
// prefix of se.Key (check it, then look below s) or shares only its first L
// bytes with se.Key, in which case no prefix of se.Key longer than L holds a
// tombstone (it would lie between s and se.Key) and the walk continues at
// se.Key[:L]. Each step shortens the target, so the walk takes one seek per
// tombstone on the way.
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
	var f SignedEntry
	for it.SeekLT(seek) {
		s := it.Key()[len(prefix):]
		if bytes.HasPrefix(key, s) {
			v, err := it.ValueAndErr()
			if err != nil {
				return false, err
			}
			if err := decodeRecordValue(v, &f); err != nil {
				return false, fmt.Errorf("stored tombstone %q: %w", truncKey(s), err)
			}
			if f.Record.Compare(se.Record) > 0 {
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

// deleteCovered removes, from both layers, the author's entries at keys that
// strictly extend the tombstone se's key and whose records are earlier than
// se's. leave is called once for every entry that leaves the stored set.
func (t *Txn) deleteCovered(se *SignedEntry, leave func(Entry)) error {
	ns, author := se.Namespace, se.Author
	slot := headSlot{ns, author}
	// Tombstones first: one that is also the value at its key is reported
	// by the values pass below, which removes that value too (it is earlier
	// than se as well).
	if t.tombCount(slot) > 0 {
		tk := tombKey(ns, author, se.Key)
		err := t.scanCovered(tk, se, func(key []byte, f *SignedEntry) error {
			t.addTombs(slot, -1)
			if err := t.b.Delete(tombKey(ns, author, key), nil); err != nil {
				return err
			}
			value, ok, err := t.lookup(recordKey(ns, author, key), f)
			if err != nil {
				return err
			}
			if !ok || value.Record != f.Record {
				leave(f.Entry.Clone())
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	rk := recordKey(ns, author, se.Key)
	return t.scanCovered(rk, se, func(key []byte, f *SignedEntry) error {
		if err := t.b.Delete(recordKey(ns, author, key), nil); err != nil {
			return err
		}
		if err := t.b.Delete(indexKey(ns, key, author), nil); err != nil {
			return err
		}
		leave(f.Entry.Clone())
		return nil
	})
}

// scanCovered calls fn for every entry stored under a key that strictly
// extends base (a records or tombstones table key) and whose record is
// earlier than se's. fn may delete the entry it is given.
func (t *Txn) scanCovered(base []byte, se *SignedEntry, fn func(key []byte, f *SignedEntry) error) error {
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: keySuccessor(base), UpperBound: prefixEnd(base)})
	if err != nil {
		return err
	}
	defer it.Close()
	keyStart := len(base) - len(se.Key)
	f := SignedEntry{Entry: Entry{Namespace: se.Namespace, Author: se.Author}}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := decodeRecordValue(v, &f); err != nil {
			return fmt.Errorf("stored entry %q: %w", truncKey(k[keyStart:]), err)
		}
		if f.Record.Compare(se.Record) >= 0 {
			continue
		}
		key := bytes.Clone(k[keyStart:])
		f.Key = key
		if err := fn(key, &f); err != nil {
			return err
		}
	}
	return it.Error()
}

// storeLogger drops pebble's informational messages, passes its errors on
// to the standard logger, and keeps the one fatal error a store survives.
//
// pebble v2 reports a commit whose write-ahead log write or sync failed
// through Logger.Fatalf, and then lets the commit return success (the
// batch is in the memtable, so later reads see it). Ending the process
// there would take an application that embeds the store down with it;
// returning success would acknowledge a write the log may not hold. So
// storeLogger keeps the error, and the store returns it from that commit
// and from every write after it (see Store.logFailure). Any other fatal
// error still ends the process, as pebble expects.
type storeLogger struct {
	failed atomic.Pointer[error]
}

// pebbleCommitFatal is the format of pebble's fatal commit error
// (DB.applyInternal). If an upgrade changes it, the error ends the process
// as before, and the failure tests of the actor package fail.
const pebbleCommitFatal = "pebble: fatal commit error: %v"

func (*storeLogger) Infof(string, ...any) {}

func (*storeLogger) Errorf(format string, args ...any) {
	log.Printf("docsnode store: "+format, args...)
}

func (l *storeLogger) Fatalf(format string, args ...any) {
	if format == pebbleCommitFatal && len(args) == 1 {
		err, ok := args[0].(error)
		if !ok {
			err = fmt.Errorf("%v", args[0])
		}
		l.failed.CompareAndSwap(nil, &err)
		return
	}
	log.Fatalf("docsnode store: "+format, args...)
}

// logFailure returns the write-ahead log failure pebble reported, if any.
func (s *Store) logFailure() error {
	if p := s.logger.failed.Load(); p != nil {
		return fmt.Errorf("write-ahead log failed: %w", *p)
	}
	return nil
}

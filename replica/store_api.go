package replica

// This file fixes the store's public API; store.go implements it.

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/internal/redact"
)

// Durability says when a write to a document is acknowledged.
type Durability uint8

const (
	// Batched writes are acknowledged once the store actor has applied
	// them: every later request through the actor observes them, they are
	// committed within the actor's CommitDelay (2 ms by default) and the
	// write-ahead log is synced within its FlushInterval (500 ms), unless
	// the store fails first. A crash can lose the writes acknowledged in
	// the last window. If a commit or a log sync fails, the actor stops
	// serving (actor.ErrStoreFailed), so no write is acknowledged after one
	// that may be lost. This is the default.
	Batched Durability = 0
	// Durable writes are acknowledged only after they are fsynced.
	// Concurrent writers share one fsync (group commit). A write whose
	// commit failed returns the error, and may or may not be stored.
	Durable Durability = 1
)

func (d Durability) String() string {
	switch d {
	case Batched:
		return "batched"
	case Durable:
		return "durable"
	}
	return "durability(?)"
}

// DocInfo is what the store holds about a document besides its entries.
type DocInfo struct {
	Capability Capability
	Durability Durability
}

// ID returns the document id.
func (d DocInfo) ID() NamespaceID { return d.Capability.ID() }

// String describes the document without its secret:
// "DocInfo(Capability(write, 0123456789, secret redacted), batched)".
func (d DocInfo) String() string {
	return "DocInfo(" + d.Capability.String() + ", " + d.Durability.String() + ")"
}

// GoString returns the same as String, so %#v does not print the key.
func (d DocInfo) GoString() string { return d.String() }

// Format writes the same as String for every verb, %x and %d included.
func (d DocInfo) Format(f fmt.State, verb rune) { redact.Format(f, verb, d.String()) }

// LogValue logs the same as String.
func (d DocInfo) LogValue() slog.Value { return slog.StringValue(d.String()) }

// PeerID is a node id as the store remembers it: the node's Ed25519 public key.
type PeerID [32]byte

// Heads holds, per author, the latest timestamp this node has seen in a
// document. Heads only move forward.
type Heads map[AuthorID]uint64

// Item is an entry as reconciliation sees it: its timestamp and id.
type Item struct {
	Timestamp uint64
	ID        EntryID
}

// NotInsertedReason says why Insert kept the store as it was.
type NotInsertedReason uint8

const (
	// NotRefused: the entry was inserted.
	NotRefused NotInsertedReason = iota
	// Duplicate: the store already holds exactly this entry.
	Duplicate
	// Superseded: the store holds a later entry for the same author and key.
	Superseded
	// DeletedByPrefix: the store holds a later tombstone of the same author
	// at a prefix of the key.
	DeletedByPrefix
)

func (r NotInsertedReason) String() string {
	switch r {
	case NotRefused:
		return "inserted"
	case Duplicate:
		return "duplicate"
	case Superseded:
		return "superseded"
	case DeletedByPrefix:
		return "deleted by prefix"
	}
	return "reason(?)"
}

// InsertOutcome reports what an insert did.
type InsertOutcome struct {
	Inserted bool
	Reason   NotInsertedReason // why not, when !Inserted
	Removed  int               // older entries the insert removed
}

// SortBy chooses the order of query results.
type SortBy uint8

const (
	// SortAuthorKey orders by author, then key.
	SortAuthorKey SortBy = iota
	// SortKeyAuthor orders by key, then author.
	SortKeyAuthor
)

// Query selects entries of one document. The zero value returns every live
// (non-tombstone) entry ordered by author, then key.
type Query struct {
	// Author, when set, keeps only that author's entries.
	Author *AuthorID
	// Key, when non-nil, keeps only entries at exactly this key.
	Key []byte
	// KeyPrefix, when non-nil, keeps only entries whose key starts with it.
	KeyPrefix []byte
	// SortBy and Descending set the order.
	SortBy     SortBy
	Descending bool
	// LatestPerKey returns one entry per key: the latest across authors
	// (by timestamp, then hash). Results are ordered by key; SortBy is ignored.
	LatestPerKey bool
	// IncludeTombstones returns tombstones too. With LatestPerKey, a key
	// whose latest entry is a tombstone is skipped unless this is set.
	IncludeTombstones bool
	// Limit caps the number of results; 0 means no limit.
	Limit int
	// After resumes strictly after a position returned by CursorOf for the
	// same query. Resuming seeks; it never re-scans what came before.
	After Cursor
}

// Cursor is an opaque position in a query's order.
type Cursor []byte

// DownloadMode is the default of a download policy.
type DownloadMode uint8

const (
	// DownloadEverythingExcept fetches content for every key but those matching a filter.
	DownloadEverythingExcept DownloadMode = iota
	// DownloadNothingExcept fetches content only for keys matching a filter.
	DownloadNothingExcept
)

// KeyFilter matches a key exactly or by prefix.
type KeyFilter struct {
	Prefix bool
	Key    []byte
}

// DownloadPolicy decides which entries' content a node fetches.
type DownloadPolicy struct {
	Mode    DownloadMode
	Filters []KeyFilter
}

// StoreOptions configures OpenStore. The zero value is valid.
type StoreOptions struct {
	// InMemory keeps everything in memory (vfs.NewMem); dir is then ignored.
	InMemory bool
	// FS, when set, is the file system pebble uses (tests use
	// vfs.NewCrashableMem to simulate crashes). It overrides InMemory.
	FS vfs.FS
	// Limits bound entries accepted into the store.
	Limits Limits
	// SyncPeersPerDoc is how many recent sync peers are remembered per
	// document. Default 8.
	SyncPeersPerDoc int
	// Now is the clock; default time.Now. Tests may replace it.
	Now func() time.Time
	// CacheSize is pebble's block cache in bytes. Default 64 MiB.
	CacheSize int64
	// MemTableSize is the size of pebble's memtable in bytes: writes
	// collect there before they are flushed to a table. Larger memtables
	// mean fewer flushes and compactions while a large document arrives,
	// and up to twice this much memory. Default 16 MiB.
	MemTableSize uint64
}

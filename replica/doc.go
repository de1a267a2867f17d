// Package replica holds docsnode's data model and its store: namespace and
// author keys, capabilities, signed entries and their encoding, validation
// of entries from the network, last-writer-wins with prefix tombstones,
// queries, and the pebble-backed Store.
//
// An entry is one key of one author in one document (namespace). Both the
// namespace key and the author key sign it, over the byte layout
//
//	namespace(32) || author(32) || key || len (u64 BE) || hash(32) || timestamp (u64 BE)
//
// Within one author, the entry with the latest (timestamp, hash) at a key
// wins, and a tombstone (empty content) at a key prefix deletes the
// author's older entries under it, including ones that arrive later. The
// outcome does not depend on the order entries arrive in (see Txn.Insert).
//
// The Store is meant to be owned by one goroutine, the store actor in
// package actor; most programs use that package rather than this one
// directly.
package replica

package replica

// Pebble key layout, format version 1.
//
// Every pebble key starts with a one-byte table prefix; ids are raw 32 bytes.
//
//	0x01                                 format version   -> uvarint(1)
//	0x02 || name                         node metadata    -> value bytes
//	0x03 || author(32)                   authors          -> seed(32)
//	0x04 || ns(32)                       documents        -> capability(33) || durability(1)
//	0x05 || ns || author || key          records          -> record value (below)
//	0x06 || ns || esc(key) || author     key index        -> timestamp (u64 BE) || hash(32)
//	0x07 || ns || author                 heads            -> timestamp (u64 BE)
//	0x08 || ns                           sync peers       -> peer ids (32 each), most recent first
//	0x09 || ns                           download policy  -> DownloadPolicy.MarshalBinary
//	0x0A || ns || author || key          tombstones       -> record value (below)
//	0x0B || ns || id(32)                 entry ids        -> author(32) || key
//
// Record value: uvarint(len) || hash(32) || uvarint(timestamp) ||
// namespace_sig(64) || author_sig(64). The namespace, author and key live in
// the pebble key and are not repeated.
//
// The tombstones table is the second layer of Txn.Insert: every tombstone
// that no later tombstone at a prefix covers, including those a later
// ordinary write replaced in the records table. Only tombstones delete by
// prefix, and they are rare, so Insert looks for a covering tombstone there,
// and only for authors that have one (the store keeps a count per author in
// memory).
//
// The records table is ordered by (author, key) within a document; the key
// index orders the same entries by (key, author) and carries each record's
// (timestamp, hash) so that LatestPerKey and tombstone filtering need no
// record lookups for the rows they skip. esc(key) maps 0x00 to 0x00 0xFF and
// ends with 0x00 0x01, so the byte order of escaped keys followed by anything
// equals the order of the raw keys: "a" < "a\x00" < "ab".
//
// The entry ids table finds a stored entry by its reconciliation id (BLAKE3
// of its signing bytes), which is all a peer names when it asks for
// entries. It lists exactly the stored set: values and hidden tombstones.
//
// Every table of one document is a contiguous range that starts with
// table || ns, so removing a document is a few DeleteRange calls.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const (
	tableVersion  byte = 0x01
	tableMeta     byte = 0x02
	tableAuthors  byte = 0x03
	tableDocs     byte = 0x04
	tableRecords  byte = 0x05
	tableIndex    byte = 0x06
	tableHeads    byte = 0x07
	tableSyncPeer byte = 0x08
	tablePolicy   byte = 0x09
	tableTombs    byte = 0x0A
	tableIDs      byte = 0x0B
)

// formatVersion is the layout this file describes.
const formatVersion = 1

var versionKey = []byte{tableVersion}

// nsKey returns table || ns, the start of a document's range in a table.
func nsKey(table byte, ns NamespaceID) []byte {
	k := make([]byte, 0, 1+IDLen)
	k = append(k, table)
	return append(k, ns[:]...)
}

func metaKey(name string) []byte { return append([]byte{tableMeta}, name...) }

func authorKey(id AuthorID) []byte { return append([]byte{tableAuthors}, id[:]...) }

func appendRecordPrefix(dst []byte, ns NamespaceID, author AuthorID) []byte {
	dst = append(dst, tableRecords)
	dst = append(dst, ns[:]...)
	return append(dst, author[:]...)
}

// recordKey returns the records table key of (ns, author, key).
func recordKey(ns NamespaceID, author AuthorID, key []byte) []byte {
	return append(appendRecordPrefix(make([]byte, 0, 1+2*IDLen+len(key)), ns, author), key...)
}

// recordKeyLen is the length of a records key's fixed part.
const recordKeyLen = 1 + 2*IDLen

// splitRecordKey returns the author and key of a records table key. The key
// aliases k.
func splitRecordKey(k []byte) (AuthorID, []byte, error) {
	var a AuthorID
	if len(k) < recordKeyLen || (k[0] != tableRecords && k[0] != tableTombs) {
		return a, nil, fmt.Errorf("%w: records key of %d bytes", ErrMalformed, len(k))
	}
	copy(a[:], k[1+IDLen:recordKeyLen])
	return a, k[recordKeyLen:], nil
}

// indexKey returns the key index key of (ns, key, author).
func indexKey(ns NamespaceID, key []byte, author AuthorID) []byte {
	k := make([]byte, 0, 1+IDLen+escapedLen(key)+IDLen)
	k = append(k, tableIndex)
	k = append(k, ns[:]...)
	k = appendEscaped(k, key)
	return append(k, author[:]...)
}

// splitIndexKey returns the unescaped key and the author of an index key
// (without its table and namespace). The key is a fresh copy.
func splitIndexKey(rest []byte) ([]byte, AuthorID, error) {
	var a AuthorID
	key, tail, err := unescapeKey(rest)
	if err != nil {
		return nil, a, err
	}
	if len(tail) != IDLen {
		return nil, a, fmt.Errorf("%w: index key has %d bytes after the key, want %d", ErrMalformed, len(tail), IDLen)
	}
	copy(a[:], tail)
	return key, a, nil
}

// tombKey returns the tombstones table key of (ns, author, key).
func tombKey(ns NamespaceID, author AuthorID, key []byte) []byte {
	k := recordKey(ns, author, key)
	k[0] = tableTombs
	return k
}

func idKey(ns NamespaceID, id EntryID) []byte {
	return append(nsKey(tableIDs, ns), id[:]...)
}

func headsKey(ns NamespaceID, author AuthorID) []byte {
	return append(nsKey(tableHeads, ns), author[:]...)
}

// Key escaping.
const (
	escByte       = 0x00
	escEscapedNul = 0xFF // 0x00 0xFF stands for a 0x00 byte of the key
	escTerminator = 0x01 // 0x00 0x01 ends the key
)

func escapedLen(key []byte) int {
	return len(key) + bytes.Count(key, []byte{0}) + 2
}

// appendEscapedBody appends key with every 0x00 doubled as 0x00 0xFF, without
// the terminator. It is a byte prefix of the escaping of every key that
// starts with key, and of no other.
func appendEscapedBody(dst, key []byte) []byte {
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return append(dst, key...)
		}
		dst = append(dst, key[:i]...)
		dst = append(dst, escByte, escEscapedNul)
		key = key[i+1:]
	}
}

// appendEscaped appends the escaped key and its terminator.
func appendEscaped(dst, key []byte) []byte {
	return append(appendEscapedBody(dst, key), escByte, escTerminator)
}

// unescapeKey decodes an escaped key from the front of b and returns it (a
// fresh copy) and the bytes after the terminator.
func unescapeKey(b []byte) ([]byte, []byte, error) {
	out := make([]byte, 0, len(b))
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return nil, nil, fmt.Errorf("%w: escaped key has no terminator", ErrMalformed)
		}
		out = append(out, b[:i]...)
		switch b[i+1] {
		case escEscapedNul:
			out = append(out, 0)
			b = b[i+2:]
		case escTerminator:
			return out, b[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("%w: bad escape 0x00 0x%02x in key", ErrMalformed, b[i+1])
		}
	}
}

// prefixEnd returns the smallest key greater than every key that starts
// with p, or nil when there is none (p is empty or all 0xFF).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// keySuccessor returns the smallest key greater than k: k || 0x00.
func keySuccessor(k []byte) []byte {
	out := make([]byte, len(k)+1)
	copy(out, k)
	return out
}

// nextID returns the id after id in byte order, and false when id is all 0xFF.
func nextID(id [IDLen]byte) ([IDLen]byte, bool) {
	for i := IDLen - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// appendRecordValue appends the records table value of se.
func appendRecordValue(dst []byte, se *SignedEntry) []byte {
	dst = binary.AppendUvarint(dst, se.Len)
	dst = append(dst, se.Hash[:]...)
	dst = binary.AppendUvarint(dst, se.Timestamp)
	dst = append(dst, se.NamespaceSig[:]...)
	return append(dst, se.AuthorSig[:]...)
}

func recordValueLen(se *SignedEntry) int {
	return uvarintLen(se.Len) + 32 + uvarintLen(se.Timestamp) + 64 + 64
}

// decodeRecordValue decodes a records table value into se's record and
// signatures. It never keeps a reference to b.
func decodeRecordValue(b []byte, se *SignedEntry) error {
	d := decoder{b: b}
	se.Len = d.uvarint()
	d.fixed(se.Hash[:])
	se.Timestamp = d.uvarint()
	d.fixed(se.NamespaceSig[:])
	d.fixed(se.AuthorSig[:])
	if d.err != nil {
		return fmt.Errorf("record value: %w", d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: record value has %d trailing bytes", ErrMalformed, len(d.b))
	}
	return nil
}

// indexValueLen is the size of a key index value: timestamp and hash.
const indexValueLen = 8 + 32

func appendIndexValue(dst []byte, r *Record) []byte {
	dst = binary.BigEndian.AppendUint64(dst, r.Timestamp)
	return append(dst, r.Hash[:]...)
}

// decodeIndexValue returns the timestamp and hash of an index value. The
// record's Len is not stored; it is 0 exactly when the hash is EmptyHash
// (ValidateShape refuses anything else), which is all that tombstone
// filtering and LatestPerKey need.
func decodeIndexValue(b []byte) (Record, error) {
	var r Record
	if len(b) != indexValueLen {
		return r, fmt.Errorf("%w: index value is %d bytes, want %d", ErrMalformed, len(b), indexValueLen)
	}
	r.Timestamp = binary.BigEndian.Uint64(b)
	copy(r.Hash[:], b[8:])
	return r, nil
}

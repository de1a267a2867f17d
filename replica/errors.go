package replica

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the functions that
// return them wrap them with the offending detail.
var (
	// ErrWrongNamespace: an entry was offered to a document it does not belong to.
	ErrWrongNamespace = errors.New("replica: entry belongs to another namespace")
	// ErrBadSignature: the namespace or author signature does not verify.
	ErrBadSignature = errors.New("replica: bad signature")
	// ErrFutureTimestamp: the entry's timestamp is further ahead of the local
	// clock than Limits.MaxFutureShift allows.
	ErrFutureTimestamp = errors.New("replica: timestamp too far in the future")
	// ErrMalformedTombstone: the entry has the empty-content hash with a
	// non-zero length, or a zero length with another hash.
	ErrMalformedTombstone = errors.New("replica: malformed tombstone")
	// ErrKeyTooLong: the entry's key exceeds Limits.MaxKeyLen.
	ErrKeyTooLong = errors.New("replica: key too long")
	// ErrEmptyKey: entries need a key of at least one byte, except prefix
	// tombstones, which may use the empty prefix to clear an author's entries.
	ErrEmptyKey = errors.New("replica: empty key")
	// ErrReadOnly: a write was attempted on a document held with read capability only.
	ErrReadOnly = errors.New("replica: document is read-only")
	// ErrNamespaceMismatch: two capabilities for different namespaces were merged.
	ErrNamespaceMismatch = errors.New("replica: capabilities are for different namespaces")
	// ErrMalformed: bytes that should hold an encoded value do not.
	ErrMalformed = errors.New("replica: malformed encoding")
	// ErrInvalidKey: text or bytes that should hold a key or id do not, or
	// a key or id is the zero value (an Author or NamespaceSecret that holds
	// no key, the all-zero id), or an id is not an Ed25519 public key any
	// secret key could have.
	ErrInvalidKey = errors.New("replica: invalid key")
	// ErrEmptyValue: a local write of an empty value. An empty value has
	// the tombstone form (empty-content hash, length 0), which deletes every
	// entry of the author under the key as a prefix; the only way to write
	// one is a prefix delete (actor.Actor.DeletePrefix, engine Doc.Delete).
	ErrEmptyValue = errors.New("replica: empty value")
	// ErrNotFound: the document, author or entry does not exist in the store.
	ErrNotFound = errors.New("replica: not found")
	// ErrUnknownFormat: the store on disk was written by an unknown format version.
	ErrUnknownFormat = errors.New("replica: unknown store format version")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("replica: store closed")
)

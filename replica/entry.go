package replica

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"lukechampine.com/blake3"
)

// Hash is a BLAKE3 digest of content.
type Hash [32]byte

// EmptyHash is the BLAKE3 digest of the empty input. A record with this hash
// and length 0 is a tombstone.
var EmptyHash = Hash(blake3.Sum256(nil))

// HashContent returns the BLAKE3 digest of b.
func HashContent(b []byte) Hash { return blake3.Sum256(b) }

// Record is the value half of an entry: what the content is and when it was
// written.
type Record struct {
	Hash      Hash   // BLAKE3 of the content
	Len       uint64 // content length in bytes
	Timestamp uint64 // microseconds since the Unix epoch
}

// IsTombstone reports whether r marks a deletion: empty hash and zero length.
func (r Record) IsTombstone() bool { return r.Len == 0 && r.Hash == EmptyHash }

// Compare orders records by (timestamp, hash): the later record wins.
func (r Record) Compare(o Record) int {
	switch {
	case r.Timestamp < o.Timestamp:
		return -1
	case r.Timestamp > o.Timestamp:
		return 1
	}
	return bytes.Compare(r.Hash[:], o.Hash[:])
}

// Time returns the record's timestamp as a time.Time.
func (r Record) Time() time.Time { return time.UnixMicro(int64(r.Timestamp)) }

// Entry is one key of one author in one document, with its record.
type Entry struct {
	Namespace NamespaceID
	Author    AuthorID
	Key       []byte
	Record
}

// EntryID is the reconciliation id of an entry: BLAKE3 of its signing bytes.
type EntryID [32]byte

// SigningBytes returns the bytes that both signatures cover:
//
//	namespace(32) || author(32) || key || len (u64 BE) || hash(32) || timestamp (u64 BE)
func (e *Entry) SigningBytes() []byte {
	return e.AppendSigningBytes(make([]byte, 0, 32+32+len(e.Key)+8+32+8))
}

// AppendSigningBytes appends the signing bytes to dst.
func (e *Entry) AppendSigningBytes(dst []byte) []byte {
	dst = append(dst, e.Namespace[:]...)
	dst = append(dst, e.Author[:]...)
	dst = append(dst, e.Key...)
	dst = binary.BigEndian.AppendUint64(dst, e.Len)
	dst = append(dst, e.Hash[:]...)
	dst = binary.BigEndian.AppendUint64(dst, e.Timestamp)
	return dst
}

// ID returns BLAKE3 of the signing bytes.
func (e *Entry) ID() EntryID {
	// blake3.Sum256 lets its argument escape, so a stack buffer would be
	// a heap allocation on every call.
	bp := idBufs.Get().(*[]byte)
	*bp = e.AppendSigningBytes((*bp)[:0])
	id := blake3.Sum256(*bp)
	idBufs.Put(bp)
	return id
}

var idBufs = sync.Pool{New: func() any { return new([]byte) }}

// IsTombstone reports whether the entry is a prefix tombstone.
func (e *Entry) IsTombstone() bool { return e.Record.IsTombstone() }

// Clone returns a copy that shares no memory with e.
func (e Entry) Clone() Entry {
	e.Key = bytes.Clone(e.Key)
	return e
}

// SignedEntry is an entry with the namespace's and the author's signatures
// over its signing bytes.
type SignedEntry struct {
	Entry
	NamespaceSig [64]byte
	AuthorSig    [64]byte
}

// Sign signs e with both keys. The entry's namespace and author fields are
// set from the keys. A zero NamespaceSecret or Author (one that holds no
// key) is refused with an error wrapping ErrInvalidKey.
func Sign(ns NamespaceSecret, author Author, e Entry) (SignedEntry, error) {
	if err := checkSigners(ns, author); err != nil {
		return SignedEntry{}, err
	}
	return signChecked(ns, author, e), nil
}

// SignAll signs many entries with the same keys, spread over all cores. It
// refuses zero keys as Sign does, before signing anything.
func SignAll(ns NamespaceSecret, author Author, entries []Entry) ([]SignedEntry, error) {
	if err := checkSigners(ns, author); err != nil {
		return nil, err
	}
	out := make([]SignedEntry, len(entries))
	parallel(len(entries), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = signChecked(ns, author, entries[i])
		}
	})
	return out, nil
}

func checkSigners(ns NamespaceSecret, author Author) error {
	if err := ns.kp.check("namespace secret"); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if err := author.kp.check("author"); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// signChecked signs e with both keys, which checkSigners has accepted.
func signChecked(ns NamespaceSecret, author Author, e Entry) SignedEntry {
	e.Namespace = ns.ID()
	e.Author = author.ID()
	msg := e.SigningBytes()
	return SignedEntry{Entry: e, NamespaceSig: sign(ns.kp.priv(), msg), AuthorSig: sign(author.kp.priv(), msg)}
}

// Verify checks both signatures.
func (se *SignedEntry) Verify() error {
	msg := se.SigningBytes()
	if !verify(se.Namespace, msg, se.NamespaceSig) {
		return fmt.Errorf("%w: namespace signature on key %q", ErrBadSignature, truncKey(se.Key))
	}
	if !verify(se.Author, msg, se.AuthorSig) {
		return fmt.Errorf("%w: author signature on key %q", ErrBadSignature, truncKey(se.Key))
	}
	return nil
}

// Clone returns a copy that shares no memory with se.
func (se SignedEntry) Clone() SignedEntry {
	se.Key = bytes.Clone(se.Key)
	return se
}

func truncKey(k []byte) []byte {
	if len(k) > 64 {
		return k[:64]
	}
	return k
}

// Limits bound what a replica accepts. Every limit is checked on entries
// that arrive from the network and on local writes alike.
type Limits struct {
	// MaxKeyLen is the longest key in bytes. Default 4096.
	MaxKeyLen int
	// MaxFutureShift is how far ahead of the local clock a timestamp may be.
	// Default 10 minutes.
	MaxFutureShift time.Duration
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{MaxKeyLen: 4096, MaxFutureShift: 10 * time.Minute}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxKeyLen <= 0 {
		l.MaxKeyLen = d.MaxKeyLen
	}
	if l.MaxFutureShift <= 0 {
		l.MaxFutureShift = d.MaxFutureShift
	}
	return l
}

// ValidateShape checks everything about an entry that needs neither keys nor
// a clock: key length and tombstone shape.
func (l Limits) ValidateShape(e *Entry) error {
	l = l.withDefaults()
	if len(e.Key) > l.MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(e.Key), l.MaxKeyLen)
	}
	if len(e.Key) == 0 && !e.IsTombstone() {
		return ErrEmptyKey
	}
	if (e.Len == 0) != (e.Hash == EmptyHash) {
		return fmt.Errorf("%w: len %d with hash %x…", ErrMalformedTombstone, e.Len, e.Hash[:4])
	}
	return nil
}

// ValidateRemote applies every rule for an entry received from the network,
// for the document ns at local time now: namespace, shape, timestamp and
// both signatures (checked last: they are the expensive part).
func (l Limits) ValidateRemote(se *SignedEntry, ns NamespaceID, now time.Time) error {
	if err := l.ValidateUnsigned(&se.Entry, ns, now); err != nil {
		return err
	}
	return se.Verify()
}

// ValidateUnsigned applies every rule of ValidateRemote except the signature
// checks, for callers that verify signatures in batches.
func (l Limits) ValidateUnsigned(e *Entry, ns NamespaceID, now time.Time) error {
	l = l.withDefaults()
	if e.Namespace != ns {
		return fmt.Errorf("%w: got %s, want %s", ErrWrongNamespace, e.Namespace.Short(), ns.Short())
	}
	if err := l.ValidateShape(e); err != nil {
		return err
	}
	limit := uint64(now.Add(l.MaxFutureShift).UnixMicro())
	if e.Timestamp > limit {
		return fmt.Errorf("%w: %s is %s ahead of the local clock (limit %s)", ErrFutureTimestamp,
			e.Record.Time().UTC().Format(time.RFC3339), e.Record.Time().Sub(now).Round(time.Second), l.MaxFutureShift)
	}
	return nil
}

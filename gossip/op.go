package gossip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"lukechampine.com/blake3"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/uvarint"
	"github.com/docsnode/docsnode/replica"
)

// MaxReportAuthors bounds the authors in one sync report, when encoding and
// before allocating when decoding.
const MaxReportAuthors = 1024

// opVersion is the version byte that starts every op.
const opVersion = 1

type opKind byte

const (
	opPut          opKind = 1
	opContentReady opKind = 2
	opSyncReport   opKind = 3
	opPutContent   opKind = 4
)

// opHeaderLen is version(1) kind(1) origin(32).
const opHeaderLen = 1 + 1 + 32

// op is one gossip message about a document. The encoding is
//
//	version(1)=1 kind(1) origin(32)
//	Put:          signed entry, replica.SignedEntry.AppendBinary
//	PutContent:   uvarint(n) signed entry (n bytes) content (the entry's Len bytes)
//	ContentReady: hash(32)
//	SyncReport:   uvarint(n <= MaxReportAuthors), n × { author(32) uvarint(timestamp) },
//	              authors strictly ascending
//
// and nothing after the body. Varints must be in their shortest form; with
// the sync report's order that makes the encoding of a value unique, so
// receivers can de-duplicate on the bytes.
//
// origin is the node that published the op, as that node claims: relays
// keep it unchanged and nothing signs it. A Put's entry carries its own
// signatures; the origin of the others is a hint for the live layer (whom
// to sync with, whom to fetch from), not a proof.
type op struct {
	kind   opKind
	origin endpoint.NodeID
	entry  replica.SignedEntry // opPut
	hash   replica.Hash        // opContentReady
	heads  replica.Heads       // opSyncReport
	// content is the entry's content for opPutContent; its length and
	// hash match the entry's once the op decoded.
	content []byte
}

func appendOp(b []byte, o *op) ([]byte, error) {
	b = append(b, opVersion, byte(o.kind))
	b = append(b, o.origin[:]...)
	switch o.kind {
	case opPut:
		b = o.entry.AppendBinary(b)
	case opPutContent:
		if uint64(len(o.content)) != o.entry.Len {
			return nil, fmt.Errorf("gossip: encode put: %d bytes of content for an entry of length %d", len(o.content), o.entry.Len)
		}
		b = binary.AppendUvarint(b, uint64(o.entry.EncodedLen()))
		b = o.entry.AppendBinary(b)
		b = append(b, o.content...)
	case opContentReady:
		b = append(b, o.hash[:]...)
	case opSyncReport:
		if len(o.heads) > MaxReportAuthors {
			return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyAuthors, len(o.heads), MaxReportAuthors)
		}
		authors := make([]replica.AuthorID, 0, len(o.heads))
		for a := range o.heads {
			authors = append(authors, a)
		}
		slices.SortFunc(authors, func(x, y replica.AuthorID) int { return bytes.Compare(x[:], y[:]) })
		b = binary.AppendUvarint(b, uint64(len(authors)))
		for _, a := range authors {
			b = append(b, a[:]...)
			b = binary.AppendUvarint(b, o.heads[a])
		}
	default:
		return nil, fmt.Errorf("gossip: encode op of unknown kind %d", o.kind)
	}
	return b, nil
}

// minHeadLen is the smallest encoding of one sync report head.
const minHeadLen = replica.IDLen + 1

// decodeOp decodes one op that must fill b. Keys longer than maxKeyLen are
// refused before allocation; so are more than MaxReportAuthors heads, or
// more heads than the remaining bytes could hold. Signatures are not
// checked; the content a PutContent carries is checked against the
// entry's length and hash.
func decodeOp(b []byte, maxKeyLen int) (op, error) {
	var o op
	if len(b) < opHeaderLen {
		return op{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformedOp, len(b), opHeaderLen)
	}
	if b[0] != opVersion {
		return op{}, fmt.Errorf("%w: unknown version %d", ErrMalformedOp, b[0])
	}
	o.kind = opKind(b[1])
	copy(o.origin[:], b[2:opHeaderLen])
	body := b[opHeaderLen:]
	switch o.kind {
	case opPut:
		se, err := replica.UnmarshalSignedEntry(body, maxKeyLen)
		if err != nil {
			return op{}, fmt.Errorf("%w: put: %w", ErrMalformedOp, err)
		}
		o.entry = se
	case opPutContent:
		n, k, err := uvarint.Decode(body)
		if err != nil || n > uint64(len(body)-k) {
			return op{}, fmt.Errorf("%w: put with content: bad entry length", ErrMalformedOp)
		}
		se, err := replica.UnmarshalSignedEntry(body[k:k+int(n)], maxKeyLen)
		if err != nil {
			return op{}, fmt.Errorf("%w: put with content: %w", ErrMalformedOp, err)
		}
		content := body[k+int(n):]
		if uint64(len(content)) != se.Len {
			return op{}, fmt.Errorf("%w: put with content: %d bytes of content, the entry says %d", ErrMalformedOp, len(content), se.Len)
		}
		if replica.HashContent(content) != se.Hash {
			return op{}, fmt.Errorf("%w: put with content: content does not match the entry's hash", ErrMalformedOp)
		}
		o.entry, o.content = se, content
	case opContentReady:
		if len(body) != len(o.hash) {
			return op{}, fmt.Errorf("%w: content ready body is %d bytes, want %d", ErrMalformedOp, len(body), len(o.hash))
		}
		copy(o.hash[:], body)
	case opSyncReport:
		heads, err := decodeHeads(body)
		if err != nil {
			return op{}, err
		}
		o.heads = heads
	default:
		return op{}, fmt.Errorf("%w: unknown kind %d", ErrMalformedOp, o.kind)
	}
	return o, nil
}

func decodeHeads(b []byte) (replica.Heads, error) {
	n, k, err := uvarint.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: sync report: author count: %w", ErrMalformedOp, err)
	}
	b = b[k:]
	if n > MaxReportAuthors {
		return nil, fmt.Errorf("%w: sync report: %w: %d, at most %d", ErrMalformedOp, ErrTooManyAuthors, n, MaxReportAuthors)
	}
	if n > uint64(len(b)/minHeadLen) {
		return nil, fmt.Errorf("%w: sync report: %d authors cannot fit in %d bytes", ErrMalformedOp, n, len(b))
	}
	heads := make(replica.Heads, n)
	var prev replica.AuthorID
	for i := range n {
		if len(b) < minHeadLen {
			return nil, fmt.Errorf("%w: sync report: head %d truncated", ErrMalformedOp, i)
		}
		a := replica.AuthorID(b[:replica.IDLen])
		if i > 0 && bytes.Compare(prev[:], a[:]) >= 0 {
			return nil, fmt.Errorf("%w: sync report: authors not in strictly ascending order at head %d", ErrMalformedOp, i)
		}
		ts, k, err := uvarint.Decode(b[replica.IDLen:])
		if err != nil {
			return nil, fmt.Errorf("%w: sync report: head %d: timestamp: %w", ErrMalformedOp, i, err)
		}
		heads[a] = ts
		prev = a
		b = b[replica.IDLen+k:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: sync report: %d trailing bytes", ErrMalformedOp, len(b))
	}
	return heads, nil
}

// opKey is what receivers de-duplicate on: BLAKE3 of the op's encoding,
// leaving out the origin of a Put, so that one entry is delivered once
// whoever claims to have published it. A Put with content has the key of
// the plain Put of its entry: whichever arrives first is delivered. It
// reads only the header and, for a Put with content, the entry's length,
// so that a duplicate costs no decoding; ok is false when raw is too short
// for that. scratch is reused for the bytes hashed.
func opKey(raw []byte, scratch *[]byte) (key [32]byte, ok bool) {
	if len(raw) < opHeaderLen {
		return key, false
	}
	var entry []byte
	switch opKind(raw[1]) {
	case opPut:
		entry = raw[opHeaderLen:]
	case opPutContent:
		n, k, err := uvarint.Decode(raw[opHeaderLen:])
		if err != nil || n > uint64(len(raw)-opHeaderLen-k) {
			return key, false
		}
		entry = raw[opHeaderLen+k : opHeaderLen+k+int(n)]
	default:
		return blake3.Sum256(raw), true
	}
	// One reused buffer: a streaming hasher would allocate kilobytes per
	// received op, duplicates included.
	*scratch = append(append((*scratch)[:0], opVersion, byte(opPut)), entry...)
	return blake3.Sum256(*scratch), true
}

package blobs

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/docsnode/docsnode/internal/uvarint"
	"github.com/docsnode/docsnode/replica"
)

// ProtocolVersion is the version byte that starts every request.
const ProtocolVersion = 2

// MaxStatusText bounds the text of a refusal.
const MaxStatusText = 256

// DefaultMaxRanges bounds the ranges of one request.
const DefaultMaxRanges = 64

// Request asks a peer for chunk groups of the content of one entry: the
// document, the entry's author and key, the content's hash, the chunk
// group the client checks in, and the ranges of groups it wants. Naming
// the document is the proof of read access (the document id is its read
// capability); naming the entry lets the server check cheaply, with one
// point read, that the hash belongs to that document.
//
// The encoding (the whole stream from client to server, which the client
// then closes) is
//
//	version(1)=2 namespace(32) author(32) uvarint(len(key)) key hash(32)
//	group_log(1) uvarint(n) n × (uvarint(gap) uvarint(count))
//
// Each range starts gap groups after the end of the one before (the first
// after group 0) and holds count groups; count is at least 1, and every gap
// but the first is at least 1, so the ranges are in order, apart, and have
// one encoding.
type Request struct {
	Namespace replica.NamespaceID
	Author    replica.AuthorID
	Key       []byte
	Hash      replica.Hash
	GroupLog  uint8
	Ranges    []Range
}

// AppendBinary appends the request's encoding to b. The ranges must be in
// order and apart.
func (r *Request) AppendBinary(b []byte) []byte {
	b = append(b, ProtocolVersion)
	b = append(b, r.Namespace[:]...)
	b = append(b, r.Author[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = append(b, r.Hash[:]...)
	b = append(b, r.GroupLog)
	b = binary.AppendUvarint(b, uint64(len(r.Ranges)))
	var end uint64
	for _, rg := range r.Ranges {
		b = binary.AppendUvarint(b, rg.Start-end)
		b = binary.AppendUvarint(b, rg.Len())
		end = rg.End
	}
	return b
}

// maxRequestLen is the longest encoding of a request with a key of at
// most maxKeyLen bytes and at most maxRanges ranges.
func maxRequestLen(maxKeyLen, maxRanges int) int {
	return 1 + 32 + 32 + binary.MaxVarintLen64 + maxKeyLen + 32 + 1 + binary.MaxVarintLen64 +
		maxRanges*2*binary.MaxVarintLen64
}

// DecodeRequest decodes a request that must fill b. A key longer than
// maxKeyLen, or more than maxRanges ranges, are refused before they are
// copied.
func DecodeRequest(b []byte, maxKeyLen, maxRanges int) (Request, error) {
	var r Request
	fail := func(format string, args ...any) (Request, error) {
		return Request{}, fmt.Errorf("%w: request: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(b) < 1+64 {
		return fail("%d bytes", len(b))
	}
	if b[0] != ProtocolVersion {
		return fail("version %d, this node speaks %d", b[0], ProtocolVersion)
	}
	copy(r.Namespace[:], b[1:33])
	copy(r.Author[:], b[33:65])
	b = b[65:]
	n, k, err := uvarint.Decode(b)
	if err != nil {
		return fail("key length: %v", err)
	}
	if n > uint64(maxKeyLen) {
		return fail("key of %d bytes, the limit is %d", n, maxKeyLen)
	}
	b = b[k:]
	if uint64(len(b)) < n+32+1 {
		return fail("truncated")
	}
	r.Key = append([]byte{}, b[:n]...)
	copy(r.Hash[:], b[n:n+32])
	r.GroupLog = b[n+32]
	b = b[n+33:]
	if r.GroupLog > MaxGroupLog {
		return fail("chunk group log %d, at most %d", r.GroupLog, MaxGroupLog)
	}
	nr, k, err := uvarint.Decode(b)
	if err != nil {
		return fail("range count: %v", err)
	}
	if nr == 0 || nr > uint64(maxRanges) {
		return fail("%d ranges, between 1 and %d allowed", nr, maxRanges)
	}
	b = b[k:]
	r.Ranges = make([]Range, 0, nr)
	var end uint64
	for i := range nr {
		gap, k, err := uvarint.Decode(b)
		if err != nil {
			return fail("range %d: %v", i, err)
		}
		b = b[k:]
		count, k, err := uvarint.Decode(b)
		if err != nil {
			return fail("range %d: %v", i, err)
		}
		b = b[k:]
		if count == 0 || (i > 0 && gap == 0) {
			return fail("range %d: empty, or not apart from the one before", i)
		}
		start := end + gap
		if start < end || start+count < start {
			return fail("range %d: overflows", i)
		}
		end = start + count
		r.Ranges = append(r.Ranges, Range{start, end})
	}
	if len(b) != 0 {
		return fail("%d trailing bytes", len(b))
	}
	return r, nil
}

// Status codes of a response.
const (
	statusOK         byte = 0
	statusNotFound   byte = 1
	statusBusy       byte = 2
	statusBadRequest byte = 3
)

// A response is
//
//	OK:        status(1)=0 uvarint(size) slice(range 1) … slice(range n), then the server closes
//	otherwise: status(1) uvarint(n <= MaxStatusText) text (UTF-8)
//
// size is the whole blob's length; each slice is the encoding of the
// groups of one range of the request (tree.go): in pre-order, the parents
// whose span meets the range and the range's groups, which the client
// checks against the hash as they arrive. NotFound (1) covers a document not held, an entry that
// does not name the hash, and content not held alike, so that a peer
// learns nothing about documents it did not name. Busy (2): too many
// fetches at once. BadRequest (3): the request did not decode, asks for groups
// beyond the content, or for a chunk group other than the server's.

// response is a decoded response header.
type response struct {
	status byte
	size   uint64 // statusOK
	text   string // others
}

func appendResponse(b []byte, r *response) []byte {
	b = append(b, r.status)
	if r.status == statusOK {
		return binary.AppendUvarint(b, r.size)
	}
	text := r.text
	if len(text) > MaxStatusText {
		text = text[:MaxStatusText]
	}
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

// readResponse reads a response header from r, refusing a size over
// maxSize and a text over MaxStatusText before reading them.
func readResponse(r *bufio.Reader, maxSize uint64) (response, error) {
	var resp response
	st, err := r.ReadByte()
	if err != nil {
		return resp, fmt.Errorf("read response: %w", noEOF(err))
	}
	resp.status = st
	n, err := uvarint.Read(r)
	if err != nil {
		return response{}, fmt.Errorf("%w: response: bad length: %w", ErrMalformed, noEOF(err))
	}
	switch st {
	case statusOK:
		if n > maxSize {
			return response{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n, maxSize)
		}
		resp.size = n
		return resp, nil
	case statusNotFound, statusBusy, statusBadRequest:
	default:
		return response{}, fmt.Errorf("%w: response: unknown status %d", ErrMalformed, st)
	}
	if n > MaxStatusText {
		return response{}, fmt.Errorf("%w: response: text of %d bytes, the limit is %d", ErrMalformed, n, MaxStatusText)
	}
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return response{}, fmt.Errorf("%w: response: text: %w", ErrMalformed, noEOF(err))
	}
	if !utf8.Valid(text) {
		return response{}, fmt.Errorf("%w: response: text is not UTF-8", ErrMalformed)
	}
	resp.text = string(text)
	return resp, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

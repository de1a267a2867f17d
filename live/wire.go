package live

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"unicode/utf8"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/uvarint"
	"github.com/docsnode/docsnode/replica"
)

// The sync protocol runs on one bidirectional QUIC stream per (document,
// peer). Every message is one frame:
//
//	uvarint(n) || type(1) || body(n-1)
//
// where n is at most the receiver's frame limit. Every varint, here and in
// the bodies, must be in its shortest form and no frame may carry bytes
// its type does not define, so that a message has exactly one encoding.
// See docs/protocol.md.

// ProtocolVersion is carried in Init; a peer refuses versions it does not
// know. Version 2 added the initiator's addresses to Init.
const ProtocolVersion = 2

// msgType identifies a frame.
type msgType uint8

const (
	MsgInit    msgType = 1 // dialler → acceptor: version, document, dialler's addresses, first reconciliation message
	MsgAbort   msgType = 2 // either way: the session ends, with a reason
	MsgRecon   msgType = 3 // a reconciliation round (Negentropy v1 bytes)
	MsgEntries msgType = 4 // a batch of signed entries
	MsgWant    msgType = 5 // dialler → acceptor: ids of entries to send
	MsgDone    msgType = 6 // this side sends no more Recon, Entries or Want
	MsgSummary msgType = 7 // this side's set after all its inserts: count and fingerprint
)

func (t msgType) String() string {
	switch t {
	case MsgInit:
		return "Init"
	case MsgAbort:
		return "Abort"
	case MsgRecon:
		return "Recon"
	case MsgEntries:
		return "Entries"
	case MsgWant:
		return "Want"
	case MsgDone:
		return "Done"
	case MsgSummary:
		return "Summary"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// AbortReason says why a peer ended a session.
type AbortReason uint8

const (
	// AbortNotFound: the acceptor does not hold the document or it is not open for sync.
	AbortNotFound AbortReason = 1
	// AbortAlreadySyncing: a session for this document with this peer is running.
	AbortAlreadySyncing AbortReason = 2
	// AbortBusy: the acceptor is at its session limit; try later.
	AbortBusy AbortReason = 3
	// AbortInternal: the peer failed; the text says how.
	AbortInternal AbortReason = 4
	// AbortProtocol: the other side broke the protocol or a limit.
	AbortProtocol AbortReason = 5
)

func (r AbortReason) String() string {
	switch r {
	case AbortNotFound:
		return "not found"
	case AbortAlreadySyncing:
		return "already syncing"
	case AbortBusy:
		return "busy"
	case AbortInternal:
		return "internal error"
	case AbortProtocol:
		return "protocol violation"
	}
	return fmt.Sprintf("abort(%d)", uint8(r))
}

// maxAbortText bounds the human-readable part of an Abort.
const maxAbortText = 256

// maxSummaryCount bounds the set size a Summary may claim (2^48 entries).
const maxSummaryCount = 1 << 48

// message is one decoded frame; only the fields of its Type are set.
type message struct {
	Type      msgType
	Version   uint8                 // Init
	Namespace replica.NamespaceID   // Init
	Addrs     []netip.AddrPort      // Init: where the initiator may be dialled
	Recon     []byte                // Init, Recon
	Reason    AbortReason           // Abort
	Text      string                // Abort
	Entries   []replica.SignedEntry // Entries
	IDs       [][32]byte            // Want
	Summary   actor.SetSummary      // Summary
}

// appendFrame appends m as one frame to dst.
func appendFrame(dst []byte, m *message) []byte {
	dst = binary.AppendUvarint(dst, uint64(1+bodyLen(m)))
	dst = append(dst, byte(m.Type))
	return appendBody(dst, m)
}

// frameLen returns the encoded size of m.
func frameLen(m *message) int {
	n := 1 + bodyLen(m)
	return uvarintLen(uint64(n)) + n
}

func bodyLen(m *message) int {
	switch m.Type {
	case MsgInit:
		return 1 + 32 + len(initAddrs(m)) + len(m.Recon)
	case MsgAbort:
		return 1 + len(clipText(m.Text))
	case MsgRecon:
		return len(m.Recon)
	case MsgEntries:
		n := uvarintLen(uint64(len(m.Entries)))
		for i := range m.Entries {
			n += m.Entries[i].EncodedLen()
		}
		return n
	case MsgWant:
		return uvarintLen(uint64(len(m.IDs))) + 32*len(m.IDs)
	case MsgSummary:
		return uvarintLen(uint64(m.Summary.Count)) + len(m.Summary.Fingerprint)
	}
	return 0
}

func appendBody(dst []byte, m *message) []byte {
	switch m.Type {
	case MsgInit:
		dst = append(dst, m.Version)
		dst = append(dst, m.Namespace[:]...)
		dst = append(dst, initAddrs(m)...)
		dst = append(dst, m.Recon...)
	case MsgAbort:
		dst = append(dst, byte(m.Reason))
		dst = append(dst, clipText(m.Text)...)
	case MsgRecon:
		dst = append(dst, m.Recon...)
	case MsgEntries:
		dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
		for i := range m.Entries {
			dst = m.Entries[i].AppendBinary(dst)
		}
	case MsgWant:
		dst = binary.AppendUvarint(dst, uint64(len(m.IDs)))
		for _, id := range m.IDs {
			dst = append(dst, id[:]...)
		}
	case MsgSummary:
		dst = binary.AppendUvarint(dst, uint64(m.Summary.Count))
		dst = append(dst, m.Summary.Fingerprint[:]...)
	}
	return dst
}

// initAddrs is the encoded address list of an Init of this version:
// the addresses of m.Addrs that the encoding accepts, at most
// endpoint.MaxAddrs. An Init of another version has none; its peer
// refuses it by its version.
func initAddrs(m *message) []byte {
	if m.Version != ProtocolVersion {
		return nil
	}
	b, _ := endpoint.AppendAddrs(make([]byte, 0, endpoint.MaxAddrsLen), endpoint.EncodableAddrs(m.Addrs))
	return b
}

func clipText(s string) string {
	if len(s) <= maxAbortText {
		return s
	}
	s = s[:maxAbortText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// readFrame reads one frame of at most maxFrame bytes (type and body) into
// buf's storage and decodes it. Keys in decoded entries are limited to
// maxKeyLen. The returned message does not alias buf.
func readFrame(r *bufio.Reader, maxFrame, maxKeyLen int, buf []byte) (*message, []byte, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, buf, err
	}
	if n == 0 {
		return nil, buf, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	if n > uint64(maxFrame) {
		return nil, buf, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if got, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, buf, fmt.Errorf("%w: truncated: %d of %d bytes", ErrBadFrame, got, n)
		}
		return nil, buf, err
	}
	m, err := decodeFrame(buf, maxKeyLen)
	return m, buf, err
}

// readLength reads a frame's length prefix. It returns io.EOF at a clean
// end of stream, ErrBadFrame for a truncated or overlong varint, and the
// reader's own error (a reset stream) as is.
func readLength(r *bufio.Reader) (uint64, error) {
	v, err := uvarint.Read(r)
	switch {
	case err == nil:
		return v, nil
	case err == io.EOF:
		return 0, err
	case err == io.ErrUnexpectedEOF:
		return 0, fmt.Errorf("%w: truncated length", ErrBadFrame)
	case errors.Is(err, uvarint.ErrNotShortest), errors.Is(err, uvarint.ErrOverflow):
		return 0, fmt.Errorf("%w: length: %w", ErrBadFrame, err)
	}
	return 0, err
}

// decodeFrame decodes the type and body of one frame (without its length).
func decodeFrame(b []byte, maxKeyLen int) (*message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	m := &message{Type: msgType(b[0])}
	body := b[1:]
	switch m.Type {
	case MsgInit:
		if len(body) < 1+32 {
			return nil, fmt.Errorf("%w: Init of %d bytes", ErrBadFrame, len(body))
		}
		m.Version = body[0]
		copy(m.Namespace[:], body[1:33])
		rest := body[33:]
		if m.Version == ProtocolVersion {
			addrs, after, err := endpoint.DecodeAddrs(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: Init addresses: %w", ErrBadFrame, err)
			}
			m.Addrs, rest = addrs, after
		}
		m.Recon = append([]byte(nil), rest...)
	case MsgAbort:
		if len(body) < 1 || len(body) > 1+maxAbortText {
			return nil, fmt.Errorf("%w: Abort of %d bytes", ErrBadFrame, len(body))
		}
		m.Reason = AbortReason(body[0])
		m.Text = string(body[1:])
	case MsgRecon:
		m.Recon = append([]byte(nil), body...)
	case MsgEntries:
		count, k := canonicalUvarint(body)
		if k <= 0 {
			return nil, fmt.Errorf("%w: Entries count", ErrBadFrame)
		}
		body = body[k:]
		// Each entry takes well over 100 bytes; refuse counts the frame cannot hold before allocating.
		if count > uint64(len(body)/128) {
			return nil, fmt.Errorf("%w: Entries claims %d entries in %d bytes", ErrBadFrame, count, len(body))
		}
		m.Entries = make([]replica.SignedEntry, 0, count)
		for range count {
			se, rest, err := replica.DecodeSignedEntry(body, maxKeyLen)
			if err != nil {
				return nil, fmt.Errorf("%w: entry %d: %w", ErrBadFrame, len(m.Entries), err)
			}
			m.Entries = append(m.Entries, se)
			body = rest
		}
		if len(body) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after the last entry", ErrBadFrame, len(body))
		}
	case MsgWant:
		count, k := canonicalUvarint(body)
		if k <= 0 || count != uint64(len(body)-k)/32 || (len(body)-k)%32 != 0 {
			return nil, fmt.Errorf("%w: Want of %d bytes", ErrBadFrame, len(body))
		}
		body = body[k:]
		m.IDs = make([][32]byte, count)
		for i := range m.IDs {
			copy(m.IDs[i][:], body[32*i:])
		}
	case MsgDone:
		if len(body) != 0 {
			return nil, fmt.Errorf("%w: Done with a body", ErrBadFrame)
		}
	case MsgSummary:
		count, k := canonicalUvarint(body)
		if k <= 0 || count > maxSummaryCount || len(body)-k != len(m.Summary.Fingerprint) {
			return nil, fmt.Errorf("%w: Summary of %d bytes", ErrBadFrame, len(body))
		}
		m.Summary.Count = int(count)
		copy(m.Summary.Fingerprint[:], body[k:])
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadFrame, b[0])
	}
	return m, nil
}

// canonicalUvarint decodes a count that must use the shortest encoding, so
// that every message has exactly one encoding; k <= 0 reports a bad one.
func canonicalUvarint(b []byte) (uint64, int) {
	v, k, err := uvarint.Decode(b)
	if err != nil {
		return 0, -1
	}
	return v, k
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

package ticket

import "errors"

// Sentinel errors. Parse, UnmarshalText, UnmarshalBinary and New wrap them
// with the detail of what was wrong; callers test for them with errors.Is.
// Every one of them means the ticket cannot be used as it is: the user needs
// a new ticket from whoever shared the document.
var (
	// ErrPrefix: the text does not start with "doc", so it is not a
	// document ticket (or not a ticket at all).
	ErrPrefix = errors.New(`ticket: not a document ticket: expected a ticket starting with "doc"`)

	// ErrTooLong: the text is longer than any valid ticket can be.
	ErrTooLong = errors.New("ticket: ticket is too long")

	// ErrBadBase32: the text after "doc" is not unpadded base32 (letters
	// a-z and digits 2-7), so the ticket was mistyped or damaged in copying.
	ErrBadBase32 = errors.New("ticket: ticket text is not valid base32")

	// ErrUnknownVersion: the ticket was written in a format version this
	// build does not know, most likely by a newer docsnode.
	ErrUnknownVersion = errors.New("ticket: unknown ticket version")

	// ErrTruncated: the ticket ends before its last field does, usually
	// because only part of it was copied.
	ErrTruncated = errors.New("ticket: ticket is truncated")

	// ErrUnknownCapability: the capability is neither read nor write.
	ErrUnknownCapability = errors.New("ticket: unknown capability kind")

	// ErrInvalidKey: the document id of a read capability, or a node id, is
	// not an Ed25519 public key that any secret key could have (it is not a
	// point on the curve, or it is a point of small order), or a write
	// capability holds no secret.
	ErrInvalidKey = errors.New("ticket: invalid key")

	// ErrNoNodes: the ticket names no node, so there is nobody to sync with.
	ErrNoNodes = errors.New("ticket: ticket names no node to connect to")

	// ErrTooManyNodes: the ticket names more than MaxNodes nodes.
	ErrTooManyNodes = errors.New("ticket: ticket names too many nodes")

	// ErrBadNodeAddr: a node address is malformed or cannot be dialled. The
	// error also wraps the endpoint's error (endpoint.ErrBadNodeAddr).
	ErrBadNodeAddr = errors.New("ticket: bad node address")

	// ErrTrailingBytes: the ticket holds bytes after its last node.
	ErrTrailingBytes = errors.New("ticket: unexpected bytes after the ticket")

	// ErrSecret: MarshalText or MarshalBinary of a write ticket, which
	// holds the document's secret. Export it on purpose with ExportText
	// or ExportBinary.
	ErrSecret = errors.New("ticket: a write ticket holds the document's secret and is exported only by ExportText or ExportBinary")
)

// askAgain ends the errors that reach a user who pasted a ticket.
const askAgain = "ask the sender for a new ticket"

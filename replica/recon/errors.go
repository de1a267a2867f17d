package recon

import "errors"

// Errors returned by Session and NewSession. A message that fails to decode
// wraps ErrMalformed, ErrTruncated, ErrVarint or ErrBoundOrder; such a peer
// is broken or hostile and the session should be abandoned.
var (
	// ErrMalformed reports a message that breaks the wire format: an unknown
	// range mode, an id prefix longer than 32 bytes, a timestamp overflow.
	ErrMalformed = errors.New("recon: malformed message")
	// ErrTruncated reports a message that ends inside a range.
	ErrTruncated = errors.New("recon: truncated message")
	// ErrVarint reports a varint longer than needed or above 2^64-1.
	ErrVarint = errors.New("recon: bad varint")
	// ErrBoundOrder reports ranges whose upper bounds decrease, or a range
	// after one that already reached infinity.
	ErrBoundOrder = errors.New("recon: range bounds out of order")
	// ErrVersion reports a message that is not Negentropy protocol v1.
	ErrVersion = errors.New("recon: unsupported protocol version")
	// ErrState reports a call out of order: Initiate on a session that
	// already started, or Reconcile on an initiator that has finished.
	ErrState = errors.New("recon: session call out of order")
	// ErrConfig reports a Config that cannot work; the message says which
	// field and what it must be.
	ErrConfig = errors.New("recon: invalid config")
)

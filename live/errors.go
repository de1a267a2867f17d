package live

import (
	"errors"
	"fmt"
)

// Sentinel errors. Session errors wrap one of them with the detail; test
// with errors.Is. A session the peer aborted returns an *AbortError, which
// also matches the sentinel of its reason (ErrNotFound, ErrAlreadySyncing,
// ErrBusy, ErrPeerFailed, ErrProtocol).
var (
	// ErrFrameTooLarge: a frame announced a size over Config.MaxFrameSize.
	ErrFrameTooLarge = errors.New("live: frame too large")
	// ErrBadFrame: a frame is truncated, garbled or of an unknown type.
	ErrBadFrame = errors.New("live: malformed frame")

	// ErrNotFound: the acceptor does not hold the document, or does not
	// serve it for sync now. Import the document on the peer, or open it
	// for sync there.
	ErrNotFound = errors.New("live: peer does not serve this document")
	// ErrAlreadySyncing: a session for this document between the two nodes
	// is already running; its result will cover this one.
	ErrAlreadySyncing = errors.New("live: a sync of this document with this peer is already running")
	// ErrBusy: the acceptor is at its session limit. Try again later.
	ErrBusy = errors.New("live: peer is busy")
	// ErrPeerFailed: the peer hit an internal error (its store, its clock)
	// and gave up; the abort text says what.
	ErrPeerFailed = errors.New("live: peer failed")
	// ErrProtocol: a side broke the sync protocol: a frame out of order, a
	// frame over a limit, a reconciliation message that does not decode.
	// Locally detected violations wrap it, and so does an *AbortError in
	// which the peer says that we broke it.
	ErrProtocol = errors.New("live: sync protocol violation")
	// ErrVersion: the peer speaks another version of the sync protocol.
	ErrVersion = errors.New("live: unsupported sync protocol version")
	// ErrTooManyRounds: reconciliation did not converge within the round
	// budget (Config.MaxRounds, RoundsPerDoubling and the allowance for this side's ids).
	ErrTooManyRounds = errors.New("live: reconciliation did not converge within the round limit")
	// ErrTooManyBytes: the session moved more bytes than Config.MaxBytes.
	ErrTooManyBytes = errors.New("live: session exceeded its byte limit")
	// ErrHostile: the peer sent mostly invalid entries (bad signatures,
	// another namespace, timestamps in the future); see Config.HostileFraction.
	ErrHostile = errors.New("live: peer sent too many invalid entries")
	// ErrTimeout: the session ran past Config.SessionTimeout, or made no
	// progress for Config.IdleTimeout (a peer that stopped reading or writing).
	ErrTimeout = errors.New("live: session timed out")
	// ErrConfig: a Config field cannot work; the text says which.
	ErrConfig = errors.New("live: invalid config")

	// ErrNoProviders: a download found no peer to ask: none sent the
	// entry, announced the content or is a neighbour of its document.
	ErrNoProviders = errors.New("live: no peer to download the content from")
	// ErrBadRecord: a record of the persisted wanted set does not decode;
	// it is dropped.
	ErrBadRecord = errors.New("live: malformed wanted-set record")
)

// AbortError is returned when the peer ended the session with an Abort
// frame. errors.Is matches it against the sentinel of its reason, so
// errors.Is(err, live.ErrBusy) tells a busy peer apart.
type AbortError struct {
	Reason AbortReason
	Text   string // the peer's explanation, at most 256 bytes
}

func (e *AbortError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("live: peer aborted the session: %v", e.Reason)
	}
	return fmt.Sprintf("live: peer aborted the session: %v: %s", e.Reason, e.Text)
}

// Unwrap returns the sentinel of the reason, nil for an unknown reason.
func (e *AbortError) Unwrap() error { return e.Reason.sentinel() }

func (r AbortReason) sentinel() error {
	switch r {
	case AbortNotFound:
		return ErrNotFound
	case AbortAlreadySyncing:
		return ErrAlreadySyncing
	case AbortBusy:
		return ErrBusy
	case AbortInternal:
		return ErrPeerFailed
	case AbortProtocol:
		return ErrProtocol
	}
	return nil
}

// reasonFor picks the Abort reason that tells the peer why this side ends
// a session with err.
func reasonFor(err error) AbortReason {
	switch {
	case errors.Is(err, ErrNotFound):
		return AbortNotFound
	case errors.Is(err, ErrAlreadySyncing):
		return AbortAlreadySyncing
	case errors.Is(err, ErrBusy):
		return AbortBusy
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrBadFrame),
		errors.Is(err, ErrVersion), errors.Is(err, ErrTooManyRounds), errors.Is(err, ErrTooManyBytes),
		errors.Is(err, ErrHostile):
		return AbortProtocol
	}
	return AbortInternal
}

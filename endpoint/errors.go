package endpoint

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the endpoint wraps
// them with context (the peer, the address, the protocol).
var (
	// ErrClosed is returned by every method called after Close, and by
	// waits that were cut short by Close.
	ErrClosed = errors.New("endpoint: closed")

	// ErrPeerIDMismatch means the peer at the dialled address proved a
	// different node id than the one the caller expected. The address may
	// be stale (another node now uses it) or the ticket is wrong.
	ErrPeerIDMismatch = errors.New("endpoint: peer presented a different node id than expected")

	// ErrBadCertificate means the peer's TLS certificate is not a
	// self-signed certificate over an Ed25519 key, so it names no node id.
	ErrBadCertificate = errors.New("endpoint: peer certificate is not a self-signed Ed25519 certificate")

	// ErrNoAddrs means Dial was given a NodeAddr with no addresses to try.
	ErrNoAddrs = errors.New("endpoint: node address has no network addresses; add at least one ip:port")

	// ErrDialSelf means Dial was asked to connect to this endpoint's own
	// node id.
	ErrDialSelf = errors.New("endpoint: cannot dial own node id")

	// ErrProtocolRefused means the peer does not serve the ALPN protocol
	// that was dialled: it registered no handler for it.
	ErrProtocolRefused = errors.New("endpoint: peer does not serve this ALPN protocol")

	// ErrTooManyConns means the endpoint already holds Config.MaxConns
	// connections. Close some, or raise the limit.
	ErrTooManyConns = errors.New("endpoint: connection limit reached (Config.MaxConns)")

	// ErrBadALPN means a protocol name is empty or longer than 255 bytes,
	// which TLS cannot carry.
	ErrBadALPN = errors.New("endpoint: ALPN protocol name must be 1 to 255 bytes")

	// ErrDuplicateALPN means Handle was called twice for one protocol.
	ErrDuplicateALPN = errors.New("endpoint: a handler is already registered for this ALPN protocol")

	// ErrBadNodeID means a text or binary node id has the wrong length or
	// alphabet.
	ErrBadNodeID = errors.New("endpoint: node id must be 64 lowercase or uppercase hex characters (32 bytes)")

	// ErrBadSeed means a secret key seed is not 32 bytes.
	ErrBadSeed = errors.New("endpoint: secret key seed must be 32 bytes")

	// ErrDatagramTooLarge means a datagram is over MaxDatagramSize; send
	// it on a stream instead.
	ErrDatagramTooLarge = errors.New("endpoint: datagram exceeds MaxDatagramSize; send it on a stream")

	// ErrDatagramsUnsupported means the peer did not enable QUIC
	// datagrams on the connection.
	ErrDatagramsUnsupported = errors.New("endpoint: the peer does not accept datagrams")

	// ErrDatagramQueueFull means Config.MaxQueuedDatagrams datagrams are
	// already waiting to be sent on the connection, as happens while the
	// peer is unreachable. The datagram is not sent.
	ErrDatagramQueueFull = errors.New("endpoint: datagram queue full (Config.MaxQueuedDatagrams)")

	// ErrBadNodeAddr means an encoded NodeAddr is truncated, has too many
	// addresses, or holds an address that cannot be dialled.
	ErrBadNodeAddr = errors.New("endpoint: malformed node address")
)

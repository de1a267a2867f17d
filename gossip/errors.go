package gossip

import "errors"

// Sentinel errors. Callers test for them with errors.Is; functions that
// return them wrap them with the detail that was wrong.
var (
	// ErrClosed is returned by every method called after Close (or Leave),
	// and by waits that Close cut short.
	ErrClosed = errors.New("gossip: closed")

	// ErrSwarmOpen means Router.Open was called for a document whose swarm
	// is already open on this node. Use the open Swarm, or Close it first.
	ErrSwarmOpen = errors.New("gossip: a swarm for this document is already open")

	// ErrOpTooLarge means an op does not fit memberlist's packet budget
	// (Config.PacketSize). It was neither pushed nor queued, and
	// Stats.OpsTooLarge counts it; reconciliation delivers the data instead.
	ErrOpTooLarge = errors.New("gossip: op is larger than the gossip packet budget")

	// ErrWrongDocument means an entry given to Swarm.Put belongs to another
	// document than the swarm's.
	ErrWrongDocument = errors.New("gossip: entry belongs to another document than the swarm")

	// ErrTooManyAuthors means a sync report names more than MaxReportAuthors
	// authors.
	ErrTooManyAuthors = errors.New("gossip: sync report has too many authors")

	// ErrNoPeers means Join was given no peer it could try: every NodeAddr
	// was this node or had no addresses.
	ErrNoPeers = errors.New("gossip: no peers to join; give at least one other node with an address")

	// ErrJoin means Join reached none of the peers it was given: they are
	// offline, unreachable, or do not hold the document.
	ErrJoin = errors.New("gossip: could not join the swarm through any of the given peers")

	// ErrMalformedOp means bytes received as an op do not decode: unknown
	// version or kind, truncated, too many authors, or trailing bytes.
	ErrMalformedOp = errors.New("gossip: malformed op")

	// ErrBadHeader means a gossip stream does not start with a valid
	// header: topic and a known kind byte.
	ErrBadHeader = errors.New("gossip: malformed stream header")
)

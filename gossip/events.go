package gossip

import (
	"sync/atomic"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Event is what a swarm reports on its Events channel: one of OpPut,
// OpContentReady, OpSyncReport, NeighborUp, NeighborDown and Lagged.
type Event interface{ isEvent() }

// OpPut is an entry another node inserted. Its namespace is the swarm's
// document and both signatures verified; Limits.ValidateRemote passed.
type OpPut struct {
	From endpoint.NodeID // the node that published it, as it claims
	// Sender is the node that handed this node the op, proved by its
	// QUIC connection: From itself, or a member relaying it.
	Sender endpoint.NodeID
	Entry  replica.SignedEntry
	// Content is the entry's content when the publisher sent it along
	// (see Config.InlineContent), else nil. Its length and BLAKE3 hash
	// match the entry's.
	Content []byte
}

// OpContentReady says From holds the content with this hash.
// From is the op's origin as it claims, which nothing proves; Sender is
// the node that handed it over, proved by its connection.
type OpContentReady struct {
	From   endpoint.NodeID
	Sender endpoint.NodeID
	Hash   replica.Hash
}

// OpSyncReport is From's latest timestamp per author in the document,
// sent after a sync that brought it entries.
// From is the op's origin as it claims, which nothing proves; Sender is
// the node that handed it over, proved by its connection.
type OpSyncReport struct {
	From   endpoint.NodeID
	Sender endpoint.NodeID
	Heads  replica.Heads
}

// NeighborUp says a node joined the swarm, or that a neighbour's address
// changed; Node is where to dial it.
type NeighborUp struct {
	Node endpoint.NodeAddr
}

// NeighborDown says a node left the swarm or was found dead.
type NeighborDown struct {
	Node endpoint.NodeID
}

// Lagged says the consumer fell behind and Dropped events were lost. Ops
// lost this way are recovered by reconciliation; Swarm.Members gives the
// current neighbours.
type Lagged struct {
	Dropped uint64
}

func (OpPut) isEvent()          {}
func (OpContentReady) isEvent() {}
func (OpSyncReport) isEvent()   {}
func (NeighborUp) isEvent()     {}
func (NeighborDown) isEvent()   {}
func (Lagged) isEvent()         {}

// Stats counts what a swarm did. Every counter only grows.
type Stats struct {
	// OpsPublished: ops this node published (pushed and queued).
	OpsPublished uint64
	// OpsTooLarge: ops not published because they exceed MaxOpSize.
	OpsTooLarge uint64
	// OpsAccepted: received ops that were new and valid, and so were
	// offered to the Events channel.
	OpsAccepted uint64
	// OpsDuplicate: received ops already seen, including this node's own
	// ops coming back.
	OpsDuplicate uint64
	// OpsInvalid: received ops that did not decode or whose entry failed
	// validation (namespace, shape, timestamp, signatures).
	OpsInvalid uint64
	// InboxDropped: received ops dropped because the swarm's goroutine
	// was InboxSize ops behind.
	InboxDropped uint64
	// OpsPeerLimited: received ops dropped because their sender had
	// spent its budget (Config.PeerOpRate, PeerOpBurst).
	OpsPeerLimited uint64
	// OpsNodeLimited: received ops dropped because the budget all senders
	// share was spent (Config.NodeOpRate, NodeOpBurst).
	OpsNodeLimited uint64
	// EventsDropped: events dropped because the consumer was EventBuffer
	// events behind (reported to it by Lagged).
	EventsDropped uint64
	// BroadcastsPruned: queued ops dropped from the broadcast queue before
	// their retransmissions were done (MaxQueuedBroadcasts).
	BroadcastsPruned uint64
	// PacketsDropped: packets dropped by the transport: outgoing beyond
	// MaxPacketsInFlight or beyond the connection's datagram queue
	// (endpoint.Config.MaxQueuedDatagrams), incoming oversize, unreadable
	// or beyond the receive queue.
	PacketsDropped uint64
	// PacketsFailed: outgoing packets whose dial or stream failed.
	PacketsFailed uint64
	// MembersRefused: alive messages refused for a node that was not a
	// member while the swarm had MaxMembers.
	MembersRefused uint64
	// StreamsRefused: incoming streams reset at once because their peer
	// had Config.MaxStreamsPerPeer streams open (a Router's count; a
	// swarm's Stats leave it zero).
	StreamsRefused uint64
}

// plus returns the sum of two Stats, field by field.
func (s Stats) plus(o Stats) Stats {
	return Stats{
		OpsPublished:     s.OpsPublished + o.OpsPublished,
		OpsTooLarge:      s.OpsTooLarge + o.OpsTooLarge,
		OpsAccepted:      s.OpsAccepted + o.OpsAccepted,
		OpsDuplicate:     s.OpsDuplicate + o.OpsDuplicate,
		OpsInvalid:       s.OpsInvalid + o.OpsInvalid,
		InboxDropped:     s.InboxDropped + o.InboxDropped,
		OpsPeerLimited:   s.OpsPeerLimited + o.OpsPeerLimited,
		OpsNodeLimited:   s.OpsNodeLimited + o.OpsNodeLimited,
		EventsDropped:    s.EventsDropped + o.EventsDropped,
		BroadcastsPruned: s.BroadcastsPruned + o.BroadcastsPruned,
		PacketsDropped:   s.PacketsDropped + o.PacketsDropped,
		PacketsFailed:    s.PacketsFailed + o.PacketsFailed,
		MembersRefused:   s.MembersRefused + o.MembersRefused,
		StreamsRefused:   s.StreamsRefused + o.StreamsRefused,
	}
}

type counters struct {
	opsPublished, opsTooLarge, opsAccepted, opsDuplicate, opsInvalid atomic.Uint64
	inboxDropped, eventsDropped, broadcastsPruned                    atomic.Uint64
	opsPeerLimited, opsNodeLimited                                   atomic.Uint64
	packetsDropped, packetsFailed                                    atomic.Uint64
	membersRefused                                                   atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		OpsPublished:     c.opsPublished.Load(),
		OpsTooLarge:      c.opsTooLarge.Load(),
		OpsAccepted:      c.opsAccepted.Load(),
		OpsDuplicate:     c.opsDuplicate.Load(),
		OpsInvalid:       c.opsInvalid.Load(),
		InboxDropped:     c.inboxDropped.Load(),
		OpsPeerLimited:   c.opsPeerLimited.Load(),
		OpsNodeLimited:   c.opsNodeLimited.Load(),
		EventsDropped:    c.eventsDropped.Load(),
		BroadcastsPruned: c.broadcastsPruned.Load(),
		PacketsDropped:   c.packetsDropped.Load(),
		PacketsFailed:    c.packetsFailed.Load(),
		MembersRefused:   c.membersRefused.Load(),
	}
}

// Package gossip runs one hashicorp/memberlist swarm per live document over
// the node's QUIC endpoint, and spreads the document's news through it:
// Put (an entry this node inserted), ContentReady (this node now holds a
// blob) and SyncReport (this node's latest timestamp per author after a
// sync that brought it entries).
//
// A Router serves the gossip protocol (endpoint.ALPNGossip) and holds the
// node's swarms; Router.Open starts the swarm of one document and Swarm.Join
// joins it through peers that hold the document too. A small memberlist
// packet travels in one QUIC datagram, a larger one on a QUIC stream of its
// own (Config.MaxDatagramPacket), and every memberlist stream (join,
// push/pull) on one QUIC stream, each opened with a 33-byte header: a topic
// derived from the document id by BLAKE3 key derivation, and a kind byte. A
// node without a swarm for the topic drops the datagram or resets the
// stream as soon as it reads the header, so only nodes that hold the
// document join its swarm or hear its traffic, and the header does not
// disclose the document id (its read capability) to a node dialled by
// mistake.
//
// Members are named by their node id in hex, so each dial checks the peer's
// identity, and carry their endpoint.NodeAddr in memberlist's node meta;
// NeighborUp hands it to the live layer to dial sync sessions.
//
// Published ops are pushed at once to up to Config.EagerFanout neighbours,
// and queued in the swarm's broadcast queue, whose gossip rounds are the
// backstop. A swarm gossips only while it has ops queued or a membership
// change to spread, so an idle swarm runs no timer but memberlist's probes.
// An op larger than memberlist can gossip (Config.MaxOpSize) is refused with
// ErrOpTooLarge and counted in Stats.OpsTooLarge, rather than kept in the
// queue forever. Receivers drop ops they have seen (a bounded window), check
// a Put's entry against the document (replica.Limits.ValidateRemote, with
// signatures verified in batches), and report what is left on
// Swarm.Events. Delivery is best effort; correctness comes from
// reconciliation.
//
// Every received op carries two node ids. Its origin (OpPut.From and the
// like) is the node that published it as the op claims: relays keep it,
// and nothing signs it, so anyone who holds the document can send an op
// with any origin. Its sender (Sender) is the node that handed it to this
// node, which the QUIC connection proves: the transport takes the ops out
// of each memberlist packet it receives before memberlist sees the packet
// (whose NotifyMsg would not say who sent them), and an op datagram
// arrives on its sender's connection. An op memberlist still hands over
// (in a user message on a memberlist stream, which no member sends) is
// dropped. A Put's entry carries its own signatures; a SyncReport's or a
// ContentReady's origin is a hint, which the live layer acts on only for
// an origin it already knows (see live.Config.MaxIdlePeers).
//
// Each sender gets a budget of received ops (Config.PeerOpRate and
// PeerOpBurst, a token bucket per sending node id, for at most
// MaxRateLimitedPeers senders), and all senders share one more
// (NodeOpRate, NodeOpBurst). A new op over either is dropped once the
// seen window shows it is new, before it is decoded or verified, and
// counted
// (Stats.OpsPeerLimited, OpsNodeLimited): a member that floods forged
// Puts costs this node the signature checks of its budget, not of its
// flood.
//
// memberlist calls its delegates from its own goroutines, some with its
// locks held. Here they only check or record a membership change under
// the swarm's own lock, never block and never call memberlist; received
// ops reach the swarm's inbox from the transport, past memberlist. One goroutine per swarm does the rest and offers events to
// the consumer without waiting: a consumer that falls behind loses events
// and is told so by a Lagged event.
//
// The usual shape, with errors handled:
//
//	router, _ := gossip.NewRouter(ep, gossip.DefaultConfig())
//	swarm, _ := router.Open(doc)
//	swarm.Join(ctx, ticketPeers)
//	go func() {
//		for ev := range swarm.Events() {
//			switch ev := ev.(type) {
//			case gossip.OpPut:        // insert ev.Entry
//			case gossip.NeighborUp:   // sync with ev.Node
//			case gossip.Lagged:       // resync with swarm.Members()
//			}
//		}
//	}()
//	swarm.Put(signedEntry) // after every local insert
package gossip

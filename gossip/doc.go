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
// memberlist calls its delegates from its own goroutines, some with its
// locks held. Here they only copy bytes into the swarm's inbox or record a
// membership change under the swarm's own lock, never block and never call
// memberlist. One goroutine per swarm does the rest and offers events to
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

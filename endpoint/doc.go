// Package endpoint is a docsnode node's QUIC endpoint: its identity on the
// network, the one UDP socket it listens and dials on, and the routing of
// connections to protocols.
//
// A node is named by a NodeID, its Ed25519 public key. Connections use
// TLS 1.3 with a self-signed certificate over that key on both sides, so a
// dialler proves it reached the node it meant to (Dial fails with
// ErrPeerIDMismatch otherwise) and an acceptor learns who dialled it
// (Conn.RemoteID). There are no certificate authorities and no host names.
//
// Protocols are told apart by ALPN: ALPNSync, ALPNGossip and ALPNBlobs.
// Endpoint.Handle registers a Handler for one; the TLS handshake refuses
// protocols with no handler, and each accepted connection runs its handler
// in a goroutine that the endpoint owns. Dial caches connections per (node,
// protocol): callers share one live connection, and overlapping Dials share
// one handshake.
//
// Besides streams, a connection carries QUIC datagrams (Conn.SendDatagram,
// at most MaxDatagramSize bytes): unreliable, unordered messages that cost
// one packet and no stream set-up. SendDatagram never waits for the
// network; a connection queues at most Config.MaxQueuedDatagrams.
//
// NodeAddr, a node id plus the addresses to try, has a compact bounded
// binary encoding for tickets (NodeAddr.AppendBinary, DecodeNodeAddr).
//
// Peers move: a node that restarts on a new port is no longer where a
// ticket, a stored record or a gossip membership list says. The endpoint
// keeps an address book per peer, freshest first: the address each
// authenticated connection comes from, the address each successful dial
// reached, and the addresses peers state (Endpoint.LearnAddr,
// Conn.LearnPeerAddrs). Dial tries the known addresses before the ones it
// is given, and a connection from a peer's new port closes the connections
// to and from its old one. Endpoint.KnownAddr reads the book, for example
// to persist a peer's current address. Config.MaxKnownPeers and
// Config.MaxAddrsPerPeer bound it.
//
// The usual shape, with errors handled:
//
//	server, _ := endpoint.Open(ctx, endpoint.DefaultConfig())
//	server.Handle(endpoint.ALPNSync, endpoint.HandlerFunc(serveSync))
//	conn, _ := client.Dial(ctx, server.Addr(), endpoint.ALPNSync)
//	stream, _ := conn.OpenStream(ctx)
//
// Config.PacketConn replaces the UDP socket with any net.PacketConn, such
// as quic-go's testutils/simnet, so that tests can run whole nodes over a
// simulated network under testing/synctest.
package endpoint

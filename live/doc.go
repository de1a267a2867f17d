// Package live keeps documents in sync between nodes: sync sessions over
// QUIC streams, and the live actor that decides when to run them.
//
// A sync session reconciles one document with one peer on one
// bidirectional stream (ALPN endpoint.ALPNSync). The dialler (initiator)
// sends Init with the document id and the first Negentropy v1 message; the
// acceptor serves the document if its store holds it and its Policy
// allows, and otherwise answers Abort. Rounds of Negentropy tell the
// initiator which entries each side lacks; it asks for its own with Want
// frames and sends the acceptor's as they are found, while the rounds go
// on. Every received entry is validated and both its signatures are
// checked (in batches, on every core) before the store sees it. Both sides
// end by exchanging their set summaries, so both learn whether they now
// hold the same set. docs/protocol.md describes the wire format and the
// rules.
//
// The protocol itself is a plain state machine (machine.go) with no
// goroutines, clocks or sockets; the session shell (session.go) moves
// frames between it and the stream through a pipeline of goroutines
// (reader, writer, producer, verifier, inserter) with bounded queues, so
// memory stays flat whatever the document's size.
//
// Running both sides, with errors handled:
//
//	srv := live.NewServer(act, live.DefaultSessionConfig(), policy)
//	ep.Handle(endpoint.ALPNSync, srv) // the acceptor side
//
//	out, err := live.Sync(ctx, ep, act, peerAddr, docID, live.DefaultSessionConfig())
//	switch {
//	case errors.Is(err, live.ErrNotFound): // the peer does not serve the document
//	case err != nil:
//	default:
//		fmt.Println(out.Received, out.Sent, out.Equal)
//	}
//
// Server.Serve (and, inside the package, syncStream) run the two sides on
// any stream, such as an in-process pipe in tests.
//
// The live Actor decides when sessions run. It is split like the session:
// a pure scheduler (scheduler.go) owns the open documents, the state and
// record of each (document, peer), the report gate, catch-up, WaitSynced
// and the download queue, and turns events into effects; the shell
// (actor.go) feeds it and carries the effects out on goroutines and a
// persister, so its loop never waits on the store, the content store or
// the network. Entries reach the store and subscribers without passing
// through the loop.
//
// With a content store (Config.Content), the live actor also serves
// content over ALPN endpoint.ALPNBlobs and downloads the content of
// entries that arrive from peers, as each document's download policy
// allows (download.go): de-duplicated by hash, a bounded queue persisted
// in the content store so that it resumes after a restart, bounded
// concurrency, and retries with back-off. Subscribers see
// EventContentReady per blob and EventPendingContentReady when a
// document's downloads have run out.
package live

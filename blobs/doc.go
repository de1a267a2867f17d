// Package blobs stores content by its BLAKE3 hash, the values behind
// document entries, and fetches it from peers.
//
// Content is checked in chunk groups (16 KiB by default) against BLAKE3's
// own tree (tree.go): every blob larger than the small-blob threshold keeps
// its outboard, the tree's parent nodes, beside its data, so a read checks
// only the groups it touches, and a fetch checks each group as it arrives
// and writes only what matched. The Store keeps one file per large blob
// under a directory, written under a temporary name and renamed into
// place, and small blobs in a pebble database. Put leaves the fsync to a
// background goroutine that syncs everything written within
// Options.FlushInterval; PutDurable syncs before it returns. Every file
// operation goes through Options.FS (the operating system's by default),
// so tests can run the store on pebble's crashable in-memory file system
// and drop what was not synced.
//
// A fetch writes through a Partial under .partial/, which keeps a bitfield
// of the groups verified, so a fetch that breaks off, or a restart,
// resumes with exactly the missing groups. The wanted set (PutWant, Wants)
// lets a downloader resume after a restart.
//
// Fetches run over QUIC with ALPN docsnode/blobs/1 (docs/protocol.md): a
// request names a document, an entry's author and key, the hash and
// ranges of groups; Server answers only when the document is held and that
// entry names the hash, and streams the groups with their proofs. Fetch is
// the client for one peer, Download for several at once.
//
//	store, _ := blobs.Open(dir, 0)
//	defer store.Close()
//	h, n, _ := store.Put(strings.NewReader("hello"))
//	ep.Handle(endpoint.ALPNBlobs, blobs.NewServer(store, act, blobs.ServerConfig{}))
//	// on another node, for an entry se of document ns:
//	_, err := blobs.Fetch(ctx, ep2, peerAddr, store2, blobs.RefOf(ns, &se), 0)
package blobs

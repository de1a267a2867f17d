// Package blobs stores content by its BLAKE3 hash, the values behind
// document entries, and fetches it from peers.
//
// The Store keeps one file per blob under a directory, written under a
// temporary name and renamed into place, and checked against its hash on
// every read. Put leaves the fsync to a background goroutine that syncs
// everything written within Options.FlushInterval; PutDurable syncs before
// it returns. Every file operation goes through Options.FS (the
// operating system's by default), so tests can run the store on pebble's
// crashable in-memory file system and drop what was not synced. A fetch writes through a Partial under .partial/, which
// refuses bytes beyond the entry's length and installs the blob only when
// the whole content hashes to its name; a fetch that breaks off resumes
// from where it stopped. The wanted set (PutWant, Wants) lets a downloader
// resume after a restart.
//
// Fetches run over QUIC with ALPN docsnode/blobs/1 (docs/protocol.md): a
// request names a document, an entry's author and key, the hash and a
// starting offset; Server answers only when the document is held and that
// entry names the hash, and streams the content. Fetch is the client.
//
//	store, _ := blobs.Open(dir, 0)
//	defer store.Close()
//	h, n, _ := store.Put(strings.NewReader("hello"))
//	ep.Handle(endpoint.ALPNBlobs, blobs.NewServer(store, act, blobs.ServerConfig{}))
//	// on another node, for an entry se of document ns:
//	_, err := blobs.Fetch(ctx, ep2, peerAddr, store2, blobs.RefOf(ns, &se), 0)
package blobs

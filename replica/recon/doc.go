// Package recon is docsnode's reconciliation core: range-based set
// reconciliation with the wire format of Negentropy protocol v1 (the protocol
// of strfry and nostr NIP-77), so that any independent Negentropy
// implementation can talk to it and serve as a test oracle.
//
// A set holds items, (timestamp, 32-byte id) pairs ordered by timestamp and
// then id; in docsnode the id is the BLAKE3 hash of an entry's signed bytes.
// Index keeps such a set in a B+tree whose inner nodes record each subtree's
// item count and id sum, so the fingerprint of any range costs O(log n).
// Session runs one side of the protocol as a plain state machine: it takes
// the peer's message and returns the reply, with no goroutines, clocks or
// I/O. Moving the bytes, bounding the rounds and transferring the entries
// are the caller's work.
//
// Two sets reconcile like this:
//
//	alice, bob := recon.BuildIndex(aliceItems), recon.BuildIndex(bobItems)
//	ini, _ := recon.NewSession(alice, recon.DefaultConfig())
//	resp, _ := recon.NewSession(bob, recon.DefaultConfig())
//	msg, _ := ini.Initiate()
//	for msg != nil {
//		reply, _, _, err := resp.Reconcile(msg) // on Bob's node
//		...
//		msg, have, need, err = ini.Reconcile(reply) // on Alice's node
//		// have: ids Alice holds and Bob lacks; need: the reverse.
//	}
//
// The package imports nothing else from docsnode.
package recon

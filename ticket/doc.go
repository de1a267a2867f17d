// Package ticket encodes DocTicket, the string that lets a node join a
// document: a capability for the document and the addresses of nodes that
// hold it. Sharing a document means sending someone a ticket; joining means
// parsing it, dialling one of its nodes and syncing.
//
// The text form is "doc" followed by the binary form in lowercase base32
// (RFC 4648 alphabet, no padding), so a ticket is one word that survives
// chat, shells and URLs. Parse accepts either case and ignores whitespace
// around the ticket. The binary form starts with a version byte so that the
// format can change without a new prefix.
//
// A ticket with a write capability carries the document's secret: whoever
// holds it can write to the document. Share DocTicket.ReadOnly unless the
// recipient should write.
//
// Tickets come from untrusted input, so Parse bounds and checks everything
// (lengths, node count, keys, addresses) and returns errors that wrap the
// sentinels in errors.go:
//
//	t, err := ticket.Parse(text)
//	if errors.Is(err, ticket.ErrUnknownVersion) {
//		// written by a newer docsnode
//	}
//	nodes := t.Nodes // at least one, each with a valid node id
package ticket

package gossip

import (
	"fmt"

	"lukechampine.com/blake3"

	"github.com/docsnode/docsnode/replica"
)

// topicID names a document's swarm on the wire. It is derived from the
// document id rather than equal to it, because the document id is the
// document's read capability: a stream header reaches whichever node we
// dial, and one that does not hold the document must not learn how to read
// it. Nodes that hold the document derive the same topic.
type topicID [32]byte

// topicContext is the BLAKE3 key derivation context for topic ids.
const topicContext = "docsnode gossip/1 topic id"

func topicOf(doc replica.NamespaceID) topicID {
	var t topicID
	blake3.DeriveKey(t[:], topicContext, doc[:])
	return t
}

// streamKind says what a gossip stream carries after its header.
type streamKind byte

const (
	// kindPacket: one memberlist packet, up to the sender's FIN.
	kindPacket streamKind = 1
	// kindStream: a memberlist stream (push/pull, join, TCP ping, reliable
	// message), both directions, for as long as memberlist uses it.
	kindStream streamKind = 2
	// kindOp: one gossip op, in a datagram, for the swarm itself rather
	// than its memberlist: an eager push (Swarm.publish).
	kindOp streamKind = 3
)

// headerLen is the size of the header that starts every gossip stream:
//
//	topic(32) kind(1)
const headerLen = 32 + 1

func appendHeader(b []byte, topic topicID, kind streamKind) []byte {
	b = append(b, topic[:]...)
	return append(b, byte(kind))
}

// decodeHeader parses a stream header. b must be exactly headerLen bytes.
func decodeHeader(b []byte) (topicID, streamKind, error) {
	var t topicID
	if len(b) != headerLen {
		return t, 0, fmt.Errorf("%w: %d bytes, want %d", ErrBadHeader, len(b), headerLen)
	}
	copy(t[:], b)
	switch k := streamKind(b[32]); k {
	case kindPacket, kindStream, kindOp:
		return t, k, nil
	default:
		return topicID{}, 0, fmt.Errorf("%w: unknown kind %d", ErrBadHeader, k)
	}
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"slices"

	"lukechampine.com/blake3"

	"github.com/docsnode/docsnode/replica"
)

// The hostile scenario's peers speak the wire formats of docs/protocol.md
// by hand, so that they can break them; these encoders follow that file,
// not the packages' unexported ones.

// Sync frame types (docs/protocol.md, "Frames").
const (
	frameInit    = 1
	frameAbort   = 2
	frameRecon   = 3
	frameEntries = 4
	frameDone    = 6
)

// syncVersion is the sync protocol version Init carries.
const syncVersion = 2

// Abort reasons a node sends (docs/protocol.md).
var abortReasons = map[byte]string{1: "not-found", 2: "already-syncing", 3: "busy", 4: "internal", 5: "protocol"}

// syncFrame is uvarint(1+len(body)) · type · body.
func syncFrame(typ byte, body []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(1+len(body)))
	b = append(b, typ)
	return append(b, body...)
}

// initFrame is an Init of version 2 for ns with no addresses and the
// first reconciliation message msg.
func initFrame(ns replica.NamespaceID, msg []byte) []byte {
	body := make([]byte, 0, 1+32+1+len(msg))
	body = append(body, syncVersion)
	body = append(body, ns[:]...)
	body = append(body, 0) // address count
	body = append(body, msg...)
	return syncFrame(frameInit, body)
}

// entriesFrame is an Entries frame carrying es.
func entriesFrame(es []replica.SignedEntry) []byte {
	body := binary.AppendUvarint(nil, uint64(len(es)))
	for i := range es {
		body = es[i].AppendBinary(body)
	}
	return syncFrame(frameEntries, body)
}

// negentropyVersion starts every Negentropy v1 message.
const negentropyVersion = 0x61

// negentropyVarint is Negentropy's varint: base-128, most significant
// digit first, the high bit set on all but the last byte.
func negentropyVarint(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// idListMessage is a Negentropy v1 message of one range up to infinity
// (timestamp 0, id prefix of 0 bytes) in IdList mode listing ids: what an
// initiator with a set of len(ids) items may send, and what costs the
// responder a look-up per id.
func idListMessage(ids [][32]byte) []byte {
	b := make([]byte, 0, 16+32*len(ids))
	b = append(b, negentropyVersion, 0, 0, 2)
	b = negentropyVarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// randomIDs returns n random 32-byte ids.
func randomIDs(n int) [][32]byte {
	ids := make([][32]byte, n)
	for i := range ids {
		rand.Read(ids[i][:])
	}
	return ids
}

// Gossip (docs/protocol.md, "docsnode gossip ops"): a datagram on a
// docsnode/gossip/1 connection is topic(32) kind(1) and, for kind 3, one
// op: version(1)=1 kind(1) origin(32) body.
const (
	gossipKindOp     = 3
	opVersion        = 1
	opPut            = 1
	opContentReady   = 2
	opSyncReport     = 3
	gossipTopicLabel = "docsnode gossip/1 topic id"
)

// gossipTopic is the swarm topic of a document: a BLAKE3 key derivation
// from its id, which any holder of the read ticket can compute.
func gossipTopic(doc replica.NamespaceID) [32]byte {
	var t [32]byte
	blake3.DeriveKey(t[:], gossipTopicLabel, doc[:])
	return t
}

// gossipOp is a datagram carrying one op of kind with body to the swarm
// of topic, claiming origin.
func gossipOp(topic [32]byte, kind byte, origin [32]byte, body []byte) []byte {
	b := make([]byte, 0, 33+34+len(body))
	b = append(b, topic[:]...)
	b = append(b, gossipKindOp, opVersion, kind)
	b = append(b, origin[:]...)
	return append(b, body...)
}

// putBody is the body of a Put: the signed entry.
func putBody(se *replica.SignedEntry) []byte { return se.AppendBinary(nil) }

// syncReportBody is the body of a SyncReport: uvarint(n), then n heads
// (author(32), uvarint(timestamp)) in strictly ascending author order.
func syncReportBody(heads map[replica.AuthorID]uint64) []byte {
	authors := make([]replica.AuthorID, 0, len(heads))
	for a := range heads {
		authors = append(authors, a)
	}
	slices.SortFunc(authors, func(x, y replica.AuthorID) int { return bytes.Compare(x[:], y[:]) })
	b := binary.AppendUvarint(nil, uint64(len(authors)))
	for _, a := range authors {
		b = append(b, a[:]...)
		b = binary.AppendUvarint(b, heads[a])
	}
	return b
}

// blobsOK is a content response that claims the blob is size bytes long
// and carries content (docs/protocol.md, "docsnode content protocol").
func blobsOK(size uint64, content []byte) []byte {
	b := binary.AppendUvarint([]byte{0}, size)
	return append(b, content...)
}

// readSyncFrame parses one frame from the front of b: its type and body,
// and how many bytes it took; n is 0 while b holds no whole frame.
func readSyncFrame(b []byte) (typ byte, body []byte, n int) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l == 0 || uint64(len(b)-k) < l {
		return 0, nil, 0
	}
	return b[k], b[k+1 : k+int(l)], k + int(l)
}

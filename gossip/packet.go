package gossip

import (
	"encoding/binary"
	"hash/crc32"
)

// More of memberlist's message types (its net.go) than gossiper.go frames:
// those that can wrap a user message.
const (
	mlCompressMsg = 9   // compressMsg: a compressed message
	mlEncryptMsg  = 10  // encryptMsg: never sent here (no keyring)
	mlHasCrcMsg   = 12  // hasCrcMsg: crc32(4) then a message
	mlHasLabelMsg = 244 // hasLabelMsg: a label header; no label is configured
)

// splitOps takes the ops (memberlist user messages) out of a received
// memberlist packet, so that the swarm receives each with the node that
// sent the packet, which memberlist's NotifyMsg does not tell, and the
// sender's budget is charged before anything is decoded. rest is what is
// left for memberlist: pkt itself when it held no op, the other messages
// in one compound message, or nil. ok is false for a packet to drop
// whole: one with a bad checksum, or a compressed, encrypted or labelled
// message, which no member sends (compression is off, and no keyring or
// label is configured) and which could hide ops from the budget.
func splitOps(pkt []byte) (ops [][]byte, rest []byte, ok bool) {
	body := pkt
	if len(body) >= 5 && body[0] == mlHasCrcMsg {
		if crc32.ChecksumIEEE(body[5:]) != binary.BigEndian.Uint32(body[1:5]) {
			return nil, nil, false
		}
		body = body[5:]
	}
	var others [][]byte
	if !splitMsg(body, &ops, &others, 0) {
		return nil, nil, false
	}
	switch {
	case len(ops) == 0:
		return nil, pkt, true
	case len(others) == 0:
		return ops, nil, true
	case len(others) == 1:
		return ops, others[0], true
	case len(others) > maxCompound:
		return nil, nil, false // memberlist sends at most that many in one packet
	}
	return ops, appendCompoundMsgs(nil, others), true
}

// maxNesting bounds compound messages within compound messages; memberlist
// never nests them.
const maxNesting = 4

// splitMsg sorts one memberlist message: a user message's op goes to ops,
// a compound message's parts are sorted in turn, and any other message
// goes to others as it is. Each part of a compound message is shorter
// than 64 KiB, its length field's limit.
func splitMsg(msg []byte, ops, others *[][]byte, depth int) bool {
	if len(msg) == 0 {
		return true // memberlist ignores it
	}
	switch msg[0] {
	case mlUserMsg:
		*ops = append(*ops, msg[1:])
	case mlCompoundMsg:
		if depth >= maxNesting {
			return false
		}
		for _, part := range compoundParts(msg[1:]) {
			if !splitMsg(part, ops, others, depth+1) {
				return false
			}
		}
	case mlCompressMsg, mlEncryptMsg, mlHasLabelMsg:
		return false
	default:
		*others = append(*others, msg)
	}
	return true
}

// compoundParts decodes the body of a compound message, count(1)
// lengths(2 each) messages, as memberlist does: the parts whose bytes
// are all there.
func compoundParts(b []byte) [][]byte {
	if len(b) < 1 {
		return nil
	}
	n := int(b[0])
	b = b[1:]
	if len(b) < 2*n {
		return nil
	}
	lens, b := b[:2*n], b[2*n:]
	parts := make([][]byte, 0, n)
	for i := range n {
		l := int(binary.BigEndian.Uint16(lens[2*i:]))
		if len(b) < l {
			break
		}
		parts, b = append(parts, b[:l]), b[l:]
	}
	return parts
}

// appendCompoundMsgs frames up to maxCompound memberlist messages as one
// compound message.
func appendCompoundMsgs(b []byte, msgs [][]byte) []byte {
	b = append(b, mlCompoundMsg, byte(len(msgs)))
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
	}
	for _, m := range msgs {
		b = append(b, m...)
	}
	return b
}

package gossip

import (
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// opFilter decides which received ops a swarm delivers: it decodes them,
// drops this node's own and those seen before, and validates Puts against
// the document, verifying their signatures in one batch. It has no
// goroutines, clocks or sockets; the swarm's goroutine owns it.
type opFilter struct {
	self   endpoint.NodeID
	doc    replica.NamespaceID
	limits replica.Limits // defaults filled in
	seen   *seenSet
	keys   *replica.Verifier // for batches of up to singleVerifyMax puts
	buf    []byte            // opKey's scratch
	// limiter is the router's budget of received ops; nil: none.
	limiter *rateLimiter
}

// singleVerifyMax is the largest number of puts in one received batch
// that are checked one by one with the filter's cached keys; larger
// batches go to replica.VerifyBatch.
const singleVerifyMax = 8

// admitted is an op to deliver, with the bytes it arrived as (to relay;
// a Put with content is relayed without, see relayBytes).
type admitted struct {
	op     op
	raw    []byte
	sender endpoint.NodeID
}

type filterCounts struct {
	duplicate, invalid       uint64
	peerLimited, nodeLimited uint64
}

// admit filters a batch of received ops at local time now and returns
// those to deliver, in arrival order.
//
// A seen op is dropped before it is decoded. A new one then takes a token
// from its sender's budget and the node's (rateLimiter); one over either
// is dropped before it is decoded or verified, and not marked seen, so
// that a copy a relay sends later is still taken. Duplicates, which cost
// one hash, take no token: in a swarm larger than EagerFanout every op
// arrives from several relays. An op is marked seen once it
// decodes, before its entry is validated: the key covers the entry's
// signatures, so a forged copy marks only its own bytes and cannot hide
// the genuine op, and the genuine one is never validated twice. A Put
// with content is checked against its content while decoding, so one
// with swapped content marks nothing.
func (f *opFilter) admit(batch []received, now time.Time) ([]admitted, filterCounts) {
	var counts filterCounts
	out := make([]admitted, 0, len(batch))
	var puts []int // indexes into out
	for _, in := range batch {
		raw := in.raw
		// Duplicates, most of what gossip rounds bring, are dropped
		// before decoding.
		key, ok := opKey(raw, &f.buf)
		if !ok {
			counts.invalid++
			continue
		}
		if f.seen.contains(key) {
			counts.duplicate++
			continue
		}
		if f.limiter != nil {
			switch f.limiter.allow(in.from, now) {
			case peerLimited:
				counts.peerLimited++
				continue
			case nodeLimited:
				counts.nodeLimited++
				continue
			}
		}
		o, err := decodeOp(raw, f.limits.MaxKeyLen)
		if err != nil {
			// Not marked seen: a Put whose content was swapped must not
			// hide the genuine one, which has the same key.
			counts.invalid++
			continue
		}
		f.seen.add(key)
		if o.origin == f.self {
			counts.duplicate++
			continue
		}
		// Validated in place: taking o's address would move every
		// decoded op to the heap.
		out = append(out, admitted{op: o, raw: raw, sender: in.from})
		if o.kind == opPut || o.kind == opPutContent {
			if err := f.limits.ValidateUnsigned(&out[len(out)-1].op.entry.Entry, f.doc, now); err != nil {
				counts.invalid++
				out = out[:len(out)-1]
				continue
			}
			puts = append(puts, len(out)-1)
		}
	}
	if len(puts) == 0 {
		return out, counts
	}
	var bad map[int]bool // made on the first bad signature
	if len(puts) <= singleVerifyMax && f.keys != nil {
		for _, j := range puts {
			if f.keys.Verify(&out[j].op.entry) != nil {
				bad = markBad(bad, j)
			}
		}
	} else {
		entries := make([]replica.SignedEntry, len(puts))
		for i, j := range puts {
			entries[i] = out[j].op.entry
		}
		for i, err := range replica.VerifyBatch(entries) {
			if err != nil {
				bad = markBad(bad, puts[i])
			}
		}
	}
	if len(bad) == 0 {
		return out, counts
	}
	kept := out[:0]
	for i, a := range out {
		if bad[i] {
			counts.invalid++
			continue
		}
		kept = append(kept, a)
	}
	return kept, counts
}

func markBad(bad map[int]bool, i int) map[int]bool {
	if bad == nil {
		bad = make(map[int]bool)
	}
	bad[i] = true
	return bad
}

// event is what the consumer is told about an admitted op.
func (a *admitted) event() Event {
	o := &a.op
	switch o.kind {
	case opPut, opPutContent:
		return OpPut{From: o.origin, Sender: a.sender, Entry: o.entry, Content: o.content}
	case opContentReady:
		return OpContentReady{From: o.origin, Sender: a.sender, Hash: o.hash}
	default:
		return OpSyncReport{From: o.origin, Sender: a.sender, Heads: o.heads}
	}
}

// relayBytes is what a relay queues for gossip: the bytes the op arrived
// as, but a Put without the content it may carry, which was for the
// origin's direct neighbours.
func (a *admitted) relayBytes() []byte {
	if a.op.kind != opPutContent {
		return a.raw
	}
	plain := op{kind: opPut, origin: a.op.origin, entry: a.op.entry}
	b, err := appendOp(nil, &plain)
	if err != nil {
		return a.raw // cannot happen: a put always encodes
	}
	return b
}

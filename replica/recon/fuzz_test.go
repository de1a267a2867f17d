package recon

import (
	"bytes"
	"math"
	"slices"
	"sync"
	"testing"
)

var fuzzIndex = sync.OnceValue(func() *Index {
	a, _ := overlapping(42, 400, 0, 0, 50) // equal timestamps common
	return BuildIndex(a)
})

// fuzzSeeds returns real messages: an opening, replies and follow-ups.
func fuzzSeeds() [][]byte {
	a, b := overlapping(43, 300, 40, 40, 50)
	ini, _ := NewSession(BuildIndex(a), Config{})
	resp, _ := NewSession(BuildIndex(b), Config{})
	msg, _ := ini.Initiate()
	seeds := [][]byte{msg, {ProtocolVersion}, {ProtocolVersion, 0, 0, modeIDList, 0}}
	for msg != nil {
		reply, _, _, _ := resp.Reconcile(msg)
		seeds = append(seeds, reply)
		msg, _, _, _ = ini.Reconcile(reply)
		seeds = append(seeds, msg)
	}
	return seeds
}

// Any bytes fed to either side give an error or a well-formed reply within
// the frame limit; never a panic. This drives the session, not only the
// decoder, so it has no round trip of its own; FuzzDecodeMessage checks
// that of the messages.
func FuzzReconcile(f *testing.F) {
	for _, s := range fuzzSeeds() {
		if s != nil {
			f.Add(s, false, false)
			f.Add(s, true, true)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, initiator, limited bool) {
		cfg := Config{}
		if limited {
			cfg.MaxFrameSize = MinFrameSize
		}
		s, err := NewSession(fuzzIndex(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if initiator {
			if _, err := s.Initiate(); err != nil {
				t.Fatal(err)
			}
		}
		reply, have, need, err := s.Reconcile(msg)
		if err != nil {
			if !initiator && reply != nil && !slices.Equal(reply, []byte{ProtocolVersion}) {
				t.Fatalf("error %v with reply %x", err, reply)
			}
			return
		}
		if !initiator && (reply == nil || have != nil || need != nil) {
			t.Fatalf("responder: reply %x, have %d, need %d", reply, len(have), len(need))
		}
		if reply == nil {
			return
		}
		if reply[0] != ProtocolVersion {
			t.Fatalf("reply starts with %#x", reply[0])
		}
		if _, err := decodeMessage(reply[1:]); err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		if limited && len(reply) > cfg.MaxFrameSize {
			t.Fatalf("reply of %d bytes exceeds the %d limit", len(reply), cfg.MaxFrameSize)
		}
	})
}

// An accepted varint has exactly one encoding: the one we write.
func FuzzDecodeVarint(f *testing.F) {
	for _, v := range []uint64{0, 1, 127, 128, 300, math.MaxUint32, math.MaxUint64} {
		f.Add(appendVarint(nil, v))
	}
	f.Add([]byte{0x80, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := decodeVarint(b)
		if err != nil {
			return
		}
		if enc := appendVarint(nil, v); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("decoded %d from %x, which encodes as %x", v, b[:n], enc)
		}
	})
}

// An accepted bound re-encodes to the same bytes, never goes below the
// previous timestamp, and has at most 32 prefix bytes.
func FuzzDecodeBound(f *testing.F) {
	f.Add([]byte{0x00, 0x00}, uint64(0))
	f.Add([]byte{0x06, 0x02, 0xab, 0xcd}, uint64(10))
	f.Add([]byte{0x01, 0x21}, uint64(0))
	f.Add(appendVarint(nil, math.MaxUint64), uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, last uint64) {
		if last == Infinity {
			last--
		}
		d := decoder{buf: b, lastTS: last}
		got, err := d.bound()
		if err != nil {
			return
		}
		if got.prefixLen > 32 || got.key.Timestamp < last {
			t.Fatalf("bound %+v after timestamp %d", got, last)
		}
		e := encoder{lastTS: last}
		e.bound(got)
		if !bytes.Equal(e.buf, b[:d.off]) {
			t.Fatalf("decoded %+v from %x, which encodes as %x", got, b[:d.off], e.buf)
		}
	})
}

// encodeRanges writes decoded ranges back as a message body (after the
// version byte), as the session's encoder writes them.
func encodeRanges(ranges []wireRange) []byte {
	e := &encoder{}
	for _, r := range ranges {
		e.bound(r.upper)
		e.varint(uint64(r.mode))
		switch r.mode {
		case modeFingerprint:
			e.fingerprint(r.fp)
		case modeIDList:
			e.varint(uint64(len(r.ids) / 32))
			e.buf = append(e.buf, r.ids...)
		}
	}
	return e.buf
}

// FuzzDecodeMessage: an accepted message re-encodes to exactly its bytes.
// A bound keeps the prefix length it came with (Negentropy v1 lets a
// sender choose it, and zero bytes at the end of a prefix do not change
// the bound's key), so the round trip is on bytes, and it is the varints,
// the modes and the order that must be canonical.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		if len(s) > 0 {
			f.Add(s[1:])
		}
	}
	f.Add([]byte{0x80, 0x01, 0x00, 0x00}) // a padded varint timestamp
	f.Fuzz(func(t *testing.T, b []byte) {
		ranges, err := decodeMessage(b)
		if err != nil {
			return
		}
		if enc := encodeRanges(ranges); !bytes.Equal(enc, b) {
			t.Fatalf("%x decodes to ranges that encode as %x", b, enc)
		}
	})
}

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
// the frame limit; never a panic.
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

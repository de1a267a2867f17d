package live

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

func sampleEntries(t testing.TB, n int) []replica.SignedEntry {
	t.Helper()
	ns, _ := replica.NewNamespace(nil)
	author, _ := replica.NewAuthor(nil)
	out := make([]replica.SignedEntry, n)
	for i := range out {
		v := []byte{byte(i)}
		out[i] = testutil.MustSign(ns, author, replica.Entry{Key: []byte{'k', byte(i)}, Record: replica.Record{Hash: replica.HashContent(v), Len: 1, Timestamp: uint64(1000 + i)}})
	}
	return out
}

func sampleMessages(t testing.TB) []*message {
	ns, _ := replica.NewNamespace(nil)
	return []*message{
		{Type: MsgInit, Version: ProtocolVersion, Namespace: ns.ID(), Recon: []byte{0x61, 0, 1}},
		{Type: MsgInit, Version: ProtocolVersion, Namespace: ns.ID(), Recon: []byte{0x61, 0, 1}, Addrs: []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.1:4433"), netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[::ffff:192.0.2.2]:2"),
		}},
		{Type: MsgAbort, Reason: AbortBusy, Text: "at the session limit"},
		{Type: MsgRecon, Recon: []byte{0x61, 2, 3, 4}},
		{Type: MsgEntries, Entries: sampleEntries(t, 3)},
		{Type: MsgWant, IDs: [][32]byte{{1}, {2}}},
		{Type: MsgDone},
		{Type: MsgSummary, Summary: actor.SetSummary{Count: 1234567, Fingerprint: recon.Fingerprint{1, 2, 3}}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var stream []byte
	msgs := sampleMessages(t)
	for _, m := range msgs {
		before := len(stream)
		stream = appendFrame(stream, m)
		if got := len(stream) - before; got != frameLen(m) {
			t.Fatalf("%v: FrameLen %d, encoded %d", m.Type, frameLen(m), got)
		}
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	var buf []byte
	for _, want := range msgs {
		got, b, err := readFrame(r, 1<<20, 4096, buf)
		buf = b
		if err != nil {
			t.Fatalf("%v: %v", want.Type, err)
		}
		if want.Type == MsgEntries {
			for i := range want.Entries {
				if err := got.Entries[i].Verify(); err != nil {
					t.Fatalf("decoded entry %d: %v", i, err)
				}
			}
			got.Entries, want = nil, &message{Type: MsgEntries}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	if _, _, err := readFrame(r, 1<<20, 4096, buf); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestFrameLimitsAndGarbage(t *testing.T) {
	m := &message{Type: MsgRecon, Recon: make([]byte, 1000)}
	frame := appendFrame(nil, m)
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), 999, 4096, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	for cut := 1; cut < len(frame); cut += 97 {
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame[:cut])), 1<<20, 4096, nil); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
	}
	bad := [][]byte{
		{1, 99},                           // unknown type
		{2, byte(MsgInit), 1},             // short Init
		{1, byte(MsgAbort)},               // Abort without reason
		{2, byte(MsgDone), 0},             // Done with body
		{3, byte(MsgWant), 1, 0},          // Want count without ids
		{3, byte(MsgEntries), 0xff, 0x7f}, // Entries count beyond the frame
		{2, byte(MsgSummary), 1},          // Summary without fingerprint
		append([]byte{25, byte(MsgSummary), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 16)...), // count over the bound
		{0},
	}
	for _, b := range bad {
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(b)), 1<<20, 4096, nil); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("%x: err = %v, want ErrBadFrame", b, err)
		}
	}
	long := &message{Type: MsgAbort, Reason: AbortInternal, Text: strings.Repeat("é", 300)}
	got, err := decodeFrame(appendFrame(nil, long)[2:], 4096)
	if err != nil || len(got.Text) > maxAbortText || !strings.HasPrefix(long.Text, got.Text) {
		t.Fatalf("long abort text: %v, %d bytes", err, len(got.Text))
	}
}

// paddedEntriesFrame is the type and body of an Entries frame whose one
// entry writes its key length as a padded varint: not canonical.
func paddedEntriesFrame(t testing.TB) []byte {
	se := sampleEntries(t, 1)[0]
	enc := se.AppendBinary(nil)
	if len(se.Key) >= 0x80 {
		t.Fatal("sample key too long for a one-byte varint")
	}
	padded := append(append(append([]byte{}, enc[:64]...), byte(len(se.Key))|0x80, 0x00), enc[65:]...)
	return append([]byte{byte(MsgEntries), 1}, padded...)
}

// FuzzDecodeFrame: every failure is ErrBadFrame, and every frame accepted
// re-encodes to exactly its bytes: one message, one encoding.
func FuzzDecodeFrame(f *testing.F) {
	for _, m := range sampleMessages(f) {
		f.Add(appendFrame(nil, m)[1:])
	}
	f.Add(paddedEntriesFrame(f))
	f.Add([]byte{byte(MsgWant), 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeFrame(b, 4096)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error outside ErrBadFrame: %v", err)
			}
			return
		}
		enc := appendFrame(nil, m)[uvarintLen(uint64(1+bodyLen(m))):]
		if !bytes.Equal(enc, b) {
			t.Fatalf("%v: %x re-encodes as %x", m.Type, b, enc)
		}
		again, err := decodeFrame(enc, 4096)
		if err != nil {
			t.Fatalf("re-decoding an accepted frame: %v", err)
		}
		if again.Type != m.Type || len(again.Entries) != len(m.Entries) || len(again.IDs) != len(m.IDs) ||
			!bytes.Equal(again.Recon, m.Recon) || again.Summary != m.Summary {
			t.Fatal("re-encoding changed the message")
		}
	})
}

// TestInitAddrs: Init carries the initiator's addresses after the
// namespace, in endpoint's address-list encoding; addresses no peer could
// dial are not sent, and a malformed list makes a bad frame.
func TestInitAddrs(t *testing.T) {
	ns := replica.NamespaceID{7}
	good := netip.MustParseAddrPort("192.0.2.1:4433")
	m := &message{Type: MsgInit, Version: ProtocolVersion, Namespace: ns, Recon: []byte{0x61},
		Addrs: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:1"), good, netip.MustParseAddrPort("[fe80::1%eth0]:1")}}
	frame := appendFrame(nil, m)
	if len(frame) != frameLen(m) {
		t.Fatalf("frameLen %d, encoded %d", frameLen(m), len(frame))
	}
	body := frame[2:] // length, type
	want := append(append([]byte{ProtocolVersion}, ns[:]...), 1, 4, 192, 0, 2, 1, 0x11, 0x51, 0x61)
	if !bytes.Equal(body, want) {
		t.Fatalf("Init body %x, want %x", body, want)
	}
	got, err := decodeFrame(frame[1:], 4096)
	if err != nil || !slices.Equal(got.Addrs, []netip.AddrPort{good}) || !bytes.Equal(got.Recon, []byte{0x61}) {
		t.Fatalf("decoded %+v, %v", got, err)
	}

	head := append([]byte{byte(MsgInit), ProtocolVersion}, ns[:]...)
	for name, tail := range map[string][]byte{
		"no address count":  {},
		"count over limit":  {endpoint.MaxAddrs + 1, 0x61},
		"truncated address": {1, 4, 192, 0, 2},
		"port 0":            {1, 4, 192, 0, 2, 1, 0, 0, 0x61},
		"unknown tag":       {1, 5, 192, 0, 2, 1, 0, 1, 0x61},
	} {
		if _, err := decodeFrame(append(slices.Clone(head), tail...), 4096); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err = %v, want ErrBadFrame", name, err)
		}
	}
	// An Init of another version is read as far as its version, so that
	// the acceptor can refuse it as such.
	other := append(append([]byte{byte(MsgInit), 1}, ns[:]...), 0x61, 0)
	if got, err := decodeFrame(other, 4096); err != nil || got.Version != 1 || got.Addrs != nil || !bytes.Equal(got.Recon, []byte{0x61, 0}) {
		t.Fatalf("version 1 Init: %+v, %v", got, err)
	}
}

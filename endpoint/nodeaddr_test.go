package endpoint

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func sampleNodeAddr() NodeAddr {
	return NodeAddr{
		ID: GenerateSecretKey().Public(),
		Addrs: []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.7:4433"),
			netip.MustParseAddrPort("[2001:db8::1]:65535"),
			netip.MustParseAddrPort("[::ffff:198.51.100.1]:1"),
			netip.MustParseAddrPort("127.0.0.1:9"),
		},
	}
}

func TestNodeAddrRoundTrip(t *testing.T) {
	for _, a := range []NodeAddr{sampleNodeAddr(), {ID: GenerateSecretKey().Public()}} {
		prefix := []byte("ticket:")
		b, err := a.AppendBinary(bytes.Clone(prefix))
		if err != nil {
			t.Fatalf("AppendBinary(%s): %v", a, err)
		}
		if !bytes.HasPrefix(b, prefix) {
			t.Fatal("AppendBinary did not append")
		}
		trailer := []byte{0xAA, 0xBB}
		got, rest, err := DecodeNodeAddr(append(b[len(prefix):], trailer...))
		if err != nil {
			t.Fatalf("DecodeNodeAddr: %v", err)
		}
		if got.ID != a.ID || !slices.Equal(got.Addrs, a.Addrs) {
			t.Errorf("round trip: got %s, want %s", got, a)
		}
		if !bytes.Equal(rest, trailer) {
			t.Errorf("rest = %x, want %x", rest, trailer)
		}

		var viaUnmarshal NodeAddr
		if err := viaUnmarshal.UnmarshalBinary(b[len(prefix):]); err != nil || viaUnmarshal.ID != a.ID {
			t.Errorf("UnmarshalBinary: %v", err)
		}
		if err := viaUnmarshal.UnmarshalBinary(append(b[len(prefix):], 0)); !errors.Is(err, ErrBadNodeAddr) {
			t.Errorf("UnmarshalBinary with trailing byte: err = %v", err)
		}
	}

	// Size as documented: 33 + 7 per IPv4 + 19 per IPv6 address.
	b, _ := sampleNodeAddr().MarshalBinary()
	if want := 33 + 7 + 19 + 19 + 7; len(b) != want {
		t.Errorf("encoded size %d, want %d", len(b), want)
	}
}

func TestNodeAddrEncodeRejects(t *testing.T) {
	id := GenerateSecretKey().Public()
	tooMany := NodeAddr{ID: id}
	for i := range MaxAddrs + 1 {
		tooMany.Addrs = append(tooMany.Addrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 1))
	}
	cases := map[string]NodeAddr{
		"too many":    tooMany,
		"port 0":      {ID: id, Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:0")}},
		"unspecified": {ID: id, Addrs: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:1")}},
		"zone":        {ID: id, Addrs: []netip.AddrPort{netip.MustParseAddrPort("[fe80::1%eth0]:1")}},
		"invalid":     {ID: id, Addrs: []netip.AddrPort{{}}},
	}
	for name, a := range cases {
		if _, err := a.AppendBinary(nil); !errors.Is(err, ErrBadNodeAddr) {
			t.Errorf("%s: err = %v, want ErrBadNodeAddr", name, err)
		}
	}
	tooMany.Addrs = tooMany.Addrs[:MaxAddrs]
	if _, err := tooMany.AppendBinary(nil); err != nil {
		t.Errorf("MaxAddrs addresses: %v", err)
	}
}

func TestDecodeNodeAddrRejects(t *testing.T) {
	good, _ := sampleNodeAddr().MarshalBinary()
	for n := range len(good) {
		if _, _, err := DecodeNodeAddr(good[:n]); !errors.Is(err, ErrBadNodeAddr) {
			t.Errorf("truncated to %d bytes: err = %v", n, err)
		}
	}
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := map[string][]byte{
		"count over limit": mutate(func(b []byte) { b[32] = MaxAddrs + 1 }),
		"count 255":        mutate(func(b []byte) { b[32] = 255 }),
		"unknown tag":      mutate(func(b []byte) { b[33] = 5 }),
		"port 0":           mutate(func(b []byte) { b[33+5], b[33+6] = 0, 0 }),
		"unspecified ip":   mutate(func(b []byte) { copy(b[34:38], []byte{0, 0, 0, 0}) }),
	}
	for name, b := range cases {
		if _, _, err := DecodeNodeAddr(b); !errors.Is(err, ErrBadNodeAddr) {
			t.Errorf("%s: err = %v, want ErrBadNodeAddr", name, err)
		}
	}
}

// FuzzDecodeNodeAddr checks that decoding never panics or over-reads, and
// that whatever decodes re-encodes to exactly the bytes it was read from.
func FuzzDecodeNodeAddr(f *testing.F) {
	good, _ := sampleNodeAddr().MarshalBinary()
	f.Add(good)
	f.Add(good[:40])
	f.Add(append(bytes.Clone(good), 1, 2, 3))
	f.Add(make([]byte, 33))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, rest, err := DecodeNodeAddr(b)
		if err != nil {
			if !errors.Is(err, ErrBadNodeAddr) {
				t.Fatalf("error does not wrap ErrBadNodeAddr: %v", err)
			}
			return
		}
		if len(a.Addrs) > MaxAddrs {
			t.Fatalf("decoded %d addresses", len(a.Addrs))
		}
		consumed := b[:len(b)-len(rest)]
		if !bytes.Equal(rest, b[len(consumed):]) {
			t.Fatal("rest is not a suffix of the input")
		}
		again, err := a.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded address does not re-encode: %v", err)
		}
		if !bytes.Equal(again, consumed) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, consumed)
		}
	})
}

// TestAddrsEncoding: the address list alone, as Init carries it, is a
// NodeAddr's encoding without the id.
func TestAddrsEncoding(t *testing.T) {
	a := sampleNodeAddr()
	full, _ := a.MarshalBinary()
	b, err := AppendAddrs(nil, a.Addrs)
	if err != nil {
		t.Fatalf("AppendAddrs: %v", err)
	}
	if !bytes.Equal(b, full[32:]) {
		t.Fatalf("AppendAddrs = %x, want the NodeAddr encoding after the id %x", b, full[32:])
	}
	got, rest, err := DecodeAddrs(append(b, 7))
	if err != nil || !slices.Equal(got, a.Addrs) || !bytes.Equal(rest, []byte{7}) {
		t.Fatalf("DecodeAddrs = %v, %x, %v", got, rest, err)
	}
	if _, _, err := DecodeAddrs(nil); !errors.Is(err, ErrBadNodeAddr) {
		t.Fatalf("empty input: err = %v", err)
	}
	if got, _, err := DecodeAddrs([]byte{0}); err != nil || got != nil {
		t.Fatalf("no addresses: %v, %v", got, err)
	}
	var many []netip.AddrPort
	for i := range MaxAddrs + 4 {
		many = append(many, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 1))
	}
	if big, err := AppendAddrs(nil, many[:MaxAddrs]); err != nil || len(big) > MaxAddrsLen {
		t.Fatalf("MaxAddrs addresses take %d bytes (%v), bound %d", len(big), err, MaxAddrsLen)
	}

	mixed := append([]netip.AddrPort{
		netip.MustParseAddrPort("0.0.0.0:1"),
		netip.MustParseAddrPort("10.9.9.9:0"),
		netip.MustParseAddrPort("[fe80::1%eth0]:1"),
		netip.MustParseAddrPort("[::ffff:10.9.9.9]:2"),
	}, many...)
	clean := EncodableAddrs(mixed)
	if len(clean) != MaxAddrs || clean[0] != netip.MustParseAddrPort("[::ffff:10.9.9.9]:2") || !slices.Equal(clean[1:], many[:MaxAddrs-1]) {
		t.Fatalf("EncodableAddrs = %v", clean)
	}
	if _, err := AppendAddrs(nil, clean); err != nil {
		t.Fatalf("EncodableAddrs kept an address AppendAddrs refuses: %v", err)
	}
}

package endpoint

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// MaxAddrs bounds the addresses in one NodeAddr, both when encoding and
// when decoding untrusted input.
const MaxAddrs = 16

// Address tags in the binary encoding.
const (
	addrTagV4 = 4
	addrTagV6 = 6
)

// NodeAddr is what a dialler needs to reach a node: its id, to check, and
// the UDP addresses it may be reached on, in order of preference.
type NodeAddr struct {
	ID    NodeID
	Addrs []netip.AddrPort
}

// String formats the address for logs: short id, then the addresses.
func (a NodeAddr) String() string {
	parts := make([]string, len(a.Addrs))
	for i, ap := range a.Addrs {
		parts[i] = ap.String()
	}
	return a.ID.Short() + "@[" + strings.Join(parts, " ") + "]"
}

// AppendBinary appends the compact binary encoding of a to b:
//
//	id      32 bytes
//	addrs   the addresses, as AppendAddrs writes them
//
// A NodeAddr is at most 32 + MaxAddrsLen = 337 bytes.
func (a NodeAddr) AppendBinary(b []byte) ([]byte, error) {
	if err := checkAddrs(a.Addrs); err != nil {
		return b, err
	}
	b = append(b, a.ID[:]...)
	return AppendAddrs(b, a.Addrs)
}

// MaxAddrsLen is the most bytes AppendAddrs writes: MaxAddrs IPv6
// addresses.
const MaxAddrsLen = 1 + MaxAddrs*(1+16+2)

// AppendAddrs appends the compact binary encoding of a list of addresses
// to b, as NodeAddr and the sync protocol's Init carry it:
//
//	count   1 byte, at most MaxAddrs
//	count × tag (1 byte: 4 or 6), IP (4 or 16 bytes), port (2 bytes, big endian)
//
// An IPv4 address takes 7 bytes and an IPv6 address 19. IPv6 zones are not
// encoded: an address with a zone, port 0, or an unspecified IP is
// rejected, as no peer could dial it; so is a list over MaxAddrs. On error
// b is returned unchanged.
func AppendAddrs(b []byte, addrs []netip.AddrPort) ([]byte, error) {
	if err := checkAddrs(addrs); err != nil {
		return b, err
	}
	b = append(b, byte(len(addrs)))
	for _, ap := range addrs {
		ip := ap.Addr()
		if ip.Is4() {
			v4 := ip.As4()
			b = append(b, addrTagV4)
			b = append(b, v4[:]...)
		} else {
			v6 := ip.As16()
			b = append(b, addrTagV6)
			b = append(b, v6[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, ap.Port())
	}
	return b, nil
}

func checkAddrs(addrs []netip.AddrPort) error {
	if len(addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses, at most %d allowed", ErrBadNodeAddr, len(addrs), MaxAddrs)
	}
	for _, ap := range addrs {
		if err := checkDialable(ap); err != nil {
			return err
		}
	}
	return nil
}

// EncodableAddrs returns the addresses of addrs that AppendAddrs accepts,
// the first MaxAddrs of them.
func EncodableAddrs(addrs []netip.AddrPort) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, min(len(addrs), MaxAddrs))
	for _, ap := range addrs {
		if len(out) < MaxAddrs && checkDialable(ap) == nil {
			out = append(out, ap)
		}
	}
	return out
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (a NodeAddr) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler. Unlike
// DecodeNodeAddr it rejects trailing bytes.
func (a *NodeAddr) UnmarshalBinary(b []byte) error {
	decoded, rest, err := DecodeNodeAddr(b)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadNodeAddr, len(rest))
	}
	*a = decoded
	return nil
}

// DecodeNodeAddr decodes one NodeAddr from the front of b, as written by
// AppendBinary, and returns the bytes after it, so that a ticket holding
// several addresses can decode them in turn. It never reads past b, never
// allocates for more than MaxAddrs addresses, and rejects the addresses
// AppendBinary rejects.
func DecodeNodeAddr(b []byte) (NodeAddr, []byte, error) {
	var a NodeAddr
	if len(b) < len(a.ID)+1 {
		return NodeAddr{}, b, fmt.Errorf("%w: truncated header (%d bytes)", ErrBadNodeAddr, len(b))
	}
	copy(a.ID[:], b)
	addrs, rest, err := DecodeAddrs(b[len(a.ID):])
	if err != nil {
		return NodeAddr{}, b, err
	}
	a.Addrs = addrs
	return a, rest, nil
}

// DecodeAddrs decodes a list of addresses from the front of b, as written
// by AppendAddrs, and returns the bytes after it. It never reads past b,
// never allocates for more than MaxAddrs addresses, and rejects the
// addresses AppendAddrs rejects. An empty list decodes as nil.
func DecodeAddrs(b []byte) ([]netip.AddrPort, []byte, error) {
	if len(b) < 1 {
		return nil, b, fmt.Errorf("%w: truncated address count", ErrBadNodeAddr)
	}
	n := int(b[0])
	rest := b[1:]
	if n > MaxAddrs {
		return nil, b, fmt.Errorf("%w: %d addresses, at most %d allowed", ErrBadNodeAddr, n, MaxAddrs)
	}
	var addrs []netip.AddrPort
	if n > 0 {
		addrs = make([]netip.AddrPort, 0, n)
	}
	for i := range n {
		if len(rest) < 1 {
			return nil, b, fmt.Errorf("%w: address %d truncated", ErrBadNodeAddr, i)
		}
		var ipLen int
		switch rest[0] {
		case addrTagV4:
			ipLen = 4
		case addrTagV6:
			ipLen = 16
		default:
			return nil, b, fmt.Errorf("%w: address %d has unknown tag %d", ErrBadNodeAddr, i, rest[0])
		}
		if len(rest) < 1+ipLen+2 {
			return nil, b, fmt.Errorf("%w: address %d truncated", ErrBadNodeAddr, i)
		}
		ip, _ := netip.AddrFromSlice(rest[1 : 1+ipLen])
		port := binary.BigEndian.Uint16(rest[1+ipLen:])
		ap := netip.AddrPortFrom(ip, port)
		if err := checkDialable(ap); err != nil {
			return nil, b, fmt.Errorf("address %d: %w", i, err)
		}
		addrs = append(addrs, ap)
		rest = rest[1+ipLen+2:]
	}
	return addrs, rest, nil
}

// checkDialable rejects addresses that cannot name a remote UDP socket.
func checkDialable(ap netip.AddrPort) error {
	ip := ap.Addr()
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: invalid IP", ErrBadNodeAddr)
	case ip.Zone() != "":
		return fmt.Errorf("%w: %s has an IPv6 zone, which cannot be encoded", ErrBadNodeAddr, ap)
	case ip.IsUnspecified():
		return fmt.Errorf("%w: %s has an unspecified IP", ErrBadNodeAddr, ap)
	case ap.Port() == 0:
		return fmt.Errorf("%w: %s has port 0", ErrBadNodeAddr, ap)
	}
	return nil
}

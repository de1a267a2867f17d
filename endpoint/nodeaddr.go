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
//	count   1 byte, at most MaxAddrs
//	count × tag (1 byte: 4 or 6), IP (4 or 16 bytes), port (2 bytes, big endian)
//
// An IPv4 address takes 7 bytes and an IPv6 address 19, so a NodeAddr is at
// most 33 + 16×19 = 337 bytes. IPv6 zones are not encoded: an address with a
// zone, port 0, or an unspecified IP is rejected, as no peer could dial it.
func (a NodeAddr) AppendBinary(b []byte) ([]byte, error) {
	if len(a.Addrs) > MaxAddrs {
		return b, fmt.Errorf("%w: %d addresses, at most %d allowed", ErrBadNodeAddr, len(a.Addrs), MaxAddrs)
	}
	for _, ap := range a.Addrs {
		if err := checkDialable(ap); err != nil {
			return b, err
		}
	}
	b = append(b, a.ID[:]...)
	b = append(b, byte(len(a.Addrs)))
	for _, ap := range a.Addrs {
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
	n := int(b[len(a.ID)])
	rest := b[len(a.ID)+1:]
	if n > MaxAddrs {
		return NodeAddr{}, b, fmt.Errorf("%w: %d addresses, at most %d allowed", ErrBadNodeAddr, n, MaxAddrs)
	}
	if n > 0 {
		a.Addrs = make([]netip.AddrPort, 0, n)
	}
	for i := range n {
		if len(rest) < 1 {
			return NodeAddr{}, b, fmt.Errorf("%w: address %d truncated", ErrBadNodeAddr, i)
		}
		var ipLen int
		switch rest[0] {
		case addrTagV4:
			ipLen = 4
		case addrTagV6:
			ipLen = 16
		default:
			return NodeAddr{}, b, fmt.Errorf("%w: address %d has unknown tag %d", ErrBadNodeAddr, i, rest[0])
		}
		if len(rest) < 1+ipLen+2 {
			return NodeAddr{}, b, fmt.Errorf("%w: address %d truncated", ErrBadNodeAddr, i)
		}
		ip, _ := netip.AddrFromSlice(rest[1 : 1+ipLen])
		port := binary.BigEndian.Uint16(rest[1+ipLen:])
		ap := netip.AddrPortFrom(ip, port)
		if err := checkDialable(ap); err != nil {
			return NodeAddr{}, b, fmt.Errorf("address %d: %w", i, err)
		}
		a.Addrs = append(a.Addrs, ap)
		rest = rest[1+ipLen+2:]
	}
	return a, rest, nil
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

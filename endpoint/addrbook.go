package endpoint

import (
	"container/list"
	"net/netip"
	"slices"
)

// addrBook remembers where peers were last reached or said they are, so
// that a peer that comes back on a new address is dialled there rather than
// at the address a ticket, a stored record or memberlist still holds.
//
// Per peer it keeps at most maxAddrs addresses, freshest first: each learn
// moves its addresses to the front, in their order. The address the peer
// was last seen at on an authenticated connection is kept even when
// addresses it or others stated later would push it out, so that hints
// (which anyone in a swarm can gossip) never evict what a handshake proved.
// At most maxPeers peers are kept; learning a new one beyond that forgets
// the one learned about least recently.
//
// It is a plain type: the endpoint guards it with its mutex.
type addrBook struct {
	maxPeers, maxAddrs int
	peers              map[NodeID]*list.Element // of *bookEntry
	order              *list.List               // most recently learned first
}

type bookEntry struct {
	id    NodeID
	addrs []netip.AddrPort // freshest first
	seen  netip.AddrPort   // last seen on an authenticated connection; may be zero
}

func newAddrBook(maxPeers, maxAddrs int) *addrBook {
	return &addrBook{
		maxPeers: maxPeers,
		maxAddrs: maxAddrs,
		peers:    make(map[NodeID]*list.Element),
		order:    list.New(),
	}
}

// learn puts addrs at the front of id's addresses, in order. seen marks
// addrs[0] as the address an authenticated connection came from. addrs
// must be usable (see usableAddr).
func (b *addrBook) learn(id NodeID, addrs []netip.AddrPort, seen bool) {
	if len(addrs) == 0 {
		return
	}
	var ent *bookEntry
	if el, ok := b.peers[id]; ok {
		b.order.MoveToFront(el)
		ent = el.Value.(*bookEntry)
	} else {
		if len(b.peers) >= b.maxPeers {
			last := b.order.Back()
			delete(b.peers, last.Value.(*bookEntry).id)
			b.order.Remove(last)
		}
		ent = &bookEntry{id: id}
		b.peers[id] = b.order.PushFront(ent)
	}
	if seen {
		ent.seen = addrs[0]
	}
	fresh := make([]netip.AddrPort, 0, min(len(addrs)+len(ent.addrs), b.maxAddrs))
	for _, ap := range slices.Concat(addrs, ent.addrs) {
		if len(fresh) == b.maxAddrs {
			break
		}
		if !slices.Contains(fresh, ap) {
			fresh = append(fresh, ap)
		}
	}
	if ent.seen.IsValid() && !slices.Contains(fresh, ent.seen) {
		fresh[len(fresh)-1] = ent.seen
	}
	ent.addrs = fresh
}

// lookup returns a copy of id's addresses, freshest first.
func (b *addrBook) lookup(id NodeID) []netip.AddrPort {
	el, ok := b.peers[id]
	if !ok {
		return nil
	}
	return slices.Clone(el.Value.(*bookEntry).addrs)
}

// usableAddr normalises an address a peer stated or was seen at, and
// reports whether it may be remembered and dialled: an address that can
// name a remote UDP socket (checkDialable), that is not multicast or
// broadcast, not IPv6 link-local (which needs a zone), and that a socket
// of this endpoint can send to (canReach).
func usableAddr(ap netip.AddrPort, canReach func(netip.Addr) bool) (netip.AddrPort, bool) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	ip := ap.Addr()
	switch {
	case checkDialable(ap) != nil,
		ip.IsMulticast(),
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		ip.Is6() && ip.IsLinkLocalUnicast(),
		!canReach(ip):
		return ap, false
	}
	return ap, true
}

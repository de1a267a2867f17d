package gossip

// seenSet remembers the most recent keys added to it, up to a fixed
// number: a bounded de-duplication window. When full, adding a key forgets
// the oldest one. It is not safe for concurrent use.
//
// It grows with use: an idle swarm's set holds nothing.
type seenSet struct {
	keys map[[32]byte]struct{}
	ring [][32]byte // insertion order; next is the slot to overwrite
	next int
	max  int
}

func newSeenSet(capacity int) *seenSet {
	return &seenSet{keys: make(map[[32]byte]struct{}), max: max(capacity, 1)}
}

func (s *seenSet) contains(k [32]byte) bool {
	_, ok := s.keys[k]
	return ok
}

// add records k and reports whether it was new.
func (s *seenSet) add(k [32]byte) bool {
	if s.contains(k) {
		return false
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
	} else {
		delete(s.keys, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % len(s.ring)
	}
	s.keys[k] = struct{}{}
	return true
}

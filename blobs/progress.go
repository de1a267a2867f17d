package blobs

import "github.com/docsnode/docsnode/replica"

// HeldBytes reports how many bytes of the blob with hash h and length
// size the store holds: size when the blob is complete, the bytes of the
// chunk groups verified so far when it is partial (those of a fetch
// running now, or as its bitfield was last persisted), and 0 when it is
// missing.
func (s *Store) HeldBytes(h replica.Hash, size uint64) uint64 {
	if n, ok := s.smallSize(h); ok && uint64(n) == size {
		return size
	}
	if st, err := s.fs.Stat(s.path(h)); err == nil && uint64(st.Size()) == size {
		return size
	}
	s.mu.Lock()
	p := s.fetching[h]
	s.mu.Unlock()
	if p != nil && p.Size() == size {
		return p.Held()
	}
	return s.partialHeld(h, size)
}

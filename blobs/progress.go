package blobs

import "github.com/docsnode/docsnode/replica"

// HeldBytes reports how many bytes of the blob with hash h and length
// size the store holds: size when the blob is complete, the bytes a
// fetch in progress has written so far when it is partial (at most
// size - 1), and 0 when it is missing. It looks where Status looks, at
// the same cost: a blob it says is Complete holds size, one Missing 0.
func (s *Store) HeldBytes(h replica.Hash, size uint64) uint64 {
	if n, ok := s.smallSize(h); ok && uint64(n) == size {
		return size
	}
	if st, err := s.fs.Stat(s.path(h)); err == nil && uint64(st.Size()) == size {
		return size
	}
	if st, err := s.fs.Stat(s.partialPath(h)); err == nil && st.Size() > 0 {
		// A partial file at or past size (left by a fetch for another
		// length) is not the blob: it counts short of complete.
		return min(uint64(st.Size()), max(size, 1)-1)
	}
	return 0
}

package blobs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docsnode/docsnode/replica"
)

// What garbage collection needs of the store: the blobs it holds, whether
// one is being fetched or is wanted, and a removal that cannot race a
// fetch. Which blobs are garbage is for the caller (the engine) to decide.

// Held is one blob the store holds, as List and Each report it.
type Held struct {
	Hash replica.Hash
	// Size is the bytes held: the blob's length, or for partial data the
	// bytes fetched so far.
	Size int64
	// Partial: the data of a fetch in progress or stopped part way
	// (.partial/), not a complete blob.
	Partial bool
}

// Each calls fn with every blob the store holds: those in the small-blob
// database, the files under their names, and the partial data under
// .partial/. A blob held twice (a small copy and a file) is reported
// twice. It stops early, with nil, when fn returns false. It reads the
// directories and the database as they are while it runs and takes no
// lock: blobs put or removed meanwhile may or may not be reported.
func (s *Store) Each(fn func(Held) bool) error {
	if s.isClosed() {
		return ErrClosed
	}
	more, err := s.eachSmall(fn)
	if err != nil || !more {
		return err
	}
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, d := range names {
		if len(d) != 2 || !isHex(d) {
			continue // .small, .partial, .wanted, .tmp and anything foreign
		}
		if more, err = s.eachFile(filepath.Join(s.dir, d), d, false, fn); err != nil || !more {
			return err
		}
	}
	_, err = s.eachFile(filepath.Join(s.dir, partialDir), "", true, fn)
	return err
}

// List returns every blob the store holds, as Each reports them.
func (s *Store) List() ([]Held, error) {
	var out []Held
	err := s.Each(func(h Held) bool {
		out = append(out, h)
		return true
	})
	return out, err
}

// eachSmall reports the blobs of the small-blob database.
func (s *Store) eachSmall(fn func(Held) bool) (bool, error) {
	if s.small == nil {
		return true, nil
	}
	it, err := s.small.db.NewIter(nil)
	if err != nil {
		return false, fmt.Errorf("list small blobs: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != len(replica.Hash{}) {
			continue
		}
		held := Held{Hash: replica.Hash(k), Size: int64(len(it.Value()))}
		if !fn(held) {
			return false, it.Close()
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, fmt.Errorf("list small blobs: %w", err)
	}
	return true, nil
}

// eachFile reports the files in dir named by a blob's hex hash, which
// starts with prefix.
func (s *Store) eachFile(dir, prefix string, partial bool, fn func(Held) bool) (bool, error) {
	names, err := s.fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil // removed meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("list blobs in %s: %w", dir, err)
	}
	for _, name := range names {
		h, ok := parseHexName(name)
		if !ok || (prefix != "" && name[:2] != prefix) {
			continue // another file kept beside the blob, or a stray
		}
		st, err := s.fs.Stat(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("list blobs: %w", err)
		}
		if !fn(Held{Hash: h, Size: st.Size(), Partial: partial}) {
			return false, nil
		}
	}
	return true, nil
}

// parseHexName reads a blob's file name: its hash in lowercase hex.
func parseHexName(name string) (replica.Hash, bool) {
	var h replica.Hash
	if len(name) != 2*len(h) || !isHex(name) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(name)); err != nil {
		return h, false
	}
	return h, true
}

func isHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Fetching reports whether a fetch of h is writing to the store now.
func (s *Store) Fetching(h replica.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.fetching[h]
	return ok
}

// Wanted reports whether h is in the wanted set: a download still means
// to fetch it.
func (s *Store) Wanted(h replica.Hash) bool {
	s.wants.mu.Lock()
	defer s.wants.mu.Unlock()
	_, ok := s.wants.live[h]
	return ok
}

// Delete removes everything the store holds of h: the blob in the
// small-blob database or its file, and partial data of a fetch that
// stopped. It returns the bytes it freed; a blob not held is no error.
// While it runs it holds h as a fetch would, so a fetch of h cannot begin
// (ErrFetching) and install the blob under a removal; a fetch already
// running makes Delete refuse with ErrFetching and remove nothing. The
// removal is not fsynced: a crash may bring the blob back, to be removed
// again.
func (s *Store) Delete(h replica.Hash) (int64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if _, busy := s.fetching[h]; busy {
		s.mu.Unlock()
		return 0, fmt.Errorf("delete blob %x…: %w", h[:5], ErrFetching)
	}
	s.fetching[h] = nil // held as by a fetch that is opening
	s.mu.Unlock()
	defer s.release(h)

	var freed int64
	if n, ok := s.smallSize(h); ok {
		if err := s.small.delete(h); err != nil {
			return freed, fmt.Errorf("delete blob %x…: %w", h[:5], err)
		}
		s.markUnsynced(s.smallPath())
		freed += n
	}
	n, err := s.removeFiles(h)
	freed += n
	if err != nil {
		return freed, fmt.Errorf("delete blob %x…: %w", h[:5], err)
	}
	dataPath, obPath, bitsPath := s.partialPaths(h)
	for _, p := range []string{dataPath, obPath, bitsPath} {
		n, err = s.removeFile(p)
		freed += n
		if err != nil {
			return freed, fmt.Errorf("delete partial blob %x…: %w", h[:5], err)
		}
	}
	return freed, nil
}

// removeFiles removes the files kept for a complete blob h, its data and
// its outboard, and returns the bytes they took. Every file kept per blob
// is removed here.
func (s *Store) removeFiles(h replica.Hash) (int64, error) {
	n, err := s.removeFile(s.path(h))
	if err != nil {
		return n, err
	}
	m, err := s.removeFile(s.outboardPath(h))
	return n + m, err
}

// removeFile removes the file at p, returning its size; a missing file is
// no error.
func (s *Store) removeFile(p string) (int64, error) {
	st, err := s.fs.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := s.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return st.Size(), nil
}

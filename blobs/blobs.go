package blobs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"lukechampine.com/blake3"

	"github.com/docsnode/docsnode/replica"
)

// Errors returned by the store.
var (
	// ErrNotFound: no blob with that hash is stored.
	ErrNotFound = errors.New("blobs: not found")
	// ErrCorrupt: the stored bytes do not hash to their name.
	ErrCorrupt = errors.New("blobs: stored content does not match its hash")
	// ErrTooLarge: the content exceeds the store's size limit.
	ErrTooLarge = errors.New("blobs: content too large")
)

// DefaultMaxSize bounds a blob put through the store: 1 GiB.
const DefaultMaxSize = 1 << 30

// Store is a directory of blobs named by the lowercase hex of their hash,
// fanned out by the first two hex characters.
type Store struct {
	dir     string
	maxSize int64
}

// Open opens or creates a blob store in dir. maxSize bounds the content of
// one blob; 0 means DefaultMaxSize.
func Open(dir string, maxSize int64) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	return &Store{dir: dir, maxSize: maxSize}, nil
}

func (s *Store) path(h replica.Hash) string {
	name := fmt.Sprintf("%x", h[:])
	return filepath.Join(s.dir, name[:2], name)
}

// Put stores the content read from r and returns its hash and length. The
// blob appears under its name only once it is complete and synced.
func (s *Store) Put(r io.Reader) (replica.Hash, uint64, error) {
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	defer tmp.Close()
	h := blake3.New(32, nil)
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	if n > s.maxSize {
		return replica.Hash{}, 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, s.maxSize)
	}
	var sum replica.Hash
	h.Sum(sum[:0])
	if err := tmp.Sync(); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	dst := s.path(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	return sum, uint64(n), nil
}

// Has reports whether the blob is stored.
func (s *Store) Has(h replica.Hash) bool {
	_, err := os.Stat(s.path(h))
	return err == nil
}

// Get returns the blob's content after checking it against its hash.
func (s *Store) Get(h replica.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	if replica.HashContent(b) != h {
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrCorrupt)
	}
	return b, nil
}

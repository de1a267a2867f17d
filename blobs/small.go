package blobs

import (
	"errors"
	"fmt"
	"log"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// Defaults for the small-blob database, as documented on Options.
const (
	DefaultSmallMax       = 16 << 10
	DefaultSmallCacheSize = 8 << 20
	smallMemTableSize     = 4 << 20
)

// smallDir holds the small-blob database.
const smallDir = ".small"

// smallStore keeps blobs of at most max bytes in one pebble database, keyed
// by hash, so that storing one costs a write to a log, not a file of its
// own. Writes do not sync; the store's background round syncs the log
// (sync), as it syncs the files of larger blobs.
type smallStore struct {
	db  *pebble.DB
	max int64
}

func openSmall(fs vfs.FS, dir string, max, cacheSize int64) (*smallStore, error) {
	db, err := pebble.Open(filepath.Join(dir, smallDir), &pebble.Options{
		FS:                 fs,
		Logger:             quietLogger{},
		FormatMajorVersion: pebble.FormatNewest,
		CacheSize:          cacheSize,
		MemTableSize:       smallMemTableSize,
	})
	if err != nil {
		return nil, fmt.Errorf("small-blob database: %w", err)
	}
	return &smallStore{db: db, max: max}, nil
}

// fits reports whether a blob of size bytes belongs here.
func (s *smallStore) fits(size uint64) bool { return s != nil && size <= uint64(s.max) }

// get returns a copy of the blob's bytes, or ok false when it is not here.
func (s *smallStore) get(h replica.Hash) (b []byte, ok bool, err error) {
	v, closer, err := s.db.Get(h[:])
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return append([]byte{}, v...), true, nil
}

// size returns the stored blob's length, or ok false when it is not here.
func (s *smallStore) size(h replica.Hash) (n int64, ok bool) {
	v, closer, err := s.db.Get(h[:])
	if err != nil {
		return 0, false
	}
	defer closer.Close()
	return int64(len(v)), true
}

func (s *smallStore) set(h replica.Hash, b []byte, durable bool) error {
	wo := pebble.NoSync
	if durable {
		wo = pebble.Sync
	}
	return s.db.Set(h[:], b, wo)
}

func (s *smallStore) delete(h replica.Hash) error { return s.db.Delete(h[:], pebble.NoSync) }

// sync makes every write so far durable.
func (s *smallStore) sync() error { return s.db.LogData(nil, pebble.Sync) }

func (s *smallStore) close() error {
	if s == nil {
		return nil
	}
	return s.db.Close()
}

// quietLogger drops pebble's informational messages and passes on errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) { log.Printf("blobs: pebble: "+format, args...) }

func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("blobs: pebble: "+format, args...) }

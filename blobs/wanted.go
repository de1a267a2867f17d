package blobs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docsnode/docsnode/replica"
)

// MaxWantRecord bounds the record kept for one wanted blob.
const MaxWantRecord = 64 << 10

// The wanted set is the blobs a downloader still means to fetch, kept as
// one small file per hash under .wanted/ so that downloads resume after a
// restart. The record is the downloader's (the store keeps it opaque).
// Records are written like Put's blobs: renamed into place at once and
// synced within FlushInterval.

// PutWant records that the blob h is wanted, with rec saying why.
func (s *Store) PutWant(h replica.Hash, rec []byte) error {
	if len(rec) > MaxWantRecord {
		return fmt.Errorf("put want: %w: record of %d bytes, the limit is %d", ErrTooLarge, len(rec), MaxWantRecord)
	}
	if s.isClosed() {
		return ErrClosed
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "want-*")
	if err != nil {
		return fmt.Errorf("put want: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(rec)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		dst := filepath.Join(s.dir, wantedDir, hexName(h))
		if err = os.Rename(tmp.Name(), dst); err == nil {
			s.markUnsynced(dst, filepath.Dir(dst))
		}
	}
	if err != nil {
		return fmt.Errorf("put want: %w", err)
	}
	return nil
}

// DeleteWant removes h from the wanted set; removing one not there is no
// error.
func (s *Store) DeleteWant(h replica.Hash) error {
	dst := filepath.Join(s.dir, wantedDir, hexName(h))
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete want: %w", err)
	}
	s.markUnsynced(filepath.Dir(dst))
	return nil
}

// Wants calls fn with each record of the wanted set, at most max of them
// (0: all). Files that are not records of this store are skipped.
func (s *Store) Wants(max int, fn func(h replica.Hash, rec []byte)) error {
	dir := filepath.Join(s.dir, wantedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read wanted set: %w", err)
	}
	n := 0
	for _, e := range ents {
		if max > 0 && n >= max {
			break
		}
		var h replica.Hash
		if b, err := hex.DecodeString(e.Name()); err != nil || len(b) != len(h) || !e.Type().IsRegular() {
			continue
		} else {
			copy(h[:], b)
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		rec, err := io.ReadAll(io.LimitReader(f, MaxWantRecord+1))
		f.Close()
		if err != nil || len(rec) > MaxWantRecord {
			continue
		}
		fn(h, rec)
		n++
	}
	return nil
}

package blobs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// MaxWantRecord bounds the record kept for one wanted blob.
const MaxWantRecord = 64 << 10

// The wanted set is the blobs a downloader still means to fetch, kept so
// that downloads resume after a restart. The record is the downloader's
// (the store keeps it opaque).
//
// It lives in one append-only log, .wanted/log: PutWant and DeleteWant
// each append one record with a single write, cheap enough for a caller's
// hot path, and the log is synced with the blobs within FlushInterval.
// Each record is
//
//	kind (1: put, 2: delete) · hash (32) · u32 length · record · u32 CRC-32C
//
// with the CRC over everything before it. Opening the store replays the
// log, stops at the first record that is torn or corrupt (the tail of a
// crash), and rewrites the log with the live records only. The log is
// rewritten the same way when it grows past four times its live size.

const (
	wantPut    byte = 1
	wantDelete byte = 2
	wantHeader      = 1 + 32 + 4
	wantLogMin      = 1 << 20 // no compaction below this size
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// wantLog is the open log and the live records' sizes.
type wantLog struct {
	mu   sync.Mutex
	fs   vfs.FS
	path string
	f    vfs.File // appended to at size
	size int64
	live map[replica.Hash]int // record sizes
	buf  []byte
}

func wantLogPath(dir string) string { return filepath.Join(dir, wantedDir, "log") }

// openWantLog replays and compacts the log in dir.
func openWantLog(fs vfs.FS, dir string) (*wantLog, error) {
	l := &wantLog{fs: fs, path: wantLogPath(dir)}
	recs, err := replayWants(fs, l.path)
	if err != nil {
		return nil, err
	}
	if err := l.rewrite(recs); err != nil {
		return nil, err
	}
	return l, nil
}

// replayWants reads the live records of the log at path; a missing log is
// an empty set.
func replayWants(fs vfs.FS, path string) (map[replica.Hash][]byte, error) {
	recs := make(map[replica.Hash][]byte)
	f, err := fs.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read wanted set: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [wantHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return recs, nil // the end, or a torn header
		}
		n := binary.BigEndian.Uint32(hdr[33:])
		if (hdr[0] != wantPut && hdr[0] != wantDelete) || n > MaxWantRecord {
			return recs, nil
		}
		body := make([]byte, int(n)+4)
		if _, err := io.ReadFull(r, body); err != nil {
			return recs, nil
		}
		crc := crc32.Update(crc32.Checksum(hdr[:], crcTable), crcTable, body[:n])
		if crc != binary.BigEndian.Uint32(body[n:]) {
			return recs, nil
		}
		h := replica.Hash(hdr[1:33])
		if hdr[0] == wantPut {
			recs[h] = body[:n:n]
		} else {
			delete(recs, h)
		}
	}
}

// appendWant appends one log record to dst.
func appendWant(dst []byte, kind byte, h replica.Hash, rec []byte) []byte {
	start := len(dst)
	dst = append(dst, kind)
	dst = append(dst, h[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec)))
	dst = append(dst, rec...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// rewrite replaces the log with recs, synced, and opens it for appending.
// Called with mu held, or before the log is shared.
func (l *wantLog) rewrite(recs map[replica.Hash][]byte) error {
	var b []byte
	live := make(map[replica.Hash]int, len(recs))
	for h, rec := range recs {
		b = appendWant(b, wantPut, h, rec)
		live[h] = len(rec)
	}
	tmp := l.path + ".new"
	size := int64(len(b))
	if err := writeFileSynced(l.fs, tmp, b); err != nil {
		return fmt.Errorf("rewrite wanted set: %w", err)
	}
	if err := l.fs.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("rewrite wanted set: %w", err)
	}
	if err := syncPath(l.fs, filepath.Dir(l.path)); err != nil {
		return fmt.Errorf("rewrite wanted set: %w", err)
	}
	f, err := l.fs.OpenReadWrite(l.path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("rewrite wanted set: %w", err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size, l.live = f, size, live
	return nil
}

// add appends one record and compacts when the log has grown past four
// times its live size.
func (l *wantLog) add(kind byte, h replica.Hash, rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	if kind == wantDelete {
		if _, ok := l.live[h]; !ok {
			return nil
		}
	}
	l.buf = appendWant(l.buf[:0], kind, h, rec)
	if _, err := l.f.WriteAt(l.buf, l.size); err != nil {
		return err
	}
	l.size += int64(len(l.buf))
	if kind == wantPut {
		l.live[h] = len(rec)
	} else {
		delete(l.live, h)
	}
	liveSize := int64(0)
	if l.size > wantLogMin {
		for _, n := range l.live {
			liveSize += int64(wantHeader + n + 4)
		}
		if l.size > 4*liveSize {
			recs, err := replayWants(l.fs, l.path)
			if err != nil {
				return err
			}
			return l.rewrite(recs)
		}
	}
	return nil
}

func (l *wantLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// PutWant records that the blob h is wanted, with rec saying why. It
// replaces an earlier record for h.
func (s *Store) PutWant(h replica.Hash, rec []byte) error {
	if len(rec) > MaxWantRecord {
		return fmt.Errorf("put want: %w: record of %d bytes, the limit is %d", ErrTooLarge, len(rec), MaxWantRecord)
	}
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.wants.add(wantPut, h, rec); err != nil {
		return fmt.Errorf("put want: %w", err)
	}
	s.markUnsynced(s.wants.path)
	return nil
}

// DeleteWant removes h from the wanted set; removing one not there is no
// error.
func (s *Store) DeleteWant(h replica.Hash) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.wants.add(wantDelete, h, nil); err != nil {
		return fmt.Errorf("delete want: %w", err)
	}
	s.markUnsynced(s.wants.path)
	return nil
}

// Wants calls fn with each record of the wanted set, at most max of them
// (0: all), in no particular order.
func (s *Store) Wants(max int, fn func(h replica.Hash, rec []byte)) error {
	s.wants.mu.Lock()
	recs, err := replayWants(s.fs, s.wants.path)
	s.wants.mu.Unlock()
	if err != nil {
		return err
	}
	n := 0
	for h, rec := range recs {
		if max > 0 && n >= max {
			break
		}
		fn(h, rec)
		n++
	}
	return nil
}

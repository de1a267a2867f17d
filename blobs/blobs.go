package blobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// Errors returned by the store, the fetch client and the server. Test
// them with errors.Is.
var (
	// ErrNotFound: no blob with that hash is stored here, or the peer
	// does not serve it (it does not hold it, or not for the document and
	// entry the request named).
	ErrNotFound = errors.New("blobs: not found")
	// ErrCorrupt: the stored bytes do not hash to their name. Get removes
	// such a blob, so that it reads as missing and can be fetched again.
	ErrCorrupt = errors.New("blobs: stored content does not match its hash")
	// ErrTooLarge: the content exceeds the store's size limit, or a fetch
	// received more bytes than the entry's length.
	ErrTooLarge = errors.New("blobs: content too large")
	// ErrHashMismatch: fetched content does not hash to the hash asked
	// for. Nothing is stored under the hash, and the partial data is
	// dropped.
	ErrHashMismatch = errors.New("blobs: fetched content does not match its hash")
	// ErrLength: a peer announced or sent content of another length than
	// the entry's.
	ErrLength = errors.New("blobs: fetched content has the wrong length")
	// ErrFetching: another fetch of the same hash is writing to the store.
	ErrFetching = errors.New("blobs: a fetch of this blob is already running")
	// ErrBusy: the peer serves too many fetches at once; try later.
	ErrBusy = errors.New("blobs: peer busy")
	// ErrMalformed: a request or response that does not decode, or breaks
	// a limit of the protocol.
	ErrMalformed = errors.New("blobs: malformed message")
	// ErrRefused: the peer refused the request as malformed, or for
	// content of another chunk group or groups it does not have.
	ErrRefused = errors.New("blobs: request refused")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("blobs: store closed")
)

// DefaultMaxSize bounds a blob put through the store: 1 GiB.
const DefaultMaxSize = 1 << 30

// DefaultFlushInterval is how long content written by Put may stay
// unsynced: the same window as the store actor's write-ahead log.
const DefaultFlushInterval = 500 * time.Millisecond

// Options tune a Store. A zero field takes its default.
type Options struct {
	// MaxSize bounds the content of one blob, put or fetched. Default
	// DefaultMaxSize.
	MaxSize int64
	// FlushInterval bounds how long a blob written by Put (not
	// PutDurable) stays in the page cache before it and its directory are
	// fsynced, together with every other blob written in the same window,
	// by one background goroutine. A crash inside the window can lose the
	// blob while the entry that names it survives: the entry's content
	// then reads as missing and is fetched again from peers. Default
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// SmallMax is the largest blob kept in the store's small-blob
	// database (.small/, a pebble database) rather than in a file of its
	// own: storing a small value then costs a log write, not the creation
	// of a file. Fetches of small blobs are held in memory and not
	// resumed. Default DefaultSmallMax (16 KiB); a negative value keeps
	// every blob in a file.
	SmallMax int64
	// SmallCacheSize is the small-blob database's block cache. Default
	// DefaultSmallCacheSize (8 MiB).
	SmallCacheSize int64
	// GroupLog sets the chunk group, the unit content is checked in: groups
	// of 1024<<GroupLog bytes (tree.go). A blob larger than one group keeps
	// its outboard, 64 bytes per group, beside its data. Every node that
	// fetches from another must use the same. Default DefaultGroupLog (16
	// KiB groups); at most MaxGroupLog. GroupLogSet distinguishes 0 (1 KiB
	// groups) from the default.
	GroupLog    uint8
	GroupLogSet bool
	// FS is the file system the store keeps its files on, the small-blob
	// database's included; dir is a path on it. Tests pass
	// vfs.NewCrashableMem to drop what was not synced, as a power loss
	// does. Default vfs.Default, the operating system's.
	FS vfs.FS
}

// Status says how much of a blob the store holds.
type Status uint8

const (
	// Unknown is the zero value: the status was not looked at.
	Unknown Status = iota
	// Missing: nothing of the blob is held.
	Missing
	// Incomplete: part of the blob was fetched and waits to be resumed.
	Incomplete
	// Complete: the whole blob is held.
	Complete
)

func (s Status) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Missing:
		return "missing"
	case Incomplete:
		return "incomplete"
	case Complete:
		return "complete"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Store is a directory of blobs named by the lowercase hex of their hash,
// fanned out by the first two hex characters, and a database of small
// blobs under .small/. Fetches in progress live under .partial/ and the
// wanted set under .wanted/, outside the names of complete blobs, so a
// blob appears under its name only once it is whole and verified.
//
// Its methods are safe for concurrent use. Close it after its last use:
// it joins the goroutine that syncs recent writes.
type Store struct {
	fs       vfs.FS
	dir      string
	maxSize  int64
	flush    time.Duration
	groupLog uint8

	mu       sync.Mutex
	closed   bool
	unsynced map[string]struct{}       // files and directories written since the last sync
	fetching map[replica.Hash]*Partial // nil while BeginFetch opens it
	// durableDirs are the fan-out directories whose entry in dir was
	// synced since Open: a durable put into another one syncs dir too.
	// A directory that exists may have been created by a put that was
	// not synced yet, by this process or by one that crashed.
	durableDirs map[string]struct{}
	kick        chan struct{} // 1-buffered: unsynced became non-empty
	quit        chan struct{}
	wg          sync.WaitGroup
	syncErr     error // the last background sync's failure, reported by Close

	wants *wantLog    // the wanted set (wanted.go)
	small *smallStore // nil when every blob is a file
}

const (
	partialDir = ".partial"
	wantedDir  = ".wanted"
	tmpDir     = ".tmp"
)

// Open opens or creates a blob store in dir. maxSize bounds the content of
// one blob; 0 means DefaultMaxSize.
func Open(dir string, maxSize int64) (*Store, error) {
	return OpenOptions(dir, Options{MaxSize: maxSize})
}

// OpenOptions opens or creates a blob store in dir.
func OpenOptions(dir string, o Options) (*Store, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.SmallMax == 0 {
		o.SmallMax = DefaultSmallMax
	}
	if o.SmallCacheSize <= 0 {
		o.SmallCacheSize = DefaultSmallCacheSize
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if !o.GroupLogSet && o.GroupLog == 0 {
		o.GroupLog = DefaultGroupLog
	}
	if o.GroupLog > MaxGroupLog {
		return nil, fmt.Errorf("open blob store: chunk group log %d, at most %d", o.GroupLog, MaxGroupLog)
	}
	fs := o.FS
	for _, d := range []string{dir, filepath.Join(dir, partialDir), filepath.Join(dir, wantedDir), filepath.Join(dir, tmpDir)} {
		if err := mkdirDurable(fs, d); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	// A process that crashed between creating these directories and
	// syncing their parents left them in the page cache only; they exist,
	// so mkdirDurable did not sync. Two syncs cover that case.
	for _, d := range []string{fs.PathDir(dir), dir} {
		if err := syncPath(fs, d); err != nil {
			return nil, fmt.Errorf("open blob store: sync %s: %w", d, err)
		}
	}
	// Temporary files of puts a crash interrupted are garbage.
	if names, err := fs.List(filepath.Join(dir, tmpDir)); err == nil {
		for _, name := range names {
			fs.Remove(filepath.Join(dir, tmpDir, name))
		}
	}
	wants, err := openWantLog(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	var small *smallStore
	if o.SmallMax > 0 {
		if small, err = openSmall(fs, dir, min(o.SmallMax, o.MaxSize), o.SmallCacheSize); err != nil {
			wants.close()
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	s := &Store{
		fs: fs, dir: dir, maxSize: o.MaxSize, flush: o.FlushInterval, wants: wants, small: small,
		groupLog:    o.GroupLog,
		unsynced:    make(map[string]struct{}),
		fetching:    make(map[replica.Hash]*Partial),
		durableDirs: make(map[string]struct{}),
		kick:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
	}
	s.wg.Go(s.syncLoop)
	return s, nil
}

// Close syncs what was written since the last sync and stops the
// background goroutine. Calls after Close fail with ErrClosed, except Has,
// Get and Status.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	s.wg.Wait()
	return errors.Join(s.syncErr, s.wants.close(), s.small.close())
}

// MaxSize is the largest blob the store accepts.
func (s *Store) MaxSize() int64 { return s.maxSize }

func hexName(h replica.Hash) string { return fmt.Sprintf("%x", h[:]) }

func (s *Store) path(h replica.Hash) string {
	name := hexName(h)
	return filepath.Join(s.dir, name[:2], name)
}

// smallPath stands for the small-blob database's log in the set of paths
// to sync.
func (s *Store) smallPath() string { return filepath.Join(s.dir, smallDir) }

func (s *Store) partialPath(h replica.Hash) string {
	return filepath.Join(s.dir, partialDir, hexName(h))
}

// Put stores the content read from r and returns its hash and length. The
// blob appears under its name only once it is complete; it is fsynced
// within Options.FlushInterval (use PutDurable to sync before returning).
func (s *Store) Put(r io.Reader) (replica.Hash, uint64, error) {
	return s.put(r, false)
}

// PutBytes is Put of content held in memory: a small blob is stored
// without another copy.
func (s *Store) PutBytes(b []byte) (replica.Hash, uint64, error) {
	if s.small == nil || int64(len(b)) > s.small.max {
		return s.put(bytes.NewReader(b), false)
	}
	if s.isClosed() {
		return replica.Hash{}, 0, ErrClosed
	}
	sum := replica.HashContent(b)
	if err := s.putSmall(sum, b, false); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	return sum, uint64(len(b)), nil
}

// PutDurable is Put that fsyncs the blob and its directory before it
// returns: for entries of durable documents.
func (s *Store) PutDurable(r io.Reader) (replica.Hash, uint64, error) {
	return s.put(r, true)
}

func (s *Store) put(r io.Reader, durable bool) (replica.Hash, uint64, error) {
	if s.isClosed() {
		return replica.Hash{}, 0, ErrClosed
	}
	if s.small != nil {
		// Read up to one byte past the small limit: content that fits
		// goes to the database, the rest to a file as it streams in.
		head, err := io.ReadAll(io.LimitReader(r, s.small.max+1))
		if err != nil {
			return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
		}
		if int64(len(head)) <= s.small.max {
			sum := replica.HashContent(head)
			if err := s.putSmall(sum, head, durable); err != nil {
				return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
			}
			return sum, uint64(len(head)), nil
		}
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	tmpPath := filepath.Join(s.dir, tmpDir, tmpName("put"))
	tmp, err := s.fs.Create(tmpPath, vfs.WriteCategoryUnspecified)
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			tmp.Close()
		}
		s.fs.Remove(tmpPath) // fails once renamed
	}()
	n, err := io.Copy(tmp, io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	if n > s.maxSize {
		return replica.Hash{}, 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, s.maxSize)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
		}
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	// The tree over what was written gives the hash and the outboard in
	// one pass, read back from the file (from the page cache, as a rule).
	data, err := s.fs.Open(tmpPath)
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	obTmp := tmpPath + outboardSuffix
	sum, err := s.encodeOutboard(io.NewSectionReader(data, 0, n), n, obTmp, durable)
	data.Close()
	if err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	defer s.fs.Remove(obTmp) // fails once renamed
	if err := s.install(tmpPath, obTmp, sum, durable); err != nil {
		return replica.Hash{}, 0, fmt.Errorf("put blob: %w", err)
	}
	return sum, uint64(n), nil
}

// install renames a complete, verified file and its outboard to the
// blob's name, the outboard first: a data file under its name always has
// its outboard, or (after a crash between the renames) gets it rebuilt
// when it is opened. With durable both files must already be synced;
// install then syncs the directories. Otherwise the files and their
// directories join the next background sync.
func (s *Store) install(src, srcOutboard string, h replica.Hash, durable bool) error {
	dst := s.path(h)
	dir := filepath.Dir(dst)
	if _, err := s.fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := s.fs.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := s.fs.Rename(srcOutboard, s.outboardPath(h)); err != nil {
		return err
	}
	if err := s.fs.Rename(src, dst); err != nil {
		return err
	}
	s.mu.Lock()
	_, dirDurable := s.durableDirs[dir]
	s.mu.Unlock()
	if durable {
		if err := syncPath(s.fs, dir); err != nil {
			return err
		}
		if dirDurable {
			return nil
		}
		if err := syncPath(s.fs, s.dir); err != nil {
			return err
		}
		s.mu.Lock()
		s.durableDirs[dir] = struct{}{}
		s.mu.Unlock()
		return nil
	}
	paths := []string{dst, s.outboardPath(h), dir}
	if !dirDurable {
		paths = append(paths, s.dir)
	}
	s.markUnsynced(paths...)
	return nil
}

// putSmall stores verified content in the small-blob database. Without
// durable the write joins the next background sync.
func (s *Store) putSmall(h replica.Hash, b []byte, durable bool) error {
	if err := s.small.set(h, b, durable); err != nil {
		return err
	}
	if !durable {
		s.markUnsynced(s.smallPath())
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// markUnsynced adds paths to the next background sync, and wakes the
// sync goroutine only when the set was empty: a steady writer of small
// blobs adds the same path each time and should not wake it each time.
func (s *Store) markUnsynced(paths ...string) {
	s.mu.Lock()
	wasEmpty := len(s.unsynced) == 0
	for _, p := range paths {
		s.unsynced[p] = struct{}{}
	}
	s.mu.Unlock()
	if !wasEmpty {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncLoop fsyncs, once per FlushInterval at most, every file and
// directory written since the last round, and all that remain on Close.
func (s *Store) syncLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var timerC <-chan time.Time
	for {
		select {
		case <-s.kick:
			if timerC == nil {
				timer.Reset(s.flush)
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			s.syncNow()
		case <-s.quit:
			s.syncNow()
			return
		}
	}
}

// syncNow fsyncs the pending paths, files before directories, so that a
// directory entry never points at data that is not on disk, then the
// small-blob database's log, and the wanted set's log last, so that a want
// is never removed on disk before the blob it waited for is there.
func (s *Store) syncNow() {
	s.mu.Lock()
	pending := s.unsynced
	s.unsynced = make(map[string]struct{})
	s.mu.Unlock()
	var files, dirs, last []string
	smallDirty, topSynced := false, false
	for p := range pending {
		if p == s.wants.path {
			last = append(last, p)
			continue
		}
		if s.small != nil && p == s.smallPath() {
			smallDirty = true
			continue
		}
		if st, err := s.fs.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		} else if err == nil {
			files = append(files, p)
		}
	}
	var errs []error
	for _, p := range slices.Concat(files, dirs) {
		err := syncPath(s.fs, p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		if err == nil && p == s.dir {
			topSynced = true
		}
	}
	if topSynced {
		// Every fan-out directory that existed before that sync is now
		// named in dir on disk.
		s.mu.Lock()
		for _, p := range dirs {
			if filepath.Dir(p) == s.dir {
				s.durableDirs[p] = struct{}{}
			}
		}
		s.mu.Unlock()
	}
	if smallDirty {
		if err := s.small.sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync small blobs: %w", err))
		}
	}
	for _, p := range last {
		if err := syncPath(s.fs, p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.syncErr = errors.Join(errs...)
}

// Has reports whether the blob is stored.
func (s *Store) Has(h replica.Hash) bool {
	if _, ok := s.smallSize(h); ok {
		return true
	}
	_, err := s.fs.Stat(s.path(h))
	return err == nil
}

// smallSize is the length of a blob held in the small-blob database.
func (s *Store) smallSize(h replica.Hash) (int64, bool) {
	if s.small == nil {
		return 0, false
	}
	return s.small.size(h)
}

// Status reports how much of the blob with hash h and length size the
// store holds. A stored file of another length (a crash interrupted its
// sync) counts as missing.
func (s *Store) Status(h replica.Hash, size uint64) Status {
	if n, ok := s.smallSize(h); ok && uint64(n) == size {
		return Complete
	}
	if st, err := s.fs.Stat(s.path(h)); err == nil && uint64(st.Size()) == size {
		return Complete
	}
	if st, err := s.fs.Stat(s.partialPath(h)); err == nil && st.Size() > 0 {
		return Incomplete
	}
	return Missing
}

// Get returns the blob's content after checking it against its hash. A
// blob that fails the check is removed, so that it reads as missing and
// can be fetched again.
func (s *Store) Get(h replica.Hash) ([]byte, error) {
	if s.small != nil {
		b, ok, err := s.small.get(h)
		if err != nil {
			return nil, fmt.Errorf("get blob: %w", err)
		}
		if ok {
			if replica.HashContent(b) != h {
				s.small.delete(h)
				return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrCorrupt)
			}
			return b, nil
		}
	}
	b, err := readFile(s.fs, s.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	if replica.HashContent(b) != h {
		s.removeCorrupt(h)
		return nil, fmt.Errorf("blob %x…: %w", h[:5], ErrCorrupt)
	}
	return b, nil
}

// Open opens a stored blob for reading, with its size; the caller closes
// it. Reads check, through the blob's outboard, only the chunk groups they
// touch, a window at a time, before they return a byte of them: a read of
// a part never hashes the whole, and a read never returns a byte that does
// not match the hash. A group that fails the check makes the read fail
// with ErrCorrupt, and the blob is removed so that it reads as missing and
// can be fetched again. ErrNotFound when the blob is not held.
func (s *Store) Open(h replica.Hash) (io.ReadSeekCloser, int64, error) {
	if s.isClosed() {
		return nil, 0, ErrClosed
	}
	bt, err := s.openTree(h)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	r := newCheckedReader(bt, func() { s.removeCorrupt(h) })
	return r, r.Size(), nil
}

// removeCorrupt removes a blob found not to match its hash.
func (s *Store) removeCorrupt(h replica.Hash) {
	if s.small != nil {
		s.small.delete(h)
	}
	s.removeFiles(h)
}

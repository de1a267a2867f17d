package blobs

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Every file operation of the store goes through a vfs.FS (Options.FS), so
// that tests can run it on vfs.NewCrashableMem and drop whatever was not
// synced, as a power loss would.

// syncPath fsyncs the file or directory at p.
func syncPath(fs vfs.FS, p string) error {
	f, err := fs.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// mkdirDurable creates dir and any missing parents, and fsyncs the parent
// of each directory it created, so that the new directories survive a
// crash. The directories that already exist are taken as they are.
func mkdirDurable(fs vfs.FS, dir string) error {
	var missing []string
	for d := dir; ; {
		if _, err := fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := fs.PathDir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Top down: each new directory's entry is synced in its parent.
	for i := len(missing) - 1; i >= 0; i-- {
		parent := fs.PathDir(missing[i])
		if parent == missing[i] {
			continue
		}
		if err := syncPath(fs, parent); err != nil {
			return fmt.Errorf("sync %s: %w", parent, err)
		}
	}
	return nil
}

// readFile reads the whole file at p.
func readFile(fs vfs.FS, p string) ([]byte, error) {
	f, err := fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err == io.EOF && n == len(b) {
		err = nil
	}
	return b[:n], err
}

// writeFileSynced creates (or replaces) the file at p with b and fsyncs it.
func writeFileSynced(fs vfs.FS, p string, b []byte) error {
	f, err := fs.Create(p, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tmpName is a fresh name for a temporary file.
func tmpName(prefix string) string { return fmt.Sprintf("%s-%016x", prefix, rand.Uint64()) }

// fileBlob reads a blob stored in a file of its own.
type fileBlob struct {
	*io.SectionReader
	f vfs.File
}

func (b fileBlob) Close() error { return b.f.Close() }

// openFileBlob opens the file at p for reading, with its size.
func openFileBlob(fs vfs.FS, p string) (fileBlob, int64, error) {
	f, err := fs.Open(p)
	if err != nil {
		return fileBlob{}, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fileBlob{}, 0, err
	}
	return fileBlob{io.NewSectionReader(f, 0, st.Size()), f}, st.Size(), nil
}

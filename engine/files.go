package engine

// Files in and out of a document: a file's bytes stream into the content
// store, and an entry's content streams out to a file that appears whole
// or not at all.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/docsnode/docsnode/replica"
)

// ErrNotRegularFile: Doc.ImportFile was given a path that is not a
// regular file (a directory, a device, a socket). Name the file itself.
var ErrNotRegularFile = errors.New("engine: not a regular file")

// ExportFileMode is the permission bits of a file ExportFile writes.
const ExportFileMode fs.FileMode = 0o644

// ImportFile is SetReader of the file at path: its bytes stream into the
// content store, never whole in memory, and the entry at key is written
// once the content is stored. It refuses before anything is stored: a
// path that does not exist (an error wrapping fs.ErrNotExist), a path that
// is not a regular file (ErrNotRegularFile), an empty file
// (ErrEmptyValue: an empty value is a deletion; Delete is the way to
// delete) and a file over the content store's limit (ErrTooLarge). When
// ctx ends while the file streams in, the import stops and nothing is
// written.
//
// The value is the bytes read, so a file that changes while it is read is
// stored as read; the entry's Len says how many bytes that was.
func (d *Doc) ImportFile(ctx context.Context, author replica.Author, key []byte, path string) (replica.SignedEntry, error) {
	fail := func(err error) (replica.SignedEntry, error) {
		return replica.SignedEntry{}, fmt.Errorf("engine: import %s to %q in %s: %w", path, key, d.id.Short(), err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	switch {
	case st.IsDir():
		return fail(fmt.Errorf("%w: it is a directory", ErrNotRegularFile))
	case !st.Mode().IsRegular():
		return fail(fmt.Errorf("%w: its mode is %s", ErrNotRegularFile, st.Mode()))
	case st.Size() == 0:
		return fail(fmt.Errorf("%w: the file is empty; use Delete to delete", ErrEmptyValue))
	case st.Size() > d.e.blobs.MaxSize():
		return fail(fmt.Errorf("%w: the file is %d bytes, over the limit of %d", ErrTooLarge, st.Size(), d.e.blobs.MaxSize()))
	}
	se, err := d.SetReader(ctx, author, key, ctxReader{ctx: ctx, r: f})
	if err != nil {
		return replica.SignedEntry{}, fmt.Errorf("engine: import %s: %w", path, err)
	}
	return se, nil
}

// ExportOptions tunes Doc.ExportFileWith.
type ExportOptions struct {
	// Overwrite replaces a file already at the path. Without it the
	// export refuses with an error wrapping fs.ErrExist, checked before
	// the content streams and again, atomically, when the file is put in
	// place.
	Overwrite bool
}

// ExportFile writes the content of e to a new file at path, which must
// not exist yet (an error wrapping fs.ErrExist); ExportFileWith with
// Overwrite replaces it. See ExportFileWith.
func (d *Doc) ExportFile(ctx context.Context, e replica.SignedEntry, path string) error {
	return d.ExportFileWith(ctx, e, path, ExportOptions{})
}

// ExportFileWith writes the content of e to the file at path. The content
// streams (ContentReader) into a temporary file beside path, which is
// checked against the entry's hash and length, fsynced, and only then put
// in place, with its directory fsynced: path never holds part of a value.
// A failure (content not held, found corrupt, a full disk, ctx ended)
// removes the temporary file and leaves path as it was. The new file has
// mode ExportFileMode.
//
// Content this node does not hold yet is refused with an error wrapping
// ErrContentNotHeld, and its download is queued, as Content does. A
// tombstone has no content to export: it is refused with an error wrapping
// ErrNotFound.
func (d *Doc) ExportFileWith(ctx context.Context, e replica.SignedEntry, path string, opts ExportOptions) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("engine: export %q of %s to %s: %w", e.Key, d.id.Short(), path, err)
		}
	}()
	if e.IsTombstone() {
		return fmt.Errorf("%w: the entry is a deletion", ErrNotFound)
	}
	if !opts.Overwrite {
		// Refuse before streaming what may be a large value; the link
		// below checks again without a race.
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: the file is there already; remove it or export with Overwrite", fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	content, err := d.ContentReader(e)
	if err != nil {
		return err
	}
	defer content.Close()
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()           // a second close fails harmlessly
		os.Remove(tmp.Name()) // fails once renamed
	}()
	n, err := io.Copy(tmp, ctxReader{ctx: ctx, r: content})
	if err != nil {
		return err
	}
	if uint64(n) != e.Len {
		// The store's copy was cut short under the reader.
		return fmt.Errorf("%w: read %d bytes, the entry says %d", ErrCorrupt, n, e.Len)
	}
	if err := tmp.Chmod(ExportFileMode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := place(tmp.Name(), path, opts.Overwrite); err != nil {
		return err
	}
	return syncDir(dir)
}

// place moves the complete file tmp to path: by rename when it may
// replace a file there, else by a hard link, which fails when path exists
// however it came to (then tmp is left for the caller to remove).
func place(tmp, path string, overwrite bool) error {
	if overwrite {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: a file appeared there during the export; remove it or export with Overwrite", fs.ErrExist)
	}
	if err != nil && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EXDEV)) {
		// A file system without hard links: check, then rename. A file
		// created between the two is replaced.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%w: the file is there already; remove it or export with Overwrite", fs.ErrExist)
		}
		return os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return os.Remove(tmp)
}

// syncDir fsyncs a directory, so that a file put in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ctxReader reads r until ctx ends; then its reads return ctx.Err().
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

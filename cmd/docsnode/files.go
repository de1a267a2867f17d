package main

// Large values between files and a daemon: set --file streams a file (or
// stdin) up, get --output streams a value down into a file that appears
// whole or not at all. Neither holds the value in memory; on a terminal
// a progress bar shows the bytes moved.

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docsnode/docsnode/client"
	"github.com/schollz/progressbar/v3"
	"lukechampine.com/blake3"
)

// byteProgress returns a bar of total bytes (-1: unknown) on w, or nil
// when w is not a terminal: scripts and logs get no bar.
func byteProgress(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	if !isTerminal(w) {
		return nil
	}
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what), progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100e6), // 100 ms
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
}

// counted passes reads through to r and adds their bytes to bar.
type counted struct {
	r   io.Reader
	bar *progressbar.ProgressBar
}

func (c counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.bar.Add64(int64(n))
	}
	return n, err
}

// openValueFile opens the file a set --file names ("-": stdin) and
// returns it with its length (0 when unknown: stdin, a pipe). A
// directory, an empty file and a missing one are refused with what to do.
func openValueFile(path string, stdin io.Reader) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(stdin), 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("--file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("--file: %w", err)
	}
	switch {
	case st.IsDir():
		f.Close()
		return nil, 0, fmt.Errorf("--file %s is a directory: name a file", path)
	case st.Mode().IsRegular() && st.Size() == 0:
		f.Close()
		return nil, 0, fmt.Errorf("--file %s is empty: an empty value is a deletion; use 'doc del DOC PREFIX' to delete", path)
	case st.Mode().IsRegular():
		return f, st.Size(), nil
	}
	return f, 0, nil // a named pipe or a device: read to its end
}

// setFromFile streams the file at path ("-": stdin) to key, with a
// progress bar on progress when that is a terminal.
func setFromFile(ctx context.Context, c *client.Client, doc, key, path string, stdin io.Reader, progress io.Writer, opts client.SetOptions) (client.Entry, error) {
	f, size, err := openValueFile(path, stdin)
	if err != nil {
		return client.Entry{}, err
	}
	defer f.Close()
	var value io.Reader = f
	if size > 0 {
		// A known length goes out as Content-Length, so the daemon
		// refuses a file over its limit before the upload.
		opts.Length = size
	}
	total := size
	if total == 0 {
		total = -1 // unknown: a spinner with the bytes sent
	}
	bar := byteProgress(progress, total, "uploading")
	if bar != nil {
		value = counted{r: f, bar: bar}
	}
	e, err := c.SetReader(ctx, doc, key, value, opts)
	if bar != nil {
		if err != nil {
			bar.Exit()
		} else {
			bar.Finish()
		}
	}
	return e, err
}

// getToFile streams the value at key into a temporary file beside path,
// checks its length and BLAKE3 hash against the entry, fsyncs it and
// renames it over path: a failed get leaves path as it was and no
// partial file. A progress bar goes to progress when that is a terminal.
func getToFile(ctx context.Context, c *client.Client, doc, key, path string, progress io.Writer, opts client.GetOptions) (client.Entry, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return client.Entry{}, fmt.Errorf("--output %s is a directory: name a file", path)
	}
	body, e, err := c.GetReader(ctx, doc, key, opts)
	if err != nil {
		return e, err
	}
	defer body.Close()
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return e, err
	}
	defer func() {
		f.Close()           // a second close fails harmlessly
		os.Remove(f.Name()) // fails once renamed
	}()
	h := blake3.New(32, nil)
	var src io.Reader = body
	bar := byteProgress(progress, int64(e.Len), "downloading")
	if bar != nil {
		src = counted{r: body, bar: bar}
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if bar != nil {
		if err != nil {
			bar.Exit()
		} else {
			bar.Finish()
		}
	}
	if err != nil {
		return e, fmt.Errorf("download %q: %w", key, err)
	}
	if uint64(n) != e.Len {
		return e, fmt.Errorf("download %q: got %d bytes, the daemon announced %d", key, n, e.Len)
	}
	if got := hex.EncodeToString(h.Sum(nil)); e.Hash != "" && got != e.Hash {
		return e, fmt.Errorf("download %q: the bytes hash to %s, the entry says %s", key, got, e.Hash)
	}
	if err := f.Chmod(0o644); err != nil {
		return e, err
	}
	if err := f.Sync(); err != nil {
		return e, err
	}
	if err := f.Close(); err != nil {
		return e, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return e, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return e, err
	}
	return e, nil
}

// lastByte passes writes through to w and remembers the last byte.
type lastByte struct {
	w    io.Writer
	last byte
	n    int64
}

func (l *lastByte) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.last = p[n-1]
		l.n += int64(n)
	}
	return n, err
}

// getToWriter streams the value at key to w, checking its length and
// BLAKE3 hash against the entry as it goes: a value of any size passes
// through without being held in memory. On a terminal a value without a
// final newline gets one, so that it does not run into the prompt.
func getToWriter(ctx context.Context, c *client.Client, doc, key string, w io.Writer, opts client.GetOptions) error {
	body, e, err := c.GetReader(ctx, doc, key, opts)
	if err != nil {
		return err
	}
	defer body.Close()
	h := blake3.New(32, nil)
	out := &lastByte{w: w}
	if _, err := io.Copy(io.MultiWriter(out, h), body); err != nil {
		return fmt.Errorf("read %q: %w", key, err)
	}
	if uint64(out.n) != e.Len {
		return fmt.Errorf("read %q: got %d bytes, the daemon announced %d", key, out.n, e.Len)
	}
	if got := hex.EncodeToString(h.Sum(nil)); e.Hash != "" && got != e.Hash {
		return fmt.Errorf("read %q: the bytes hash to %s, the entry says %s", key, got, e.Hash)
	}
	if isTerminal(w) && out.n > 0 && out.last != '\n' {
		_, err = fmt.Fprintln(w)
	}
	return err
}

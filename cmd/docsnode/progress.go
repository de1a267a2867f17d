package main

import (
	"fmt"
	"io"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/schollz/progressbar/v3"
)

// eventSource is what joinProgress reads: a client.EventStream.
type eventSource interface {
	Next() (client.Event, error)
}

// joinProgress shows the first sync of a joined document on w: the
// entries received of those expected until the first session ends (the
// session's sync-progress events say how many it has asked for so far;
// before the first one, a count), then the bytes of content still to
// download, until every download queued so far has finished.
// It returns when both are done or the stream ends; the sync goes on in
// the daemon either way.
func joinProgress(events eventSource, w io.Writer) error {
	entries := progressbar.NewOptions(-1, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("receiving entries"), progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("entries"), progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	pending := map[string]uint64{} // content hash → bytes, still to download
	var total uint64
	received := 0
	expected, progressed := 0, 0 // from sync-progress; 0: not known yet
	for {
		ev, err := events.Next()
		if err != nil {
			entries.Exit()
			return err
		}
		switch ev.Kind {
		case wire.EventSyncProgress:
			if ev.Expected > 0 {
				if ev.Expected > expected {
					expected = ev.Expected
					entries.ChangeMax(expected)
				}
				progressed = max(progressed, ev.Received)
				entries.Set(min(progressed, expected))
			}
		case wire.EventInsertRemote:
			received++
			if expected == 0 {
				entries.Add(1)
			}
			if ev.Content != "complete" && ev.Entry != nil && ev.Entry.Len > 0 {
				if _, ok := pending[ev.Entry.Hash]; !ok {
					pending[ev.Entry.Hash] = ev.Entry.Len
					total += ev.Entry.Len
				}
			}
		case wire.EventContentReady, wire.EventContentFailed:
			if n, ok := pending[ev.Hash]; ok {
				delete(pending, ev.Hash)
				total -= n // done before the content phase started
			}
		case wire.EventSyncFinished:
			entries.Finish()
			if ev.Error != "" {
				fmt.Fprintf(w, "the first sync failed (%s); the daemon retries in the background\n", ev.Error)
				return nil
			}
			fmt.Fprintf(w, "%d entries received\n", max(received, progressed))
			return contentProgress(events, w, pending, total)
		}
	}
}

// contentProgress shows the download of the pending content.
func contentProgress(events eventSource, w io.Writer, pending map[string]uint64, total uint64) error {
	if len(pending) == 0 {
		return nil
	}
	bar := progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("downloading content"), progressbar.OptionShowBytes(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	failed := 0
	for len(pending) > 0 {
		ev, err := events.Next()
		if err != nil {
			bar.Exit()
			return err
		}
		switch ev.Kind {
		case wire.EventContentReady, wire.EventContentFailed:
			if n, ok := pending[ev.Hash]; ok {
				delete(pending, ev.Hash)
				bar.Add64(int64(n))
				if ev.Kind == wire.EventContentFailed {
					failed++
				}
			}
		case wire.EventPendingContentReady:
			pending = nil
		}
	}
	bar.Finish()
	if failed > 0 {
		fmt.Fprintf(w, "%d downloads were given up; reading their entries asks for them again\n", failed)
	}
	return nil
}

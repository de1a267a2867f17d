package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/schollz/progressbar/v3"
)

// eventSource is what joinProgress reads: a client.EventStream.
type eventSource interface {
	Next() (client.Event, error)
}

// contentSource answers the document's content status
// (client.ContentStatus).
type contentSource func() (client.ContentStatus, error)

// joinProgress shows the first sync of a joined document on w: the
// entries received of those expected until the first session ends (the
// session's sync-progress events say how many it has asked for so far;
// before the first one, a count), then, unless content is nil, the bytes
// of content held of those the entries name, until the daemon holds them
// all or downloads nothing more (contentProgress). It returns when both
// are done or the stream ends; the sync goes on in the daemon either way.
func joinProgress(events eventSource, content contentSource, w io.Writer) error {
	entries := progressbar.NewOptions(-1, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("receiving entries"), progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("entries"), progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
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
		case wire.EventSyncFinished:
			entries.Finish()
			if ev.Error != "" {
				fmt.Fprintf(w, "the first sync failed (%s); the daemon retries in the background\n", ev.Error)
				return nil
			}
			fmt.Fprintf(w, "%d entries received\n", max(received, progressed))
			if content == nil {
				return nil
			}
			return contentProgress(events, content, w)
		}
	}
}

// contentProgress shows the bytes of content the daemon holds of those
// the document's entries name, from the content status and, between two
// looks at it, the content-progress events. It ends when all of it is
// held, or when the daemon's downloads for the document run out with
// some still missing: content the download policy does not fetch, or
// whose download was given up, comes only when it is read.
//
// The content status is asked for at the start and each time the
// downloads run out, not per event: the daemon reads every entry of the
// document to answer it.
func contentProgress(events eventSource, content contentSource, w io.Writer) error {
	st, err := content()
	if err != nil {
		return err
	}
	if st.Bytes == 0 {
		return nil
	}
	if st.Held == st.Bytes {
		fmt.Fprintf(w, "all %s of content held\n", byteCount(st.Bytes))
		return nil
	}
	// Downloads not queued yet when the first sync ended (the daemon
	// queues them as the entries are stored) are waited for; the
	// download policy's choice and earlier failures are not.
	if st.Downloads.Idle() && (st.WantedHeld == st.WantedBytes || st.Downloads.Failed > 0) {
		fmt.Fprint(w, notHeld(st))
		return nil
	}
	bar := progressbar.NewOptions64(int64(st.Bytes), progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("content held"), progressbar.OptionShowBytes(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	bar.Set64(int64(st.Held))
	refresh := func() error {
		if st, err = content(); err != nil {
			bar.Exit()
			return err
		}
		bar.Set64(int64(st.Held))
		return nil
	}
	for st.Held < st.Bytes {
		ev, err := events.Next()
		if err != nil {
			bar.Exit()
			return err
		}
		switch ev.Kind {
		case wire.EventContentProgress:
			if ev.Downloads == nil {
				continue
			}
			if ev.Downloads.Idle() {
				if err := refresh(); err != nil {
					return err
				}
				if st.Held < st.Bytes && st.Downloads.Idle() {
					bar.Exit()
					fmt.Fprintln(w)
					fmt.Fprint(w, notHeld(st))
					return nil
				}
				continue
			}
			// Between two looks, the downloads completed since the last
			// one add their bytes (a resumed partial download counts its
			// early bytes twice, hence the bound).
			if done := ev.Downloads.BytesCompleted; done > st.Downloads.BytesCompleted {
				bar.Set64(int64(min(st.Held+done-st.Downloads.BytesCompleted, st.Bytes)))
			}
		case wire.EventLagged:
			if err := refresh(); err != nil {
				return err
			}
		}
	}
	bar.Finish()
	fmt.Fprintf(w, "all %s of content held\n", byteCount(st.Bytes))
	return nil
}

// notHeld explains the content the daemon holds without all of it.
func notHeld(st client.ContentStatus) string {
	s := fmt.Sprintf("%s of %s of content held", byteCount(st.Held), byteCount(st.Bytes))
	// The bytes missing from entries the policy does not fetch.
	if rest := (st.Bytes - st.WantedBytes) - (st.Held - st.WantedHeld); rest > 0 {
		s += fmt.Sprintf("; the download policy does not fetch %s", byteCount(rest))
	}
	if st.Downloads.Failed > 0 {
		s += fmt.Sprintf("; %d downloads were given up", st.Downloads.Failed)
	}
	return s + "; reading an entry asks for its content\n"
}

// byteCount prints n bytes for people: 512 B, 1.5 KiB, 20.0 MiB.
func byteCount(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printContentStatus writes a document's content status for people.
func printContentStatus(w io.Writer, st client.ContentStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "entries\t%d\t%d complete, %d incomplete, %d missing\n", st.Entries, st.Complete, st.Incomplete, st.Missing)
	fmt.Fprintf(tw, "content held\t%s of %s\t%s\n", byteCount(st.Held), byteCount(st.Bytes), percent(st.Held, st.Bytes))
	fmt.Fprintf(tw, "policy fetches\t%s of %s\t%s\n", byteCount(st.WantedHeld), byteCount(st.WantedBytes), percent(st.WantedHeld, st.WantedBytes))
	d := st.Downloads
	fmt.Fprintf(tw, "downloads\t%d queued, %d running\t%d completed (%s), %d given up (%s)\n", d.Queued, d.Running,
		d.Completed, byteCount(d.BytesCompleted), d.Failed, byteCount(d.BytesFailed))
	tw.Flush()
}

func percent(part, whole uint64) string {
	if whole == 0 {
		return "100%"
	}
	return fmt.Sprintf("%.0f%%", math.Floor(100*float64(part)/float64(whole)))
}

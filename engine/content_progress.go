package engine

import (
	"context"
	"fmt"

	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// DocDownloads is the downloader's state for one document
// (ContentProgress.Downloads, Event.Downloads).
type DocDownloads = live.DocDownloads

// ContentProgress is how much of the content a document names this node
// holds, over the entries visible in it: the latest entry of each author
// at each key, tombstones excluded.
type ContentProgress struct {
	// Entries counts the entries looked at; Complete, Incomplete and
	// Missing split them by the status of their content.
	Entries, Complete, Incomplete, Missing int
	// Bytes is the length of the content the entries name, and Held how
	// much of it this node holds (a partial download counts the bytes it
	// has fetched so far). A blob two entries name counts twice.
	Bytes, Held uint64
	// WantedBytes and WantedHeld are the same over the entries whose
	// content the document's download policy fetches: the content that
	// comes by itself. The rest comes when it is read (Doc.Content).
	WantedBytes, WantedHeld uint64
	// Downloads is the downloader's state for the document.
	Downloads DocDownloads
}

// Done reports whether the node holds all the content the entries name.
func (p ContentProgress) Done() bool { return p.Held == p.Bytes }

// ContentProgress reports how much of the document's content this node
// holds, and the downloads queued, running and finished for it. It reads
// every visible entry of the document, a page at a time through the store
// (Config.Actor.QueryPageSize), and looks each one's content up: its cost
// grows with the document, so call it when asked, not per event.
// EventContentProgress carries the downloader's counters as they change.
func (d *Doc) ContentProgress(ctx context.Context) (ContentProgress, error) {
	var p ContentProgress
	// The counters first: a download that finishes during the scan then
	// shows in Held rather than being missed by both.
	dls, err := d.e.live.DocDownloads(ctx, d.id)
	if err != nil {
		return p, fmt.Errorf("engine: content progress of %s: %w", d.id.Short(), err)
	}
	p.Downloads = dls
	policy, err := d.e.act.DownloadPolicy(ctx, d.id)
	if err != nil {
		return p, fmt.Errorf("engine: content progress of %s: %w", d.id.Short(), err)
	}
	for e, err := range d.e.act.Query(ctx, d.id, replica.Query{}) {
		if err != nil {
			return ContentProgress{}, fmt.Errorf("engine: content progress of %s: %w", d.id.Short(), err)
		}
		if e.IsTombstone() {
			continue
		}
		held := d.e.blobs.HeldBytes(e.Hash, e.Len)
		p.Entries++
		switch {
		case held == e.Len:
			p.Complete++
		case held > 0:
			p.Incomplete++
		default:
			p.Missing++
		}
		p.Bytes += e.Len
		p.Held += held
		if policy.ShouldDownload(e.Key) {
			p.WantedBytes += e.Len
			p.WantedHeld += held
		}
	}
	return p, nil
}

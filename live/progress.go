package live

import (
	"context"
	"time"

	"github.com/docsnode/docsnode/replica"
)

// DocDownloads is the downloader's state for one document: the downloads
// queued for it now, and what became of those queued since the live
// actor started. A blob two documents want counts in each.
type DocDownloads struct {
	// Queued counts the downloads waiting to start: in the queue, or
	// backing off after a failed attempt.
	Queued int
	// Running counts the downloads in flight.
	Running int
	// Completed and Failed count the downloads that finished and those
	// given up after Config.DownloadRetries attempts.
	Completed, Failed uint64
	// BytesQueued is the length of every download queued for the
	// document, finished ones included; BytesCompleted and BytesFailed
	// are those of the completed and the given-up ones. What is still to
	// come is BytesQueued - BytesCompleted - BytesFailed.
	BytesQueued, BytesCompleted, BytesFailed uint64
}

// Idle reports whether nothing is queued or running for the document.
func (d DocDownloads) Idle() bool { return d.Queued == 0 && d.Running == 0 }

// docProgress is the scheduler's per-document download bookkeeping.
type docProgress struct {
	c       DocDownloads // Queued is derived from downloads.pending when read
	dirty   bool         // changed since the last EventContentProgress
	earlier bool         // an event went out, at last
	last    time.Time
}

// progress keeps the counters behind DocDownloads and
// EventContentProgress. It is part of the scheduler: no clock, no
// goroutine; the shell calls flushProgress after each turn of the loop.
type progress struct {
	docs map[replica.NamespaceID]*docProgress
	// started records, per running download, how many of its documents
	// (a prefix of download.docs, which only grows) count it as running.
	started map[*download]int
	dirty   []replica.NamespaceID
}

func (s *scheduler) progressInit() {
	if s.prog.docs == nil {
		s.prog.docs = make(map[replica.NamespaceID]*docProgress)
		s.prog.started = make(map[*download]int)
	}
}

func (s *scheduler) progressOf(doc replica.NamespaceID) *docProgress {
	s.progressInit()
	p := s.prog.docs[doc]
	if p == nil {
		p = &docProgress{}
		s.prog.docs[doc] = p
	}
	return p
}

func (s *scheduler) progressChanged(doc replica.NamespaceID, p *docProgress) {
	if !p.dirty {
		p.dirty = true
		s.prog.dirty = append(s.prog.dirty, doc)
	}
}

// progressWanted counts dl for doc, which was just added to its
// documents.
func (s *scheduler) progressWanted(doc replica.NamespaceID, dl *download) {
	p := s.progressOf(doc)
	p.c.BytesQueued += dl.size
	if dl.state == dlRunning {
		// Already in flight for other documents: this one is served by it.
		p.c.Running++
		s.prog.started[dl]++
	}
	s.progressChanged(doc, p)
}

// progressStarted counts dl as running for each of its documents.
func (s *scheduler) progressStarted(dl *download) {
	s.progressInit()
	for _, wd := range dl.docs {
		p := s.progressOf(wd.ref.Namespace)
		p.c.Running++
		s.progressChanged(wd.ref.Namespace, p)
	}
	s.prog.started[dl] = len(dl.docs)
}

// progressStopped counts an attempt at dl as over, whatever its outcome.
func (s *scheduler) progressStopped(dl *download) {
	n, ok := s.prog.started[dl]
	if !ok {
		return
	}
	delete(s.prog.started, dl)
	for _, wd := range dl.docs[:n] {
		p := s.progressOf(wd.ref.Namespace)
		p.c.Running--
		s.progressChanged(wd.ref.Namespace, p)
	}
}

// progressSettled counts dl as completed (ok) or given up for each of its
// documents.
func (s *scheduler) progressSettled(dl *download, ok bool) {
	for _, wd := range dl.docs {
		p := s.progressOf(wd.ref.Namespace)
		if ok {
			p.c.Completed++
			p.c.BytesCompleted += dl.size
		} else {
			p.c.Failed++
			p.c.BytesFailed += dl.size
		}
		s.progressChanged(wd.ref.Namespace, p)
	}
}

// docDownloads returns doc's counters.
func (s *scheduler) docDownloads(doc replica.NamespaceID) DocDownloads {
	var c DocDownloads
	if p := s.prog.docs[doc]; p != nil {
		c = p.c
	}
	c.Queued = max(s.dl.pending[doc]-c.Running, 0)
	return c
}

// flushProgress emits an EventContentProgress for each document whose
// downloads changed, at most one per document per
// Config.ContentProgressInterval: a change within the interval after an
// event goes out with the next one, which then carries the latest
// counters. It returns when it must be called again, or the zero time
// when no change waits.
func (s *scheduler) flushProgress(now time.Time) time.Time {
	var next time.Time
	keep := s.prog.dirty[:0]
	for _, doc := range s.prog.dirty {
		p := s.prog.docs[doc]
		if p == nil || !p.dirty {
			continue
		}
		if due := p.last.Add(s.cfg.ContentProgressInterval); p.earlier && now.Before(due) {
			keep = append(keep, doc)
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		p.dirty, p.earlier, p.last = false, true, now
		s.emit(Event{Kind: EventContentProgress, Doc: doc, Downloads: s.docDownloads(doc)})
	}
	clear(s.prog.dirty[len(keep):])
	s.prog.dirty = keep
	return next
}

// DocDownloads returns the downloader's counters for doc: what is queued
// and running for it now, and what became of its downloads since the
// live actor started.
func (la *Actor) DocDownloads(ctx context.Context, doc replica.NamespaceID) (DocDownloads, error) {
	return call(ctx, la, func(s *scheduler) DocDownloads { return s.docDownloads(doc) })
}

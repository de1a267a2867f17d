package live

import (
	"errors"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// progressEvents returns the EventContentProgress among effs.
func progressEvents(effs []effect) []Event {
	var out []Event
	for _, e := range effs {
		if e.kind == effEmit && e.ev.Kind == EventContentProgress {
			out = append(out, e.ev)
		}
	}
	return out
}

// TestSchedulerContentProgress: the per-document counters follow the
// downloads through queue, flight, retry, completion and failure, and
// EventContentProgress goes out at once for the first change and then at
// most once per ContentProgressInterval, with the latest counters.
func TestSchedulerContentProgress(t *testing.T) {
	s, doc := testSched(selfID)
	s.content, s.maxBlob = true, 1<<20
	s.cfg.MaxDownloads = 1
	s.cfg.DownloadRetries = 2
	every := s.cfg.ContentProgressInterval
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(lowID, 1)})
	s.take()
	want := func(h byte, n uint64) contentWant {
		se := replica.SignedEntry{Entry: replica.Entry{Namespace: doc, Key: []byte{h}}}
		se.Hash, se.Len = replica.Hash{h}, n
		return contentWant{doc: doc, entry: se, from: lowID}
	}
	s.stored(t0, &storeNews{wants: []contentWant{want(1, 100), want(2, 50)}})
	s.take()
	if got := s.docDownloads(doc); got != (DocDownloads{Queued: 1, Running: 1, BytesQueued: 150}) {
		t.Fatalf("queued two, one runs: %+v", got)
	}
	if next := s.flushProgress(t0); !next.IsZero() {
		t.Fatalf("first flush: next %v", next)
	}
	evs := progressEvents(s.take())
	if len(evs) != 1 || evs[0].Doc != doc || evs[0].Downloads.Running != 1 || evs[0].Downloads.Queued != 1 {
		t.Fatalf("first change: %+v", evs)
	}

	// The running one fails once (retried), the other runs and completes:
	// three changes within the interval make one event, after it.
	first, second := s.dl.byHash[replica.Hash{1}], s.dl.byHash[replica.Hash{2}]
	s.downloaded(t0, first, endpoint.NodeID{}, errors.New("refused"), false)
	s.downloaded(t0, second, lowID, nil, false)
	s.take()
	next := s.flushProgress(t0.Add(every / 2))
	if !next.Equal(t0.Add(every)) || len(progressEvents(s.take())) != 0 {
		t.Fatalf("within the interval: next %v", next)
	}
	if next := s.flushProgress(t0.Add(every)); !next.IsZero() {
		t.Fatalf("due flush: next %v", next)
	}
	evs = progressEvents(s.take())
	wantC := DocDownloads{Queued: 1, Completed: 1, BytesQueued: 150, BytesCompleted: 50}
	if len(evs) != 1 || evs[0].Downloads != wantC {
		t.Fatalf("coalesced: %+v, want %+v", evs, wantC)
	}
	if next := s.flushProgress(t0.Add(3 * every)); !next.IsZero() || len(progressEvents(s.take())) != 0 {
		t.Fatal("an event without a change")
	}

	// The retry runs and fails for good: counted as failed, nothing left.
	s.tick(t0.Add(time.Hour))
	s.take()
	if got := s.docDownloads(doc); got.Running != 1 || got.Queued != 0 {
		t.Fatalf("retry running: %+v", got)
	}
	s.downloaded(t0.Add(time.Hour), first, endpoint.NodeID{}, errors.New("gone"), false)
	s.take()
	s.flushProgress(t0.Add(time.Hour))
	evs = progressEvents(s.take())
	wantC = DocDownloads{Completed: 1, Failed: 1, BytesQueued: 150, BytesCompleted: 50, BytesFailed: 100}
	if len(evs) != 1 || evs[0].Downloads != wantC || !evs[0].Downloads.Idle() {
		t.Fatalf("given up: %+v, want %+v", evs, wantC)
	}

	// A document that wants a blob already in flight counts it as running.
	other := replica.NamespaceID{9}
	s.stored(t0, &storeNews{wants: []contentWant{want(3, 10)}})
	third := s.dl.byHash[replica.Hash{3}]
	w := want(3, 10)
	w.doc, w.entry.Namespace = other, other
	s.wantContent(t0, other, &w.entry, lowID)
	if got := s.docDownloads(other); got != (DocDownloads{Running: 1, BytesQueued: 10}) {
		t.Fatalf("joined a running download: %+v", got)
	}
	s.downloaded(t0, third, lowID, nil, false)
	for _, d := range []replica.NamespaceID{doc, other} {
		if got := s.docDownloads(d); !got.Idle() || got.Completed == 0 {
			t.Fatalf("%s after the shared download: %+v", d.Short(), got)
		}
	}
	if len(s.prog.started) != 0 {
		t.Fatalf("running downloads left: %d", len(s.prog.started))
	}
}

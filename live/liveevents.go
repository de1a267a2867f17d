package live

import (
	"fmt"
	"sync"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/fanout"
	"github.com/docsnode/docsnode/replica"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventInsertLocal: an entry written on this node was stored.
	EventInsertLocal EventKind = iota + 1
	// EventInsertRemote: an entry From sent (in a sync session or by
	// gossip) was stored.
	EventInsertRemote
	// EventNeighborUp: Peer joined the document's swarm.
	EventNeighborUp
	// EventNeighborDown: Peer left the swarm or was found dead.
	EventNeighborDown
	// EventSyncFinished: a session with Peer ended; Outcome and Err say how.
	EventSyncFinished
	// EventLagged: the subscriber fell behind and Missed events were
	// dropped. Query the document to catch up.
	EventLagged
	// EventContentReady: the content with Hash was downloaded (from
	// Peer) and is now held.
	EventContentReady
	// EventPendingContentReady: every download queued for the document so
	// far has finished or been given up: the content the syncs brought in
	// that the download policy wanted is here, or will not come without a
	// new request. It is sent each time the document's downloads run out,
	// once per such moment.
	EventPendingContentReady
	// EventContentFailed: the download of the content with Hash was given
	// up after Config.DownloadRetries attempts; Err says why the last
	// one failed.
	EventContentFailed
	// EventSyncProgress: a session this node dialled to Peer is under way;
	// Outcome is the session so far: Wanted counts the entries asked of
	// the peer (it grows while reconciliation runs), Received those that
	// arrived. Sent at most every SessionConfig.ProgressInterval, and once
	// more before EventSyncFinished.
	EventSyncProgress
	// EventContentProgress: the document's downloads were queued,
	// started, finished or given up; Downloads holds its counters after
	// the change. Changes are coalesced: at most one such event per
	// document per Config.ContentProgressInterval, the last one of a
	// burst carrying the final counters.
	EventContentProgress
)

func (k EventKind) String() string {
	switch k {
	case EventInsertLocal:
		return "insert-local"
	case EventInsertRemote:
		return "insert-remote"
	case EventNeighborUp:
		return "neighbor-up"
	case EventNeighborDown:
		return "neighbor-down"
	case EventSyncFinished:
		return "sync-finished"
	case EventLagged:
		return "lagged"
	case EventContentReady:
		return "content-ready"
	case EventPendingContentReady:
		return "pending-content-ready"
	case EventContentFailed:
		return "content-failed"
	case EventSyncProgress:
		return "sync-progress"
	case EventContentProgress:
		return "content-progress"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one thing that happened to a document on this node.
type Event struct {
	Kind    EventKind
	Doc     replica.NamespaceID
	Entry   replica.SignedEntry // InsertLocal, InsertRemote
	Peer    endpoint.NodeID     // InsertRemote (the sender), Neighbor*, SyncFinished, ContentReady (the server)
	Outcome Outcome             // SyncFinished, SyncProgress (so far)
	Err     error               // SyncFinished: nil when the session completed; ContentFailed
	Missed  uint64              // Lagged
	Hash    replica.Hash        // ContentReady, ContentFailed
	// ContentStatus (InsertRemote) is how much of the entry's content
	// this node held when the entry was stored. A download is queued for
	// content not Complete when the document's download policy wants it.
	ContentStatus ContentStatus
	// Downloads (ContentProgress) is the downloader's state for the
	// document.
	Downloads DocDownloads
}

// Subscription receives the Events of one document on C. Delivery
// never blocks the live actor: when C's buffer is full, events are dropped
// and counted, and the next event that fits is preceded by an EventLagged
// with the count.
type Subscription struct {
	c      chan Event
	doc    replica.NamespaceID
	h      *hub
	missed uint64 // under h.mu
	closed bool   // under h.mu
}

// C returns the event channel. It is closed by Close, by a Leave that
// closes subscriptions, or when the live actor closes.
func (s *Subscription) C() <-chan Event { return s.c }

// Close ends the subscription and closes C.
func (s *Subscription) Close() { s.h.remove(s) }

// hub holds the subscriptions. Events are offered under its lock without
// blocking, from the loop (sync, neighbour, content events) and from the
// store's event pump (inserts), so an entry reaches subscribers without
// passing through the loop.
type hub struct {
	mu     sync.Mutex
	buffer int
	subs   map[replica.NamespaceID]map[*Subscription]struct{}
	shut   bool
	// dropped counts the events subscribers missed, over all of them.
	dropped uint64
}

func (h *hub) add(doc replica.NamespaceID) *Subscription {
	s := &Subscription{c: make(chan Event, h.buffer), doc: doc, h: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shut {
		s.closed = true
		close(s.c)
		return s
	}
	m := h.subs[doc]
	if m == nil {
		m = make(map[*Subscription]struct{})
		h.subs[doc] = m
	}
	m[s] = struct{}{}
	return s
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *hub) removeLocked(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	m := h.subs[s.doc]
	delete(m, s)
	if len(m) == 0 {
		delete(h.subs, s.doc)
	}
	close(s.c)
}

// closeDoc closes every subscription of doc.
func (h *hub) closeDoc(doc replica.NamespaceID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[doc] {
		h.removeLocked(s)
	}
}

// closeAll closes every subscription, and those added later at once.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shut = true
	for _, m := range h.subs {
		for s := range m {
			h.removeLocked(s)
		}
	}
}

// emit offers ev to its document's subscribers without blocking.
func (h *hub) emit(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.Doc] {
		if s.deliver(ev) {
			h.dropped++
		}
	}
}

// lagged tells every subscriber that missed events were lost upstream.
func (h *hub) lagged(missed uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for s := range m {
			if s.deliver(Event{Kind: EventLagged, Doc: s.doc, Missed: missed}) {
				h.dropped++
			}
		}
	}
}

// droppedEvents returns how many events subscribers missed so far.
func (h *hub) droppedEvents() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// deliver offers ev without blocking, under h.mu, and reports whether it
// was dropped.
func (s *Subscription) deliver(ev Event) bool {
	return fanout.Offer(s.c, &s.missed, ev, func(n uint64) Event {
		return Event{Kind: EventLagged, Doc: s.doc, Missed: n}
	})
}

package live

import (
	"fmt"

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
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one thing that happened to a document on this node.
type Event struct {
	Kind    EventKind
	Doc     replica.NamespaceID
	Entry   replica.SignedEntry // InsertLocal, InsertRemote
	Peer    endpoint.NodeID     // InsertRemote (the sender), Neighbor*, SyncFinished, ContentReady (the server)
	Outcome Outcome             // SyncFinished
	Err     error               // SyncFinished: nil when the session completed; ContentFailed
	Missed  uint64              // Lagged
	Hash    replica.Hash        // ContentReady, ContentFailed
	// ContentStatus (InsertRemote) is how much of the entry's content
	// this node held when the entry was stored. A download is queued for
	// content not Complete when the document's download policy wants it.
	ContentStatus ContentStatus
}

// Subscription receives the Events of one document on C. Delivery
// never blocks the live actor: when C's buffer is full, events are dropped
// and counted, and the next event that fits is preceded by an EventLagged
// with the count.
type Subscription struct {
	c      chan Event
	doc    replica.NamespaceID
	la     *Actor
	missed uint64 // owned by the loop
}

// C returns the event channel. It is closed by Close or when the
// LiveActor closes.
func (s *Subscription) C() <-chan Event { return s.c }

// Close ends the subscription; C is closed soon after.
func (s *Subscription) Close() {
	select {
	case s.la.inbox <- unsubscribeReq{sub: s}:
	case <-s.la.done:
	}
}

// deliver offers ev without blocking. It runs on the loop only.
func (s *Subscription) deliver(ev Event) {
	fanout.Offer(s.c, &s.missed, ev, func(n uint64) Event {
		return Event{Kind: EventLagged, Doc: s.doc, Missed: n}
	})
}

package actor

import (
	"context"
	"sync"

	"github.com/docsnode/docsnode/internal/fanout"
	"github.com/docsnode/docsnode/replica"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// InsertLocal: an entry written on this node was stored.
	InsertLocal EventKind = iota + 1
	// InsertRemote: an entry received from a peer was stored.
	InsertRemote
	// Lagged: the subscriber fell behind and Missed events were dropped.
	// Query the document to catch up.
	Lagged
)

func (k EventKind) String() string {
	switch k {
	case InsertLocal:
		return "insert-local"
	case InsertRemote:
		return "insert-remote"
	case Lagged:
		return "lagged"
	}
	return "event(?)"
}

// Event is one change to a document. It is sent with the acknowledgement of
// the write that made it and promises what that acknowledgement promises:
// for a Durable document the write is committed and fsynced; for a Batched
// one it is applied, and committed and synced later unless the store fails
// first (see replica.Batched). So an event of a Batched write may report
// an entry the store then loses; the store has failed in that case
// (ErrStoreFailed), and no event is sent after the failure. The event of a
// durable write whose commit fails is never sent.
type Event struct {
	Kind      EventKind
	Namespace replica.NamespaceID
	Entry     replica.SignedEntry // InsertLocal, InsertRemote
	From      replica.PeerID      // InsertRemote
	Missed    uint64              // Lagged
}

// Subscription receives a document's events on C. Delivery never blocks the
// actor: when C's buffer is full, events are dropped and counted, and the
// next event that fits is preceded by a Lagged event with the count.
type Subscription struct {
	ch     chan Event
	all    bool
	ns     replica.NamespaceID
	missed uint64 // owned by the loop

	a    *Actor
	once sync.Once
}

// C returns the event channel. It is closed by Close or when the actor stops.
func (s *Subscription) C() <-chan Event { return s.ch }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		// Unsubscribing goes through the loop so C is closed exactly once, by
		// the goroutine that sends on it. After Close the loop closes it.
		_, _ = callHousekeeping(context.Background(), s.a, func(a *Actor) (struct{}, error) {
			if _, ok := a.subs[s]; ok {
				delete(a.subs, s)
				close(s.ch)
			}
			return struct{}{}, nil
		})
	})
}

// Subscribe returns a subscription to the inserts of one document, which
// the actor must hold (replica.ErrNotFound otherwise). Every insert
// acknowledged after Subscribe returns is delivered (or counted in a
// Lagged event), queued before its write call returns.
func (a *Actor) Subscribe(ctx context.Context, ns replica.NamespaceID) (*Subscription, error) {
	if _, _, err := a.doc(ns); err != nil {
		return nil, err
	}
	return a.subscribe(ctx, &Subscription{ns: ns})
}

// SubscribeAll returns a subscription to the inserts of every document.
func (a *Actor) SubscribeAll(ctx context.Context) (*Subscription, error) {
	return a.subscribe(ctx, &Subscription{all: true})
}

func (a *Actor) subscribe(ctx context.Context, s *Subscription) (*Subscription, error) {
	s.a = a
	s.ch = make(chan Event, a.cfg.SubscriberBuffer)
	return call(ctx, a, false, false, func(a *Actor) (*Subscription, error) {
		a.subs[s] = struct{}{}
		return s, nil
	})
}

// fanOut offers ev to every interested subscriber without blocking.
func (a *Actor) fanOut(ev *Event) {
	for s := range a.subs {
		if (s.all || s.ns == ev.Namespace) && s.offer(ev) {
			a.eventsDropped.Add(1)
		}
	}
}

// offer reports whether ev was dropped.
func (s *Subscription) offer(ev *Event) bool {
	return fanout.Offer(s.ch, &s.missed, *ev, func(n uint64) Event {
		return Event{Kind: Lagged, Namespace: ev.Namespace, Missed: n}
	})
}

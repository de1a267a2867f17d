// Package admission holds the fair-share bookkeeping the servers (sync
// sessions, content fetches) use to admit work from peers: slots counted
// per peer, and the choice of the slot a newcomer may preempt when every
// slot is taken.
//
// The rule: a newcomer whose peer holds fewer slots than its fair share
// (the limit divided by the peers holding slots, the newcomer's peer
// counted) may take a slot of the peer holding the most, if that peer
// holds more than the newcomer's; of that peer's slots (or those peers',
// on a tie), the stalest goes: the one whose last progress is oldest, then
// the one that progressed least, then the oldest.
package admission

import (
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

// Activity is a slot's progress. Its methods are safe for concurrent use:
// the worker ticks it, the admission reads it.
type Activity struct {
	start time.Time
	last  atomic.Int64 // Unix nanoseconds
	moves atomic.Uint64
}

// Begin starts the activity at now.
func (a *Activity) Begin(now time.Time) {
	a.start = now
	a.last.Store(now.UnixNano())
}

// Tick records progress at now.
func (a *Activity) Tick(now time.Time) {
	a.last.Store(now.UnixNano())
	a.moves.Add(1)
}

// Staler reports whether a is a better victim than b: its last progress
// is older; on a tie it progressed less; then it began earlier.
func (a *Activity) Staler(b *Activity) bool {
	if la, lb := a.last.Load(), b.last.Load(); la != lb {
		return la < lb
	}
	if ma, mb := a.moves.Load(), b.moves.Load(); ma != mb {
		return ma < mb
	}
	return a.start.Before(b.start)
}

// Slot is what a Set holds: a handle that names its peer and its
// activity.
type Slot interface {
	comparable
	SlotPeer() endpoint.NodeID
	SlotActivity() *Activity
}

// Set is a set of slots counted by peer. It is not safe for concurrent
// use: its owner guards it.
type Set[S Slot] struct {
	all    map[S]struct{}
	byPeer map[endpoint.NodeID]int
}

// NewSet returns an empty set.
func NewSet[S Slot]() *Set[S] {
	return &Set[S]{all: make(map[S]struct{}), byPeer: make(map[endpoint.NodeID]int)}
}

// Len is the number of slots held.
func (s *Set[S]) Len() int { return len(s.all) }

// Count is the number of slots peer holds.
func (s *Set[S]) Count(peer endpoint.NodeID) int { return s.byPeer[peer] }

// Has reports whether sl is held.
func (s *Set[S]) Has(sl S) bool {
	_, ok := s.all[sl]
	return ok
}

// Add holds sl.
func (s *Set[S]) Add(sl S) {
	if _, ok := s.all[sl]; ok {
		return
	}
	s.all[sl] = struct{}{}
	s.byPeer[sl.SlotPeer()]++
}

// Remove releases sl and reports whether it was held.
func (s *Set[S]) Remove(sl S) bool {
	if _, ok := s.all[sl]; !ok {
		return false
	}
	delete(s.all, sl)
	p := sl.SlotPeer()
	if s.byPeer[p]--; s.byPeer[p] <= 0 {
		delete(s.byPeer, p)
	}
	return true
}

// Victim picks the slot a newcomer from peer may preempt when all limit
// slots are taken, by the package's rule; ok is false when there is none.
func (s *Set[S]) Victim(peer endpoint.NodeID, limit int) (v S, ok bool) {
	held := s.byPeer[peer]
	peers := len(s.byPeer)
	if held == 0 {
		peers++
	}
	if held*peers >= limit {
		return v, false
	}
	most := 0
	for p, n := range s.byPeer {
		if p != peer && n > most {
			most = n
		}
	}
	if most <= held {
		return v, false
	}
	for sl := range s.all {
		p := sl.SlotPeer()
		if p != peer && s.byPeer[p] == most && (!ok || sl.SlotActivity().Staler(v.SlotActivity())) {
			v, ok = sl, true
		}
	}
	return v, ok
}

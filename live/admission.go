package live

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

// slot is one stream a Server handles, and its session once served.
type slot struct {
	peer   endpoint.NodeID
	start  time.Time
	cancel context.CancelCauseFunc
	// activity is when the session last read or wrote a frame or stored
	// a batch (Unix nanoseconds), and how many times; the session updates
	// both, the admission reads them to find the stalest slot.
	activity activity
	key      sessionKey // once served; guarded by Server.mu
}

// activity is a session's progress as its Server sees it.
type activity struct {
	last  atomic.Int64
	moves atomic.Uint64
}

func (a *activity) tick(now time.Time) {
	a.last.Store(now.UnixNano())
	a.moves.Add(1)
}

func newSlot(peer endpoint.NodeID, cancel context.CancelCauseFunc) *slot {
	sl := &slot{peer: peer, start: time.Now(), cancel: cancel}
	sl.activity.last.Store(sl.start.UnixNano())
	return sl
}

// staler reports whether a is a better victim than b: its last activity
// is older; on a tie it moved less, then it is older.
func (a *slot) staler(b *slot) bool {
	if la, lb := a.activity.last.Load(), b.activity.last.Load(); la != lb {
		return la < lb
	}
	if ma, mb := a.activity.moves.Load(), b.activity.moves.Load(); ma != mb {
		return ma < mb
	}
	return a.start.Before(b.start)
}

// slotSet is a set of slots counted by peer. It is guarded by the
// Server's mutex.
type slotSet struct {
	all    map[*slot]struct{}
	byPeer map[endpoint.NodeID]int
}

func newSlotSet() slotSet {
	return slotSet{all: make(map[*slot]struct{}), byPeer: make(map[endpoint.NodeID]int)}
}

func (s slotSet) len() int                       { return len(s.all) }
func (s slotSet) count(peer endpoint.NodeID) int { return s.byPeer[peer] }

func (s slotSet) has(sl *slot) bool {
	_, ok := s.all[sl]
	return ok
}

func (s slotSet) add(sl *slot) {
	s.all[sl] = struct{}{}
	s.byPeer[sl.peer]++
}

// remove takes sl out and reports whether it was in.
func (s slotSet) remove(sl *slot) bool {
	if _, ok := s.all[sl]; !ok {
		return false
	}
	delete(s.all, sl)
	if s.byPeer[sl.peer]--; s.byPeer[sl.peer] <= 0 {
		delete(s.byPeer, sl.peer)
	}
	return true
}

// victim picks the slot a newcomer from peer may take when all limit
// slots are taken, or nil. The newcomer must hold fewer than its fair
// share (limit over the peers holding slots, itself counted), and the
// victim's peer must hold the most slots, more than the newcomer's peer;
// among that peer's slots (or those peers', on a tie) the stalest goes.
func (s slotSet) victim(peer endpoint.NodeID, limit int) *slot {
	held := s.byPeer[peer]
	peers := len(s.byPeer)
	if held == 0 {
		peers++
	}
	if held*peers >= limit {
		return nil
	}
	most := 0
	for p, n := range s.byPeer {
		if p != peer && n > most {
			most = n
		}
	}
	if most <= held {
		return nil
	}
	var v *slot
	for sl := range s.all {
		if sl.peer != peer && s.byPeer[sl.peer] == most && (v == nil || sl.staler(v)) {
			v = sl
		}
	}
	return v
}

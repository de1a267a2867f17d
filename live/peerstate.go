package live

import (
	"bytes"
	"errors"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// This file holds the pure part of live sync: the state of one
// (document, peer) pair and the has-news-for-us check. Nothing here starts
// goroutines, reads a clock or touches a socket; the live actor feeds it
// what happened and acts on what it answers.

// SyncReason says why this node dialled a sync session.
type SyncReason uint8

const (
	// ReasonDirect: the application asked (StartSync, an imported ticket).
	ReasonDirect SyncReason = iota + 1
	// ReasonNeighbor: the peer joined the document's swarm.
	ReasonNeighbor
	// ReasonReport: the peer's sync report showed it has news for us.
	ReasonReport
	// ReasonResync: news arrived while a session ran; this one catches up.
	ReasonResync
	// ReasonCatchUp: the document went quiet after inserts; a session
	// with a random neighbour repairs any gossip push that was lost.
	ReasonCatchUp
)

func (r SyncReason) String() string {
	switch r {
	case ReasonDirect:
		return "direct"
	case ReasonNeighbor:
		return "neighbor"
	case ReasonReport:
		return "report"
	case ReasonResync:
		return "resync"
	case ReasonCatchUp:
		return "catch-up"
	}
	return "reason(?)"
}

// Origin says which side opened a running session.
type Origin uint8

const (
	// OriginNone: no session is running.
	OriginNone Origin = iota
	// OriginConnect: this node dialled.
	OriginConnect
	// OriginAccept: the peer dialled and this node serves.
	OriginAccept
)

func (o Origin) String() string {
	switch o {
	case OriginNone:
		return "idle"
	case OriginConnect:
		return "connect"
	case OriginAccept:
		return "accept"
	}
	return "origin(?)"
}

// PeerState is the sync state of one document with one peer: Idle, or
// Running with the origin of the session; whether news arrived meanwhile
// (the resync flag); and the consecutive failed dials,
// which the caller turns into a back-off.
//
// An outgoing and an incoming session can overlap for a moment when both
// nodes dial at once. The dial of the node with the lower id wins: the
// higher node's acceptor serves it, the lower node's acceptor refuses the
// other with AbortAlreadySyncing. The refused dial just ends; it never
// leaves the state Running.
type PeerState struct {
	dialing   bool
	accepting bool
	reason    SyncReason
	resync    bool
	// Failures counts dials in a row that failed (a refusal because the
	// peer was already syncing with us does not count).
	Failures int
}

// Running reports whether a session with the peer is under way.
func (s *PeerState) Running() bool { return s.dialing || s.accepting }

// Origin is the side that opened the running session; OriginNone when
// Idle. While a lost simultaneous dial winds down, the accepted session is
// the one that counts.
func (s *PeerState) Origin() Origin {
	switch {
	case s.accepting:
		return OriginAccept
	case s.dialing:
		return OriginConnect
	}
	return OriginNone
}

// ResyncRequested reports whether news arrived that the running session
// may not cover.
func (s *PeerState) ResyncRequested() bool { return s.resync }

// WantSync records a reason to sync. It returns true when the caller
// should dial now, and the state is then Running(connect). While a session
// runs it sets the resync flag instead, so that the news is not lost.
func (s *PeerState) WantSync(reason SyncReason) (dial bool) {
	if s.Running() {
		s.resync = true
		return false
	}
	s.dialing, s.reason, s.resync = true, reason, false
	return true
}

// Incoming decides on a session the peer opened: 0 to serve it, or
// AbortAlreadySyncing. self and peer are the two node ids, which break
// the tie when both dialled at once.
func (s *PeerState) Incoming(self, peer endpoint.NodeID) AbortReason {
	if s.accepting {
		return AbortAlreadySyncing
	}
	if s.dialing && DialWins(self, peer) {
		return AbortAlreadySyncing
	}
	s.accepting = true
	return 0
}

// DialWins reports whether a's dial wins over b's when both dial each
// other at once: the lower node id wins.
func DialWins(a, b endpoint.NodeID) bool { return bytes.Compare(a[:], b[:]) < 0 }

// DialFinished records the end of this node's dial, with nil or the error
// that ended it. It returns true when the caller should sync again (news
// arrived meanwhile and nothing runs now); the resync flag is then
// cleared, and the caller calls WantSync when its back-off allows.
//
// A refusal because the peer already runs a session with us
// (ErrAlreadySyncing) is not a failure, and asks for nothing: when that
// session is one this node serves, it covers this one; when it is not
// (yet) seen here, the caller retries after a back-off, never at once,
// since the peer's session ends on its own time.
func (s *PeerState) DialFinished(err error) (again bool) {
	s.dialing = false
	switch {
	case err == nil:
		s.Failures = 0
	case errors.Is(err, ErrAlreadySyncing):
	default:
		s.Failures++
	}
	return s.takeResync()
}

// AcceptFinished records the end of a session the peer opened, with nil or
// the error that ended it. It returns true when the caller should sync
// again.
func (s *PeerState) AcceptFinished(err error) (again bool) {
	s.accepting = false
	if err == nil {
		s.Failures = 0
	}
	return s.takeResync()
}

func (s *PeerState) takeResync() bool {
	if s.resync && !s.Running() {
		s.resync = false
		return true
	}
	return false
}

// HasNewsFor reports whether a peer whose heads are theirs holds entries
// we lack: it has an author we have never seen, or a later entry of one
// we know. Equal or older heads are no news: a sync would move nothing
// our way.
func HasNewsFor(ours, theirs replica.Heads) bool {
	for author, t := range theirs {
		if o, ok := ours[author]; !ok || t > o {
			return true
		}
	}
	return false
}

// ReportGate decides which sync reports with news start a session, for one
// document (DESIGN, resync storms). A report reaches every member of the
// swarm, and every session that brings entries makes its node report in
// turn. If each report with news started a session, one write that
// travels by sync (its gossip lost) would have every node sync with every
// node that got it before: sessions quadratic in the swarm's size.
//
// The gate lets one report-started session run per document at a time.
// While it runs, the latest report of each other reporter is kept, not
// acted on; when it ends, Next offers one kept reporter whose report
// still shows news for the heads held then, in random order, and drops
// the others that no longer do. News that one session brought is not
// fetched again from every node that reported it, and news it did not
// bring is still fetched, by one more session.
type ReportGate struct {
	busy     bool
	holder   endpoint.NodeID // the reporter the running session is with
	deferred map[endpoint.NodeID]replica.Heads
}

// maxDeferredReports bounds the reports a ReportGate keeps; the latest
// reporters past it are dropped (later reports bring them back).
const maxDeferredReports = 64

// Report takes a report of from that shows news for us (HasNewsFor). It
// returns true when the caller should sync with from now; otherwise the
// report is kept for Next.
func (g *ReportGate) Report(from endpoint.NodeID, theirs replica.Heads) bool {
	if !g.busy || g.holder == from {
		g.busy, g.holder = true, from
		delete(g.deferred, from)
		return true
	}
	if _, ok := g.deferred[from]; ok || len(g.deferred) < maxDeferredReports {
		if g.deferred == nil {
			g.deferred = make(map[endpoint.NodeID]replica.Heads)
		}
		g.deferred[from] = theirs
	}
	return false
}

// Release reports that the sessions with peer are over for now (none runs).
// It returns true when peer held the gate, which is then open.
func (g *ReportGate) Release(peer endpoint.NodeID) bool {
	if !g.busy || g.holder != peer {
		return false
	}
	g.busy = false
	return true
}

// Holds reports whether peer holds the gate: the report-started session
// runs, or is to run, with it.
func (g *ReportGate) Holds(peer endpoint.NodeID) bool { return g.busy && g.holder == peer }

// Deferred reports whether reports are kept for Next.
func (g *ReportGate) Deferred() bool { return len(g.deferred) > 0 }

// Next picks, once the gate is open, a kept reporter whose report still
// shows news for ours, and gives it the gate: the caller syncs with it.
// Reports that no longer show news are dropped.
func (g *ReportGate) Next(ours replica.Heads) (endpoint.NodeID, bool) {
	if g.busy {
		return endpoint.NodeID{}, false
	}
	for id, theirs := range g.deferred { // map order: a random pick
		switch {
		case !HasNewsFor(ours, theirs):
			delete(g.deferred, id)
		case !g.busy:
			delete(g.deferred, id)
			g.busy, g.holder = true, id
		}
	}
	return g.holder, g.busy
}

// Backoff is how long to wait before dialling again after failures
// failed dials in a row: base doubled per failure up to max, scaled by
// jitter (in [0, 1)) into the upper half of that, so that nodes that
// failed together do not retry together. No failures: no wait.
func Backoff(failures int, base, max time.Duration, jitter float64) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(float64(d/2)*jitter)
}

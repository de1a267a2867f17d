package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Errors of WaitSynced.
var (
	// ErrNotSyncing: the document is not open for sync (or was left while
	// waiting).
	ErrNotSyncing = errors.New("live: document is not open for sync")
	// ErrUnknownPeer: the peer is neither a peer of the document's swarm
	// nor one it synced with before, so there is nobody to dial.
	ErrUnknownPeer = errors.New("live: unknown peer")
	// ErrUnreachable: every dial to the peer failed, up to MaxRetries.
	ErrUnreachable = errors.New("live: peer unreachable")
)

// syncWaiter is one WaitSynced call: it is answered by the first session
// with the peer numbered above after that completes with equal sets.
type syncWaiter struct {
	ctx   context.Context
	after uint64
	reply chan error // capacity 1; answered once
}

type waitSyncedReq struct {
	doc   replica.NamespaceID
	peer  endpoint.NodeID
	known *endpoint.NodeAddr // from the stored sync peers, if there
	w     *syncWaiter
}

type cancelWaitReq struct {
	doc  replica.NamespaceID
	peer endpoint.NodeID
	w    *syncWaiter
}

type syncStatusReq struct {
	doc   replica.NamespaceID
	reply chan []PeerSyncStatus
}

// WaitSynced returns once peer has confirmed that it holds every entry
// this node held for doc when WaitSynced was called: a sync session with
// peer that started after the call ended with both sets equal (each side
// sent the other a summary of its set after storing what it received).
// No timer stands in for that confirmation.
//
// When no session with peer runs, WaitSynced starts one; when one runs
// that started before the call, it asks for another after it. A session
// that ends unequal (one side wrote meanwhile) is followed by another.
// Entries written after the call may or may not be covered.
//
// It returns ctx.Err() when ctx ends first, ErrNotSyncing when doc is not
// open for sync or is left, ErrUnknownPeer when peer is neither in the
// document's swarm nor among its stored sync peers, and an error wrapping
// ErrUnreachable once MaxRetries dials in a row have failed.
func (la *Actor) WaitSynced(ctx context.Context, doc replica.NamespaceID, peer endpoint.NodeID) error {
	if peer == la.self {
		return nil // we hold what we hold
	}
	var known *endpoint.NodeAddr
	if stored, err := la.storedPeers(ctx, doc); err == nil {
		for _, a := range stored {
			if a.ID == peer {
				known = &a
				break
			}
		}
	}
	w := &syncWaiter{ctx: ctx, reply: make(chan error, 1)}
	select {
	case la.inbox <- waitSyncedReq{doc: doc, peer: peer, known: known, w: w}:
	case <-ctx.Done():
		return ctx.Err()
	case <-la.done:
		return ErrClosed
	}
	select {
	case err := <-w.reply:
		return err
	case <-ctx.Done():
		// Take the waiter back, so that it stops asking for sessions.
		select {
		case la.inbox <- cancelWaitReq{doc: doc, peer: peer, w: w}:
		case <-la.done:
		}
		return ctx.Err()
	case <-la.done:
		return ErrClosed
	}
}

// addWaiter runs on the loop.
func (la *Actor) addWaiter(req waitSyncedReq) {
	d := la.docs[req.doc]
	if d == nil {
		req.w.reply <- fmt.Errorf("live: wait for %s on %s: %w", req.peer.Short(), req.doc.Short(), ErrNotSyncing)
		return
	}
	p := d.peers[req.peer]
	if p == nil && req.known == nil {
		// A member whose NeighborUp the loop has not seen yet.
		for _, m := range d.swarm.Members() {
			if m.ID == req.peer {
				req.known = &m
				break
			}
		}
	}
	if p == nil {
		if req.known == nil {
			req.w.reply <- fmt.Errorf("live: wait for %s on %s: %w", req.peer.Short(), req.doc.Short(), ErrUnknownPeer)
			return
		}
		p = d.peer(req.peer)
	}
	if req.known != nil && len(p.addr.Addrs) == 0 {
		p.learn(*req.known)
	}
	req.w.after = p.seq
	p.waiters = append(p.waiters, req.w)
	if p.state.Running() {
		p.state.WantSync(ReasonDirect) // flags a resync after the running session
		return
	}
	// The application asks: try afresh, past any back-off.
	p.state.Failures = 0
	p.retryAt = time.Time{}
	la.want(d, p, ReasonDirect)
}

// dropWaiter runs on the loop.
func (la *Actor) dropWaiter(req cancelWaitReq) {
	d := la.docs[req.doc]
	if d == nil {
		return
	}
	if p := d.peers[req.peer]; p != nil {
		p.waiters = slices.DeleteFunc(p.waiters, func(w *syncWaiter) bool { return w == req.w })
	}
}

// sessionEnded answers the waiters a finished session (numbered seq)
// satisfies, fails them when the peer proved unreachable, and otherwise
// makes sure another session follows while some still wait. It runs on
// the loop after the state machine took the session's end.
func (la *Actor) sessionEnded(d *liveDoc, p *livePeer, seq uint64, out Outcome, err error, dialled bool) {
	if len(p.waiters) == 0 {
		return
	}
	ok := err == nil && out.Equal
	unreachable := dialled && err != nil && !errors.Is(err, ErrAlreadySyncing) &&
		p.state.Failures > la.cfg.MaxRetries
	p.waiters = slices.DeleteFunc(p.waiters, func(w *syncWaiter) bool {
		switch {
		case w.ctx.Err() != nil:
			return true
		case ok && seq > w.after:
			w.reply <- nil
			return true
		case unreachable:
			w.reply <- fmt.Errorf("live: wait for %s on %s: %w after %d failed dials: %w",
				p.addr.ID.Short(), d.ns.Short(), ErrUnreachable, p.state.Failures, err)
			return true
		}
		return false
	})
	if len(p.waiters) > 0 && !p.state.Running() && !p.pending {
		la.want(d, p, ReasonResync)
	}
}

// failWaiters answers every waiter of p with err.
func (p *livePeer) failWaiters(err error) {
	for _, w := range p.waiters {
		w.reply <- err
	}
	p.waiters = nil
}

// peerStats is what the sessions with one peer did, for SyncStatus.
type peerStats struct {
	sessions          int
	lastEnd           time.Time
	lastErr           error
	lastEqual         bool
	lastLocal         uint64 // the document's localInserts when the last session started
	last              Outcome
	sent, received    int // entries, over all sessions
	refused, failures int
	hasLast           bool
}

// record takes the end of a session that ran (not a refused duplicate).
func (s *peerStats) record(out Outcome, err error, local uint64) {
	s.sessions++
	s.hasLast = true
	s.lastEnd = out.End
	if s.lastEnd.IsZero() {
		s.lastEnd = time.Now()
	}
	s.lastErr, s.lastEqual, s.lastLocal, s.last = err, err == nil && out.Equal, local, out
	s.sent += out.Sent
	s.received += out.Inserted
	s.refused += out.Refused.Total()
	if err != nil {
		s.failures++
	}
}

// PeerSyncStatus is what this node knows of one peer of a document.
type PeerSyncStatus struct {
	Peer endpoint.NodeID
	// Running is the origin of the session under way, OriginNone if none.
	Running Origin
	// Sessions counts the sessions with the peer that ran (dialled or
	// served) since the document was opened for sync; Failures those of
	// them that ended in an error.
	Sessions, Failures int
	// LastSync is when the last session ended; zero when none has.
	LastSync time.Time
	// LastError is the last session's error text; empty when it
	// completed.
	LastError string
	// LastSent, LastReceived and LastRefused are the last session's
	// counts: entries sent, received and stored, received and refused.
	LastSent, LastReceived, LastRefused int
	// Sent, Received and Refused are the same counts over all sessions.
	Sent, Received, Refused int
	// CaughtUp reports that the last session ended with equal sets and
	// that no local insert has happened since it started.
	CaughtUp bool
}

// OK reports whether the last session completed.
func (s PeerSyncStatus) OK() bool { return !s.LastSync.IsZero() && s.LastError == "" }

// SyncStatus returns the status of doc with each peer it knows, ordered by
// peer id; nil when doc is not open for sync.
func (la *Actor) SyncStatus(ctx context.Context, doc replica.NamespaceID) ([]PeerSyncStatus, error) {
	reply := make(chan []PeerSyncStatus, 1)
	return call(ctx, la, syncStatusReq{doc: doc, reply: reply}, reply)
}

// syncStatus runs on the loop.
func (la *Actor) syncStatus(doc replica.NamespaceID) []PeerSyncStatus {
	d := la.docs[doc]
	if d == nil {
		return nil
	}
	out := make([]PeerSyncStatus, 0, len(d.peers))
	for id, p := range d.peers {
		s := p.stats
		st := PeerSyncStatus{
			Peer: id, Running: p.state.Origin(), Sessions: s.sessions, Failures: s.failures,
			Sent: s.sent, Received: s.received, Refused: s.refused,
		}
		if s.hasLast {
			st.LastSync = s.lastEnd
			if s.lastErr != nil {
				st.LastError = s.lastErr.Error()
			}
			st.LastSent, st.LastReceived, st.LastRefused = s.last.Sent, s.last.Inserted, s.last.Refused.Total()
			st.CaughtUp = s.lastEqual && s.lastLocal == d.localInserts
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PeerSyncStatus) int {
		switch {
		case DialWins(a.Peer, b.Peer):
			return -1
		case DialWins(b.Peer, a.Peer):
			return 1
		}
		return 0
	})
	return out
}

// openKey is the Meta key that marks a document as open for sync: set by
// StartSync, cleared by Leave, read by Resume.
func openKey(doc replica.NamespaceID) string { return "live/open/" + doc.String() }

// Resume opens for sync again every document the store holds that was
// open for sync when the node stopped, with the peers it last synced
// with. It returns the documents it reopened. A document that fails to
// reopen is skipped and its error joined into the result.
func (la *Actor) Resume(ctx context.Context) ([]replica.NamespaceID, error) {
	docs, err := la.act.Docs(ctx)
	if err != nil {
		return nil, fmt.Errorf("live: resume: list documents: %w", err)
	}
	var opened []replica.NamespaceID
	var errs []error
	for _, info := range docs {
		id := info.ID()
		v, err := la.act.Meta(ctx, openKey(id))
		if err != nil || len(v) != 1 || v[0] != 1 {
			continue
		}
		if err := la.StartSync(ctx, id, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		opened = append(opened, id)
	}
	return opened, errors.Join(errs...)
}

package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// nor one it synced with before, and did not appear within
	// Config.UnreachableAfter, so there is nobody to dial.
	ErrUnknownPeer = errors.New("live: unknown peer")
	// ErrUnreachable: dials to the peer failed for Config.UnreachableAfter
	// (or MaxRetries of them in a row).
	ErrUnreachable = errors.New("live: peer unreachable")
)

// syncWaiter is one WaitSynced call: it is answered by the first session
// with the peer numbered above after that completes with equal sets.
type syncWaiter struct {
	after  uint64     // the peer's session number at the call
	since  time.Time  // when the call reached the scheduler
	failed bool       // a dial to the peer failed since
	reply  chan error // capacity 1; answered once
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
// A peer the document does not know yet (not in its swarm, not among its
// stored sync peers, no session with it so far) is waited for: a node
// that just imported a ticket dials in soon after. The first session it
// opens, or the dial once it joins the swarm, counts.
//
// It returns ctx.Err() when ctx ends first, ErrNotSyncing when doc is not
// open for sync or is left, ErrUnknownPeer when peer has not appeared
// within UnreachableAfter, and an error wrapping ErrUnreachable once a
// dial to peer has failed and UnreachableAfter has passed since the call
// (or MaxRetries dials in a row have failed).
func (la *Actor) WaitSynced(ctx context.Context, doc replica.NamespaceID, peer endpoint.NodeID) error {
	if peer == la.self {
		return nil // we hold what we hold
	}
	var known *endpoint.NodeAddr
	if a, ok := la.storedAddr(ctx, peer); ok {
		known = &a
	}
	w := &syncWaiter{reply: make(chan error, 1)}
	if _, err := call(ctx, la, func(s *scheduler) struct{} {
		s.addWaiter(time.Now(), doc, peer, known, w)
		return struct{}{}
	}); err != nil {
		return err
	}
	select {
	case err := <-w.reply:
		return err
	case <-ctx.Done():
		// Take the waiter back, so that it stops asking for sessions.
		la.do(func(s *scheduler) { s.dropWaiter(time.Now(), doc, peer, w) })
		return ctx.Err()
	case <-la.done:
		return ErrClosed
	}
}

// SyncStatus is this node's one record of a document with one peer: what
// runs now, and what the sessions with it did. The record survives a
// restart: it is kept in the store after every session.
type SyncStatus struct {
	Peer endpoint.NodeID
	// Addr is the peer's address as last learned.
	Addr endpoint.NodeAddr
	// Running is the origin of the session under way, OriginNone if none.
	Running Origin
	// Pending: a sync is wanted but waits for a back-off or a dial slot.
	// Resync: news arrived during the running session; another follows.
	Pending, Resync bool
	// Sessions counts the sessions with the peer that ran (dialled or
	// served); Failures those of them that ended in an error.
	Sessions, Failures int
	// LastSync is when the last session ended; zero when none has.
	LastSync time.Time
	// LastOrigin is the side that opened the last session.
	LastOrigin Origin
	// LastError is the last session's error text; empty when it
	// completed.
	LastError string
	// LastEqual: the last session ended with both sets equal.
	LastEqual bool
	// LastSent, LastReceived and LastRefused are the last session's
	// counts: entries sent, received and stored, received and refused.
	LastSent, LastReceived, LastRefused int
	// Sent, Received and Refused are the same counts over all sessions.
	Sent, Received, Refused int
	// CaughtUp reports that the last session ended with equal sets and
	// that no local insert has happened since it started. It is false
	// after a restart until a session with the peer completes.
	CaughtUp bool
}

// OK reports whether the last session completed.
func (s SyncStatus) OK() bool { return !s.LastSync.IsZero() && s.LastError == "" }

// maxRecordError bounds the error text a record keeps.
const maxRecordError = 512

// peerRecord is the persisted part of SyncStatus.
type peerRecord struct {
	Peer       endpoint.NodeID   `json:"peer"`
	Addr       endpoint.NodeAddr `json:"-"`
	AddrBin    []byte            `json:"addr,omitempty"`
	Sessions   int               `json:"sessions"`
	Failures   int               `json:"failures"`
	LastSync   time.Time         `json:"last_sync"`
	LastOrigin Origin            `json:"last_origin"`
	LastError  string            `json:"last_error,omitempty"`
	LastEqual  bool              `json:"last_equal"`
	LastSent   int               `json:"last_sent"`
	LastRecv   int               `json:"last_received"`
	LastRef    int               `json:"last_refused"`
	Sent       int               `json:"sent"`
	Received   int               `json:"received"`
	Refused    int               `json:"refused"`
}

// note folds the end of a session that ran into the record.
func (r *peerRecord) note(now time.Time, out Outcome, err error) {
	r.Sessions++
	r.LastSync = out.End
	if r.LastSync.IsZero() {
		r.LastSync = now
	}
	r.LastOrigin = OriginConnect
	if out.Role == Acceptor {
		r.LastOrigin = OriginAccept
	}
	r.LastError = ""
	if err != nil {
		r.Failures++
		r.LastError = err.Error()
		if len(r.LastError) > maxRecordError {
			r.LastError = r.LastError[:maxRecordError]
		}
	}
	r.LastEqual = err == nil && out.Equal
	r.LastSent, r.LastRecv, r.LastRef = out.Sent, out.Inserted, out.Refused.Total()
	r.Sent += out.Sent
	r.Received += out.Inserted
	r.Refused += out.Refused.Total()
}

func (r *peerRecord) status() SyncStatus {
	return SyncStatus{
		Sessions: r.Sessions, Failures: r.Failures, LastSync: r.LastSync, LastOrigin: r.LastOrigin,
		LastError: r.LastError, LastEqual: r.LastEqual,
		LastSent: r.LastSent, LastReceived: r.LastRecv, LastRefused: r.LastRef,
		Sent: r.Sent, Received: r.Received, Refused: r.Refused,
	}
}

// maxRecordSize bounds a stored record; a larger one is ignored.
const maxRecordSize = 4096

func (r peerRecord) marshal() ([]byte, error) {
	if len(r.Addr.Addrs) > 0 {
		b, err := r.Addr.MarshalBinary()
		if err != nil {
			return nil, err
		}
		r.AddrBin = b
	}
	return json.Marshal(r)
}

func unmarshalRecord(b []byte, peer endpoint.NodeID) (peerRecord, error) {
	var r peerRecord
	if len(b) > maxRecordSize {
		return r, fmt.Errorf("%w: sync record of %d bytes", ErrBadRecord, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return peerRecord{}, fmt.Errorf("%w: sync record: %v", ErrBadRecord, err)
	}
	if r.Peer != peer {
		return peerRecord{}, fmt.Errorf("%w: sync record of another peer", ErrBadRecord)
	}
	if len(r.AddrBin) > 0 {
		var a endpoint.NodeAddr
		if a.UnmarshalBinary(r.AddrBin) == nil && a.ID == peer {
			r.Addr = a
		}
		r.AddrBin = nil
	}
	if r.Addr.ID.IsZero() {
		r.Addr = endpoint.NodeAddr{ID: peer}
	}
	return r, nil
}

// recordKey is the Meta key of the record of doc with peer.
func recordKey(doc replica.NamespaceID, peer endpoint.NodeID) string {
	return "live/sync/" + doc.String() + "/" + peer.String()
}

// SyncStatus returns the record of doc with each peer it knows, ordered by
// peer id; nil when doc is not open for sync.
func (la *Actor) SyncStatus(ctx context.Context, doc replica.NamespaceID) ([]SyncStatus, error) {
	return call(ctx, la, func(s *scheduler) []SyncStatus { return s.syncStatus(doc) })
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

package actor

import (
	"context"
	"fmt"

	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// The loop keeps one reconciliation index per document that a sync session
// has used: an augmented ordered set of the stored entries' (timestamp, id)
// with subtree counts and id sums, so a range fingerprint costs O(log n).
// It is built from the store on first use and then kept equal to the
// stored set by every insert and removal. Sessions run their rounds on the
// loop, so the index never changes under a round and needs no lock.

// index returns the document's index, building it on first use. Loop only.
func (a *Actor) index(ns replica.NamespaceID) (*recon.Index, error) {
	if x, ok := a.indexes[ns]; ok {
		return x, nil
	}
	if _, _, err := a.doc(ns); err != nil {
		return nil, err
	}
	var items []recon.Item
	for it, err := range a.store.Items(ns) {
		if err != nil {
			return nil, fmt.Errorf("actor: build index of %s: %w", ns.Short(), err)
		}
		items = append(items, recon.Item{Timestamp: it.Timestamp, ID: it.ID})
	}
	x := recon.BuildIndex(items)
	a.indexes[ns] = x
	return x, nil
}

// indexAdd and indexRemove keep a built index equal to the stored set.
func (a *Actor) indexAdd(ns replica.NamespaceID, e *replica.Entry) {
	if x, ok := a.indexes[ns]; ok {
		x.Insert(recon.Item{Timestamp: e.Timestamp, ID: e.ID()})
	}
}

func (a *Actor) indexRemove(ns replica.NamespaceID, e *replica.Entry) {
	if x, ok := a.indexes[ns]; ok {
		x.Remove(recon.Item{Timestamp: e.Timestamp, ID: e.ID()})
	}
}

// ReconSession is one side of a reconciliation of a document with a peer.
// Its rounds run on the actor's loop against the document's index.
type ReconSession struct {
	a  *Actor
	ns replica.NamespaceID
	s  *recon.Session
}

// NewReconSession starts a reconciliation of ns. The document's index is
// built now if no session used it before.
func (a *Actor) NewReconSession(ctx context.Context, ns replica.NamespaceID, cfg recon.Config) (*ReconSession, error) {
	return call(ctx, a, false, false, func(a *Actor) (*ReconSession, error) {
		x, err := a.index(ns)
		if err != nil {
			return nil, err
		}
		s, err := recon.NewSession(x, cfg)
		if err != nil {
			return nil, err
		}
		return &ReconSession{a: a, ns: ns, s: s}, nil
	})
}

// Initiate returns the first message, for the side that opens the session.
func (r *ReconSession) Initiate(ctx context.Context) ([]byte, error) {
	return call(ctx, r.a, false, false, func(a *Actor) ([]byte, error) { return r.s.Initiate() })
}

// RoundResult is what one reconciliation round produced.
type RoundResult struct {
	Reply []byte     // nil when the initiator is done
	Have  [][32]byte // ids this side holds and the peer lacks (initiator only)
	Need  [][32]byte // ids the peer holds and this side lacks (initiator only)
	// Local is the size of this side's set, PeerListed how many ids the
	// peer has listed so far (recon.Session.PeerListed): the items the
	// reconciliation has seen.
	Local, PeerListed int
}

// Reconcile processes the peer's message.
func (r *ReconSession) Reconcile(ctx context.Context, msg []byte) (RoundResult, error) {
	return call(ctx, r.a, false, false, func(a *Actor) (RoundResult, error) {
		if _, ok := a.indexes[r.ns]; !ok {
			// The document was dropped during the session.
			return RoundResult{}, fmt.Errorf("actor: reconcile %s: %w", r.ns.Short(), replica.ErrNotFound)
		}
		reply, have, need, err := r.s.Reconcile(msg)
		return RoundResult{Reply: reply, Have: have, Need: need, Local: r.s.Len(), PeerListed: r.s.PeerListed()}, err
	})
}

// Rounds returns the number of messages this session has processed.
func (r *ReconSession) Rounds() int { return r.s.Rounds() }

// SetSummary is a document's stored set in brief: two nodes whose summaries
// are equal hold the same set (up to a 128-bit fingerprint collision).
type SetSummary struct {
	Count       int
	Fingerprint recon.Fingerprint
}

// Summary returns the summary of a document's stored set.
func (a *Actor) Summary(ctx context.Context, ns replica.NamespaceID) (SetSummary, error) {
	return call(ctx, a, false, false, func(a *Actor) (SetSummary, error) {
		x, err := a.index(ns)
		if err != nil {
			return SetSummary{}, err
		}
		return SetSummary{Count: x.Len(), Fingerprint: x.Fingerprint(0, x.Len())}, nil
	})
}

// EntriesByID returns the stored entries with the given reconciliation ids,
// in no particular order, skipping ids that are not (or no longer) stored.
func (a *Actor) EntriesByID(ctx context.Context, ns replica.NamespaceID, ids [][32]byte) ([]replica.SignedEntry, error) {
	return call(ctx, a, false, false, func(a *Actor) ([]replica.SignedEntry, error) {
		eids := make([]replica.EntryID, len(ids))
		for i := range ids {
			eids[i] = replica.EntryID(ids[i])
		}
		return a.store.EntriesByID(ns, eids)
	})
}

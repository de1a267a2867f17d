package live

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// TestSyncRecordPersists: the record the scheduler keeps of a document
// with a peer is written by the persister and read back at open, so that
// SyncStatus survives a restart; CaughtUp does not (no session of the new
// run has completed).
func TestSyncRecordPersists(t *testing.T) {
	ctx := context.Background()
	act := newActor(t)
	c, err := act.CreateDoc(ctx, replica.Batched)
	if err != nil {
		t.Fatal(err)
	}
	doc := c.ID()
	ep, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()

	s := newScheduler(TestConfig(), selfID, func() float64 { return 0 })
	peer := addrOf(highID, 4000)
	s.open(t0, doc, []endpoint.NodeAddr{peer}, openState{})
	s.dialed(t0.Add(time.Second), doc, 1, peer, Outcome{Equal: true, Inserted: 3, Sent: 2, End: t0.Add(time.Second)}, nil)
	s.dialed(t0.Add(2*time.Second), doc, 1, peer, Outcome{}, errors.New("dial failed"))
	var rec peerRecord
	for _, e := range s.take() {
		if e.kind == effPersist {
			rec = e.rec
		}
	}
	p := newPersister(act, ep, nil, time.Second)
	p.record(doc, rec)
	p.close()
	p.run() // writes what is queued, then returns

	peers, err := act.SyncPeers(ctx, doc)
	if err != nil || len(peers) != 1 || endpoint.NodeID(peers[0]) != highID {
		t.Fatalf("sync peers %v, %v", peers, err)
	}
	b, err := act.Meta(ctx, recordKey(doc, highID))
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalRecord(b, highID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sessions != 2 || got.Failures != 1 || got.Received != 3 || got.Sent != 2 ||
		got.LastError == "" || got.Addr.String() != peer.String() {
		t.Fatalf("stored record %+v", got)
	}

	// A new run reads it back at open.
	s2 := newScheduler(TestConfig(), selfID, func() float64 { return 0 })
	s2.open(t0, doc, nil, openState{peers: []peerRecord{got}})
	st := s2.syncStatus(doc)
	if len(st) != 1 || st[0].Sessions != 2 || st[0].Failures != 1 || st[0].Received != 3 ||
		st[0].LastError != "dial failed" || st[0].CaughtUp || st[0].Addr.String() != peer.String() {
		t.Fatalf("status after reopening: %+v", st)
	}

	// A record of another peer, or garbage, is refused.
	if _, err := unmarshalRecord(b, lowID); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("record of another peer: %v", err)
	}
	if _, err := unmarshalRecord([]byte("{"), highID); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("garbage: %v", err)
	}
}

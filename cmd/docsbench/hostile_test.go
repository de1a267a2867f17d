package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// The hand-made Negentropy message is one a responder takes, and its
// varint is most significant digit first.
func TestHostileIDListMessage(t *testing.T) {
	ids := randomIDs(8000)
	msg := idListMessage(ids)
	if want := []byte{negentropyVersion, 0, 0, 2, 0xbe, 0x40}; !bytes.Equal(msg[:6], want) {
		t.Fatalf("message starts % x, want % x", msg[:6], want)
	}
	items := make([]recon.Item, 100)
	for i := range items {
		items[i] = recon.Item{Timestamp: uint64(i + 1), ID: randomIDs(1)[0]}
	}
	s, err := recon.NewSession(recon.BuildIndex(items), recon.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Reconcile(idListMessage(ids[:100])); err != nil {
		t.Fatalf("a responder refused the message: %v", err)
	}
}

// Frames and gossip bodies decode as docs/protocol.md says.
func TestHostileFrames(t *testing.T) {
	ns, _ := replica.NewNamespace(nil)
	author, _ := replica.NewAuthor(nil)
	se, err := replica.Sign(ns, author, randomEntry(ns.ID(), author.ID(), "k", 1))
	if err != nil {
		t.Fatal(err)
	}
	b := append(entriesFrame([]replica.SignedEntry{se, se}), initFrame(ns.ID(), []byte{negentropyVersion})...)
	typ, body, n := readSyncFrame(b)
	if typ != frameEntries || n == 0 || body[0] != 2 {
		t.Fatalf("Entries frame: type %d, %d bytes, count %d", typ, n, body[0])
	}
	rest := body[1:]
	for range 2 {
		got, after, err := replica.DecodeSignedEntry(rest, 4096)
		if err != nil || got.ID() != se.ID() {
			t.Fatalf("entry decodes to %v, %v", got.ID(), err)
		}
		rest = after
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the entries", len(rest))
	}
	typ, body, _ = readSyncFrame(b[n:])
	id := ns.ID()
	if typ != frameInit || body[0] != syncVersion || !bytes.Equal(body[1:33], id[:]) || body[33] != 0 || body[34] != negentropyVersion {
		t.Fatalf("Init frame: type %d, body % x", typ, body)
	}

	var a1, a2 replica.AuthorID
	a1[0], a2[0] = 2, 1
	rb := syncReportBody(map[replica.AuthorID]uint64{a1: 300, a2: 5})
	want := binary.AppendUvarint(nil, 2)
	want = binary.AppendUvarint(append(want, a2[:]...), 5)
	want = binary.AppendUvarint(append(want, a1[:]...), 300)
	if !bytes.Equal(rb, want) {
		t.Fatalf("sync report body % x, want % x", rb, want)
	}
}

// A short run against an engine in this process: every adversary gets
// through to the victim's protocol handlers (the victim answers the
// never-ending rounds, refuses the forged entries by their contents, and
// takes the gossiped reports as valid ops), and nothing invalid is stored.
func TestHostileShortRun(t *testing.T) {
	ctx := context.Background()
	cfg := engine.TestConfig()
	v, e, err := startEngineVictim(ctx, t.TempDir(), cfg)
	if v != nil {
		defer v.stop()
	}
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]int{}
	refusedC := make(chan replica.NamespaceID, 1024)
	stop := e.ObserveSessions(func(o engine.SyncOutcome, err error) {
		if o.Refused.Total() > 0 {
			select {
			case refusedC <- o.Namespace:
			default:
			}
		}
	})
	defer stop()
	o := hostileOptions{
		attack: 2 * time.Second, baseline: 300 * time.Millisecond,
		roundTimeout: 5 * time.Second, roundPause: 20 * time.Millisecond,
		victimWrites: 200 * time.Millisecond,
		garbage:      1, forge: 1, gossip: 1,
		noInitIDs: 1, noInitStreams: 4, trickleStreams: 2,
		neverRead: 2, neverEnd: 1, neverEndIDs: 500,
		floodIDs: 3, floodHold: 500 * time.Millisecond,
		corrupt: true, drain: 10 * time.Second,
	}
	res, err := hostileRun(ctx, v, o)
	if err != nil {
		t.Fatal(err)
	}
	close(refusedC)
	for range refusedC {
		refused["sessions"]++
	}
	counts := map[string]*tally{}
	for _, x := range res.attack.tallies {
		counts[x.name] = x
		t.Log(x)
	}
	if res.invalid != 0 || res.scan.honest == 0 {
		t.Errorf("victim's store: %v", res.scan)
	}
	if res.baseline.results["ok"] == 0 {
		t.Errorf("no honest round succeeded before the attack: %v", res.baseline)
	}
	if n := counts["never-end"].get("rounds"); n < 1 {
		t.Errorf("the victim answered %d repeated rounds", n)
	}
	if refused["sessions"] == 0 {
		t.Errorf("no session of the victim refused entries: %v", counts["forge-sync"])
	}
	if n := counts["garbage"].get("sent"); n == 0 {
		t.Errorf("garbage sent nothing")
	}
	gs := e.GossipStats()
	if gs.OpsAccepted == 0 || gs.OpsInvalid == 0 {
		t.Errorf("the victim's gossip took %d ops as valid and %d as invalid, want some of each", gs.OpsAccepted, gs.OpsInvalid)
	}
}

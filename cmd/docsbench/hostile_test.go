package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync/atomic"
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
// The attack ends as soon as all of that was seen.
func TestHostileShortRun(t *testing.T) {
	ctx := context.Background()
	v, e, err := startEngineVictim(ctx, t.TempDir(), engine.TestConfig())
	if v != nil {
		defer v.stop()
	}
	if err != nil {
		t.Fatal(err)
	}
	var refusing atomic.Int64 // the victim's sessions that refused entries
	stop := e.ObserveSessions(func(o engine.SyncOutcome, err error) {
		if o.Refused.Total() > 0 {
			refusing.Add(1)
		}
	})
	defer stop()
	count := func(a *attack, name, key string) int64 {
		for _, x := range a.tallies {
			if x.name == name {
				return x.get(key)
			}
		}
		return 0
	}
	seen := func(a *attack) bool {
		gs := e.GossipStats()
		return count(a, "never-end", "rounds") > 0 && refusing.Load() > 0 && count(a, "garbage", "sent") > 0 &&
			gs.OpsAccepted > 0 && gs.OpsInvalid > 0
	}
	o := hostileOptions{
		attack: 60 * time.Second, baseline: 300 * time.Millisecond,
		roundTimeout: 5 * time.Second, roundPause: 20 * time.Millisecond,
		victimWrites: 200 * time.Millisecond,
		garbage:      1, forge: 1, gossip: 1,
		noInitIDs: 1, noInitStreams: 4, trickleStreams: 2,
		neverRead: 2, neverEnd: 1, neverEndIDs: 500,
		floodIDs: 3, floodHold: 500 * time.Millisecond,
		corrupt: true, drain: 20 * time.Second,
		enough: seen,
	}
	res, err := hostileRun(ctx, v, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res.attack.tallies {
		t.Log(x)
	}
	if res.invalid != 0 || res.scan.honest == 0 {
		t.Errorf("victim's store: %v", res.scan)
	}
	if res.baseline.results["ok"] == 0 {
		t.Errorf("no honest round succeeded before the attack: %v", res.baseline)
	}
	gs := e.GossipStats()
	if !seen(res.attack) {
		t.Errorf("within %v: never-end rounds %d, sessions that refused entries %d, garbage streams %d, gossip ops valid %d and invalid %d; want some of each",
			o.attack, count(res.attack, "never-end", "rounds"), refusing.Load(), count(res.attack, "garbage", "sent"), gs.OpsAccepted, gs.OpsInvalid)
	}
}

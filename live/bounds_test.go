package live

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// randomID is a node id no one holds: what a forger puts in an op's
// origin.
func randomID(r *rand.Rand) endpoint.NodeID {
	var id endpoint.NodeID
	for i := 0; i < len(id); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// forgeReports feeds the scheduler n gossiped sync reports, each from a
// made-up origin and showing news.
func forgeReports(s *scheduler, doc replica.NamespaceID, n int, r *rand.Rand) {
	for i := range n {
		heads := replica.Heads{replica.AuthorID{byte(i), byte(i >> 8), 1}: uint64(i + 1)}
		s.gossipEvent(t0, doc, 1, gossip.OpSyncReport{From: randomID(r), Heads: heads})
		s.take()
	}
}

// TestSchedulerForgedReportsCreateNoState: sync reports and content
// announcements whose origin is neither a swarm member nor a peer with a
// record are hints the scheduler does not act on: they create no
// per-peer state, start no session and add no download provider.
func TestSchedulerForgedReportsCreateNoState(t *testing.T) {
	s, doc := testSched(selfID)
	s.content, s.maxBlob = true, 1<<20
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(highID, 1)})
	s.dialed(t0, doc, 1, addrOf(highID, 1), Outcome{Equal: true}, nil)
	s.take()

	r := rand.New(rand.NewPCG(1, 2))
	const forged = 100_000
	dials := 0
	for i := range forged {
		heads := replica.Heads{replica.AuthorID{byte(i), byte(i >> 8), 1}: uint64(i + 1)}
		s.gossipEvent(t0, doc, 1, gossip.OpSyncReport{From: randomID(r), Heads: heads})
		for _, e := range s.take() {
			if e.kind == effDial {
				dials++
			}
		}
	}
	d := s.docs[doc]
	if len(d.peers) != 1 || dials != 0 {
		t.Fatalf("after %d forged reports: %d peer records (want 1, the member), %d dials (want 0)", forged, len(d.peers), dials)
	}
	if st := s.syncStatus(doc); len(st) != 1 {
		t.Fatalf("Status lists %d peers, want 1", len(st))
	}
	if s.stats.HintsIgnored != forged {
		t.Errorf("HintsIgnored = %d, want %d", s.stats.HintsIgnored, forged)
	}

	// A content announcement from a made-up origin adds no provider; one
	// from the member does.
	se := replica.SignedEntry{Entry: replica.Entry{Namespace: doc, Key: []byte("k")}}
	se.Hash, se.Len = replica.Hash{5}, 10
	s.wantContent(t0, doc, &se, endpoint.NodeID{})
	s.take()
	for range 100 {
		s.gossipEvent(t0, doc, 1, gossip.OpContentReady{From: randomID(r), Hash: se.Hash})
	}
	s.gossipEvent(t0, doc, 1, gossip.OpContentReady{From: highID, Hash: se.Hash})
	s.take()
	if got := s.dl.byHash[se.Hash].docs[0].providers; len(got) != 1 || got[0] != highID {
		t.Fatalf("providers %v, want only the member", got)
	}

	// A report from the member, or from a peer with a record, is acted on.
	s.syncReport(t0, doc, 1, highID, replica.Heads{replica.AuthorID{9}: 5})
	expectEffects(t, "member's report", s, "dial(03@1,report)")
}

// TestSchedulerIdlePeersBounded: the records of peers that are not swarm
// members and have nothing running, pending or waiting are kept up to
// MaxIdlePeers per document, the most recently active ones; members are
// never dropped.
func TestSchedulerIdlePeersBounded(t *testing.T) {
	cfg := TestConfig()
	cfg.MaxIdlePeers = 8
	s := newScheduler(cfg, selfID, func() float64 { return 0 })
	doc := replica.NamespaceID{7}
	s.open(t0, doc, nil, openState{})
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(highID, 1)})
	s.take()

	r := rand.New(rand.NewPCG(3, 4))
	var last endpoint.NodeID
	for i := range 100 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		last = randomID(r)
		if reason := s.accept(now, doc, last, endpoint.NodeAddr{}); reason != 0 {
			t.Fatalf("accept %d refused: %v", i, reason)
		}
		s.accepted(now, Outcome{Namespace: doc, Peer: last, Served: true, Equal: true}, nil)
		s.take()
	}
	d := s.docs[doc]
	if _, ok := d.peers[highID]; !ok {
		t.Fatal("the member's record was dropped")
	}
	if _, ok := d.peers[last]; !ok {
		t.Fatal("the latest sync partner's record was dropped")
	}
	if got := len(d.peers); got != 1+cfg.MaxIdlePeers {
		t.Fatalf("%d peer records, want %d: the member and %d idle ones", got, 1+cfg.MaxIdlePeers, cfg.MaxIdlePeers)
	}
}

// TestSchedulerIdlePeersExpire: an idle record older than IdlePeerTTL is
// forgotten at the next tick, and a timer is armed for it; a member's is
// not.
func TestSchedulerIdlePeersExpire(t *testing.T) {
	cfg := TestConfig()
	cfg.IdlePeerTTL = time.Minute
	s := newScheduler(cfg, selfID, func() float64 { return 0 })
	doc := replica.NamespaceID{7}
	s.open(t0, doc, nil, openState{})
	s.gossipEvent(t0, doc, 1, gossip.NeighborUp{Node: addrOf(highID, 1)})
	s.dialed(t0, doc, 1, addrOf(highID, 1), Outcome{Equal: true}, nil)
	s.accept(t0, doc, lowID, endpoint.NodeAddr{})
	s.accepted(t0, Outcome{Namespace: doc, Peer: lowID, Served: true, Equal: true}, nil)
	armed := false
	for _, e := range s.take() {
		if e.kind == effTimer && !e.at.After(t0.Add(cfg.IdlePeerTTL)) {
			armed = true
		}
	}
	if !armed {
		t.Error("no timer armed for the idle record's expiry")
	}
	s.tick(t0.Add(cfg.IdlePeerTTL / 2))
	if _, ok := s.docs[doc].peers[lowID]; !ok {
		t.Fatal("the idle record expired early")
	}
	s.tick(t0.Add(cfg.IdlePeerTTL + time.Second))
	d := s.docs[doc]
	if _, ok := d.peers[lowID]; ok {
		t.Error("the idle record did not expire")
	}
	if _, ok := d.peers[highID]; !ok {
		t.Error("the member's record expired")
	}
}

// BenchmarkForgedReports floods one open document with sync reports from
// made-up origins and reports the live heap after GC and the cost of a
// Status read.
func BenchmarkForgedReports(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				s, doc := testSched(selfID)
				r := rand.New(rand.NewPCG(5, 6))
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				forgeReports(s, doc, n, r)
				var after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&after)
				start := time.Now()
				st := s.syncStatus(doc)
				b.ReportMetric(float64(time.Since(start).Microseconds()), "status-µs")
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB")
				b.ReportMetric(float64(len(st)), "peers")
				runtime.KeepAlive(s)
			}
		})
	}
}

package live

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// overlapping gives two nodes a shared set and sets of their own, drawn
// with tombstones and superseded versions, and returns what each was given.
func overlapping(t *testing.T, w *world, seed uint64, shared, onlyA, onlyB int, a, b *actor.Actor) (ea, eb []replica.SignedEntry) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	common := w.randomEntries(r, shared)
	ea = append(slices.Clone(common), w.randomEntries(r, onlyA)...)
	eb = append(slices.Clone(common), w.randomEntries(r, onlyB)...)
	r.Shuffle(len(ea), func(i, j int) { ea[i], ea[j] = ea[j], ea[i] })
	r.Shuffle(len(eb), func(i, j int) { eb[i], eb[j] = eb[j], eb[i] })
	w.join(t, a)
	w.join(t, b)
	insert(t, a, w.ns(), ea)
	insert(t, b, w.ns(), eb)
	return ea, eb
}

// checkSynced checks that one session left both stores equal to the model
// and that both outcomes report the true differences.
func checkSynced(t *testing.T, w *world, ini, acc *actor.Actor, ei, ea []replica.SignedEntry, ri, ra result, before [2]map[replica.EntryID]bool) {
	t.Helper()
	if ri.err != nil || ra.err != nil {
		t.Fatalf("initiator: %v\nacceptor: %v", ri.err, ra.err)
	}
	ns := w.ns()
	onlyI, onlyA := 0, 0
	for id := range before[0] {
		if !before[1][id] {
			onlyI++
		}
	}
	for id := range before[1] {
		if !before[0][id] {
			onlyA++
		}
	}
	oi, oa := ri.out, ra.out
	t.Logf("initiator: %v\nacceptor:  %v", oi, oa)
	switch {
	case oi.Role != Initiator || oa.Role != Acceptor || !oa.Served || oi.Namespace != ns || oa.Namespace != ns:
		t.Fatalf("roles or namespace wrong: %+v / %+v", oi, oa)
	case oi.Sent+oi.SendSkipped != onlyI:
		t.Fatalf("initiator sent %d (+%d skipped), holds %d the acceptor lacks", oi.Sent, oi.SendSkipped, onlyI)
	case oi.Wanted != onlyA || oa.Wanted != onlyA || oa.Sent+oa.SendSkipped != onlyA:
		t.Fatalf("initiator wanted %d, acceptor saw %d wanted and sent %d (+%d skipped); the acceptor holds %d the initiator lacks",
			oi.Wanted, oa.Wanted, oa.Sent, oa.SendSkipped, onlyA)
	case oi.Received != oa.Sent || oa.Received != oi.Sent:
		t.Fatalf("received %d and %d, sent %d and %d", oi.Received, oa.Received, oa.Sent, oi.Sent)
	case oi.Inserted+oi.Stale != oi.Received || oa.Inserted+oa.Stale != oa.Received:
		t.Fatalf("inserted+stale != received: %+v / %+v", oi, oa)
	case oi.Refused.Total() != 0 || oa.Refused.Total() != 0:
		t.Fatalf("refused valid entries: %+v / %+v", oi.Refused, oa.Refused)
	case oi.BytesSent != oa.BytesReceived || oa.BytesSent != oi.BytesReceived:
		t.Fatalf("bytes: initiator %d out %d in, acceptor %d out %d in", oi.BytesSent, oi.BytesReceived, oa.BytesSent, oa.BytesReceived)
	case oi.Rounds != oa.Rounds || oi.Rounds < 1:
		t.Fatalf("rounds: initiator %d, acceptor %d", oi.Rounds, oa.Rounds)
	case !oi.Equal || !oa.Equal || oi.Local != oa.Remote || oa.Local != oi.Remote:
		t.Fatalf("summaries: initiator %+v/%+v equal=%v, acceptor %+v/%+v equal=%v", oi.Local, oi.Remote, oi.Equal, oa.Local, oa.Remote, oa.Equal)
	case oi.End.Before(oi.Start) || oi.ReconcileTime <= 0 || oi.ReconcileTime > oi.Duration() || oi.TransferTime > oi.Duration():
		t.Fatalf("times: %v .. %v, reconcile %v, transfer %v", oi.Start, oi.End, oi.ReconcileTime, oi.TransferTime)
	}
	want, wantContents := modelSummary(t, w, append(slices.Clone(ei), ea...))
	si, sa := summary(t, ini, ns), summary(t, acc, ns)
	if si != want || sa != want || oi.Local != want {
		t.Fatalf("summaries: initiator %+v, acceptor %+v, model %+v", si, sa, want)
	}
	ci, ca := contents(t, ini, ns), contents(t, acc, ns)
	if !slices.Equal(ci, wantContents) || !slices.Equal(ca, wantContents) {
		t.Fatalf("contents differ:\ninitiator %v\nacceptor  %v\nmodel     %v", ci, ca, wantContents)
	}
}

func TestSyncOverPipe(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		shared, onlyI, onlyA int
		frameSize, perFrame  int
	}{
		{name: "both empty"},
		{name: "initiator empty", onlyA: 300},
		{name: "acceptor empty", onlyI: 300},
		{name: "equal", shared: 200},
		{name: "overlapping", shared: 200, onlyI: 150, onlyA: 150},
		{name: "overlapping big frames", shared: 200, onlyI: 150, onlyA: 150, frameSize: DefaultMaxFrameSize, perFrame: 1024},
		{name: "many rounds", shared: 2000, onlyI: 1500, onlyA: 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(3)
			ini, acc := newActor(t), newActor(t)
			ei, ea := overlapping(t, w, 1, tc.shared, tc.onlyI, tc.onlyA, ini, acc)
			before := [2]map[replica.EntryID]bool{stored(t, ini, w.ns(), append(ei, ea...)), stored(t, acc, w.ns(), append(ei, ea...))}
			cfg := TestSessionConfig()
			if tc.frameSize > 0 {
				cfg.MaxFrameSize, cfg.MaxEntriesPerFrame = tc.frameSize, tc.perFrame
			}
			ri, ra := syncPipe(context.Background(), ini, NewServer(acc, cfg, nil), w.ns(), cfg)
			checkSynced(t, w, ini, acc, ei, ea, ri, ra, before)
		})
	}
}

// TestServerRefusesDuplicatesAndOverload: while one session of a document
// with a peer runs, a second one from the same peer is refused as already
// syncing, and sessions beyond MaxSessions as busy. Once the first ends,
// the peer is served again.
func TestServerRefusesDuplicatesAndOverload(t *testing.T) {
	cfg := TestSessionConfig()
	cfg.MaxSessions = 1
	w, other := newWorld(1), newWorld(1)
	acc, ini := newActor(t), newActor(t)
	for _, x := range []*world{w, other} {
		x.join(t, acc)
		x.join(t, ini)
	}
	srv := NewServer(acc, cfg, nil)

	// A peer that opens a session and then waits.
	ours, theirs := newPipe()
	f := newFakePeer(theirs, true)
	done := make(chan result, 1)
	go func() {
		out, err := srv.Serve(context.Background(), ours, nodeA) // as syncPipe's initiator
		done <- result{out, err}
	}()
	f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: w.ns(), Recon: firstMessage(t, 0)})
	for m := range f.frames {
		if m.Type == MsgRecon { // the session is running
			break
		}
	}

	if ri, ra := syncPipe(context.Background(), ini, srv, w.ns(), cfg); !errors.Is(ri.err, ErrAlreadySyncing) || ra.out.Served {
		t.Fatalf("second session of the same document and peer: %v / %v", ri.err, ra.err)
	}
	if ri, _ := syncPipe(context.Background(), ini, srv, other.ns(), cfg); !errors.Is(ri.err, ErrBusy) {
		t.Fatalf("session beyond MaxSessions: %v", ri.err)
	}
	f.close()
	if r := <-done; r.err == nil {
		t.Fatal("the abandoned session reported success")
	}
	if ri, ra := syncPipe(context.Background(), ini, srv, w.ns(), cfg); ri.err != nil || ra.err != nil {
		t.Fatalf("after the first session ended: %v / %v", ri.err, ra.err)
	}
}

// TestServerRefusesIdleStreams: streams that never send Init count against
// the server's limit; beyond twice MaxSessions a stream of the peer holding
// them all gets Abort(Busy) at once.
func TestServerRefusesIdleStreams(t *testing.T) {
	cfg := TestSessionConfig()
	cfg.MaxSessions = 1
	w := newWorld(1)
	acc, ini := newActor(t), newActor(t)
	w.join(t, acc)
	w.join(t, ini)
	finished := make(chan error, 8)
	srv := NewServer(acc, cfg, PolicyFuncs{FinishedFunc: func(_ Outcome, err error) { finished <- err }})
	var idle []*fakePeer
	for range 2 {
		ours, theirs := newPipe()
		idle = append(idle, newFakePeer(theirs, true))
		go srv.Serve(context.Background(), ours, endpoint.NodeID{9})
	}
	// Wait until both idle streams are counted.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := srv.streams.Len()
		srv.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want 2", n)
		}
		runtime.Gosched()
	}
	a, b := newPipe()
	done := make(chan result, 1)
	go func() {
		out, err := srv.Serve(context.Background(), b, endpoint.NodeID{9})
		done <- result{out, err}
	}()
	_, err := syncStream(context.Background(), ini, a, nodeB, w.ns(), cfg)
	ra := <-done
	if !errors.Is(err, ErrBusy) || !errors.Is(ra.err, ErrBusy) || ra.out.Served {
		t.Fatalf("third stream: %v / %v", err, ra.err)
	}
	if err := <-finished; !errors.Is(err, ErrBusy) {
		t.Fatalf("reported %v", err)
	}
	for _, f := range idle {
		f.close()
		if err := <-finished; !errors.Is(err, errCancelled) { // the fake reset its stream
			t.Fatalf("idle stream ended with %v", err)
		}
	}
	if ri, ra := syncPipe(context.Background(), ini, srv, w.ns(), cfg); ri.err != nil || ra.err != nil {
		t.Fatalf("after the idle streams closed: %v / %v", ri.err, ra.err)
	}
}

// TestInitCarriesInitiatorAddrs: the acceptor learns the addresses the
// initiator states in Init, as they were sent (unusable ones never leave
// the initiator), and only for a session it serves.
func TestInitCarriesInitiatorAddrs(t *testing.T) {
	cfg := TestSessionConfig()
	w, unheld := newWorld(1), newWorld(1)
	ini, acc := newActor(t), newActor(t)
	w.join(t, ini)
	w.join(t, acc)
	unheld.join(t, ini)
	srv := NewServer(acc, cfg, nil)
	good := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:4433"), netip.MustParseAddrPort("[2001:db8::1]:4433")}
	stated := append([]netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:4433"), netip.MustParseAddrPort("192.0.2.9:0")}, good...)

	run := func(ns replica.NamespaceID) (learned [][]netip.AddrPort, initiator, acceptor result) {
		a, b := newPipe()
		done := make(chan result, 1)
		go func() {
			out, err := srv.serve(context.Background(), b, nodeA, func(addrs []netip.AddrPort) { learned = append(learned, addrs) })
			done <- result{out, err}
		}()
		out, err := runSession(context.Background(), sessionParams{role: Initiator, act: ini, st: a, peer: nodeB, ns: ns, cfg: cfg, addrs: stated})
		acceptor = <-done // learned is written before done
		return learned, result{out, err}, acceptor
	}

	learned, ri, ra := run(w.ns())
	if ri.err != nil || ra.err != nil {
		t.Fatalf("session: %v / %v", ri.err, ra.err)
	}
	if len(learned) != 1 || !slices.Equal(learned[0], good) {
		t.Fatalf("acceptor learned %v, want %v once", learned, good)
	}
	learned, ri, _ = run(unheld.ns())
	if !errors.Is(ri.err, ErrNotFound) || len(learned) != 0 {
		t.Fatalf("refused session: %v, learned %v; want ErrNotFound and nothing learned", ri.err, learned)
	}
}

// TestSessionProgress: a session reports its progress as the entries it
// asked for arrive: Wanted and Received never go down, the last report
// matches the outcome, and a fresh initiator ends having received every
// entry it wanted.
func TestSessionProgress(t *testing.T) {
	w := newWorld(3)
	ini, acc := newActor(t), newActor(t)
	ei, ea := overlapping(t, w, 1, 0, 0, 1500, ini, acc)
	before := [2]map[replica.EntryID]bool{stored(t, ini, w.ns(), append(ei, ea...)), stored(t, acc, w.ns(), append(ei, ea...))}
	cfg := TestSessionConfig()
	var reports []Outcome
	cfg.Progress = func(o Outcome) { reports = append(reports, o) }
	cfg.ProgressInterval = time.Nanosecond // every change
	ri, ra := syncPipe(context.Background(), ini, NewServer(acc, TestSessionConfig(), nil), w.ns(), cfg)
	checkSynced(t, w, ini, acc, ei, ea, ri, ra, before)
	if len(reports) < 2 {
		t.Fatalf("%d progress reports for a session of %d entries", len(reports), ri.out.Received)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Wanted < reports[i-1].Wanted || reports[i].Received < reports[i-1].Received {
			t.Fatalf("progress went back: %+v after %+v", reports[i], reports[i-1])
		}
	}
	last := reports[len(reports)-1]
	if ri.out.Received == 0 || last.Wanted != ri.out.Received || last.Received != ri.out.Received {
		t.Fatalf("last progress wanted %d, received %d; the session received %d", last.Wanted, last.Received, ri.out.Received)
	}
}

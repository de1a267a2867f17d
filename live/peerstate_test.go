package live

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

func nodeID(b byte) endpoint.NodeID {
	var id endpoint.NodeID
	id[0] = b
	return id
}

var errDialFailed = errors.New("dial failed")

func TestPeerStateTransitions(t *testing.T) {
	low, high := nodeID(1), nodeID(2)
	refused := fmt.Errorf("sync: %w", &AbortError{Reason: AbortAlreadySyncing})

	type step struct {
		do   string // want, in, dialDone, accDone
		arg  any    // reason, peer id, error
		want any    // dial bool, AbortReason, again bool
	}
	cases := []struct {
		name     string
		self     endpoint.NodeID
		steps    []step
		origin   Origin
		resync   bool
		failures int
	}{
		{name: "idle dial and finish", self: low,
			steps:  []step{{"want", ReasonDirect, true}, {"dialDone", nil, false}},
			origin: OriginNone},
		{name: "news while dialling resyncs once", self: low,
			steps: []step{{"want", ReasonDirect, true}, {"want", ReasonReport, false},
				{"want", ReasonReport, false}, {"dialDone", nil, true}},
			origin: OriginNone},
		{name: "accept then second incoming refused", self: low,
			steps:  []step{{"in", high, AbortReason(0)}, {"in", high, AbortAlreadySyncing}},
			origin: OriginAccept},
		{name: "simultaneous dial: lower id keeps its dial", self: low,
			steps:  []step{{"want", ReasonNeighbor, true}, {"in", high, AbortAlreadySyncing}},
			origin: OriginConnect},
		{name: "simultaneous dial: higher id serves the other's", self: high,
			steps: []step{{"want", ReasonNeighbor, true}, {"in", low, AbortReason(0)},
				{"dialDone", refused, false}},
			origin: OriginAccept},
		// The refusing peer's session is not seen here: no resync at
		// once (the scheduler retries after a back-off).
		{name: "lost dial after the accepted session ended does not redial at once", self: high,
			steps: []step{{"want", ReasonNeighbor, true}, {"in", low, AbortReason(0)},
				{"accDone", nil, false}, {"dialDone", refused, false}},
			origin: OriginNone},
		{name: "remote refusal returns to idle", self: low,
			steps:  []step{{"want", ReasonDirect, true}, {"dialDone", refused, false}, {"want", ReasonResync, true}},
			origin: OriginConnect},
		{name: "failures count and reset", self: low,
			steps: []step{{"want", ReasonDirect, true}, {"dialDone", errDialFailed, false},
				{"want", ReasonDirect, true}, {"dialDone", errDialFailed, false}},
			failures: 2},
		{name: "success resets failures", self: low,
			steps: []step{{"want", ReasonDirect, true}, {"dialDone", errDialFailed, false},
				{"want", ReasonDirect, true}, {"dialDone", nil, false}},
		},
		{name: "news while accepting resyncs after", self: low,
			steps: []step{{"in", high, AbortReason(0)}, {"want", ReasonReport, false},
				{"accDone", nil, true}, {"want", ReasonResync, true}},
			origin: OriginConnect},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s PeerState
			for i, st := range c.steps {
				var got any
				switch st.do {
				case "want":
					got = s.WantSync(st.arg.(SyncReason))
				case "in":
					got = s.Incoming(c.self, st.arg.(endpoint.NodeID))
				case "dialDone":
					err, _ := st.arg.(error)
					got = s.DialFinished(err)
				case "accDone":
					got = s.AcceptFinished(nil)
				}
				if got != st.want {
					t.Fatalf("step %d (%s %v): got %v, want %v", i, st.do, st.arg, got, st.want)
				}
			}
			if s.Origin() != c.origin {
				t.Errorf("origin %v, want %v", s.Origin(), c.origin)
			}
			if s.ResyncRequested() != c.resync {
				t.Errorf("resync %v, want %v", s.ResyncRequested(), c.resync)
			}
			if s.Failures != c.failures {
				t.Errorf("failures %d, want %d", s.Failures, c.failures)
			}
		})
	}
}

// TestSimultaneousDialOneWinner plays both nodes dialling each other at
// once, in either order of arrival: exactly one session is served, and
// both states end Idle.
func TestSimultaneousDialOneWinner(t *testing.T) {
	a, b := nodeID(1), nodeID(2)
	var sa, sb PeerState
	sa.WantSync(ReasonNeighbor)
	sb.WantSync(ReasonNeighbor)
	atB := sb.Incoming(b, a) // a's dial reaches b
	atA := sa.Incoming(a, b) // b's dial reaches a
	if (atA == 0) == (atB == 0) {
		t.Fatalf("served at a: %v, at b: %v; want exactly one", atA == 0, atB == 0)
	}
	if atB != 0 {
		t.Fatal("the lower id's dial must win")
	}
	// b's dial is refused; a's dial (served by b) completes.
	sb.DialFinished(&AbortError{Reason: atA})
	sb.AcceptFinished(nil)
	sa.DialFinished(nil)
	if sa.Running() || sb.Running() {
		t.Fatalf("states stuck: a %v, b %v", sa.Origin(), sb.Origin())
	}
}

func TestHasNewsFor(t *testing.T) {
	x, y := replica.AuthorID{1}, replica.AuthorID{2}
	cases := []struct {
		ours, theirs replica.Heads
		want         bool
	}{
		{nil, nil, false},
		{replica.Heads{x: 5}, nil, false},
		{nil, replica.Heads{x: 1}, true},
		{replica.Heads{x: 5}, replica.Heads{x: 5}, false},
		{replica.Heads{x: 5}, replica.Heads{x: 4}, false},
		{replica.Heads{x: 5}, replica.Heads{x: 6}, true},
		{replica.Heads{x: 5}, replica.Heads{x: 5, y: 1}, true},
		{replica.Heads{x: 5, y: 9}, replica.Heads{x: 5}, false},
	}
	for i, c := range cases {
		if got := HasNewsFor(c.ours, c.theirs); got != c.want {
			t.Errorf("case %d: HasNewsFor(%v, %v) = %v, want %v", i, c.ours, c.theirs, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, max := 100*time.Millisecond, time.Second
	if d := Backoff(0, base, max, 0.5); d != 0 {
		t.Fatalf("no failures: %v", d)
	}
	prev := time.Duration(0)
	for f := 1; f <= 10; f++ {
		lo, hi := Backoff(f, base, max, 0), Backoff(f, base, max, 0.999)
		if lo < prev/2 || hi > max || lo > hi {
			t.Fatalf("failures %d: [%v, %v]", f, lo, hi)
		}
		prev = lo
	}
	if d := Backoff(1, base, max, 0); d != base/2 {
		t.Fatalf("first back-off %v, want %v", d, base/2)
	}
	if d := Backoff(50, base, max, 0); d != max/2 {
		t.Fatalf("capped back-off %v, want %v", d, max/2)
	}
}

func TestReportGate(t *testing.T) {
	a, b, c, d := nodeID(1), nodeID(2), nodeID(3), nodeID(4)
	au1, au2 := replica.AuthorID{1}, replica.AuthorID{2}
	var g ReportGate
	if !g.Report(a, replica.Heads{au1: 5}) {
		t.Fatal("the first report with news does not start a session")
	}
	if !g.Report(a, replica.Heads{au1: 6}) {
		t.Fatal("a second report of the gate's holder is refused")
	}
	if g.Report(b, replica.Heads{au1: 5}) || g.Report(c, replica.Heads{au2: 3}) || g.Report(d, replica.Heads{au1: 4}) {
		t.Fatal("a report started a second session while one runs")
	}
	if g.Release(b) {
		t.Fatal("a peer that does not hold the gate released it")
	}
	if _, ok := g.Next(replica.Heads{}); ok {
		t.Fatal("Next gave the gate away while it is held")
	}
	if !g.Release(a) {
		t.Fatal("the holder did not release the gate")
	}
	// The session brought au1 up to 6, not au2: only c's report is still news.
	next, ok := g.Next(replica.Heads{au1: 6})
	if !ok || next != c {
		t.Fatalf("Next = %s, %v; want c", next.Short(), ok)
	}
	if g.Deferred() {
		t.Fatal("reports that are no longer news are kept")
	}
	if g.Report(a, replica.Heads{au1: 9}) {
		t.Fatal("a report started a session while c holds the gate")
	}
	g.Release(c)
	if _, ok := g.Next(replica.Heads{au1: 9, au2: 3}); ok || g.Deferred() {
		t.Fatal("Next offered a reporter with no news")
	}
	if !g.Report(b, replica.Heads{au2: 4}) {
		t.Fatal("the open gate refused a report")
	}
}

// TestReportGateBoundsStorm: every node of a swarm hears every other
// node's report; the sessions the gates allow stay linear in the swarm.
func TestReportGateBoundsStorm(t *testing.T) {
	const n = 50
	au := replica.AuthorID{7}
	news := replica.Heads{au: 1}
	gates := make([]ReportGate, n)
	sessions := 0
	// Node 0 has the news and every other node hears a report of each of
	// nodes 0..n-1 before any session ends.
	for i := 1; i < n; i++ {
		for r := range n {
			if r != i && gates[i].Report(nodeID(byte(r)), news) {
				sessions++
			}
		}
	}
	// Each node's session ends with the news in hand.
	for i := 1; i < n; i++ {
		for r := range n {
			gates[i].Release(nodeID(byte(r)))
		}
		if _, ok := gates[i].Next(news); ok {
			sessions++
		}
	}
	if sessions != n-1 {
		t.Fatalf("%d sessions for one piece of news in a swarm of %d, want %d", sessions, n, n-1)
	}
}

package live

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// The machine is driven directly here: no goroutines, no store, no stream.

func testMachine(role Role) *machine {
	cfg := TestSessionConfig().withDefaults(replica.DefaultLimits())
	return newMachine(role, replica.NamespaceID{1}, cfg)
}

// kinds renders actions compactly, with the type of frames sent.
func kinds(acts []action) string {
	var parts []string
	for _, a := range acts {
		s := a.kind.String()
		if a.msg != nil {
			s += ":" + a.msg.Type.String()
		}
		if a.ids != nil {
			s += fmt.Sprintf("(%d)", len(a.ids))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func expect(t *testing.T, step string, acts []action, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if got := kinds(acts); got != want {
		t.Fatalf("%s: actions %q, want %q", step, got, want)
	}
}

func ids(n int) [][32]byte { return make([][32]byte, n) }

func entries(n int) []replica.SignedEntry { return make([]replica.SignedEntry, n) }

var sumA = actor.SetSummary{Count: 3, Fingerprint: recon.Fingerprint{1}}

func TestMachineInitiator(t *testing.T) {
	m := testMachine(Initiator)
	expect(t, "start", m.start(), nil, "initiate")
	expect(t, "initiated", m.initiated([]byte{0x61}), nil, "send:Init")
	acts, err := m.frame(&message{Type: MsgRecon, Recon: []byte{0x61, 1}}, 10)
	expect(t, "reply 1", acts, err, "reconcile")
	acts, err = m.reconciled(actor.RoundResult{Reply: []byte{0x61, 2}, Have: ids(3), Need: ids(2)})
	expect(t, "round 1", acts, err, "send:Recon want(2) send-entries(3)")
	acts, err = m.frame(&message{Type: MsgEntries, Entries: entries(2)}, 500)
	expect(t, "entries", acts, err, "verify")
	if err := m.verified(Refused{}); err != nil {
		t.Fatal(err)
	}
	acts, err = m.frame(&message{Type: MsgRecon, Recon: []byte{0x61}}, 3)
	expect(t, "reply 2", acts, err, "reconcile")
	acts, err = m.reconciled(actor.RoundResult{})
	expect(t, "rounds over, work pending", acts, err, "")
	acts, err = m.produced(0, 0)
	expect(t, "wants written", acts, err, "")
	acts, err = m.produced(2, 1)
	expect(t, "entries written", acts, err, "send-last:Done")
	acts, err = m.frame(&message{Type: MsgDone}, 2)
	expect(t, "peer done", acts, err, "")
	acts, err = m.frame(&message{Type: MsgSummary, Summary: sumA}, 20)
	expect(t, "peer summary, an insert pending", acts, err, "")
	expect(t, "stored", m.stored(1, 1, 1), nil, "summarize")
	expect(t, "summarized", m.summarized(sumA), nil, "send-last:Summary close")
	expect(t, "closed", m.closedWrite(), nil, "")
	if m.finished {
		t.Fatal("finished before the peer closed")
	}
	acts, err = m.endOfStream()
	expect(t, "eof", acts, err, "")
	if !m.finished {
		t.Fatal("not finished")
	}
	o := m.out
	if o.Rounds != 2 || o.Sent != 2 || o.SendSkipped != 1 || o.Wanted != 2 || o.Received != 2 || o.Inserted != 1 || o.Stale != 1 ||
		!o.Equal || o.BytesReceived != 535 {
		t.Fatalf("outcome %+v", o)
	}
}

func TestMachineAcceptor(t *testing.T) {
	m := testMachine(Acceptor)
	expect(t, "start", m.start(), nil, "")
	ns := replica.NamespaceID{7}
	acts, err := m.frame(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: ns, Recon: []byte{0x61}}, 40)
	expect(t, "init", acts, err, "accept reconcile")
	if m.ns != ns || m.out.Namespace != ns {
		t.Fatal("namespace not taken from Init")
	}
	m.accepted()
	acts, err = m.reconciled(actor.RoundResult{Reply: []byte{0x61, 9}})
	expect(t, "reply", acts, err, "send:Recon")
	acts, err = m.frame(&message{Type: MsgWant, IDs: ids(4)}, 140)
	expect(t, "want", acts, err, "send-entries(4)")
	acts, err = m.frame(&message{Type: MsgEntries, Entries: entries(1)}, 300)
	expect(t, "entries", acts, err, "verify")
	acts, err = m.frame(&message{Type: MsgDone}, 2)
	expect(t, "peer done, a want unanswered", acts, err, "")
	acts, err = m.produced(4, 0)
	expect(t, "answered", acts, err, "send-last:Done")
	expect(t, "stored", m.stored(1, 1, 0), nil, "summarize")
	expect(t, "summarized", m.summarized(sumA), nil, "send-last:Summary")
	other := sumA
	other.Count++
	acts, err = m.frame(&message{Type: MsgSummary, Summary: other}, 20)
	expect(t, "peer summary", acts, err, "close")
	expect(t, "closed", m.closedWrite(), nil, "")
	acts, err = m.endOfStream()
	expect(t, "eof", acts, err, "")
	if !m.finished || m.out.Equal || !m.out.Served || m.out.Sent != 4 || m.out.Wanted != 4 {
		t.Fatalf("finished %v, outcome %+v", m.finished, m.out)
	}
}

// TestMachineViolations feeds frames out of order; each script must fail
// at its last frame with the error given.
func TestMachineViolations(t *testing.T) {
	init := &message{Type: MsgInit, Version: ProtocolVersion, Recon: []byte{0x61}}
	recon := &message{Type: MsgRecon, Recon: []byte{0x61}}
	done := &message{Type: MsgDone}
	summ := &message{Type: MsgSummary}
	want := &message{Type: MsgWant, IDs: ids(1)}
	ents := &message{Type: MsgEntries, Entries: entries(1)}
	for _, tc := range []struct {
		name   string
		role   Role
		script []*message
		want   error
	}{
		{"acceptor: Recon before Init", Acceptor, []*message{recon}, ErrProtocol},
		{"acceptor: second Init", Acceptor, []*message{init, init}, ErrProtocol},
		{"acceptor: unknown version", Acceptor, []*message{{Type: MsgInit, Version: ProtocolVersion + 1}}, ErrVersion},
		{"acceptor: Recon after Done", Acceptor, []*message{init, done, recon}, ErrProtocol},
		{"acceptor: Want after Done", Acceptor, []*message{init, done, want}, ErrProtocol},
		{"acceptor: second Done", Acceptor, []*message{init, done, done}, ErrProtocol},
		{"acceptor: Summary before Done", Acceptor, []*message{init, summ}, ErrProtocol},
		{"acceptor: Summary before its own", Acceptor, []*message{init, done, summ}, ErrProtocol},
		{"acceptor: oversized Want", Acceptor, []*message{init, {Type: MsgWant, IDs: ids(33)}}, ErrProtocol},
		{"acceptor: oversized Entries", Acceptor, []*message{init, {Type: MsgEntries, Entries: entries(17)}}, ErrProtocol},
		{"initiator: Init", Initiator, []*message{init}, ErrProtocol},
		{"initiator: Want", Initiator, []*message{want}, ErrProtocol},
		{"initiator: Done before ours", Initiator, []*message{done}, ErrProtocol},
		{"initiator: Summary before Done", Initiator, []*message{summ}, ErrProtocol},
		{"initiator: unasked Recon", Initiator, []*message{recon}, ErrProtocol},
		{"either: Abort", Initiator, []*message{{Type: MsgAbort, Reason: AbortBusy, Text: "later"}}, ErrBusy},
		{"acceptor: Entries after Done", Acceptor, []*message{init, done, ents}, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMachine(tc.role)
			var err error
			for i, msg := range tc.script {
				_, err = m.frame(msg, frameLen(msg))
				if i < len(tc.script)-1 && err != nil {
					t.Fatalf("frame %d (%v): %v", i, msg.Type, err)
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMachineLimits(t *testing.T) {
	t.Run("rounds", func(t *testing.T) {
		m := testMachine(Acceptor)
		m.cfg.MaxRounds = 3
		var err error
		for i := 0; err == nil && i < 100; i++ {
			msg := &message{Type: MsgRecon, Recon: []byte{0x61}}
			if i == 0 {
				msg = &message{Type: MsgInit, Version: ProtocolVersion, Recon: []byte{0x61}}
			}
			_, err = m.frame(msg, 3)
		}
		if !errors.Is(err, ErrTooManyRounds) || m.rounds != 4 {
			t.Fatalf("after %d rounds: %v", m.rounds, err)
		}
	})
	t.Run("rounds grow with the items seen", func(t *testing.T) {
		m := testMachine(Acceptor)
		m.cfg.MaxRounds, m.cfg.RoundsPerDoubling = 3, 2
		if _, err := m.frame(&message{Type: MsgInit, Version: ProtocolVersion, Recon: []byte{0x61}}, 3); err != nil {
			t.Fatal(err)
		}
		// 1000 items of ours (two frames of ids at most), 3000 listed:
		// 3 + 2×12 + 2×2 rounds.
		m.reconciled(actor.RoundResult{Reply: []byte{0x61}, Local: 1000, PeerListed: 3000})
		if b := m.roundBudget(); b != 3+2*12+2*((32*1000+m.cfg.MaxFrameSize-1)/m.cfg.MaxFrameSize) {
			t.Fatalf("budget %d", b)
		}
		var err error
		for err == nil && m.rounds < 100 {
			_, err = m.frame(&message{Type: MsgRecon, Recon: []byte{0x61}}, 3)
		}
		if !errors.Is(err, ErrTooManyRounds) || m.rounds != m.roundBudget()+1 {
			t.Fatalf("after %d rounds: %v", m.rounds, err)
		}
	})
	t.Run("rounds do not grow with bytes alone", func(t *testing.T) {
		m := testMachine(Acceptor)
		m.cfg.MaxRounds = 3
		big := make([]byte, m.cfg.MaxFrameSize/2)
		var err error
		for i := 0; err == nil && i < 100; i++ {
			msg := &message{Type: MsgRecon, Recon: big}
			if i == 0 {
				msg = &message{Type: MsgInit, Version: ProtocolVersion, Recon: big}
			}
			_, err = m.frame(msg, len(big))
		}
		if !errors.Is(err, ErrTooManyRounds) || m.rounds != 4 {
			t.Fatalf("after %d rounds: %v", m.rounds, err)
		}
	})
	t.Run("bytes received grow with the items seen", func(t *testing.T) {
		m := testMachine(Acceptor)
		m.cfg.MaxRounds = 1 << 20
		m.cfg.BytesPerItemFactor = 1
		if _, err := m.frame(&message{Type: MsgInit, Version: ProtocolVersion, Recon: []byte{0x61}}, 3); err != nil {
			t.Fatal(err)
		}
		m.reconciled(actor.RoundResult{Reply: []byte{0x61}, Local: 50, PeerListed: 50})
		want := 16*int64(m.cfg.MaxFrameSize) + 100*int64(maxEntryLen(m.cfg.Limits.MaxKeyLen)+32)
		var err error
		for err == nil && m.out.BytesReceived < 2*want {
			_, err = m.frame(&message{Type: MsgRecon, Recon: []byte{0x61}}, 10000)
		}
		if !errors.Is(err, ErrTooManyBytes) || m.out.BytesReceived > want+10000 {
			t.Fatalf("after %d bytes (budget %d): %v", m.out.BytesReceived, want, err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		m := testMachine(Initiator)
		m.cfg.MaxBytes = 1000
		m.initiated([]byte{0x61})
		m.setSent(900)
		if _, err := m.frame(&message{Type: MsgRecon, Recon: []byte{0x61}}, 101); !errors.Is(err, ErrTooManyBytes) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("hostile", func(t *testing.T) {
		m := testMachine(Acceptor)
		m.out.Received = 100
		if err := m.verified(Refused{BadSignature: 7}); err != nil {
			t.Fatalf("7 of 100 refused: %v", err)
		}
		if err := m.verified(Refused{FutureTimestamp: 40}); err != nil {
			t.Fatalf("47 of 100 refused: %v", err)
		}
		if err := m.verified(Refused{WrongNamespace: 4}); !errors.Is(err, ErrHostile) {
			t.Fatalf("51 of 100 refused: %v", err)
		}
		m = testMachine(Acceptor)
		m.out.Received = 5
		if err := m.verified(Refused{Malformed: 5}); err != nil {
			t.Fatalf("5 refused, under HostileMinRefused: %v", err)
		}
	})
}

// TestMachineBackpressure: the acceptor stops reading while Wants pile up,
// both sides while received entries pile up; the initiator never stops for
// its own writes.
func TestMachineBackpressure(t *testing.T) {
	m := testMachine(Acceptor)
	m.frame(&message{Type: MsgInit, Version: ProtocolVersion, Recon: []byte{0x61}}, 3)
	for i := range maxQueuedWants {
		if !m.canRead() {
			t.Fatalf("stopped reading after %d wants", i)
		}
		m.frame(&message{Type: MsgWant, IDs: ids(1)}, 35)
	}
	if m.canRead() {
		t.Fatal("reads on with every Want unanswered")
	}
	m.produced(1, 0)
	if !m.canRead() {
		t.Fatal("still stopped after a Want was answered")
	}

	m = testMachine(Initiator)
	m.initiated([]byte{0x61})
	m.frame(&message{Type: MsgRecon, Recon: []byte{0x61}}, 3)
	m.reconciled(actor.RoundResult{Reply: []byte{0x61}, Need: ids(100000), Have: ids(100000)})
	if !m.canRead() {
		t.Fatal("the initiator stopped reading for its own writes")
	}
	for range pipelineDepth {
		m.frame(&message{Type: MsgEntries, Entries: entries(1)}, 300)
	}
	if m.canRead() {
		t.Fatal("reads on with the pipeline full")
	}
	m.stored(1, 1, 0)
	if !m.canRead() {
		t.Fatal("still stopped after a frame was stored")
	}
}

// TestMachineEndsOnlyWhenComplete: an early end of stream is a violation.
func TestMachineEndsOnlyWhenComplete(t *testing.T) {
	for _, role := range []Role{Initiator, Acceptor} {
		m := testMachine(role)
		if _, err := m.endOfStream(); !errors.Is(err, ErrProtocol) {
			t.Fatalf("%v: early EOF: %v", role, err)
		}
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for k := actInitiate; k <= actSummarize; k++ {
			if !yield(k.String()) {
				return
			}
		}
	}); slices.Contains(got, "?") {
		t.Fatalf("unnamed action kind: %v", got)
	}
}

package recon

import (
	"errors"
	"slices"
	"testing"
)

func TestReconcileCases(t *testing.T) {
	cases := []struct {
		name                  string
		shared, onlyA, onlyB  int
		tsRange               uint64
		maxRounds, maxBytesKB int
	}{
		{"both empty", 0, 0, 0, 1000, 1, 1},
		{"initiator empty, small peer", 0, 0, 20, 1000, 1, 2},
		{"initiator empty, large peer", 0, 0, 5000, 1000, 1, 200},
		{"responder empty", 0, 5000, 0, 1000, 1, 1},
		{"equal small", 10, 0, 0, 1000, 1, 1},
		{"equal large", 50000, 0, 0, 1 << 40, 1, 1},
		{"one each", 50000, 1, 1, 1 << 40, 4, 8},
		{"same timestamp everywhere", 3000, 7, 9, 1, 4, 16},
		{"few timestamps", 20000, 30, 30, 3, 5, 64},
		{"disjoint", 0, 3000, 3000, 1 << 20, 4, 400},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := overlapping(uint64(i), tc.shared, tc.onlyA, tc.onlyB, tc.tsRange)
			res, err := reconcile(BuildIndex(slices.Clone(a)), BuildIndex(slices.Clone(b)), Config{}, Config{}, 50)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkDiff(res, a, b); err != nil {
				t.Fatal(err)
			}
			t.Logf("rounds=%d bytes=%d", res.rounds, res.bytes)
			if res.rounds > tc.maxRounds || res.bytes > tc.maxBytesKB<<10 {
				t.Fatalf("rounds=%d bytes=%d, want at most %d rounds and %d KiB", res.rounds, res.bytes, tc.maxRounds, tc.maxBytesKB)
			}
		})
	}
}

// Peers in sync spend one round trip and a few dozen bytes.
func TestReconcileInSyncIsCheap(t *testing.T) {
	a, _ := overlapping(7, 100000, 0, 0, 1<<50)
	idx := BuildIndex(a)
	res, err := reconcile(idx, idx, DefaultConfig(), DefaultConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.rounds != 1 || res.bytes >= 64 || len(res.have)+len(res.need) != 0 {
		t.Fatalf("rounds=%d bytes=%d have=%d need=%d; want 1 round, < 64 bytes, no ids",
			res.rounds, res.bytes, len(res.have), len(res.need))
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Branching: 1},
		{Branching: 2000},
		{Branching: 16, IDListThreshold: 8},
		{MaxFrameSize: -1},
		{MaxFrameSize: MinFrameSize - 1},
		{Branching: 200, MaxFrameSize: MinFrameSize},
		{IDListThreshold: 1000, MaxFrameSize: 16 << 10},
	}
	for _, c := range bad {
		if _, err := NewSession(NewIndex(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewSession(%+v) = %v, want ErrConfig", c, err)
		}
	}
	good := []Config{{}, DefaultConfig(), {MaxFrameSize: MinFrameSize}, {Branching: 2}, {Branching: 4, IDListThreshold: 4}}
	for _, c := range good {
		if _, err := NewSession(NewIndex(), c); err != nil {
			t.Errorf("NewSession(%+v) = %v", c, err)
		}
	}
}

func TestSessionCallOrder(t *testing.T) {
	idx := NewIndex()
	s, _ := NewSession(idx, Config{})
	msg, err := s.Initiate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Initiate(); !errors.Is(err, ErrState) {
		t.Fatalf("second Initiate: %v, want ErrState", err)
	}
	peer, _ := NewSession(idx, Config{})
	reply, _, _, err := peer.Reconcile(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Initiate(); !errors.Is(err, ErrState) {
		t.Fatalf("Initiate on a responder: %v, want ErrState", err)
	}
	next, _, _, err := s.Reconcile(reply)
	if err != nil || next != nil || !s.Done() {
		t.Fatalf("initiator: reply %x, err %v, done %v; want finished", next, err, s.Done())
	}
	if _, _, _, err := s.Reconcile(reply); !errors.Is(err, ErrState) {
		t.Fatalf("Reconcile after done: %v, want ErrState", err)
	}
}

func TestVersionNegotiation(t *testing.T) {
	resp, _ := NewSession(NewIndex(), Config{})
	reply, _, _, err := resp.Reconcile([]byte{0x62, 0x00})
	if !errors.Is(err, ErrVersion) || !slices.Equal(reply, []byte{ProtocolVersion}) {
		t.Fatalf("later version: reply %x, err %v; want 61 and ErrVersion", reply, err)
	}
	for _, msg := range [][]byte{{0x60}, {0x00}, {0xff}, {}} {
		reply, _, _, err := resp.Reconcile(msg)
		if err == nil || reply != nil {
			t.Fatalf("message %x: reply %x, err %v; want an error and no reply", msg, reply, err)
		}
	}
	ini, _ := NewSession(NewIndex(), Config{})
	if _, err := ini.Initiate(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ini.Reconcile([]byte{0x62}); !errors.Is(err, ErrVersion) {
		t.Fatalf("initiator given 0x62: %v, want ErrVersion", err)
	}
}

package admission

import (
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

type slot struct {
	peer endpoint.NodeID
	act  Activity
}

func (s *slot) SlotPeer() endpoint.NodeID { return s.peer }
func (s *slot) SlotActivity() *Activity   { return &s.act }

func TestVictim(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b, c := endpoint.NodeID{1}, endpoint.NodeID{2}, endpoint.NodeID{3}
	set := NewSet[*slot]()
	add := func(p endpoint.NodeID, began, last time.Duration, moves int) *slot {
		s := &slot{peer: p}
		s.act.Begin(t0.Add(began))
		for range moves {
			s.act.Tick(t0.Add(last))
		}
		set.Add(s)
		return s
	}
	// a holds three slots, b one; limit 4.
	add(a, 0, 5*time.Second, 3)
	a2 := add(a, 0, 2*time.Second, 3) // the stalest of a's
	add(a, 0, 5*time.Second, 3)
	b1 := add(b, 0, 0, 0) // staler still, but b holds only one
	if set.Len() != 4 || set.Count(a) != 3 {
		t.Fatalf("len %d, a holds %d", set.Len(), set.Count(a))
	}
	if v, ok := set.Victim(c, 4); !ok || v != a2 {
		t.Fatalf("newcomer c: victim %v %v, want a's stalest", v, ok)
	}
	if v, ok := set.Victim(b, 4); !ok || v != a2 {
		t.Fatalf("newcomer b (holds 1 of a fair 2): victim %v %v", v, ok)
	}
	if _, ok := set.Victim(a, 4); ok {
		t.Fatal("a, holding the most, preempts")
	}
	set.Remove(a2)
	add(b, 9*time.Second, 9*time.Second, 1)
	// a and b hold two each: b at its fair share of 2 may not preempt.
	if _, ok := set.Victim(b, 4); ok {
		t.Fatal("b at its fair share preempts")
	}
	// c, holding none, takes the stalest of the peers tied for the most.
	if v, ok := set.Victim(c, 4); !ok || v != b1 {
		t.Fatalf("newcomer c on a tie: victim %v %v, want b's stale slot", v, ok)
	}
	// On equal last progress, the one that moved less goes.
	set = NewSet[*slot]()
	add(a, 0, time.Second, 5)
	y := add(b, 0, time.Second, 1)
	if v, ok := set.Victim(c, 2); !ok || v != y {
		t.Fatalf("victim %v %v, want the one that moved less", v, ok)
	}
}

package api

import (
	"fmt"
	"testing"

	"github.com/docsnode/docsnode/api/wire"
)

func kinds(evs []wire.Event) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("%d:%s/%d ", ev.ID, ev.Kind, ev.Missed)
	}
	return s
}

// TestEventLogRead checks the log's answers on its own, by id: within the
// buffer, evicted, below the first id it gave (an earlier run) and above
// the last.
func TestEventLogRead(t *testing.T) {
	l := newEventLog(3, 100)
	if evs, next, _, _ := l.read("d", 100); len(evs) != 0 || next != 100 {
		t.Fatalf("empty log: %s next %d", kinds(evs), next)
	}
	if evs, _, _, _ := l.read("d", 7); kinds(evs) != "99:lagged/0 " {
		t.Fatalf("an earlier run's id on an empty log: %s", kinds(evs))
	}
	for range 5 { // ids 100..104; 102..104 stay
		l.append(wire.Event{Kind: wire.EventInsertLocal})
	}
	for _, tc := range []struct {
		from uint64
		want string
	}{
		{103, "103:insert-local/0 104:insert-local/0 "},
		{105, ""},
		{102, "102:insert-local/0 103:insert-local/0 104:insert-local/0 "},
		{101, "101:lagged/1 102:insert-local/0 103:insert-local/0 104:insert-local/0 "},
		{100, "101:lagged/2 102:insert-local/0 103:insert-local/0 104:insert-local/0 "},
		{42, "101:lagged/0 102:insert-local/0 103:insert-local/0 104:insert-local/0 "},
		{500, "101:lagged/0 102:insert-local/0 103:insert-local/0 104:insert-local/0 "},
	} {
		evs, next, _, _ := l.read("d", tc.from)
		if kinds(evs) != tc.want || next != 105 {
			t.Errorf("read from %d = %s next %d, want %s next 105", tc.from, kinds(evs), next, tc.want)
		}
	}
	// A read's channel is closed by the next append.
	_, _, changed, _ := l.read("d", 105)
	select {
	case <-changed:
		t.Fatal("changed before an append")
	default:
	}
	l.append(wire.Event{Kind: wire.EventInsertRemote})
	select {
	case <-changed:
	default:
		t.Fatal("an append did not signal the change")
	}
}

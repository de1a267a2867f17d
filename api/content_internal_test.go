package api

import (
	"strings"
	"testing"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
)

// TestEventJSONKinds: every kind of engine event has its wire name, and a
// content-progress event carries its counters.
func TestEventJSONKinds(t *testing.T) {
	known := map[string]bool{}
	for _, k := range []string{wire.EventInsertLocal, wire.EventInsertRemote, wire.EventNeighborUp, wire.EventNeighborDown,
		wire.EventSyncFinished, wire.EventContentReady, wire.EventPendingContentReady, wire.EventContentFailed,
		wire.EventSyncProgress, wire.EventContentProgress, wire.EventLagged} {
		known[k] = true
	}
	n := 0
	for k := engine.EventKind(1); !strings.HasPrefix(k.String(), "event("); k++ {
		if ev := eventJSON(&engine.Event{Kind: k}); !known[ev.Kind] {
			t.Errorf("engine event %d is %q on the wire, not a wire kind", k, ev.Kind)
		}
		n++
	}
	if n != len(known) {
		t.Errorf("%d engine event kinds, %d wire kinds", n, len(known))
	}
	ev := eventJSON(&engine.Event{Kind: engine.EventContentProgress,
		Downloads: engine.DocDownloads{Queued: 2, Running: 1, Completed: 3, Failed: 1, BytesQueued: 100, BytesCompleted: 60, BytesFailed: 10}})
	want := wire.Downloads{Queued: 2, Running: 1, Completed: 3, Failed: 1, BytesQueued: 100, BytesCompleted: 60, BytesFailed: 10}
	if ev.Kind != wire.EventContentProgress || ev.Downloads == nil || *ev.Downloads != want {
		t.Fatalf("content-progress on the wire: %+v", ev)
	}
}

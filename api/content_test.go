package api_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/internal/testutil"
)

// TestContentStatus: GET /v1/docs/{id}/content reports the writer's
// content all held, and a joining node's content-progress events, read
// from the import on, end with its downloads complete, when the route
// says every byte is held. An unknown document is a 404.
func TestContentStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, a := serve(t, api.Config{})
	_, b := serve(t, api.Config{})
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for i := range 4 {
		v := bytes.Repeat(fmt.Appendf(nil, "value %d ", i), 1000*(i+1))
		if _, err := a.Set(ctx, doc.ID, fmt.Sprintf("k%d", i), v, client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
		total += uint64(len(v))
	}
	st, err := a.ContentStatus(ctx, doc.ID)
	want := wire.ContentStatus{Entries: 4, Complete: 4, Bytes: total, Held: total, WantedBytes: total, WantedHeld: total}
	if err != nil || st != want {
		t.Fatalf("writer's content status = %+v, %v; want %+v", st, err, want)
	}

	tk, err := a.Share(ctx, doc.ID, "read")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := b.Import(ctx, tk.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Events(ctx, doc.ID, imp.EventsAfter, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		ev := nextEvent(t, s, wire.EventContentProgress)
		if ev.Downloads == nil {
			t.Fatalf("content-progress without downloads: %+v", ev)
		}
		if d := *ev.Downloads; d.Idle() && d.Completed == 4 {
			if d.BytesCompleted != total || d.BytesQueued != total || d.Failed != 0 {
				t.Fatalf("last content-progress: %+v", d)
			}
			break
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err = b.ContentStatus(ctx, doc.ID)
		return err == nil && st.Held == total
	}, "all content held")
	if st.Entries != 4 || st.Complete != 4 || st.Missing != 0 || st.Bytes != total || st.Downloads.Completed != 4 {
		t.Fatalf("joiner's content status = %+v", st)
	}

	if _, err := b.ContentStatus(ctx, strings.Repeat("ab", 32)); client.Code(err) != wire.CodeDocNotFound {
		t.Fatalf("unknown document: %v", err)
	}
}

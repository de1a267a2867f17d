package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// collectProgress reads sub until an EventContentProgress satisfies done,
// and returns the content progress events seen, that one last.
func collectProgress(t *testing.T, sub *live.Subscription, done func(live.DocDownloads) bool) []live.DocDownloads {
	t.Helper()
	var seen []live.DocDownloads
	waitFor(t, sub, 1, func(ev live.Event) bool {
		if ev.Kind != live.EventContentProgress {
			return false
		}
		seen = append(seen, ev.Downloads)
		return done(ev.Downloads)
	})
	return seen
}

// TestContentProgressJoin: a node that joins a document goes from no
// content to all of it held; the content progress events count the
// downloads from queued to completed, never backwards, and the call
// agrees with them at the end.
func TestContentProgressJoin(t *testing.T) {
	ctx := context.Background()
	_, b, doc, author := docToShare(t)
	values := map[string][]byte{
		"big":   bytes.Repeat([]byte("content progress "), 20000),
		"big-2": bytes.Repeat([]byte("more content "), 9000),
	}
	for i := range 6 {
		values[fmt.Sprintf("small/%d", i)] = fmt.Appendf(nil, "small value %d", i)
	}
	var total uint64
	for k, v := range values {
		if _, err := doc.Set(ctx, author, []byte(k), v); err != nil {
			t.Fatal(err)
		}
		total += uint64(len(v))
	}
	// A deleted entry names nothing.
	if _, err := doc.Set(ctx, author, []byte("gone"), []byte("deleted before the join")); err != nil {
		t.Fatal(err)
	}
	if err := doc.Delete(ctx, author, []byte("gone")); err != nil {
		t.Fatal(err)
	}

	bdoc, sub := joinShared(t, doc, b, ShareRead)
	n := uint64(len(values))
	seen := collectProgress(t, sub, func(d live.DocDownloads) bool { return d.Idle() && d.Completed+d.Failed >= n })
	first, last := seen[0], seen[len(seen)-1]
	if first.Completed != 0 || first.Queued+first.Running == 0 {
		t.Fatalf("first event: %+v, want downloads queued and none completed", first)
	}
	if last != (live.DocDownloads{Completed: n, BytesQueued: total, BytesCompleted: total}) {
		t.Fatalf("last event: %+v, want %d downloads of %d bytes completed", last, n, total)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].BytesCompleted < seen[i-1].BytesCompleted || seen[i].Completed < seen[i-1].Completed {
			t.Fatalf("event %d went backwards: %+v after %+v", i, seen[i], seen[i-1])
		}
		if q := seen[i].Queued + seen[i].Running; uint64(q) > n {
			t.Fatalf("event %d: %d downloads queued or running of %d", i, q, n)
		}
	}
	p, err := bdoc.ContentProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ContentProgress{Entries: len(values), Complete: len(values), Bytes: total, Held: total,
		WantedBytes: total, WantedHeld: total, Downloads: last}
	if p != want || !p.Done() {
		t.Fatalf("content progress:\n got  %+v\n want %+v", p, want)
	}
}

// TestContentProgressFailed: content the only provider does not hold is
// given up and counted as failed, and reads as missing; part of it
// fetched counts as incomplete with its bytes; once the provider holds
// it, a read queues it again and the document's content is all held.
func TestContentProgressFailed(t *testing.T) {
	ctx := context.Background()
	a, b, doc, author := docToShare(t)
	held := bytes.Repeat([]byte("held "), 5000)
	if _, err := doc.Set(ctx, author, []byte("held"), held); err != nil {
		t.Fatal(err)
	}
	lost := bytes.Repeat([]byte("not there yet "), 3000)
	h := replica.HashContent(lost)
	if _, _, err := a.act.InsertLocal(ctx, doc.ID(), author, []byte("lost"), h, uint64(len(lost))); err != nil {
		t.Fatal(err)
	}
	bdoc, sub := joinShared(t, doc, b, ShareRead)
	seen := collectProgress(t, sub, func(d live.DocDownloads) bool { return d.Idle() && d.Completed+d.Failed >= 2 })
	last := seen[len(seen)-1]
	total := uint64(len(held) + len(lost))
	if last != (live.DocDownloads{Completed: 1, Failed: 1, BytesQueued: total, BytesCompleted: uint64(len(held)), BytesFailed: uint64(len(lost))}) {
		t.Fatalf("after the failure: %+v", last)
	}
	p, err := bdoc.ContentProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Entries != 2 || p.Complete != 1 || p.Missing != 1 || p.Bytes != total || p.Held != uint64(len(held)) ||
		p.Done() || p.Downloads.Failed != 1 || !p.Downloads.Idle() {
		t.Fatalf("content progress after the failure: %+v", p)
	}

	// Part of the content fetched (as by a download cut short) counts
	// the bytes held so far.
	part, err := b.blobs.BeginFetch(h, uint64(len(lost)))
	if err != nil {
		t.Fatal(err)
	}
	// The first group (16 KiB) arrives.
	enc, err := blobs.NewSliceEncoder(bytes.NewReader(lost), int64(len(lost)), b.blobs.GroupLog())
	if err != nil {
		t.Fatal(err)
	}
	var slice bytes.Buffer
	if err := enc.WriteSlice(&slice, blobs.Range{Start: 0, End: 1}); err != nil {
		t.Fatal(err)
	}
	if err := part.ReadSlice(&slice, 0, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := part.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = bdoc.ContentProgress(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Complete != 1 || p.Incomplete != 1 || p.Missing != 0 || p.Held != uint64(len(held))+16<<10 {
		t.Fatalf("content progress with a partial download: %+v", p)
	}

	// The provider gets the content; a read asks for it again.
	if _, _, err := a.blobs.Put(bytes.NewReader(lost)); err != nil {
		t.Fatal(err)
	}
	e, err := bdoc.Get(ctx, author.ID(), []byte("lost"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bdoc.Content(e); err == nil {
		t.Fatal("content read before it was downloaded")
	}
	collectProgress(t, sub, func(d live.DocDownloads) bool { return d.Idle() && d.Completed == 2 })
	testutil.Eventually(t, 10*time.Second, func() bool {
		p, err = bdoc.ContentProgress(ctx)
		return err == nil && p.Done()
	}, "all content held")
	if p.Complete != 2 || p.Missing != 0 || p.Held != total || p.Downloads.Completed != 2 || p.Downloads.Failed != 1 {
		t.Fatalf("content progress at the end: %+v", p)
	}
}

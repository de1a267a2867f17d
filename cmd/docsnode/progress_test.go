package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
)

type fakeEvents struct{ evs []client.Event }

func (f *fakeEvents) Next() (client.Event, error) {
	if len(f.evs) == 0 {
		return client.Event{}, io.EOF
	}
	ev := f.evs[0]
	f.evs = f.evs[1:]
	return ev, nil
}

func remote(key, hash string, n uint64, content string) client.Event {
	e := &client.Entry{Key: key, Hash: hash, Len: n}
	return client.Event{Kind: "insert-remote", Entry: e, Content: content}
}

// fakeContent answers the content statuses in turn, the last one again
// once they run out, and counts the calls.
type fakeContent struct {
	sts   []client.ContentStatus
	calls int
}

func (f *fakeContent) status() (client.ContentStatus, error) {
	st := f.sts[min(f.calls, len(f.sts)-1)]
	f.calls++
	return st, nil
}

func progressEvent(d wire.Downloads) client.Event {
	return client.Event{Kind: "content-progress", Downloads: &d}
}

// TestJoinProgress: the progress counts the entries until the first
// sync ends, then shows the content held until all of it is, asking for
// the content status at the start and when the downloads run out, and
// returns then, leaving later events unread.
func TestJoinProgress(t *testing.T) {
	later := client.Event{Kind: "insert-remote", Entry: &client.Entry{Key: "later"}}
	src := &fakeEvents{evs: []client.Event{
		remote("a", "h1", 100, "missing"),
		remote("b", "h2", 50, "complete"),
		{Kind: "neighbor-up", Peer: "p"},
		remote("c", "h3", 1000, "missing"),
		{Kind: "sync-finished", Peer: "p"},
		progressEvent(wire.Downloads{Running: 1, Completed: 1, BytesQueued: 1100, BytesCompleted: 100}),
		{Kind: "content-ready", Hash: "h3"},
		progressEvent(wire.Downloads{Completed: 2, BytesQueued: 1100, BytesCompleted: 1100}),
		later,
	}}
	content := &fakeContent{sts: []client.ContentStatus{
		{Entries: 3, Complete: 1, Missing: 2, Bytes: 1150, Held: 50, WantedBytes: 1150, WantedHeld: 50,
			Downloads: wire.Downloads{Queued: 1, Running: 1, BytesQueued: 1100}},
		{Entries: 3, Complete: 3, Bytes: 1150, Held: 1150, WantedBytes: 1150, WantedHeld: 1150,
			Downloads: wire.Downloads{Completed: 2, BytesQueued: 1100, BytesCompleted: 1100}},
	}}
	var out bytes.Buffer
	if err := joinProgress(src, content.status, &out); err != nil {
		t.Fatal(err)
	}
	if len(src.evs) != 1 || src.evs[0].Entry.Key != "later" {
		t.Fatalf("events left unread: %+v", src.evs)
	}
	if content.calls != 2 {
		t.Fatalf("content status asked %d times, want 2 (start, end)", content.calls)
	}
	if s := out.String(); !strings.Contains(s, "3 entries received") || !strings.Contains(s, "content held") ||
		!strings.Contains(s, "all 1.1 KiB of content held") {
		t.Fatalf("output: %q", s)
	}
	// A failed first sync ends the progress with a note.
	out.Reset()
	src = &fakeEvents{evs: []client.Event{{Kind: "sync-finished", Error: "dial failed"}, later}}
	if err := joinProgress(src, content.status, &out); err != nil || !strings.Contains(out.String(), "dial failed") || len(src.evs) != 1 {
		t.Fatalf("failed sync: %v, %q", err, out.String())
	}
	// A stream that ends early is an error.
	if err := joinProgress(&fakeEvents{evs: []client.Event{remote("a", "h", 1, "missing")}}, content.status, io.Discard); err != io.EOF {
		t.Fatalf("early end: %v", err)
	}
	// Without a content source, the progress ends with the entries.
	src = &fakeEvents{evs: []client.Event{{Kind: "sync-finished", Peer: "p"}, later}}
	if err := joinProgress(src, nil, io.Discard); err != nil || len(src.evs) != 1 {
		t.Fatalf("entries only: %v, %d events left", err, len(src.evs))
	}
}

// TestJoinProgressContentNotFetched: content the download policy does
// not fetch ends the content phase at once, with a note, and so does a
// download given up, once the downloads run out.
func TestJoinProgressContentNotFetched(t *testing.T) {
	later := client.Event{Kind: "insert-remote", Entry: &client.Entry{Key: "later"}}
	// The policy fetches nothing: nothing is queued, nothing is waited for.
	src := &fakeEvents{evs: []client.Event{{Kind: "sync-finished", Peer: "p"}, later}}
	content := &fakeContent{sts: []client.ContentStatus{{Entries: 3, Complete: 1, Missing: 2, Bytes: 5096, Held: 1000}}}
	var out bytes.Buffer
	if err := joinProgress(src, content.status, &out); err != nil || len(src.evs) != 1 {
		t.Fatalf("policy fetches nothing: %v, %d events left", err, len(src.evs))
	}
	if s := out.String(); !strings.Contains(s, "1000 B of 5.0 KiB of content held") || !strings.Contains(s, "does not fetch 4.0 KiB") {
		t.Fatalf("output: %q", s)
	}

	// Downloads not queued yet are waited for; one is given up.
	out.Reset()
	src = &fakeEvents{evs: []client.Event{
		{Kind: "sync-finished", Peer: "p"},
		progressEvent(wire.Downloads{Running: 2, BytesQueued: 3000}),
		progressEvent(wire.Downloads{Completed: 1, Failed: 1, BytesQueued: 3000, BytesCompleted: 1000, BytesFailed: 2000}),
		later,
	}}
	content = &fakeContent{sts: []client.ContentStatus{
		{Entries: 2, Missing: 2, Bytes: 3000, WantedBytes: 3000},
		{Entries: 2, Complete: 1, Missing: 1, Bytes: 3000, Held: 1000, WantedBytes: 3000, WantedHeld: 1000,
			Downloads: wire.Downloads{Completed: 1, Failed: 1, BytesQueued: 3000, BytesCompleted: 1000, BytesFailed: 2000}},
	}}
	if err := joinProgress(src, content.status, &out); err != nil || len(src.evs) != 1 {
		t.Fatalf("given up: %v, %d events left", err, len(src.evs))
	}
	if s := out.String(); !strings.Contains(s, "1000 B of 2.9 KiB of content held") || !strings.Contains(s, "1 downloads were given up") {
		t.Fatalf("output: %q", s)
	}
}

// TestJoinProgressExpected: once the session says how many entries it
// has asked for, the bar counts against that number.
func TestJoinProgressExpected(t *testing.T) {
	src := &fakeEvents{evs: []client.Event{
		{Kind: "sync-progress", Expected: 3, Received: 0},
		remote("a", "h1", 1, "complete"),
		{Kind: "sync-progress", Expected: 4, Received: 2},
		remote("b", "h2", 1, "complete"),
		{Kind: "sync-progress", Expected: 4, Received: 4},
		{Kind: "sync-finished", Peer: "p"},
	}}
	var out bytes.Buffer
	if err := joinProgress(src, nil, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "4/4") || !strings.Contains(s, "4 entries received") {
		t.Fatalf("output: %q", s)
	}
}

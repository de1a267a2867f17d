package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

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

// TestJoinProgress: the progress counts the entries until the first
// sync ends, then waits for the content still missing, and returns once
// it is in, leaving later events unread.
func TestJoinProgress(t *testing.T) {
	later := client.Event{Kind: "insert-remote", Entry: &client.Entry{Key: "later"}}
	src := &fakeEvents{evs: []client.Event{
		remote("a", "h1", 100, "missing"),
		remote("b", "h2", 50, "complete"),
		{Kind: "neighbor-up", Peer: "p"},
		remote("c", "h3", 1000, "missing"),
		{Kind: "content-ready", Hash: "h1"}, // before the sync ends
		{Kind: "sync-finished", Peer: "p"},
		{Kind: "content-ready", Hash: "h3"},
		later,
	}}
	var out bytes.Buffer
	if err := joinProgress(src, &out); err != nil {
		t.Fatal(err)
	}
	if len(src.evs) != 1 || src.evs[0].Entry.Key != "later" {
		t.Fatalf("events left unread: %+v", src.evs)
	}
	if s := out.String(); !strings.Contains(s, "3 entries received") || !strings.Contains(s, "downloading content") {
		t.Fatalf("output: %q", s)
	}
	// A failed first sync ends the progress with a note.
	out.Reset()
	src = &fakeEvents{evs: []client.Event{{Kind: "sync-finished", Error: "dial failed"}, later}}
	if err := joinProgress(src, &out); err != nil || !strings.Contains(out.String(), "dial failed") || len(src.evs) != 1 {
		t.Fatalf("failed sync: %v, %q", err, out.String())
	}
	// A stream that ends early is an error.
	if err := joinProgress(&fakeEvents{evs: []client.Event{remote("a", "h", 1, "missing")}}, io.Discard); err != io.EOF {
		t.Fatalf("early end: %v", err)
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
	if err := joinProgress(src, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "4/4") || !strings.Contains(s, "4 entries received") {
		t.Fatalf("output: %q", s)
	}
}

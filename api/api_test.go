package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts an engine and the API over it; everything stops in
// t.Cleanup.
func serve(t *testing.T, cfg api.Config) (*engine.Engine, *client.Client) {
	t.Helper()
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(e, cfg)
	hs := httptest.NewServer(srv)
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		hs.Close()
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e, c
}

func TestEntries(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{})
	doc, err := c.CreateDoc(ctx, true)
	if err != nil || doc.Capability != "write" || doc.Durability != "durable" {
		t.Fatalf("create = %+v, %v", doc, err)
	}
	keys := []string{"notes/a", "notes/b c", "notes/../x", "notes//y", "other", "z/%2F.."}
	for i, k := range keys {
		e, err := c.Set(ctx, doc.ID, k, []byte(fmt.Sprintf("value %d", i)), client.SetOptions{})
		if err != nil || e.Key != k || e.Len != uint64(len("value 0")) {
			t.Fatalf("set %q = %+v, %v", k, e, err)
		}
	}
	for i, k := range keys {
		b, e, err := c.Get(ctx, doc.ID, k, client.GetOptions{})
		if err != nil || string(b) != fmt.Sprintf("value %d", i) || e.Author == "" || len(e.Hash) != 64 || e.Timestamp == 0 {
			t.Fatalf("get %q = %q %+v, %v", k, b, e, err)
		}
		meta, err := c.GetEntry(ctx, doc.ID, k, client.GetOptions{Author: e.Author})
		if err != nil || meta.Key != k || meta.Hash != e.Hash || meta.Author != e.Author {
			t.Fatalf("get %q meta = %+v, %v; raw get said %+v", k, meta, err, e)
		}
	}
	// Paging: one entry per page, in key order, until the cursor ends.
	prefix := "notes/"
	var got []string
	q := client.Query{Prefix: &prefix, SortByKey: true, Limit: 1}
	pages := 0
	for {
		page, err := c.Query(ctx, doc.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range page.Entries {
			got = append(got, e.Key)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if want := []string{"notes/../x", "notes//y", "notes/a", "notes/b c"}; fmt.Sprint(got) != fmt.Sprint(want) || pages != 4 {
		t.Fatalf("paged query = %q in %d pages, want %q in 4", got, pages, want)
	}
	desc, err := c.QueryAll(ctx, doc.ID, client.Query{SortByKey: true, Desc: true, Latest: true})
	if err != nil || len(desc) != len(keys) || desc[0].Key != "z/%2F.." || desc[len(desc)-1].Key != "notes/../x" {
		t.Fatalf("descending query = %+v, %v", desc, err)
	}
	// Delete a prefix: its keys are gone, the others stay.
	if _, err := c.Delete(ctx, doc.ID, "notes/", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, doc.ID, "notes/a", client.GetOptions{}); client.Code(err) != wire.CodeEntryNotFound || !client.IsNotFound(err) {
		t.Fatalf("get of a deleted key: %v", err)
	}
	if b, _, err := c.Get(ctx, doc.ID, "other", client.GetOptions{}); err != nil || string(b) != "value 4" {
		t.Fatalf("get other after the delete = %q, %v", b, err)
	}
	docs, err := c.Docs(ctx)
	if err != nil || len(docs) != 1 || docs[0] != doc {
		t.Fatalf("docs = %+v, %v", docs, err)
	}
	if err := c.Drop(ctx, doc.ID); err != nil {
		t.Fatal(err)
	}
	if docs, err := c.Docs(ctx); err != nil || len(docs) != 0 {
		t.Fatalf("docs after drop = %+v, %v", docs, err)
	}
}

// TestRefusals: each bad request gets its documented status and code, and
// changes nothing.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{MaxValueBytes: 16, MaxBodyBytes: 64})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, doc.ID, "k", []byte("kept"), client.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"bad doc id", func() error { _, err := c.Set(ctx, "nope", "k", []byte("v"), client.SetOptions{}); return err }, 400, wire.CodeBadDocID},
		{"unknown doc", func() error { _, err := c.Set(ctx, unknown, "k", []byte("v"), client.SetOptions{}); return err }, 404, wire.CodeDocNotFound},
		{"unknown doc get", func() error { _, _, err := c.Get(ctx, unknown, "k", client.GetOptions{}); return err }, 404, wire.CodeDocNotFound},
		{"unknown doc query", func() error { _, err := c.Query(ctx, unknown, client.Query{}); return err }, 404, wire.CodeDocNotFound},
		{"unknown doc drop", func() error { return c.Drop(ctx, unknown) }, 404, wire.CodeDocNotFound},
		{"empty value", func() error { _, err := c.Set(ctx, doc.ID, "k", nil, client.SetOptions{}); return err }, 400, wire.CodeEmptyValue},
		{"value too large", func() error {
			_, err := c.Set(ctx, doc.ID, "k", bytes.Repeat([]byte("x"), 17), client.SetOptions{})
			return err
		}, 413, wire.CodeTooLarge},
		{"value too large, no length", func() error {
			_, err := c.SetReader(ctx, doc.ID, "k", io.MultiReader(strings.NewReader(strings.Repeat("y", 17))), client.SetOptions{})
			return err
		}, 413, wire.CodeTooLarge},
		{"value too large, stated length", func() error {
			_, err := c.SetReader(ctx, doc.ID, "k", io.MultiReader(strings.NewReader(strings.Repeat("y", 17))), client.SetOptions{Length: 17})
			return err
		}, 413, wire.CodeTooLarge},
		{"unknown author", func() error {
			_, err := c.Set(ctx, doc.ID, "k", []byte("v"), client.SetOptions{Author: unknown})
			return err
		}, 404, wire.CodeAuthorNotFound},
		{"bad author", func() error {
			_, err := c.Set(ctx, doc.ID, "k", []byte("v"), client.SetOptions{Author: "x"})
			return err
		}, 400, wire.CodeBadAuthorID},
		{"bad ticket", func() error { _, err := c.Import(ctx, "docnotaticket"); return err }, 400, wire.CodeBadTicket},
		{"body too large", func() error { _, err := c.Import(ctx, strings.Repeat("t", 100)); return err }, 413, wire.CodeTooLarge},
		{"bad share mode", func() error { _, err := c.Share(ctx, doc.ID, "admin"); return err }, 400, wire.CodeBadRequest},
		{"bad cursor", func() error { _, err := c.Query(ctx, doc.ID, client.Query{Cursor: "!!"}); return err }, 400, wire.CodeBadCursor},
		{"bad limit", func() error { _, err := c.Query(ctx, doc.ID, client.Query{Limit: 1 << 30}); return err }, 400, wire.CodeBadRequest},
		{"not syncing", func() error { return c.WaitSynced(ctx, doc.ID, "", time.Second) }, 409, wire.CodeNotSyncing},
	} {
		err := tc.call()
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != tc.status || ae.Code != tc.code || ae.Message == "" {
			t.Errorf("%s: %v (%#v), want %d %s", tc.name, err, ae, tc.status, tc.code)
		}
	}
	all, err := c.QueryAll(ctx, doc.ID, client.Query{Tombstones: true})
	if err != nil || len(all) != 1 || all[0].Key != "k" || all[0].Len != 4 {
		t.Fatalf("entries after the refusals = %+v, %v", all, err)
	}
	if docs, err := c.Docs(ctx); err != nil || len(docs) != 1 {
		t.Fatalf("docs after the refusals = %+v, %v", docs, err)
	}
}

func errorsAs(err error, target **client.Error) bool {
	e, ok := err.(*client.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestRequireToken(t *testing.T) {
	e, err := engine.Open(context.Background(), engine.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := api.NewServer(e, api.Config{})
	defer srv.Close()
	hs := httptest.NewServer(api.RequireToken("s3cret-token", srv))
	defer hs.Close()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/v1/node", "", 401},
		{"/v1/node", "Bearer wrong", 401},
		{"/v1/node", "Bearer s3cret-token-and-more", 401},
		{"/v1/node", "s3cret-token", 401},
		{"/v1/node", "Bearer s3cret-token", 200},
		{"/healthz", "", 200},
		{"/readyz", "", 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == 401 && !strings.Contains(string(body), `"code":"unauthorized"`)) {
			t.Errorf("%s with %q: %d %s, want %d", tc.path, tc.auth, resp.StatusCode, body, tc.want)
		}
		if strings.Contains(string(body), "s3cret") {
			t.Errorf("%s: the answer shows the token: %s", tc.path, body)
		}
	}
}

func TestNodeAndHealth(t *testing.T) {
	ctx := context.Background()
	e, c := serve(t, api.Config{})
	n, err := c.Node(ctx)
	if err != nil || n.ID != e.NodeID().String() || len(n.Addrs) == 0 {
		t.Fatalf("node = %+v, %v", n, err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := c.Authors(ctx)
	if err != nil || len(a.Authors) != 1 || a.Authors[0] != a.Default {
		t.Fatalf("authors = %+v, %v", a, err)
	}
}

// nextEvent reads events until one of kind, with a deadline.
func nextEvent(t *testing.T, s *client.EventStream, kind string) client.Event {
	t.Helper()
	for {
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		if ev.Kind == kind {
			return ev
		}
	}
}

// TestEventsResume: a client that reconnects with the id of the last
// event it read gets exactly what it missed, and a lagged event when the
// replay buffer no longer holds it.
func TestEventsResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, c := serve(t, api.Config{EventReplay: 8, Heartbeat: 10 * time.Millisecond})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	set := func(key string) {
		t.Helper()
		if _, err := c.Set(ctx, doc.ID, key, []byte("v"), client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The observer stays connected: once it has read an insert, the
	// insert is in the server's log.
	observer, err := c.Events(ctx, doc.ID, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	observed := func(key string) {
		t.Helper()
		for {
			if ev := nextEvent(t, observer, wire.EventInsertLocal); ev.Entry.Key == key {
				return
			}
		}
	}
	s, err := c.Events(ctx, doc.ID, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	set("first")
	first := nextEvent(t, s, wire.EventInsertLocal)
	if first.Entry == nil || first.Entry.Key != "first" || first.ID == 0 || s.LastID != first.ID {
		t.Fatalf("first event = %+v", first)
	}
	f := first.ID
	s.Close()
	for i := range 5 {
		set(fmt.Sprintf("missed/%d", i))
	}
	observed("missed/4")
	s, err = c.Events(ctx, doc.ID, f, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ev, err := s.Next()
		if err != nil || ev.Kind != wire.EventInsertLocal || ev.Entry.Key != fmt.Sprintf("missed/%d", i) || ev.ID != f+1+uint64(i) {
			t.Fatalf("replayed event %d = %+v, %v", i, ev, err)
		}
	}
	// Live again: the next insert follows on the same stream.
	set("live")
	if ev := nextEvent(t, s, wire.EventInsertLocal); ev.Entry.Key != "live" || ev.ID != f+6 {
		t.Fatalf("live event = %+v", ev)
	}
	s.Close()
	// Ten more inserts (ids f+7..f+16) leave f+9..f+16 in the buffer of
	// 8: a client resuming after f is told it lost 8 (f+1..f+8), then
	// gets f+9 onwards.
	for i := range 10 {
		set(fmt.Sprintf("flood/%d", i))
	}
	observed("flood/9")
	s, err = c.Events(ctx, doc.ID, f, true)
	if err != nil {
		t.Fatal(err)
	}
	lag, err := s.Next()
	if err != nil || lag.Kind != wire.EventLagged || lag.Missed != 8 || lag.ID != f+8 {
		t.Fatalf("first event after the gap = %+v, %v (want lagged, 8 missed, id %d)", lag, err, f+8)
	}
	if ev, err := s.Next(); err != nil || ev.ID != f+9 || ev.Entry.Key != "flood/2" {
		t.Fatalf("event after the lag = %+v, %v", ev, err)
	}
	s.Close()
	// An id this run never gave (as after a restart of the daemon) gets
	// a lagged event without a count, then the oldest event held.
	s, err = c.Events(ctx, doc.ID, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if lag, err := s.Next(); err != nil || lag.Kind != wire.EventLagged || lag.Missed != 0 || lag.ID != f+8 {
		t.Fatalf("resuming after an unknown id: %+v, %v", lag, err)
	}
	if ev, err := s.Next(); err != nil || ev.ID != f+9 {
		t.Fatalf("event after the unknown id's lag = %+v, %v", ev, err)
	}
}

// TestRefusedSetWritesNothing: a refused set on a fresh node does not
// even create the default author.
func TestRefusedSetWritesNothing(t *testing.T) {
	ctx := context.Background()
	e, c := serve(t, api.Config{MaxValueBytes: 4})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, doc.ID, "k", []byte("too large"), client.SetOptions{}); client.Code(err) != wire.CodeTooLarge {
		t.Fatalf("large set: %v", err)
	}
	if _, err := c.Set(ctx, doc.ID, "k", nil, client.SetOptions{}); client.Code(err) != wire.CodeEmptyValue {
		t.Fatalf("empty set: %v", err)
	}
	if ids, err := e.Authors().List(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("authors after the refused sets = %v, %v", ids, err)
	}
}

// TestTwoNodes: a document shared for writing through one node's API and
// imported through the other's syncs both ways, and wait-synced and the
// sync status say so.
func TestTwoNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ea, a := serve(t, api.Config{})
	_, b := serve(t, api.Config{})
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Set(ctx, doc.ID, "from/a", []byte("A"), client.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	tk, err := a.Share(ctx, doc.ID, "write")
	if err != nil || tk.Mode != "write" || !strings.HasPrefix(tk.Ticket, "doc") {
		t.Fatalf("share write = %+v, %v", tk, err)
	}
	bdoc, err := b.Import(ctx, tk.Ticket)
	if err != nil || bdoc.ID != doc.ID || bdoc.Capability != "write" {
		t.Fatalf("import = %+v, %v", bdoc, err)
	}
	if err := b.WaitSynced(ctx, doc.ID, ea.NodeID().String(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, _, err := b.Get(ctx, doc.ID, "from/a", client.GetOptions{}); err != nil || string(v) != "A" {
		// The entry is in; its content may still be downloading.
		if client.Code(err) != wire.CodeContentMissing {
			t.Fatalf("B reads from/a = %q, %v", v, err)
		}
	}
	if _, err := b.Set(ctx, doc.ID, "from/b", []byte("B"), client.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without peer=, wait-synced waits for every peer B knows: A.
	if err := b.WaitSynced(ctx, doc.ID, "", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e, err := a.GetEntry(ctx, doc.ID, "from/b", client.GetOptions{})
	if err != nil || e.Len != 1 {
		t.Fatalf("A's entry from/b = %+v, %v", e, err)
	}
	peers, err := b.SyncStatus(ctx, doc.ID)
	if err != nil || len(peers) != 1 || peers[0].Peer != ea.NodeID().String() || peers[0].Sessions == 0 {
		t.Fatalf("B's sync status = %+v, %v", peers, err)
	}
	// A peer that never appears is given up after the engine's
	// UnreachableAfter (2s in the test config).
	if err := b.WaitSynced(ctx, doc.ID, strings.Repeat("ee", 32), 20*time.Second); client.Code(err) != wire.CodeUnknownPeer {
		t.Fatalf("wait-synced on an unknown peer: %v", err)
	}
	if err := b.Leave(ctx, doc.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitSynced(ctx, doc.ID, ea.NodeID().String(), time.Second); client.Code(err) != wire.CodeNotSyncing {
		t.Fatalf("wait-synced after leave: %v", err)
	}
	if err := b.StartSync(ctx, doc.ID); err != nil {
		t.Fatal(err)
	}
}

// TestStreamsEnd: an event stream ends when its document is dropped, and
// Close ends the others, so that http.Server.Shutdown does not wait on
// them.
func TestStreamsEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := api.NewServer(e, api.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dropped, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := c.Events(ctx, dropped.ID, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := c.Events(ctx, kept.ID, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := c.Drop(ctx, dropped.ID); err != nil {
		t.Fatal(err)
	}
	if ev, err := s1.Next(); err != io.EOF {
		t.Fatalf("the dropped document's stream: %+v, %v", ev, err)
	}
	srv.Close()
	if ev, err := s2.Next(); err != io.EOF {
		t.Fatalf("a stream after Close: %+v, %v", ev, err)
	}
	if _, err := c.Events(ctx, kept.ID, 0, false); client.Code(err) != wire.CodeUnavailable {
		t.Fatalf("a new stream after Close: %v", err)
	}
}

func TestAuthors(t *testing.T) {
	ctx := context.Background()
	_, a := serve(t, api.Config{})
	_, b := serve(t, api.Config{})
	first, err := a.Authors(ctx)
	if err != nil || len(first.Authors) != 1 {
		t.Fatalf("authors = %+v, %v", first, err)
	}
	id, err := a.CreateAuthor(ctx)
	if err != nil || len(id) != 64 || id == first.Default {
		t.Fatalf("create author = %q, %v", id, err)
	}
	if err := a.SetDefaultAuthor(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Authors(ctx); err != nil || got.Default != id || len(got.Authors) != 2 {
		t.Fatalf("authors after set default = %+v, %v", got, err)
	}
	// An entry written through the API is signed by the new default.
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := a.Set(ctx, doc.ID, "k", []byte("v"), client.SetOptions{}); err != nil || e.Author != id {
		t.Fatalf("set = %+v, %v; want author %s", e, err, id)
	}
	secret, err := a.ExportAuthor(ctx, id)
	if err != nil || len(secret) != 64 {
		t.Fatalf("export = %d chars, %v", len(secret), err)
	}
	if got, err := b.ImportAuthor(ctx, secret); err != nil || got != id {
		t.Fatalf("import on b = %q, %v; want %s", got, err, id)
	}
	bad := strings.Repeat("zz", 32)
	if _, err := b.ImportAuthor(ctx, bad); client.Code(err) != wire.CodeBadRequest || strings.Contains(err.Error(), bad) {
		t.Fatalf("import of a bad secret: %v", err)
	}
	if err := a.DeleteAuthor(ctx, id); client.Code(err) != wire.CodeIsDefault {
		t.Fatalf("delete of the default author: %v", err)
	}
	if err := a.DeleteAuthor(ctx, first.Default); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAuthor(ctx, first.Default); client.Code(err) != wire.CodeAuthorNotFound {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := a.ExportAuthor(ctx, first.Default); client.Code(err) != wire.CodeAuthorNotFound {
		t.Fatalf("export of a deleted author: %v", err)
	}
	if err := a.SetDefaultAuthor(ctx, first.Default); client.Code(err) != wire.CodeAuthorNotFound {
		t.Fatalf("default set to a deleted author: %v", err)
	}
}

func TestDownloadPolicy(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.DownloadPolicy(ctx, doc.ID)
	if err != nil || p.Mode != wire.PolicyEverythingExcept || len(p.Filters) != 0 {
		t.Fatalf("default policy = %+v, %v", p, err)
	}
	want := client.Policy{Mode: wire.PolicyNothingExcept, Filters: []wire.KeyFilter{{Key: "docs/", Prefix: true}, {Key: "index"}}}
	got, err := c.SetDownloadPolicy(ctx, doc.ID, want)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("set policy = %+v, %v; want %+v", got, err, want)
	}
	if _, err := c.SetDownloadPolicy(ctx, doc.ID, client.Policy{Mode: "some"}); client.Code(err) != wire.CodeBadRequest {
		t.Fatalf("a bad mode: %v", err)
	}
	if got, err := c.DownloadPolicy(ctx, doc.ID); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("policy after the refused set = %+v, %v", got, err)
	}
}

// TestContentRange: a get streams the whole value, answers a Range with
// that part, and If-None-Match with the entry's hash as not modified.
func TestContentRange(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("0123456789"), 100_000)
	set, err := c.SetReader(ctx, doc.ID, "big", io.MultiReader(bytes.NewReader(value)), client.SetOptions{})
	if err != nil || set.Len != uint64(len(value)) {
		t.Fatalf("streamed set = %+v, %v", set, err)
	}
	var buf bytes.Buffer
	e, err := c.GetTo(ctx, doc.ID, "big", &buf, client.GetOptions{})
	if err != nil || !bytes.Equal(buf.Bytes(), value) || e.Hash != set.Hash {
		t.Fatalf("GetTo: %d bytes, %+v, %v", buf.Len(), e, err)
	}
	part, err := c.GetRange(ctx, doc.ID, "big", 123_456, 20, client.GetOptions{})
	if err != nil || !bytes.Equal(part, value[123_456:123_476]) {
		t.Fatalf("range = %q, %v", part, err)
	}
	tail, err := c.GetRange(ctx, doc.ID, "big", int64(len(value))-5, 100, client.GetOptions{})
	if err != nil || !bytes.Equal(tail, value[len(value)-5:]) {
		t.Fatalf("range past the end = %q, %v", tail, err)
	}
}

// TestImportEvents: a stream resumed from the import's events_after
// holds every entry the first sync brought, however late it opens.
func TestImportEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ea, a := serve(t, api.Config{})
	_, b := serve(t, api.Config{})
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := a.Set(ctx, doc.ID, fmt.Sprintf("before/%d", i), []byte("v"), client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := a.Share(ctx, doc.ID, "read")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := b.Import(ctx, tk.Ticket)
	if err != nil || imp.ID != doc.ID || imp.Capability != "read" {
		t.Fatalf("import = %+v, %v", imp, err)
	}
	// The first sync is over before the stream opens.
	if err := b.WaitSynced(ctx, doc.ID, ea.NodeID().String(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := b.Events(ctx, doc.ID, imp.EventsAfter, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]bool{}
	for len(seen) < 5 {
		ev, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == wire.EventLagged {
			t.Fatalf("lagged: %+v", ev)
		}
		if ev.Kind == wire.EventInsertRemote {
			seen[ev.Entry.Key] = true
		}
	}
	for i := range 5 {
		if !seen[fmt.Sprintf("before/%d", i)] {
			t.Fatalf("the stream from the import lacks before/%d: %v", i, seen)
		}
	}
}

// TestCursorOfAnotherQuery: a cursor answered by one kind of query is
// refused by another.
func TestCursorOfAnotherQuery(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.Set(ctx, doc.ID, k, []byte("v"), client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.Query(ctx, doc.ID, client.Query{Latest: true, Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	if _, err := c.Query(ctx, doc.ID, client.Query{Limit: 1, Cursor: page.NextCursor}); client.Code(err) != wire.CodeBadCursor {
		t.Fatalf("a latest-per-key cursor on an author query: %v", err)
	}
	next, err := c.Query(ctx, doc.ID, client.Query{Latest: true, Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(next.Entries) != 1 || next.Entries[0].Key != "b" {
		t.Fatalf("second page = %+v, %v", next, err)
	}
}

// TestObserveAndMetrics: every request is observed with its route's
// pattern and status, and a Metrics handler is served at /metrics.
func TestObserveAndMetrics(t *testing.T) {
	ctx := context.Background()
	type obs struct {
		pattern string
		status  int
	}
	var mu sync.Mutex
	var seen []obs
	cfg := api.Config{
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "docsnode_test_total 1\n") }),
		ObserveRequest: func(pattern string, status int, took time.Duration) {
			mu.Lock()
			seen = append(seen, obs{pattern, status})
			mu.Unlock()
		},
	}
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := api.NewServer(e, cfg)
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Docs(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, strings.Repeat("ab", 32), "k", client.GetOptions{}); !client.IsNotFound(err) {
		t.Fatal(err)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "docsnode_test_total 1\n" {
		t.Fatalf("/metrics = %q", body)
	}
	if resp, err := http.Get(hs.URL + "/nowhere"); err == nil {
		resp.Body.Close()
	}
	// A request is observed after its answer is written, so the client
	// can have the answer first.
	testutil.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 4
	}, "four requests observed")
	mu.Lock()
	defer mu.Unlock()
	want := []obs{{"GET /v1/docs", 200}, {"GET /v1/docs/{id}/entries/{key...}", 404}, {"GET /metrics", 200}, {"", 404}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
	if !slices.Contains(srv.Routes(), "GET /metrics") {
		t.Fatalf("routes lack /metrics: %v", srv.Routes())
	}
}

// TestCollectGarbage: POST /v1/gc runs a pass, whose findings GET
// /v1/node reports: an overwritten value's content is unreferenced and
// waits out the grace period.
func TestCollectGarbage(t *testing.T) {
	ctx := context.Background()
	_, c := serve(t, api.Config{})
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"first", "second"} {
		if _, err := c.Set(ctx, doc.ID, "k", []byte(v), client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := c.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.Runs != 1 || g.Held != 2 || g.Unreferenced != 1 || g.Pending != 1 || g.BlobsRemoved != 0 || g.LastRun.IsZero() {
		t.Fatalf("gc = %+v; want one run, 2 held, 1 unreferenced and pending", g)
	}
	n, err := c.Node(ctx)
	if err != nil || n.GC != g {
		t.Fatalf("node's gc = %+v, %v; the pass answered %+v", n.GC, err, g)
	}
}

// TestGetRangeOfContentNotHeld: a range of a value this node does not hold
// is served from a peer that does, and is the value's bytes.
func TestGetRangeOfContentNotHeld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ea, a := serve(t, api.Config{})
	eb, b := serve(t, api.Config{})
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("range me "), 300_000) // 2.7 MB
	if _, err := a.Set(ctx, doc.ID, "big", value, client.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	id, err := replica.ParseNamespaceID(doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	adoc, err := ea.Docs().Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := adoc.Share(ctx, engine.ShareRead)
	if err != nil {
		t.Fatal(err)
	}
	peers := tk.Nodes
	tk.Nodes = nil
	bdoc, err := eb.Docs().Import(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdoc.SetDownloadPolicy(ctx, replica.DownloadPolicy{Mode: replica.DownloadNothingExcept}); err != nil {
		t.Fatal(err)
	}
	if err := bdoc.StartSync(ctx, peers...); err != nil {
		t.Fatal(err)
	}
	if err := bdoc.WaitSynced(ctx, ea.NodeID()); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetRange(ctx, doc.ID, "big", 2_000_000, 5000, client.GetOptions{})
	if err != nil || !bytes.Equal(got, value[2_000_000:2_005_000]) {
		t.Fatalf("range of content not held: %d bytes, %v", len(got), err)
	}
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// stored describes what e's store holds that a refused call could change:
// documents, authors, and every entry of every document (tombstones
// included) with the heads.
func stored(t *testing.T, e *Engine) string {
	t.Helper()
	ctx := context.Background()
	docs, err := e.Docs().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	authors, err := e.Authors().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("docs %d authors %v\n", len(docs), authors)
	for _, d := range docs {
		out += fmt.Sprintf("doc %s %s %s\n", d.ID(), d.Capability.Kind(), d.Durability)
		for se, err := range e.act.Query(ctx, d.ID(), replica.Query{IncludeTombstones: true}) {
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("  %s %q %+v\n", se.Author.Short(), se.Key, se.Record)
		}
		heads, err := e.act.Heads(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("  heads %v\n", heads)
	}
	return out
}

// TestSetRefusesEmptyValue: Set with a nil or empty value would write a
// tombstone and delete every entry under the key; it is refused with
// replica.ErrEmptyValue and stores nothing. Delete still deletes.
func TestSetRefusesEmptyValue(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pre/a", "pre/b", "other"} {
		if _, err := doc.Set(ctx, author, []byte(k), []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	before := stored(t, e)
	for _, v := range [][]byte{nil, {}} {
		for _, key := range []string{"pre/", "pre/a", ""} {
			if _, err := doc.Set(ctx, author, []byte(key), v); !errors.Is(err, replica.ErrEmptyValue) {
				t.Fatalf("Set(%q, %q): %v, want ErrEmptyValue", key, v, err)
			}
		}
	}
	if after := stored(t, e); after != before {
		t.Fatalf("a refused Set changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := count(t, doc); n != 3 {
		t.Fatalf("%d entries after the refused Sets, want 3", n)
	}
	if err := doc.Delete(ctx, author, []byte("pre/")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, doc); n != 1 {
		t.Fatalf("%d entries after Delete, want 1", n)
	}
}

// TestZeroKeysAreErrors calls every engine method that takes a key or an
// id with the zero value (or a malformed one) and checks that each
// returns an error, never panics, and changes nothing stored.
func TestZeroKeysAreErrors(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Set(ctx, author, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	var (
		zeroAuthor   replica.Author
		zeroAuthorID replica.AuthorID
		zeroNS       replica.NamespaceID
		zeroSecret   replica.NamespaceSecret
	)
	node := e.NodeAddr()
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"Doc.Set zero author", func() error { _, err := doc.Set(ctx, zeroAuthor, []byte("k"), []byte("v")); return err }, replica.ErrInvalidKey},
		{"Doc.Delete zero author", func() error { return doc.Delete(ctx, zeroAuthor, []byte("k")) }, replica.ErrInvalidKey},
		{"Doc.Get zero author id", func() error { _, err := doc.Get(ctx, zeroAuthorID, []byte("k")); return err }, replica.ErrNotFound},
		{"Docs.Open zero id", func() error { _, err := e.Docs().Open(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"Docs.Drop zero id", func() error { return e.Docs().Drop(ctx, zeroNS) }, replica.ErrNotFound},
		{"Docs.Import zero ticket", func() error { _, err := e.Docs().Import(ctx, ticket.DocTicket{}); return err }, replica.ErrMalformed},
		{"Docs.Import zero id", func() error {
			_, err := e.Docs().Import(ctx, ticket.DocTicket{Capability: replica.ReadCapability(zeroNS), Nodes: []endpoint.NodeAddr{node}})
			return err
		}, replica.ErrInvalidKey},
		{"Docs.Import zero secret", func() error {
			_, err := e.Docs().Import(ctx, ticket.DocTicket{Capability: replica.WriteCapability(zeroSecret), Nodes: []endpoint.NodeAddr{node}})
			return err
		}, replica.ErrInvalidKey},
		{"Docs.ImportAndSubscribe zero id", func() error {
			_, _, err := e.Docs().ImportAndSubscribe(ctx, ticket.DocTicket{Capability: replica.ReadCapability(zeroNS), Nodes: []endpoint.NodeAddr{node}})
			return err
		}, replica.ErrInvalidKey},
		{"Authors.Import zero author", func() error { return e.Authors().Import(ctx, zeroAuthor) }, replica.ErrInvalidKey},
		{"Authors.SetDefault zero id", func() error { return e.Authors().SetDefault(ctx, zeroAuthorID) }, replica.ErrNotFound},
		{"Authors.Export zero id", func() error { _, err := e.Authors().Export(ctx, zeroAuthorID); return err }, replica.ErrNotFound},
		{"Authors.Delete zero id", func() error { return e.Authors().Delete(ctx, zeroAuthorID) }, replica.ErrNotFound},
		{"endpoint.SecretKeyFromSeed nil", func() error { _, err := endpoint.SecretKeyFromSeed(nil); return err }, endpoint.ErrBadSeed},
		{"endpoint.SecretKeyFromSeed short", func() error { _, err := endpoint.SecretKeyFromSeed(make([]byte, 31)); return err }, endpoint.ErrBadSeed},
	}
	before := stored(t, e)
	for _, c := range cases {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return c.call()
		}()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if after := stored(t, e); after != before {
		t.Fatalf("refused calls changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestOpenRefusesMalformedNodeKey: a stored node secret key of the wrong
// length is an error from Open, not a panic and not a new key.
func TestOpenRefusesMalformedNodeKey(t *testing.T) {
	cfg := TestConfig()
	cfg.DataDir = t.TempDir()
	cfg.Endpoint.SecretKey = endpoint.SecretKey{} // kept in the store
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.act.SetMeta(context.Background(), metaNodeKey, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if e, err := Open(context.Background(), cfg); !errors.Is(err, endpoint.ErrBadSeed) {
		if err == nil {
			e.Close()
		}
		t.Fatalf("Open with a 3-byte node key: %v, want endpoint.ErrBadSeed", err)
	}
}

// TestOpenCancelled: Open with a context that has ended returns ctx.Err()
// at once and leaves nothing open: the data directory opens again, and
// goleak (TestMain) finds no goroutine left behind.
func TestOpenCancelled(t *testing.T) {
	cfg := TestConfig()
	first := t.TempDir()
	cfg.DataDir = first
	// A first start creates the store and the node key.
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()

	for _, dir := range []string{first, "", t.TempDir()} {
		cfg.DataDir = dir
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		e, err := Open(ctx, cfg)
		if !errors.Is(err, context.Canceled) || e != nil {
			if e != nil {
				e.Close()
			}
			t.Fatalf("Open(%q) with a cancelled context: %v, %v; want context.Canceled", dir, e, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Open(%q) with a cancelled context took %v", dir, d)
		}
		ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		_, err = Open(ctx, cfg)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open(%q) past its deadline: %v", dir, err)
		}
	}
	// Nothing holds the store: it opens again.
	cfg.DataDir = first
	e, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("reopen after the cancelled Opens: %v", err)
	}
	e.Close()
}

// TestOpenReportsResumeFailure: a document that was open for sync but
// fails to resume (here its stored sync-peer list is corrupt) does not
// stop the node; Open logs the failure and Resumed reports it next to the
// documents that did resume.
func TestOpenReportsResumeFailure(t *testing.T) {
	ctx := context.Background()
	cfg := TestConfig()
	cfg.DataDir = t.TempDir()
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var docs []replica.NamespaceID
	for range 2 {
		doc, err := e.Docs().Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Share(ctx, ShareRead); err != nil { // opens it for sync
			t.Fatal(err)
		}
		docs = append(docs, doc.ID())
	}
	if resumed, err := e.Resumed(); len(resumed) != 0 || err != nil {
		t.Fatalf("first start resumed %v, %v", resumed, err)
	}
	e.Close()

	// Corrupt the sync-peer list of the first document (table 0x08 of the
	// layout in replica/keyenc.go): 3 bytes, not a multiple of 32.
	db, err := pebble.Open(filepath.Join(cfg.DataDir, "store"), &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(append([]byte{0x08}, docs[0][:]...), []byte{1, 2, 3}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var logged bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e, err = Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open with one document failing to resume: %v", err)
	}
	defer e.Close()
	resumed, err := e.Resumed()
	if !errors.Is(err, replica.ErrMalformed) || !strings.Contains(err.Error(), docs[0].Short()) {
		t.Fatalf("Resumed error = %v, want the first document's ErrMalformed", err)
	}
	if len(resumed) != 1 || resumed[0] != docs[1] {
		t.Fatalf("resumed %v, want only %s", resumed, docs[1].Short())
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), docs[0].Short()) {
		t.Fatalf("log: %q", logged.String())
	}
	// The node works: the document that resumed is open for sync.
	doc, err := e.Docs().Open(ctx, docs[1])
	if err != nil {
		t.Fatal(err)
	}
	if st, err := doc.SyncStatus(ctx); err != nil || st == nil {
		t.Fatalf("resumed document's status: %v, %v", st, err)
	}
}

// quietPebble keeps pebble's informational lines out of the test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)              {}
func (quietPebble) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (quietPebble) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

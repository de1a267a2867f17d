package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

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

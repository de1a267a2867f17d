package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docsnode/docsnode/replica"
)

type cli struct {
	node *node
	json bool
	out  io.Writer
}

func (c *cli) print(v any, text func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(c.out)
	return nil
}

func (c *cli) author(ctx context.Context, cmd string, args []string) error {
	act := c.node.act
	switch {
	case cmd == "new" && len(args) == 0:
		a, err := act.CreateAuthor(ctx)
		if err != nil {
			return err
		}
		if _, err := act.Meta(ctx, defaultAuthorKey); errors.Is(err, replica.ErrNotFound) {
			id := a.ID()
			if err := act.SetMeta(ctx, defaultAuthorKey, id[:]); err != nil {
				return err
			}
		}
		fmt.Fprintln(c.out, a.ID())
		return nil
	case cmd == "ls" && len(args) == 0:
		ids, err := act.Authors(ctx)
		if err != nil {
			return err
		}
		return c.print(ids, func(w io.Writer) {
			for _, id := range ids {
				fmt.Fprintln(w, id)
			}
		})
	case cmd == "default" && len(args) == 0:
		a, err := c.node.defaultAuthor(ctx)
		if err != nil {
			return err
		}
		return c.print(a.ID(), func(w io.Writer) { fmt.Fprintln(w, a.ID()) })
	case cmd == "default" && len(args) == 1:
		id, err := replica.ParseAuthorID(args[0])
		if err != nil {
			return err
		}
		if _, err := act.Author(ctx, id); err != nil {
			return fmt.Errorf("author %s is not stored here: %w", id.Short(), err)
		}
		return act.SetMeta(ctx, defaultAuthorKey, id[:])
	case cmd == "export" && len(args) == 1:
		id, err := replica.ParseAuthorID(args[0])
		if err != nil {
			return err
		}
		a, err := act.Author(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.out, a.String())
		return nil
	case cmd == "import" && len(args) == 1:
		a, err := replica.ParseAuthor(args[0])
		if err != nil {
			return err
		}
		if err := act.ImportAuthor(ctx, a); err != nil {
			return err
		}
		fmt.Fprintln(c.out, a.ID())
		return nil
	}
	return errUsage
}

type docJSON struct {
	ID         replica.NamespaceID `json:"id"`
	Capability string              `json:"capability"`
	Durability string              `json:"durability"`
}

type entryJSON struct {
	Key       string           `json:"key"`
	Author    replica.AuthorID `json:"author"`
	Hash      string           `json:"hash"`
	Len       uint64           `json:"len"`
	Timestamp uint64           `json:"timestamp_us"`
}

// knownDoc returns an error saying so when the store does not hold ns.
func (c *cli) knownDoc(ctx context.Context, ns replica.NamespaceID) error {
	_, err := c.node.act.Doc(ctx, ns)
	if errors.Is(err, replica.ErrNotFound) {
		return fmt.Errorf("unknown document %s: no document with this id is stored here ('doc ls' lists them)", ns)
	}
	return err
}

func (c *cli) doc(ctx context.Context, cmd string, args []string) error {
	act := c.node.act
	// Every command but new and ls names the document first.
	var ns replica.NamespaceID
	if cmd != "new" && cmd != "ls" && len(args) > 0 {
		var err error
		if ns, err = replica.ParseNamespaceID(args[0]); err != nil {
			return err
		}
	}
	switch {
	case cmd == "new" && len(args) <= 1:
		d := replica.Batched
		if len(args) == 1 {
			if args[0] != "--durable" {
				return errUsage
			}
			d = replica.Durable
		}
		created, err := act.CreateDoc(ctx, d)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.out, created.ID())
		return nil
	case cmd == "ls" && len(args) == 0:
		docs, err := act.Docs(ctx)
		if err != nil {
			return err
		}
		out := make([]docJSON, len(docs))
		for i, d := range docs {
			out[i] = docJSON{ID: d.ID(), Capability: d.Capability.Kind().String(), Durability: d.Durability.String()}
		}
		return c.print(out, func(w io.Writer) {
			for _, d := range out {
				fmt.Fprintf(w, "%s %s %s\n", d.ID, d.Capability, d.Durability)
			}
		})
	case cmd == "set" && len(args) == 3:
		if err := c.knownDoc(ctx, ns); err != nil {
			return err
		}
		if args[2] == "" {
			// The entry of an empty value is a tombstone: it would delete
			// every entry under the key.
			return fmt.Errorf("refusing to set an empty value at %q: it would delete every entry whose key starts with %q; use 'doc del DOC PREFIX' to delete", args[1], args[1])
		}
		author, err := c.node.defaultAuthor(ctx)
		if err != nil {
			return err
		}
		hash, n, err := c.node.blobs.Put(strings.NewReader(args[2]))
		if err != nil {
			return err
		}
		_, _, err = act.InsertLocal(ctx, ns, author, []byte(args[1]), hash, n)
		return err
	case cmd == "get" && len(args) == 2:
		if err := c.knownDoc(ctx, ns); err != nil {
			return err
		}
		for e, err := range act.Query(ctx, ns, replica.Query{Key: []byte(args[1]), LatestPerKey: true}) {
			if err != nil {
				return err
			}
			b, err := c.node.blobs.Get(e.Hash)
			if err != nil {
				return fmt.Errorf("content of %q: %w", args[1], err)
			}
			if c.json {
				return c.print(map[string]any{"entry": toJSON(&e), "value": string(b)}, nil)
			}
			_, err = fmt.Fprintf(c.out, "%s\n", b)
			return err
		}
		return fmt.Errorf("no entry at key %q", args[1])
	case cmd == "keys" && (len(args) == 1 || len(args) == 2):
		if err := c.knownDoc(ctx, ns); err != nil {
			return err
		}
		q := replica.Query{LatestPerKey: true}
		if len(args) == 2 {
			q.KeyPrefix = []byte(args[1])
		}
		var out []entryJSON
		for e, err := range act.Query(ctx, ns, q) {
			if err != nil {
				return err
			}
			out = append(out, toJSON(&e))
		}
		return c.print(out, func(w io.Writer) {
			for _, e := range out {
				fmt.Fprintf(w, "%s\t%d bytes\tby %s\n", e.Key, e.Len, e.Author.Short())
			}
		})
	case cmd == "del" && len(args) == 2:
		if err := c.knownDoc(ctx, ns); err != nil {
			return err
		}
		author, err := c.node.defaultAuthor(ctx)
		if err != nil {
			return err
		}
		_, out, err := act.DeletePrefix(ctx, ns, author, []byte(args[1]))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "deleted %d entries\n", out.Removed)
		return nil
	}
	return errUsage
}

func toJSON(e *replica.SignedEntry) entryJSON {
	return entryJSON{Key: string(e.Key), Author: e.Author, Hash: fmt.Sprintf("%x", e.Hash[:]), Len: e.Len, Timestamp: e.Timestamp}
}

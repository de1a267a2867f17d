package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/replica"
)

// node is the local state the commands work on.
type node struct {
	act   *actor.Actor
	blobs *blobs.Store
}

func openNode(dir string) (*node, error) {
	store, err := replica.OpenStore(filepath.Join(dir, "store"), replica.StoreOptions{})
	if err != nil {
		return nil, err
	}
	act, err := actor.Open(store, actor.Config{})
	if err != nil {
		store.Close()
		return nil, err
	}
	bs, err := blobs.Open(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		act.Close()
		return nil, err
	}
	return &node{act: act, blobs: bs}, nil
}

func (n *node) close() error { return errors.Join(n.blobs.Close(), n.act.Close()) }

const defaultAuthorKey = "default-author"

// defaultAuthor returns the default author, creating one on first use.
func (n *node) defaultAuthor(ctx context.Context) (replica.Author, error) {
	v, err := n.act.Meta(ctx, defaultAuthorKey)
	if errors.Is(err, replica.ErrNotFound) {
		a, err := n.act.CreateAuthor(ctx)
		if err != nil {
			return a, err
		}
		id := a.ID()
		return a, n.act.SetMeta(ctx, defaultAuthorKey, id[:])
	}
	if err != nil {
		return replica.Author{}, err
	}
	if len(v) != replica.IDLen {
		return replica.Author{}, fmt.Errorf("stored default author is %d bytes: set one with 'author default ID'", len(v))
	}
	return n.act.Author(ctx, replica.AuthorID(v))
}

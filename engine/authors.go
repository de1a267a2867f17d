package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/docsnode/docsnode/replica"
)

// Authors manages the author keys this node writes with.
type Authors struct{ e *Engine }

// Create generates and stores a new author.
func (a *Authors) Create(ctx context.Context) (replica.Author, error) {
	return a.e.act.CreateAuthor(ctx)
}

// List returns the stored authors' ids.
func (a *Authors) List(ctx context.Context) ([]replica.AuthorID, error) {
	return a.e.act.Authors(ctx)
}

// Default returns the default author, creating and storing one on first
// use.
func (a *Authors) Default(ctx context.Context) (replica.Author, error) {
	v, err := a.e.act.Meta(ctx, metaDefaultAuthor)
	if errors.Is(err, replica.ErrNotFound) {
		au, err := a.e.act.CreateAuthor(ctx)
		if err != nil {
			return au, fmt.Errorf("engine: create default author: %w", err)
		}
		return au, a.SetDefault(ctx, au.ID())
	}
	if err != nil {
		return replica.Author{}, fmt.Errorf("engine: read default author: %w", err)
	}
	if len(v) != replica.IDLen {
		return replica.Author{}, fmt.Errorf("%w: stored id is %d bytes", ErrNoDefaultAuthor, len(v))
	}
	au, err := a.e.act.Author(ctx, replica.AuthorID(v))
	if err != nil {
		return au, fmt.Errorf("%w: %w", ErrNoDefaultAuthor, err)
	}
	return au, nil
}

// SetDefault makes a stored author the default.
func (a *Authors) SetDefault(ctx context.Context, id replica.AuthorID) error {
	if _, err := a.e.act.Author(ctx, id); err != nil {
		return fmt.Errorf("engine: set default author %s: %w", id.Short(), err)
	}
	return a.e.act.SetMeta(ctx, metaDefaultAuthor, id[:])
}

// Import stores an author key.
func (a *Authors) Import(ctx context.Context, au replica.Author) error {
	return a.e.act.ImportAuthor(ctx, au)
}

// Export returns a stored author's key.
func (a *Authors) Export(ctx context.Context, id replica.AuthorID) (replica.Author, error) {
	return a.e.act.Author(ctx, id)
}

// Delete removes an author key; the entries it signed stay.
func (a *Authors) Delete(ctx context.Context, id replica.AuthorID) error {
	return a.e.act.DeleteAuthor(ctx, id)
}

package actor

import (
	"context"

	"github.com/docsnode/docsnode/replica"
)

// ContentHashes returns the content hashes named by at most max entries of
// a document (max 0 or less: Config.QueryPageSize), in (author, key)
// order, resuming after the cursor a previous call returned (nil: from the
// start). Tombstones name no content and are left out, but count towards
// max. next is nil once the document holds no more entries. Each call is
// one trip through the loop, so a caller that pages through every
// document never holds the store for long and writes go on between its
// pages; the pages are not a snapshot.
func (a *Actor) ContentHashes(ctx context.Context, ns replica.NamespaceID, after replica.Cursor, max int) (hashes []replica.Hash, next replica.Cursor, err error) {
	if max <= 0 {
		max = a.cfg.QueryPageSize
	}
	type page struct {
		hashes []replica.Hash
		next   replica.Cursor
	}
	p, err := call(ctx, a, false, false, func(a *Actor) (page, error) {
		q := replica.Query{Limit: max, After: after, IncludeTombstones: true}
		var p page
		n := 0
		for e, err := range a.store.Query(ns, q) {
			if err != nil {
				return page{}, err
			}
			n++
			if !e.IsTombstone() {
				p.hashes = append(p.hashes, e.Hash)
			}
			if n == max {
				p.next = q.CursorOf(&e.Entry)
			}
		}
		return p, nil
	})
	return p.hashes, p.next, err
}

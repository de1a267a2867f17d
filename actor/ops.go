package actor

import (
	"context"
	"fmt"
	"iter"

	"github.com/docsnode/docsnode/replica"
)

// CreateDoc creates a document with a fresh namespace key.
func (a *Actor) CreateDoc(ctx context.Context, d replica.Durability) (replica.Capability, error) {
	secret, err := replica.NewNamespace(nil)
	if err != nil {
		return replica.Capability{}, err
	}
	info, err := a.PutDoc(ctx, replica.DocInfo{Capability: replica.WriteCapability(secret), Durability: d})
	return info.Capability, err
}

// ImportDoc adds a document, or upgrades the capability of one already held
// (read to write; never the other way). An existing document keeps its
// durability. A capability that fails replica.Capability.Validate (a zero
// or malformed key) is refused.
func (a *Actor) ImportDoc(ctx context.Context, c replica.Capability) (replica.DocInfo, error) {
	if err := c.Validate(); err != nil {
		return replica.DocInfo{}, fmt.Errorf("actor: import document: %w", err)
	}
	return call(ctx, a, true, true, func(a *Actor) (replica.DocInfo, error) {
		info := replica.DocInfo{Capability: c}
		a.mu.RLock()
		if h, ok := a.docs[c.ID()]; ok {
			info.Durability = h.info.Durability
		}
		a.mu.RUnlock()
		return a.putDoc(info)
	})
}

// PutDoc adds a document or merges its capability, and sets its durability.
// A capability that fails replica.Capability.Validate is refused.
func (a *Actor) PutDoc(ctx context.Context, info replica.DocInfo) (replica.DocInfo, error) {
	if err := info.Capability.Validate(); err != nil {
		return replica.DocInfo{}, fmt.Errorf("actor: put document: %w", err)
	}
	return call(ctx, a, true, true, func(a *Actor) (replica.DocInfo, error) { return a.putDoc(info) })
}

func (a *Actor) putDoc(info replica.DocInfo) (replica.DocInfo, error) {
	merged, err := a.txn.PutDoc(info)
	if err != nil {
		return merged, err
	}
	a.mu.Lock()
	if h, ok := a.docs[merged.ID()]; ok {
		h.info = merged
	} else {
		a.docs[merged.ID()] = newDocHandle(merged)
	}
	a.mu.Unlock()
	return merged, nil
}

// SetDurability changes when writes to a document are acknowledged.
func (a *Actor) SetDurability(ctx context.Context, ns replica.NamespaceID, d replica.Durability) error {
	_, info, err := a.doc(ns)
	if err != nil {
		return err
	}
	info.Durability = d
	_, err = a.PutDoc(ctx, info)
	return err
}

// Doc returns what the store holds about one document.
func (a *Actor) Doc(ctx context.Context, ns replica.NamespaceID) (replica.DocInfo, error) {
	_, info, err := a.doc(ns)
	return info, err
}

// Docs lists every document.
func (a *Actor) Docs(ctx context.Context) ([]replica.DocInfo, error) {
	return call(ctx, a, false, false, func(a *Actor) ([]replica.DocInfo, error) { return a.store.Docs() })
}

// DropDoc removes a document and all its entries.
func (a *Actor) DropDoc(ctx context.Context, ns replica.NamespaceID) error {
	_, err := call(ctx, a, true, true, func(a *Actor) (struct{}, error) {
		if err := a.txn.RemoveDoc(ns); err != nil {
			return struct{}{}, err
		}
		a.mu.Lock()
		delete(a.docs, ns)
		a.mu.Unlock()
		delete(a.indexes, ns)
		return struct{}{}, nil
	})
	return err
}

// CreateAuthor generates and stores a new author.
func (a *Actor) CreateAuthor(ctx context.Context) (replica.Author, error) {
	author, err := replica.NewAuthor(nil)
	if err != nil {
		return author, err
	}
	return author, a.ImportAuthor(ctx, author)
}

// ImportAuthor stores an author key. The zero Author is refused
// (replica.ErrInvalidKey).
func (a *Actor) ImportAuthor(ctx context.Context, author replica.Author) error {
	if author.IsZero() {
		return fmt.Errorf("actor: import author: %w: the author holds no key", replica.ErrInvalidKey)
	}
	_, err := call(ctx, a, true, true, func(a *Actor) (struct{}, error) {
		return struct{}{}, a.txn.PutAuthor(author)
	})
	return err
}

// Author returns a stored author key.
func (a *Actor) Author(ctx context.Context, id replica.AuthorID) (replica.Author, error) {
	return call(ctx, a, false, false, func(a *Actor) (replica.Author, error) { return a.store.Author(id) })
}

// Authors lists the stored authors.
func (a *Actor) Authors(ctx context.Context) ([]replica.AuthorID, error) {
	return call(ctx, a, false, false, func(a *Actor) ([]replica.AuthorID, error) { return a.store.Authors() })
}

// DeleteAuthor removes an author key. Entries it signed stay.
func (a *Actor) DeleteAuthor(ctx context.Context, id replica.AuthorID) error {
	_, err := call(ctx, a, true, true, func(a *Actor) (struct{}, error) { return struct{}{}, a.txn.DeleteAuthor(id) })
	return err
}

// Meta reads a node-level setting.
func (a *Actor) Meta(ctx context.Context, key string) ([]byte, error) {
	return call(ctx, a, false, false, func(a *Actor) ([]byte, error) { return a.store.Meta(key) })
}

// SetMeta writes a node-level setting durably.
func (a *Actor) SetMeta(ctx context.Context, key string, val []byte) error {
	_, err := call(ctx, a, true, true, func(a *Actor) (struct{}, error) { return struct{}{}, a.txn.SetMeta(key, val) })
	return err
}

// Get returns the entry of one author at one key, tombstones included.
func (a *Actor) Get(ctx context.Context, ns replica.NamespaceID, author replica.AuthorID, key []byte) (replica.SignedEntry, error) {
	return call(ctx, a, false, false, func(a *Actor) (replica.SignedEntry, error) { return a.store.Get(ns, author, key) })
}

// Heads returns the latest timestamp per author in a document.
func (a *Actor) Heads(ctx context.Context, ns replica.NamespaceID) (replica.Heads, error) {
	return call(ctx, a, false, false, func(a *Actor) (replica.Heads, error) { return a.store.Heads(ns) })
}

// Count returns the number of stored entries of a document, tombstones included.
func (a *Actor) Count(ctx context.Context, ns replica.NamespaceID) (int, error) {
	return call(ctx, a, false, false, func(a *Actor) (int, error) { return a.store.Count(ns) })
}

// DiskUsage returns the bytes the store's files take (replica.Store.DiskUsage).
// It runs on the loop, like every other use of the store, so that it
// never races Close.
func (a *Actor) DiskUsage(ctx context.Context) (uint64, error) {
	return call(ctx, a, false, false, func(a *Actor) (uint64, error) { return a.store.DiskUsage() })
}

// Query runs q in pages of Config.QueryPageSize, one trip through the actor
// per page, so a long iteration never holds the store. Each page resumes
// from the cursor of the last entry of the one before: results are not a
// snapshot, and writes between pages may or may not show.
func (a *Actor) Query(ctx context.Context, ns replica.NamespaceID, q replica.Query) iter.Seq2[replica.SignedEntry, error] {
	return func(yield func(replica.SignedEntry, error) bool) {
		page := q
		remaining := q.Limit
		for {
			page.Limit = a.cfg.QueryPageSize
			if remaining > 0 {
				page.Limit = min(page.Limit, remaining)
			}
			entries, err := call(ctx, a, false, false, func(a *Actor) ([]replica.SignedEntry, error) {
				var out []replica.SignedEntry
				for e, err := range a.store.Query(ns, page) {
					if err != nil {
						return nil, err
					}
					out = append(out, e)
				}
				return out, nil
			})
			if err != nil {
				yield(replica.SignedEntry{}, err)
				return
			}
			for _, e := range entries {
				if !yield(e, nil) {
					return
				}
			}
			if remaining > 0 {
				remaining -= len(entries)
				if remaining == 0 {
					return
				}
			}
			if len(entries) < page.Limit {
				return
			}
			page.After = q.CursorOf(&entries[len(entries)-1].Entry)
		}
	}
}

// AddSyncPeer remembers that a document synced with peer.
func (a *Actor) AddSyncPeer(ctx context.Context, ns replica.NamespaceID, peer replica.PeerID) error {
	_, err := call(ctx, a, true, false, func(a *Actor) (struct{}, error) { return struct{}{}, a.txn.AddSyncPeer(ns, peer) })
	return err
}

// SyncPeers returns the peers a document synced with, most recent first.
func (a *Actor) SyncPeers(ctx context.Context, ns replica.NamespaceID) ([]replica.PeerID, error) {
	return call(ctx, a, false, false, func(a *Actor) ([]replica.PeerID, error) { return a.store.SyncPeers(ns) })
}

// SetDownloadPolicy stores which entries' content a document fetches.
func (a *Actor) SetDownloadPolicy(ctx context.Context, ns replica.NamespaceID, p replica.DownloadPolicy) error {
	_, err := call(ctx, a, true, true, func(a *Actor) (struct{}, error) { return struct{}{}, a.txn.SetDownloadPolicy(ns, p) })
	return err
}

// DownloadPolicy returns a document's download policy.
func (a *Actor) DownloadPolicy(ctx context.Context, ns replica.NamespaceID) (replica.DownloadPolicy, error) {
	return call(ctx, a, false, false, func(a *Actor) (replica.DownloadPolicy, error) { return a.store.DownloadPolicy(ns) })
}

// InsertLocal signs and stores an entry written on this node. The
// timestamp is the wall clock, but never at or before the author's last
// timestamp in the document, so the write wins over the author's earlier
// ones even if the clock went backwards. Signing happens on the caller's
// goroutine; only the store insert goes through the loop.
//
// A record of the tombstone form (replica.EmptyHash and length 0: an empty
// value) is refused with replica.ErrEmptyValue, since storing it would
// delete every entry of the author under key; DeletePrefix is the one way
// to write a tombstone. The zero Author is refused with
// replica.ErrInvalidKey. A refused write stores nothing.
func (a *Actor) InsertLocal(ctx context.Context, ns replica.NamespaceID, author replica.Author, key []byte, hash replica.Hash, length uint64) (replica.SignedEntry, replica.InsertOutcome, error) {
	ses, outs, err := a.InsertLocalMany(ctx, ns, author, []LocalWrite{{Key: key, Hash: hash, Len: length}})
	if len(ses) == 0 {
		return replica.SignedEntry{}, replica.InsertOutcome{}, err
	}
	return ses[0], outs[0], err
}

// LocalWrite is one entry for InsertLocalMany to sign and store.
type LocalWrite struct {
	Key  []byte
	Hash replica.Hash
	Len  uint64
}

// InsertLocalMany signs and stores several entries of one author in one
// trip through the loop, signing them on all cores: the way to import
// many entries quickly. The entries take consecutive timestamps in order,
// so a later write to the same key wins over an earlier one in the batch.
// It returns the signed entries and their outcomes in the order given.
// Writes are checked as InsertLocal checks them, all before any is
// stored: one refused write refuses the batch.
func (a *Actor) InsertLocalMany(ctx context.Context, ns replica.NamespaceID, author replica.Author, writes []LocalWrite) ([]replica.SignedEntry, []replica.InsertOutcome, error) {
	return a.insertLocal(ctx, ns, author, writes, false)
}

// insertLocal is InsertLocalMany; only DeletePrefix passes tombstone, which
// lets a write of the tombstone form through.
func (a *Actor) insertLocal(ctx context.Context, ns replica.NamespaceID, author replica.Author, writes []LocalWrite, tombstone bool) ([]replica.SignedEntry, []replica.InsertOutcome, error) {
	h, info, err := a.doc(ns)
	if err != nil {
		return nil, nil, err
	}
	secret, ok := info.Capability.Secret()
	if !ok {
		return nil, nil, fmt.Errorf("actor: write to %s: %w", ns.Short(), replica.ErrReadOnly)
	}
	if author.IsZero() {
		return nil, nil, fmt.Errorf("actor: write to %s: %w: the author holds no key", ns.Short(), replica.ErrInvalidKey)
	}
	entries := make([]replica.Entry, len(writes))
	lim := a.store.Limits()
	for i, w := range writes {
		entries[i] = replica.Entry{Key: w.Key, Record: replica.Record{Hash: w.Hash, Len: w.Len}}
		if err := lim.ValidateShape(&entries[i]); err != nil {
			return nil, nil, fmt.Errorf("actor: write %q: %w", w.Key, err)
		}
		if entries[i].IsTombstone() && !tombstone {
			return nil, nil, fmt.Errorf("actor: write %q: %w: it would delete every entry under the key; use DeletePrefix to delete", w.Key, replica.ErrEmptyValue)
		}
	}
	signed := make([]replica.SignedEntry, len(writes))
	outs := make([]replica.InsertOutcome, len(writes))
	todo := make([]int, len(writes))
	for i := range todo {
		todo[i] = i
	}
	// A write can lose only to a newer entry of the same author from
	// elsewhere; the store's heads then move past it and the retry wins.
	for range 3 {
		first, err := a.nextTimestamps(ctx, h, ns, author.ID(), len(todo))
		if err != nil {
			return nil, nil, err
		}
		batch := make([]replica.Entry, len(todo))
		for j, i := range todo {
			batch[j] = entries[i]
			batch[j].Timestamp = first + uint64(j)
		}
		var ses []replica.SignedEntry
		if len(batch) == 1 {
			var se replica.SignedEntry
			se, err = replica.Sign(secret, author, batch[0])
			ses = []replica.SignedEntry{se}
		} else {
			ses, err = replica.SignAll(secret, author, batch)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("actor: write to %s: %w", ns.Short(), err)
		}
		res, err := a.insert(ctx, ns, info.Durability, ses, nil)
		if err != nil {
			return nil, nil, err
		}
		var retry []int
		for j, i := range todo {
			signed[i], outs[i] = ses[j], res[j]
			if !res[j].Inserted {
				retry = append(retry, i)
			}
		}
		if len(retry) == 0 {
			return signed, outs, nil
		}
		head, err := a.head(ctx, ns, author.ID())
		if err != nil {
			return nil, nil, err
		}
		h.observe(author.ID(), head)
		todo = retry
	}
	return signed, outs, fmt.Errorf("%w: %d of %d writes, first at key %q", ErrNotInserted, len(todo), len(writes), writes[todo[0]].Key)
}

// DeletePrefix writes a tombstone: it removes the author's entries at keys
// starting with prefix that are older than now. An empty prefix removes all
// of the author's entries. It is the only local write of a tombstone.
func (a *Actor) DeletePrefix(ctx context.Context, ns replica.NamespaceID, author replica.Author, prefix []byte) (replica.SignedEntry, replica.InsertOutcome, error) {
	if prefix == nil {
		prefix = []byte{}
	}
	ses, outs, err := a.insertLocal(ctx, ns, author, []LocalWrite{{Key: prefix, Hash: replica.EmptyHash}}, true)
	if len(ses) == 0 {
		return replica.SignedEntry{}, replica.InsertOutcome{}, err
	}
	return ses[0], outs[0], err
}

// InsertRemote stores entries received from peer. The caller has validated
// them (replica.Limits.ValidateRemote or ValidateUnsigned plus
// replica.VerifyBatch); the store still applies last-writer-wins and
// tombstones, and refuses entries of another namespace.
func (a *Actor) InsertRemote(ctx context.Context, ns replica.NamespaceID, entries []replica.SignedEntry, from replica.PeerID) ([]replica.InsertOutcome, error) {
	_, info, err := a.doc(ns)
	if err != nil {
		return nil, err
	}
	return a.insert(ctx, ns, info.Durability, entries, &from)
}

// prefetchMin is the smallest batch whose inserts start with one ordered
// read of the keys they touch (replica.Txn.Prefetch) rather than a point
// read each.
const prefetchMin = 32

func (a *Actor) insert(ctx context.Context, ns replica.NamespaceID, d replica.Durability, entries []replica.SignedEntry, from *replica.PeerID) ([]replica.InsertOutcome, error) {
	return call(ctx, a, true, d == replica.Durable, func(a *Actor) ([]replica.InsertOutcome, error) {
		h, _, err := a.doc(ns)
		if err != nil {
			return nil, err
		}
		// Check the whole batch first, so a refusal writes nothing.
		lim := a.store.Limits()
		for i := range entries {
			if entries[i].Namespace != ns {
				return nil, fmt.Errorf("actor: insert into %s: %w", ns.Short(), replica.ErrWrongNamespace)
			}
			if err := lim.ValidateShape(&entries[i].Entry); err != nil {
				return nil, fmt.Errorf("actor: insert %q: %w", entries[i].Key, err)
			}
		}
		if len(entries) >= prefetchMin {
			if err := a.txn.Prefetch(entries); err != nil {
				return nil, fmt.Errorf("actor: insert: %w", err)
			}
		}
		outs := make([]replica.InsertOutcome, len(entries))
		removed := func(e replica.Entry) { a.indexRemove(ns, &e) }
		for i := range entries {
			se := &entries[i]
			out, err := a.txn.Insert(se, removed)
			if err != nil {
				return nil, fmt.Errorf("actor: insert %q: %w", se.Key, err)
			}
			outs[i] = out
			if !out.Inserted {
				continue
			}
			a.indexAdd(ns, &se.Entry)
			ev := Event{Kind: InsertLocal, Namespace: ns, Entry: *se}
			if from != nil {
				ev.Kind, ev.From = InsertRemote, *from
				h.observe(se.Author, se.Timestamp)
			}
			a.events = append(a.events, ev)
		}
		return outs, nil
	})
}

// nextTimestamps reserves n consecutive local timestamps for the author in
// the document and returns the first.
func (a *Actor) nextTimestamps(ctx context.Context, h *docHandle, ns replica.NamespaceID, author replica.AuthorID, n int) (uint64, error) {
	h.mu.Lock()
	_, seeded := h.clock[author]
	h.mu.Unlock()
	if !seeded {
		// The loop never waits on h.mu, so the lock is not held across this call.
		head, err := a.head(ctx, ns, author)
		if err != nil {
			return 0, err
		}
		h.mu.Lock()
		if cur, ok := h.clock[author]; !ok || head > cur {
			h.clock[author] = head
		}
		h.mu.Unlock()
	}
	now := uint64(a.cfg.Now().UnixMicro())
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := max(now, h.clock[author]+1)
	h.clock[author] = ts + uint64(n) - 1
	return ts, nil
}

func (a *Actor) head(ctx context.Context, ns replica.NamespaceID, author replica.AuthorID) (uint64, error) {
	return call(ctx, a, false, false, func(a *Actor) (uint64, error) {
		heads, err := a.store.Heads(ns)
		return heads[author], err
	})
}

package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// Docs creates, imports, opens, lists and drops documents.
type Docs struct{ e *Engine }

// Create makes a new document, writable by this node. It is not open for
// sync until Share or StartSync.
func (d *Docs) Create(ctx context.Context) (*Doc, error) {
	return d.CreateWith(ctx, replica.Batched)
}

// CreateWith is Create with the document's durability: Durable
// acknowledges each write once fsynced, Batched (Create's) within the
// store's flush window.
func (d *Docs) CreateWith(ctx context.Context, durability replica.Durability) (*Doc, error) {
	c, err := d.e.act.CreateDoc(ctx, durability)
	if err != nil {
		return nil, fmt.Errorf("engine: create document: %w", err)
	}
	return &Doc{e: d.e, id: c.ID()}, nil
}

// Import adds the ticket's document (or upgrades a read capability to the
// ticket's write capability) and starts syncing it with the ticket's nodes.
func (d *Docs) Import(ctx context.Context, t ticket.DocTicket) (*Doc, error) {
	doc, err := d.importDoc(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := d.e.live.StartSync(ctx, doc.id, t.Nodes); err != nil {
		return nil, fmt.Errorf("engine: start sync of %s: %w", doc.id.Short(), err)
	}
	return doc, nil
}

// ImportAndSubscribe is Import with a subscription to the document's
// events taken before the first session starts, so that none of the
// entries the first sync brings is missed.
func (d *Docs) ImportAndSubscribe(ctx context.Context, t ticket.DocTicket) (*Doc, *live.Subscription, error) {
	doc, err := d.importDoc(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	sub, err := d.e.live.StartSyncAndSubscribe(ctx, doc.id, t.Nodes)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: start sync of %s: %w", doc.id.Short(), err)
	}
	return doc, sub, nil
}

func (d *Docs) importDoc(ctx context.Context, t ticket.DocTicket) (*Doc, error) {
	info, err := d.e.act.ImportDoc(ctx, t.Capability)
	if err != nil {
		return nil, fmt.Errorf("engine: import document: %w", err)
	}
	return &Doc{e: d.e, id: info.ID()}, nil
}

// Open returns a document the store holds (replica.ErrNotFound if none).
func (d *Docs) Open(ctx context.Context, id replica.NamespaceID) (*Doc, error) {
	if _, err := d.e.act.Doc(ctx, id); err != nil {
		return nil, fmt.Errorf("engine: open document %s: %w", id.Short(), err)
	}
	return &Doc{e: d.e, id: id}, nil
}

// List returns every document the store holds.
func (d *Docs) List(ctx context.Context) ([]replica.DocInfo, error) {
	return d.e.act.Docs(ctx)
}

// Drop stops syncing a document and removes it with all its entries.
func (d *Docs) Drop(ctx context.Context, id replica.NamespaceID) error {
	if err := d.e.live.Leave(ctx, id, live.LeaveOptions{CloseSubscriptions: true}); err != nil {
		return fmt.Errorf("engine: leave %s: %w", id.Short(), err)
	}
	if err := d.e.act.DropDoc(ctx, id); err != nil {
		return fmt.Errorf("engine: drop %s: %w", id.Short(), err)
	}
	return nil
}

// ShareMode says what a shared ticket lets its holder do.
type ShareMode uint8

const (
	// ShareRead: the holder can read and sync, not write.
	ShareRead ShareMode = iota + 1
	// ShareWrite: the holder can write too.
	ShareWrite
)

// Doc is one document held by the engine.
type Doc struct {
	e  *Engine
	id replica.NamespaceID
}

// ID is the document id.
func (d *Doc) ID() replica.NamespaceID { return d.id }

// Set stores value in the content store and writes an entry for it at key,
// signed by author. It returns the entry. A document held read-only
// refuses with ErrReadOnly.
//
// An empty value (nil or zero length) is refused with an error wrapping
// replica.ErrEmptyValue: its entry would have the tombstone form and
// delete every entry of the author under key. Delete is the way to
// delete. The zero Author is refused with replica.ErrInvalidKey. A
// refused Set stores nothing.
//
// The content follows the document's durability: for a durable document
// it is fsynced before the entry is written; otherwise it is synced within
// the content store's flush window (blobs.Options.FlushInterval), like the
// entry within the store actor's. After a crash the entry can survive
// while its content is lost: ContentStatus then says Missing, and the
// content is fetched again from peers that hold it.
func (d *Doc) Set(ctx context.Context, author replica.Author, key, value []byte) (replica.SignedEntry, error) {
	if len(value) == 0 {
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: %w: use Delete to delete", key, d.id.Short(), replica.ErrEmptyValue)
	}
	return d.set(ctx, author, key, bytes.NewReader(value))
}

// SetReader is Set of the value read from r, which streams into the
// content store: a large value never sits in memory. It reads r to its
// end; the entry is written once the content is stored. An r that yields
// nothing is refused with replica.ErrEmptyValue before anything is
// stored, and a value over the content store's limit with ErrTooLarge.
// An error reading r (a body cut short, a size limit of the caller's)
// is returned wrapped, and nothing is written.
func (d *Doc) SetReader(ctx context.Context, author replica.Author, key []byte, r io.Reader) (replica.SignedEntry, error) {
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: %w: use Delete to delete", key, d.id.Short(), replica.ErrEmptyValue)
	} else if err != nil {
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: read the value: %w", key, d.id.Short(), err)
	}
	return d.set(ctx, author, key, br)
}

func (d *Doc) set(ctx context.Context, author replica.Author, key []byte, value io.Reader) (replica.SignedEntry, error) {
	if author.IsZero() {
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: %w: the author holds no key", key, d.id.Short(), replica.ErrInvalidKey)
	}
	info, err := d.e.act.Doc(ctx, d.id)
	if err != nil {
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: %w", key, d.id.Short(), err)
	}
	if info.Capability.Kind() != replica.Write {
		// Refused before the content is stored, which would be left
		// without an entry.
		return replica.SignedEntry{}, fmt.Errorf("engine: set %q in %s: %w", key, d.id.Short(), ErrReadOnly)
	}
	put := d.e.blobs.Put
	if info.Durability == replica.Durable {
		put = d.e.blobs.PutDurable
	}
	h, n, release, err := d.e.putProtected(put, value)
	if err != nil {
		return replica.SignedEntry{}, fmt.Errorf("engine: store content: %w", err)
	}
	// The content stays protected from garbage collection until the entry
	// names it.
	defer release()
	if d.e.afterPut != nil {
		d.e.afterPut(h)
	}
	se, _, err := d.e.act.InsertLocal(ctx, d.id, author, key, h, n)
	if err != nil {
		return se, fmt.Errorf("engine: set %q in %s: %w", key, d.id.Short(), err)
	}
	return se, nil
}

// Get returns the entry of author at key (tombstones included).
func (d *Doc) Get(ctx context.Context, author replica.AuthorID, key []byte) (replica.SignedEntry, error) {
	return d.e.act.Get(ctx, d.id, author, key)
}

// Content returns the content behind an entry. Content of entries from
// peers is downloaded in the background as the download policy allows
// (EventContentReady tells when). When the content is not held, Content
// returns an error wrapping blobs.ErrNotFound and queues a download of it
// from the document's peers, whatever the policy: content lost in a crash
// or given up earlier comes back this way.
func (d *Doc) Content(e replica.SignedEntry) ([]byte, error) {
	if e.IsTombstone() {
		return nil, nil
	}
	b, err := d.e.blobs.Get(e.Hash)
	if errors.Is(err, blobs.ErrNotFound) || errors.Is(err, blobs.ErrCorrupt) {
		d.e.live.WantContent(d.id, e)
		return nil, fmt.Errorf("engine: content of %q: %w (queued for download)", e.Key, blobs.ErrNotFound)
	}
	return b, err
}

// ContentStatus reports how much of an entry's content this node holds:
// ContentComplete (always for a tombstone), ContentIncomplete (a download
// stopped part way) or ContentMissing.
func (d *Doc) ContentStatus(e replica.SignedEntry) live.ContentStatus {
	return d.e.live.ContentStatus(&e)
}

// DownloadPolicy returns which entries' content the document downloads
// when they arrive from peers. The default downloads everything.
func (d *Doc) DownloadPolicy(ctx context.Context) (replica.DownloadPolicy, error) {
	return d.e.act.DownloadPolicy(ctx, d.id)
}

// SetDownloadPolicy sets which entries' content the document downloads.
// It applies to entries that arrive afterwards; content already missing is
// fetched when read (Content).
func (d *Doc) SetDownloadPolicy(ctx context.Context, p replica.DownloadPolicy) error {
	return d.e.live.SetDownloadPolicy(ctx, d.id, p)
}

// Query runs q over the document; see replica.Query.
func (d *Doc) Query(ctx context.Context, q replica.Query) iter.Seq2[replica.SignedEntry, error] {
	return d.e.act.Query(ctx, d.id, q)
}

// Delete removes author's entries at keys starting with prefix, by
// writing a tombstone. It is the only way to write one: Set refuses the
// empty value, whose entry would be a tombstone.
func (d *Doc) Delete(ctx context.Context, author replica.Author, prefix []byte) error {
	if _, _, err := d.e.act.DeletePrefix(ctx, d.id, author, prefix); err != nil {
		return fmt.Errorf("engine: delete %q in %s: %w", prefix, d.id.Short(), err)
	}
	return nil
}

// Share opens the document for sync and returns a ticket with this node's
// address. ShareWrite needs the write capability (ErrReadOnly otherwise).
func (d *Doc) Share(ctx context.Context, mode ShareMode) (ticket.DocTicket, error) {
	info, err := d.e.act.Doc(ctx, d.id)
	if err != nil {
		return ticket.DocTicket{}, fmt.Errorf("engine: share %s: %w", d.id.Short(), err)
	}
	c := info.Capability
	switch mode {
	case ShareRead:
		c = c.ReadOnly()
	case ShareWrite:
		if c.Kind() != replica.Write {
			return ticket.DocTicket{}, fmt.Errorf("engine: share %s for writing: %w", d.id.Short(), ErrReadOnly)
		}
	default:
		return ticket.DocTicket{}, fmt.Errorf("engine: share %s: unknown mode %d", d.id.Short(), mode)
	}
	if err := d.e.live.StartSync(ctx, d.id, nil); err != nil {
		return ticket.DocTicket{}, fmt.Errorf("engine: share %s: %w", d.id.Short(), err)
	}
	return ticket.New(c, d.e.ep.Addr())
}

// StartSync opens the document for sync with peers (none: the peers it
// last synced with).
func (d *Doc) StartSync(ctx context.Context, peers ...endpoint.NodeAddr) error {
	return d.e.live.StartSync(ctx, d.id, peers)
}

// LeaveOptions tunes Doc.LeaveWith.
type LeaveOptions = live.LeaveOptions

// Leave stops syncing the document; its entries and subscriptions stay.
// It returns at once: the swarm tells its members in the background.
func (d *Doc) Leave(ctx context.Context) error { return d.e.live.Leave(ctx, d.id, live.LeaveOptions{}) }

// LeaveWith is Leave with options: CloseSubscriptions also closes the
// document's subscriptions.
func (d *Doc) LeaveWith(ctx context.Context, opts LeaveOptions) error {
	return d.e.live.Leave(ctx, d.id, opts)
}

// Subscribe returns a subscription to the document's events.
func (d *Doc) Subscribe(ctx context.Context) (*live.Subscription, error) {
	return d.e.live.Subscribe(ctx, d.id)
}

// SyncPeers returns the peers the document synced with, most recent first.
func (d *Doc) SyncPeers(ctx context.Context) ([]endpoint.NodeID, error) {
	ids, err := d.e.act.SyncPeers(ctx, d.id)
	if err != nil {
		return nil, err
	}
	out := make([]endpoint.NodeID, len(ids))
	for i, id := range ids {
		out[i] = endpoint.NodeID(id)
	}
	return out, nil
}

// WaitSynced returns once peer has confirmed that it holds every entry
// this node held for the document when WaitSynced was called: a sync
// session with peer that started after the call ended with both sets
// equal. It starts that session when none runs, or asks for one more
// after a session that started before the call. Entries written after
// the call need not be covered.
//
// The document must be open for sync (ErrNotSyncing otherwise). A peer it
// does not know yet (a node that has just imported a ticket and not yet
// reached this one) is waited for, up to Config.Live.UnreachableAfter (5s
// by default), then ErrUnknownPeer. It returns ctx.Err() when ctx ends
// first, and an error wrapping ErrUnreachable when dials to peer have
// failed for UnreachableAfter.
func (d *Doc) WaitSynced(ctx context.Context, peer endpoint.NodeID) error {
	return d.e.live.WaitSynced(ctx, d.id, peer)
}

// SyncStatus returns the one record the node keeps of the document with
// each peer it knows: what runs now, when it last synced and how (error
// text, counts, totals, kept across restarts), and whether the peer is
// caught up: the last session ended with equal sets and nothing was
// written here since. It is nil when the document is not open for sync.
func (d *Doc) SyncStatus(ctx context.Context) ([]live.SyncStatus, error) {
	return d.e.live.SyncStatus(ctx, d.id)
}

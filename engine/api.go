package engine

// This file re-exports the names of the lower layers that an application
// handles, so that an app imports engine alone: the types are aliases and
// the values are the lower layers' own, so errors.Is and comparisons work
// across both spellings.

import (
	"errors"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// Errors of the lower layers that an app checks, with errors.Is.
var (
	// ErrNotFound: the document, author or entry is not in the store
	// (Docs.Open, Doc.Get, Authors.Export).
	ErrNotFound = replica.ErrNotFound
	// ErrContentNotHeld: Doc.Content has no copy of the entry's content
	// yet; it queued a download (EventContentReady says when it is in).
	ErrContentNotHeld = blobs.ErrNotFound
	// ErrUnreachable: Doc.WaitSynced could not reach the peer on any of
	// its addresses, after every retry.
	ErrUnreachable = live.ErrUnreachable
	// ErrNotSyncing: the document is not open for sync (Doc.WaitSynced).
	// Share, StartSync or Import open it.
	ErrNotSyncing = live.ErrNotSyncing
	// ErrAlreadySyncing: a sync of the document with that peer is already
	// running; its result covers the one that was refused.
	ErrAlreadySyncing = live.ErrAlreadySyncing
	// ErrUnknownPeer: Doc.WaitSynced was given a peer that is neither in
	// the document's swarm nor one it synced with.
	ErrUnknownPeer = live.ErrUnknownPeer
	// ErrEmptyValue: Doc.Set was given an empty value. An empty value is
	// the form of a deletion; Doc.Delete is the only way to write one.
	ErrEmptyValue = replica.ErrEmptyValue
	// ErrStoreFailed: the store failed to commit or sync; every later call
	// returns it (see Engine.Health).
	ErrStoreFailed = actor.ErrStoreFailed
	// ErrTooLarge: Doc.Set or Doc.SetReader was given a value over the
	// content store's limit (Config.Content.MaxSize).
	ErrTooLarge = blobs.ErrTooLarge
)

// IsClosed reports whether err says that the engine was closed. The
// store, the content store and live sync each have their own closed error,
// and which one a call returns depends on the layer that noticed first.
func IsClosed(err error) bool {
	return errors.Is(err, actor.ErrClosed) || errors.Is(err, live.ErrClosed) ||
		errors.Is(err, blobs.ErrClosed) || errors.Is(err, replica.ErrClosed) ||
		errors.Is(err, endpoint.ErrClosed) || errors.Is(err, gossip.ErrClosed)
}

// Events: Doc.Subscribe and Docs.ImportAndSubscribe deliver them.
type (
	// Event is one thing that happened to a document on this node.
	Event = live.Event
	// EventKind says what an Event reports.
	EventKind = live.EventKind
	// Subscription delivers a document's Events on C until Close. It
	// never blocks the engine: a subscriber that falls behind gets an
	// EventLagged with the count of events it missed.
	Subscription = live.Subscription
	// SyncOutcome is what one sync session did (Event.Outcome).
	SyncOutcome = live.Outcome
)

// Event kinds; see the live package for what each carries.
const (
	// EventInsertLocal: an entry written on this node was stored.
	EventInsertLocal = live.EventInsertLocal
	// EventInsertRemote: an entry from a peer (Event.Peer) was stored.
	EventInsertRemote = live.EventInsertRemote
	// EventNeighborUp: a peer joined the document's swarm.
	EventNeighborUp = live.EventNeighborUp
	// EventNeighborDown: a peer left the swarm or was found dead.
	EventNeighborDown = live.EventNeighborDown
	// EventSyncFinished: a sync session ended; Event.Err is nil when it
	// completed.
	EventSyncFinished = live.EventSyncFinished
	// EventLagged: Event.Missed events were dropped because the
	// subscriber fell behind. Query the document to catch up.
	EventLagged = live.EventLagged
	// EventContentReady: the content with Event.Hash was downloaded.
	EventContentReady = live.EventContentReady
	// EventPendingContentReady: every download queued so far for the
	// document has finished or been given up.
	EventPendingContentReady = live.EventPendingContentReady
	// EventContentFailed: the download of Event.Hash was given up.
	EventContentFailed = live.EventContentFailed
	// EventSyncProgress: a session this node dialled is under way;
	// Event.Outcome is the session so far (Wanted: entries asked of the
	// peer; Received: entries that arrived).
	EventSyncProgress = live.EventSyncProgress
	// EventContentProgress: the document's downloads were queued,
	// started, finished or given up; Event.Downloads holds the
	// downloader's counters for it. Coalesced: at most one per document
	// per Config.Live.ContentProgressInterval.
	EventContentProgress = live.EventContentProgress
)

// Content and sync status.
type (
	// ContentStatus says how much of an entry's content this node holds.
	ContentStatus = live.ContentStatus
	// SyncStatus is the record a document keeps of one peer's syncs
	// (Doc.SyncStatus).
	SyncStatus = live.SyncStatus
	// SyncStats counts what the node's live sync did (Engine.SyncStats).
	SyncStats = live.Stats
	// Origin says which side opened a session (SyncStatus.Running).
	Origin = live.Origin
)

// Origins of a session.
const (
	OriginNone    = live.OriginNone    // no session runs
	OriginConnect = live.OriginConnect // this node dialled
	OriginAccept  = live.OriginAccept  // the peer dialled
)

const (
	// ContentMissing: none of the content is held.
	ContentMissing = live.ContentMissing
	// ContentIncomplete: part of the content was fetched.
	ContentIncomplete = live.ContentIncomplete
	// ContentComplete: the whole content is held.
	ContentComplete = live.ContentComplete
)

// Tickets: what Doc.Share returns and Docs.Import takes.
type (
	// Ticket is a document ticket: a capability and the addresses of
	// nodes that serve the document. ExportText gives the text to hand
	// out; String redacts a write ticket's secret.
	Ticket = ticket.DocTicket
	// CapabilityKind says whether a capability (a ticket's, or
	// DocInfo.Capability) allows writing: CapabilityRead or
	// CapabilityWrite.
	CapabilityKind = replica.CapabilityKind
)

const (
	// CapabilityRead: the holder can read and sync the document.
	CapabilityRead = replica.Read
	// CapabilityWrite: the holder can write too.
	CapabilityWrite = replica.Write
)

// ParseTicket decodes a ticket's text form. Its errors say what is wrong
// with the text; none of them can be fixed without a new ticket.
func ParseTicket(s string) (Ticket, error) { return ticket.Parse(s) }

// Nodes.
type (
	// NodeID is a node's Ed25519 public key, printed as 64 hex characters.
	NodeID = endpoint.NodeID
	// NodeAddr is a node's id and the UDP addresses it may be reached on.
	NodeAddr = endpoint.NodeAddr
)

// ParseNodeID decodes a node id from its 64 hex characters.
func ParseNodeID(s string) (NodeID, error) { return endpoint.ParseNodeID(s) }

// Documents, authors and entries.
type (
	// NamespaceID is a document's id: its public key, and its read
	// capability.
	NamespaceID = replica.NamespaceID
	// DocInfo is what the store holds about a document (Docs.List).
	DocInfo = replica.DocInfo
	// AuthorID is an author's public key.
	AuthorID = replica.AuthorID
	// Author is an author's key pair; entries are signed with it.
	Author = replica.Author
	// SignedEntry is an entry with its two signatures, as Set, Get and
	// Query return it.
	SignedEntry = replica.SignedEntry
	// Hash is the BLAKE3 hash of an entry's content.
	Hash = replica.Hash
	// Durability says when a write to a document is acknowledged:
	// Batched or Durable.
	Durability = replica.Durability
)

const (
	// Batched writes are acknowledged once applied and reach the disk
	// within the store's flush window. The default.
	Batched = replica.Batched
	// Durable writes are acknowledged once fsynced.
	Durable = replica.Durable
)

// ParseNamespaceID decodes a document id from its 64 hex characters.
func ParseNamespaceID(s string) (NamespaceID, error) { return replica.ParseNamespaceID(s) }

// ParseAuthorID decodes an author id from its 64 hex characters.
func ParseAuthorID(s string) (AuthorID, error) { return replica.ParseAuthorID(s) }

// ParseAuthor decodes an author key as Author.ExportSecret writes it, for
// Authors.Import.
func ParseAuthor(s string) (Author, error) { return replica.ParseAuthor(s) }

// Queries and download policies.
type (
	// Query selects and orders the entries Doc.Query returns; the zero
	// value is every live entry by author, then key.
	Query = replica.Query
	// SortBy is a Query's order: SortAuthorKey or SortKeyAuthor.
	SortBy = replica.SortBy
	// Cursor is a position in a Query's results (Query.After).
	Cursor = replica.Cursor
	// DownloadPolicy decides which entries' content is fetched from peers.
	DownloadPolicy = replica.DownloadPolicy
	// DownloadMode is a DownloadPolicy's default.
	DownloadMode = replica.DownloadMode
	// KeyFilter matches a key exactly or by prefix.
	KeyFilter = replica.KeyFilter
)

const (
	// SortAuthorKey orders by author, then key.
	SortAuthorKey = replica.SortAuthorKey
	// SortKeyAuthor orders by key, then author.
	SortKeyAuthor = replica.SortKeyAuthor
	// DownloadEverythingExcept fetches every key's content but the
	// filters'.
	DownloadEverythingExcept = replica.DownloadEverythingExcept
	// DownloadNothingExcept fetches only the filters' content.
	DownloadNothingExcept = replica.DownloadNothingExcept
)

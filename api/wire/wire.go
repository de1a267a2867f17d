// Package wire holds the JSON shapes of docsnode's local HTTP API, shared
// by the server (package api) and the Go client (package client). It
// imports nothing of the engine, so a client binary stays small.
//
// Ids (documents, authors, nodes, hashes) are lower-case hex. Keys are
// strings when they are valid UTF-8; a key that is not also carries its
// exact bytes in KeyBase64.
package wire

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/docsnode/docsnode/internal/redact"
)

// Error is the body of every error answer.
type Error struct {
	// Code is stable: clients switch on it (see docs/api.md).
	Code string `json:"code"`
	// Message says what was wrong and what to do, for people.
	Message string `json:"message"`
}

// Error codes. Each is answered with one HTTP status, given here.
const (
	CodeBadRequest     = "bad_request"      // 400: a malformed parameter or body
	CodeBadDocID       = "bad_doc_id"       // 400
	CodeBadAuthorID    = "bad_author_id"    // 400
	CodeBadPeerID      = "bad_peer_id"      // 400
	CodeBadTicket      = "bad_ticket"       // 400
	CodeBadCursor      = "bad_cursor"       // 400
	CodeEmptyValue     = "empty_value"      // 400: Set of an empty value (delete instead)
	CodeEmptyPrefix    = "empty_prefix"     // 400: delete of every key without all=true
	CodeUnauthorized   = "unauthorized"     // 401: missing or wrong bearer token
	CodeReadOnly       = "read_only"        // 403: a write to a document held read-only
	CodeDocNotFound    = "doc_not_found"    // 404
	CodeEntryNotFound  = "entry_not_found"  // 404
	CodeAuthorNotFound = "author_not_found" // 404
	CodeUnknownPeer    = "unknown_peer"     // 404: wait-synced on a peer the document does not know
	CodeNotSyncing     = "not_syncing"      // 409: the document is not open for sync
	CodeNoPeers        = "no_peers"         // 409: wait-synced with no peer to wait for
	CodeTooLarge       = "too_large"        // 413: a value or body over its limit
	CodeUnreachable    = "unreachable"      // 502: the peer could not be reached
	CodeContentMissing = "content_not_held" // 503: the entry's content is being downloaded; retry
	CodeUnavailable    = "unavailable"      // 503: the store failed or the node is closing
	CodeTimeout        = "timeout"          // 504: wait-synced ran out of time
	CodeInternal       = "internal"         // 500
)

// Node is GET /v1/node.
type Node struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// GC is what content garbage collection has done.
	GC GC `json:"gc"`
}

// GC is what content garbage collection has done since the daemon
// started and what its last pass found: GET /v1/node's gc, and the answer
// of POST /v1/gc, which runs one pass.
type GC struct {
	Runs         uint64    `json:"runs"`      // passes that ran to their end
	Abandoned    uint64    `json:"abandoned"` // passes that failed or missed inserts, and removed nothing
	BlobsRemoved uint64    `json:"blobs_removed"`
	BytesRemoved uint64    `json:"bytes_removed"`
	Held         int       `json:"held"`         // blobs held at the last pass
	Unreferenced int       `json:"unreferenced"` // of those, named by no entry
	Protected    int       `json:"protected"`    // unreferenced, kept as fetched, wanted, written or read
	Pending      int       `json:"pending"`      // unreferenced, waiting out the grace period
	LastRun      time.Time `json:"last_run,omitzero"`
	LastMillis   int64     `json:"last_duration_ms"`
	LastError    string    `json:"last_error,omitempty"`
}

// Doc describes a document (GET /v1/docs, POST /v1/docs, import).
type Doc struct {
	ID         string `json:"id"`
	Capability string `json:"capability"` // read | write
	Durability string `json:"durability"` // batched | durable
}

// Docs is GET /v1/docs.
type Docs struct {
	Docs []Doc `json:"docs"`
}

// CreateDoc is the optional body of POST /v1/docs.
type CreateDoc struct {
	Durable bool `json:"durable"`
}

// Imported answers POST /v1/docs/import. EventsAfter is the event id to
// resume the document's event stream after (as Last-Event-ID) to get
// every event since the import, the entries of the first sync included.
type Imported struct {
	Doc
	EventsAfter uint64 `json:"events_after"`
}

// Import is the body of POST /v1/docs/import. Its ticket may be a write
// ticket, which holds the document's secret: the body is sent to the
// daemon only, and prints and logs without the ticket.
type Import struct {
	Ticket string `json:"ticket"`
}

// String describes the body without its ticket.
func (i Import) String() string { return "Import(ticket " + redactedIfSet(i.Ticket) + ")" }

// GoString returns the same as String.
func (i Import) GoString() string { return i.String() }

// Format writes the same as String for every verb.
func (i Import) Format(f fmt.State, verb rune) { redact.Format(f, verb, i.String()) }

// LogValue logs the same as String.
func (i Import) LogValue() slog.Value { return slog.StringValue(i.String()) }

// Share is the body of POST /v1/docs/{id}/share.
type Share struct {
	Mode string `json:"mode"` // read | write
}

// Ticket answers a share. The ticket of a write share holds the
// document's secret: it is answered to the caller only, and never logged.
// A Ticket prints and logs without its ticket text unless Mode is read;
// its JSON is the export.
type Ticket struct {
	Ticket string `json:"ticket"`
	Mode   string `json:"mode"` // what the ticket grants: read | write
}

// String returns the ticket text of a read ticket, and otherwise a
// description without it.
func (t Ticket) String() string {
	if t.Mode == "read" {
		return t.Ticket
	}
	return "Ticket(" + t.Mode + ", " + redactedIfSet(t.Ticket) + ")"
}

// GoString returns the same as String.
func (t Ticket) GoString() string { return t.String() }

// Format writes the same as String for every verb.
func (t Ticket) Format(f fmt.State, verb rune) { redact.Format(f, verb, t.String()) }

// LogValue logs the same as String.
func (t Ticket) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Entry is one entry, without its content.
type Entry struct {
	Doc       string `json:"doc"`
	Key       string `json:"key"`
	KeyBase64 string `json:"key_base64,omitempty"`
	Author    string `json:"author"`
	Hash      string `json:"hash"`
	Len       uint64 `json:"len"`
	// Timestamp is microseconds since the Unix epoch.
	Timestamp uint64 `json:"timestamp_us"`
	Tombstone bool   `json:"tombstone,omitempty"`
}

// KeyBytes returns the entry's key as the bytes it was written with.
func (e Entry) KeyBytes() []byte {
	if e.KeyBase64 != "" {
		if b, err := base64.StdEncoding.DecodeString(e.KeyBase64); err == nil {
			return b
		}
	}
	return []byte(e.Key)
}

// SetKey fills Key and, for a key that is not UTF-8, KeyBase64.
func (e *Entry) SetKey(k []byte) {
	e.Key = string(k)
	e.KeyBase64 = ""
	if !utf8.Valid(k) {
		e.KeyBase64 = base64.StdEncoding.EncodeToString(k)
	}
}

// Entries is a page of GET /v1/docs/{id}/entries. NextCursor is empty on
// the last page; pass it as cursor= for the next one.
type Entries struct {
	Entries    []Entry `json:"entries"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// Deleted answers DELETE /v1/docs/{id}/entries/{prefix}.
type Deleted struct {
	Tombstone Entry `json:"tombstone"`
}

// PeerSync is one peer's record in GET /v1/docs/{id}/sync.
type PeerSync struct {
	Peer      string    `json:"peer"`
	Addrs     []string  `json:"addrs,omitempty"`
	Running   string    `json:"running"` // idle | connect | accept
	Pending   bool      `json:"pending"`
	Sessions  int       `json:"sessions"`
	Failures  int       `json:"failures"`
	LastSync  time.Time `json:"last_sync,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Sent      int       `json:"sent"`
	Received  int       `json:"received"`
	CaughtUp  bool      `json:"caught_up"`
}

// SyncStatus is GET /v1/docs/{id}/sync.
type SyncStatus struct {
	Peers []PeerSync `json:"peers"`
}

// Authors is GET /v1/authors. It carries ids only, never secrets.
type Authors struct {
	Authors []string `json:"authors"`
	Default string   `json:"default"`
}

// Status is the body of a plain success without other data.
type Status struct {
	Status string `json:"status"`
}

// Event kinds, as the SSE event: field and Event.Kind carry them.
const (
	EventInsertLocal         = "insert-local"
	EventInsertRemote        = "insert-remote"
	EventNeighborUp          = "neighbor-up"
	EventNeighborDown        = "neighbor-down"
	EventSyncFinished        = "sync-finished"
	EventContentReady        = "content-ready"
	EventPendingContentReady = "pending-content-ready"
	EventContentFailed       = "content-failed"
	// EventSyncProgress: a session this node dialled is under way:
	// Expected is how many entries it has asked the peer for so far (it
	// grows while reconciliation runs), Received how many arrived.
	EventSyncProgress = "sync-progress"
	// EventContentProgress: the document's downloads were queued,
	// started, finished or given up; Downloads holds the downloader's
	// counters for it. Coalesced: at most one per document per the
	// daemon's --content-progress-interval.
	EventContentProgress = "content-progress"
	// EventLagged: events were lost to this client: it reconnected after
	// they left the replay buffer, or the server fell behind the
	// document. Missed says how many. Query the document to catch up.
	EventLagged = "lagged"
)

// Event is the data of one SSE event of GET /v1/docs/{id}/events.
type Event struct {
	// ID is the SSE id: it increases by one per event of the document,
	// from a base the daemon takes from its clock, so that ids of a later
	// run are above those of earlier runs.
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"`
	Doc    string `json:"doc"`
	Entry  *Entry `json:"entry,omitempty"`
	Peer   string `json:"peer,omitempty"`
	Hash   string `json:"hash,omitempty"`
	Error  string `json:"error,omitempty"`
	Missed uint64 `json:"missed,omitempty"`
	// Expected and Received: sync-progress.
	Expected int    `json:"expected,omitempty"`
	Received int    `json:"received,omitempty"`
	Content  string `json:"content,omitempty"` // insert-remote: missing | incomplete | complete
	// Downloads: content-progress.
	Downloads *Downloads `json:"downloads,omitempty"`
}

// Downloads is the downloader's state for one document: what is queued
// and running for it now, and what became of the downloads queued for it
// since the daemon started (ContentStatus.Downloads, the content-progress
// event). What is still to come is BytesQueued - BytesCompleted -
// BytesFailed.
type Downloads struct {
	Queued         int    `json:"queued"`  // waiting to start, or backing off after a failed attempt
	Running        int    `json:"running"` // in flight
	Completed      uint64 `json:"completed"`
	Failed         uint64 `json:"failed"` // given up after the retries
	BytesQueued    uint64 `json:"bytes_queued"`
	BytesCompleted uint64 `json:"bytes_completed"`
	BytesFailed    uint64 `json:"bytes_failed"`
}

// Idle reports whether nothing is queued or running for the document.
func (d Downloads) Idle() bool { return d.Queued == 0 && d.Running == 0 }

// ContentStatus is GET /v1/docs/{id}/content: how much of the content the
// document's visible entries (the latest of each author at each key,
// tombstones excluded) name the daemon holds.
type ContentStatus struct {
	// Entries counts the entries; Complete, Incomplete and Missing split
	// them by the status of their content.
	Entries    int `json:"entries"`
	Complete   int `json:"complete"`
	Incomplete int `json:"incomplete"`
	Missing    int `json:"missing"`
	// Bytes is the length of the content the entries name, Held how much
	// of it is held (a partial download counts what it has fetched).
	Bytes uint64 `json:"bytes"`
	Held  uint64 `json:"held"`
	// WantedBytes and WantedHeld are the same over the entries whose
	// content the download policy fetches.
	WantedBytes uint64    `json:"wanted_bytes"`
	WantedHeld  uint64    `json:"wanted_held"`
	Downloads   Downloads `json:"downloads"`
}

// Author is the answer of POST /v1/authors and /v1/authors/import, and
// the body of PUT /v1/authors/default.
type Author struct {
	ID string `json:"id"`
}

// AuthorSecret is the answer of POST /v1/authors/{id}/export and the body
// of POST /v1/authors/import. The secret signs entries as the author: it
// is answered to the caller only, and never logged.
//
// It prints and logs without the secret; its JSON is the export.
type AuthorSecret struct {
	Secret string `json:"secret"`
}

// String describes the value without its secret.
func (a AuthorSecret) String() string { return "AuthorSecret(" + redactedIfSet(a.Secret) + ")" }

// GoString returns the same as String.
func (a AuthorSecret) GoString() string { return a.String() }

// Format writes the same as String for every verb.
func (a AuthorSecret) Format(f fmt.State, verb rune) { redact.Format(f, verb, a.String()) }

// LogValue logs the same as String.
func (a AuthorSecret) LogValue() slog.Value { return slog.StringValue(a.String()) }

// redactedIfSet is redact.Marker, or "none" for an empty secret.
func redactedIfSet(s string) string {
	if s == "" {
		return "none"
	}
	return redact.Marker
}

// CodeIsDefault: DELETE of the default author; make another the default
// first. Answered with 409.
const CodeIsDefault = "is_default"

// Download policy modes.
const (
	PolicyEverythingExcept = "everything-except"
	PolicyNothingExcept    = "nothing-except"
)

// KeyFilter matches a key exactly, or every key under it with Prefix.
type KeyFilter struct {
	Key    string `json:"key"`
	Prefix bool   `json:"prefix,omitempty"`
}

// Policy is a document's download policy (GET and PUT
// /v1/docs/{id}/policy): which entries' content the node fetches from
// peers. everything-except fetches all but the filters' keys;
// nothing-except fetches only theirs.
type Policy struct {
	Mode    string      `json:"mode"`
	Filters []KeyFilter `json:"filters"`
}

// Package client is the Go client of docsnode's local HTTP API: what the
// docsnode CLI uses, and what a Go app uses to drive a running daemon
// rather than embed the engine. It imports nothing of the engine.
//
//	c, err := client.New(client.Options{Socket: "/home/me/.local/share/docsnode/api.sock"})
//	doc, err := c.CreateDoc(ctx, false)
//	_, err = c.Set(ctx, doc.ID, "greeting", []byte("hello"), client.SetOptions{})
//	t, err := c.Share(ctx, doc.ID, "read")  // t.Ticket for the other node
//
// Errors the API answers are *Error values carrying its stable code;
// IsNotFound and friends test for the common ones, and IsNoDaemon for a
// daemon that is not running.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/internal/redact"
)

// Wire types, re-exported so that users of the client import it alone.
type (
	Node       = wire.Node
	GC         = wire.GC
	Doc        = wire.Doc
	Ticket     = wire.Ticket
	Entry      = wire.Entry
	Entries    = wire.Entries
	PeerSync   = wire.PeerSync
	SyncStatus = wire.SyncStatus
	Authors    = wire.Authors
	Event      = wire.Event
)

// Error is an error the API answered: its HTTP status and stable code
// (the wire.Code constants).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

// ErrNoDaemon: nothing listens on the socket or address: no daemon runs
// for that data directory.
var ErrNoDaemon = errors.New("client: no docsnode daemon is running")

// Code returns the API code of err, or "" when err is not an API answer.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err says that a document, entry, author or
// peer is unknown.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsNoDaemon reports whether err says that no daemon is running.
func IsNoDaemon(err error) bool { return errors.Is(err, ErrNoDaemon) }

// Options says where the daemon's API is.
type Options struct {
	// Socket is the path of the daemon's unix socket. It wins over Addr.
	Socket string
	// Addr is host:port of the daemon's TCP API, with Token.
	Addr  string
	Token string
	// HTTPClient, when set, is used as is (tests); Socket and Addr then
	// only name the target.
	HTTPClient *http.Client
	// BaseURL overrides the URL requests go to (tests with httptest).
	BaseURL string
}

// String describes the options with the token left out.
func (o Options) String() string {
	tok := "none"
	if o.Token != "" {
		tok = redact.Marker
	}
	return fmt.Sprintf("client.Options{Socket: %q, Addr: %q, Token: %s, BaseURL: %q}", o.Socket, o.Addr, tok, o.BaseURL)
}

// GoString returns the same as String.
func (o Options) GoString() string { return o.String() }

// Format writes the same as String for every verb, so that no verb prints
// the token.
func (o Options) Format(f fmt.State, verb rune) { redact.Format(f, verb, o.String()) }

// LogValue logs the options with the token left out.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// MarshalJSON writes the options with the token left out.
func (o Options) MarshalJSON() ([]byte, error) {
	tok := ""
	if o.Token != "" {
		tok = redact.Marker
	}
	return json.Marshal(struct {
		Socket  string `json:"socket,omitempty"`
		Addr    string `json:"addr,omitempty"`
		Token   string `json:"token,omitempty"`
		BaseURL string `json:"base_url,omitempty"`
	}{o.Socket, o.Addr, tok, o.BaseURL})
}

// Client talks to one daemon. It is safe for concurrent use.
type Client struct {
	hc    *http.Client
	base  string
	token redact.String // prints as redact.Marker
}

// New returns a client for the daemon at opts. It does not connect.
func New(opts Options) (*Client, error) {
	c := &Client{hc: opts.HTTPClient, token: redact.NewString(opts.Token), base: opts.BaseURL}
	var tr *http.Transport
	switch {
	case opts.Socket != "":
		// One daemon is the only host: keep as many idle connections as
		// a busy app has requests in flight, rather than net/http's 2.
		tr = &http.Transport{MaxIdleConnsPerHost: 64, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", opts.Socket)
		}}
		if c.base == "" {
			c.base = "http://docsnode"
		}
	case opts.Addr != "":
		tr = &http.Transport{MaxIdleConnsPerHost: 64}
		if c.base == "" {
			c.base = "http://" + opts.Addr
		}
	case c.base == "":
		return nil, errors.New("client: no Socket, Addr or BaseURL")
	}
	if c.hc == nil {
		if tr == nil {
			tr = &http.Transport{}
		}
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// do sends a request and decodes a JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, q, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a 2xx answer; any other answer is
// turned into an *Error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader, hdr http.Header) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, v := range hdr {
		if k == "Content-Length" {
			// net/http sends the length it is given here, not the header.
			if req.ContentLength, err = strconv.ParseInt(v[0], 10, 64); err != nil {
				return nil, fmt.Errorf("client: Content-Length %q: %w", v[0], err)
			}
			continue
		}
		req.Header[k] = v
	}
	if !c.token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %w", ErrNoDaemon, err)
		}
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var we wire.Error
	if json.Unmarshal(b, &we) != nil || we.Code == "" {
		we = wire.Error{Code: "http_" + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(b))}
	}
	return nil, &Error{Status: resp.StatusCode, Code: we.Code, Message: we.Message}
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v) // the wire types always marshal
	return bytes.NewReader(b)
}

// docPath is /v1/docs/{id} with the id escaped.
func docPath(doc string, rest ...string) string {
	return "/v1/docs/" + url.PathEscape(doc) + strings.Join(rest, "")
}

// keyPath escapes a key for the path: every byte but unreserved ones, so
// that slashes and dots inside a key reach the server as they are.
func keyPath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		ch := key[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// Health returns nil when the daemon answers /readyz as ready.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// Node returns the daemon's node id and addresses.
func (c *Client) Node(ctx context.Context) (Node, error) {
	var n Node
	return n, c.do(ctx, http.MethodGet, "/v1/node", nil, nil, &n)
}

// CollectGarbage runs one content garbage collection pass on the daemon
// and returns what collection has done. Content goes only when a pass at
// least the grace period earlier found it unreferenced.
func (c *Client) CollectGarbage(ctx context.Context) (GC, error) {
	var g GC
	return g, c.do(ctx, http.MethodPost, "/v1/gc", nil, nil, &g)
}

// Authors returns the daemon's author ids and its default author.
func (c *Client) Authors(ctx context.Context) (Authors, error) {
	var a Authors
	return a, c.do(ctx, http.MethodGet, "/v1/authors", nil, nil, &a)
}

// Docs lists the documents the daemon holds.
func (c *Client) Docs(ctx context.Context) ([]Doc, error) {
	var d wire.Docs
	return d.Docs, c.do(ctx, http.MethodGet, "/v1/docs", nil, nil, &d)
}

// CreateDoc creates a document; durable fsyncs each of its writes.
func (c *Client) CreateDoc(ctx context.Context, durable bool) (Doc, error) {
	var d Doc
	return d, c.do(ctx, http.MethodPost, "/v1/docs", nil, jsonBody(wire.CreateDoc{Durable: durable}), &d)
}

// Imported answers Import: the document, and the event id after which
// its event stream holds every event since the import.
type Imported = wire.Imported

// Import adds the ticket's document and starts syncing it. Events(ctx,
// doc, imported.EventsAfter, true) then streams what the first sync
// brings, from its start.
func (c *Client) Import(ctx context.Context, ticket string) (Imported, error) {
	var d Imported
	return d, c.do(ctx, http.MethodPost, "/v1/docs/import", nil, jsonBody(wire.Import{Ticket: ticket}), &d)
}

// Drop stops syncing a document and removes it with its entries.
func (c *Client) Drop(ctx context.Context, doc string) error {
	return c.do(ctx, http.MethodDelete, docPath(doc), nil, nil, nil)
}

// Share opens the document for sync and returns a ticket; mode is "read"
// or "write". A write ticket holds the document's secret.
func (c *Client) Share(ctx context.Context, doc, mode string) (Ticket, error) {
	var t Ticket
	return t, c.do(ctx, http.MethodPost, docPath(doc, "/share"), nil, jsonBody(wire.Share{Mode: mode}), &t)
}

// SetOptions tunes Set.
type SetOptions struct {
	// Author writes as this author id; empty is the daemon's default.
	Author string
	// Length, when above 0, is the value's length in bytes, sent as the
	// request's Content-Length: the daemon then refuses a value over its
	// limit before any of it is sent, and a value that turns out shorter
	// or longer fails the request. 0 streams the value chunked, of any
	// length.
	Length int64
}

// Set writes value at key.
func (c *Client) Set(ctx context.Context, doc, key string, value []byte, opts SetOptions) (Entry, error) {
	return c.SetReader(ctx, doc, key, bytes.NewReader(value), opts)
}

// SetReader writes the bytes read from value at key.
func (c *Client) SetReader(ctx context.Context, doc, key string, value io.Reader, opts SetOptions) (Entry, error) {
	var q url.Values
	if opts.Author != "" {
		q = url.Values{"author": {opts.Author}}
	}
	var hdr http.Header
	if opts.Length > 0 {
		hdr = http.Header{"Content-Length": {strconv.FormatInt(opts.Length, 10)}}
	}
	var e Entry
	resp, err := c.send(ctx, http.MethodPut, docPath(doc, "/entries/", keyPath(key)), q, value, hdr)
	if err != nil {
		return e, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return e, fmt.Errorf("client: set %q: decode answer: %w", key, err)
	}
	return e, nil
}

// GetOptions tunes Get.
type GetOptions struct {
	// Author reads this author's entry; empty reads the latest across
	// authors.
	Author string
}

func getQuery(opts GetOptions, meta bool) url.Values {
	q := url.Values{}
	if opts.Author != "" {
		q.Set("author", opts.Author)
	}
	if meta {
		q.Set("meta", "true")
	}
	return q
}

// Get returns the content at key and its entry.
func (c *Client) Get(ctx context.Context, doc, key string, opts GetOptions) ([]byte, Entry, error) {
	resp, err := c.send(ctx, http.MethodGet, docPath(doc, "/entries/", keyPath(key)), getQuery(opts, false), nil, nil)
	if err != nil {
		return nil, Entry{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("client: read content: %w", err)
	}
	return b, entryOf(resp, doc, key, int64(len(b))), nil
}

// GetReader opens the content at key for streaming, with its entry (Len
// is the content's length). The caller reads the body to its end and
// closes it; a body cut short, or found corrupt by the daemon as it
// streams, ends in an error rather than io.EOF. A large value never sits
// in memory.
func (c *Client) GetReader(ctx context.Context, doc, key string, opts GetOptions) (io.ReadCloser, Entry, error) {
	resp, err := c.send(ctx, http.MethodGet, docPath(doc, "/entries/", keyPath(key)), getQuery(opts, false), nil, nil)
	if err != nil {
		return nil, Entry{}, err
	}
	return resp.Body, entryOf(resp, doc, key, max(resp.ContentLength, 0)), nil
}

// GetTo streams the content at key into w and returns its entry; a large
// value never sits in memory.
func (c *Client) GetTo(ctx context.Context, doc, key string, w io.Writer, opts GetOptions) (Entry, error) {
	resp, err := c.send(ctx, http.MethodGet, docPath(doc, "/entries/", keyPath(key)), getQuery(opts, false), nil, nil)
	if err != nil {
		return Entry{}, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return Entry{}, fmt.Errorf("client: read content: %w", err)
	}
	return entryOf(resp, doc, key, n), nil
}

// GetRange returns length bytes of the content at key from offset (an
// HTTP Range request); fewer when the content ends first.
func (c *Client) GetRange(ctx context.Context, doc, key string, offset, length int64, opts GetOptions) ([]byte, error) {
	if length <= 0 {
		return nil, nil
	}
	hdr := http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)}}
	resp, err := c.send(ctx, http.MethodGet, docPath(doc, "/entries/", keyPath(key)), getQuery(opts, false), nil, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return nil, fmt.Errorf("client: range request answered %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: read content: %w", err)
	}
	return b, nil
}

func entryOf(resp *http.Response, doc, key string, n int64) Entry {
	ts, _ := strconv.ParseUint(resp.Header.Get("Docsnode-Timestamp"), 10, 64)
	e := Entry{Doc: doc, Author: resp.Header.Get("Docsnode-Author"), Hash: resp.Header.Get("Docsnode-Hash"), Len: uint64(n), Timestamp: ts}
	e.SetKey([]byte(key))
	return e
}

// GetEntry returns the entry at key without its content.
func (c *Client) GetEntry(ctx context.Context, doc, key string, opts GetOptions) (Entry, error) {
	var e Entry
	return e, c.do(ctx, http.MethodGet, docPath(doc, "/entries/", keyPath(key)), getQuery(opts, true), nil, &e)
}

// Delete deletes the author's entries under prefix (the default author's
// when author is empty). An empty prefix deletes every key of the author.
func (c *Client) Delete(ctx context.Context, doc, prefix, author string) (Entry, error) {
	q := url.Values{}
	if author != "" {
		q.Set("author", author)
	}
	if prefix == "" {
		q.Set("all", "true")
	}
	var d wire.Deleted
	return d.Tombstone, c.do(ctx, http.MethodDelete, docPath(doc, "/entries/", keyPath(prefix)), q, nil, &d)
}

// Query selects entries; the zero value is every live entry by author,
// then key, in pages of the server's size.
type Query struct {
	Prefix     *string // nil: every key
	Author     string
	SortByKey  bool
	Desc       bool
	Latest     bool // one entry per key, the latest across authors
	Tombstones bool
	Limit      int
	Cursor     string
}

// Query returns one page of entries; Entries.NextCursor continues it.
func (c *Client) Query(ctx context.Context, doc string, q Query) (Entries, error) {
	v := url.Values{}
	if q.Prefix != nil {
		v.Set("prefix", *q.Prefix)
	}
	if q.Author != "" {
		v.Set("author", q.Author)
	}
	if q.SortByKey {
		v.Set("sort", "key")
	}
	for name, b := range map[string]bool{"desc": q.Desc, "latest": q.Latest, "tombstones": q.Tombstones} {
		if b {
			v.Set(name, "true")
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var out Entries
	return out, c.do(ctx, http.MethodGet, docPath(doc, "/entries"), v, nil, &out)
}

// QueryAll runs q to its last page.
func (c *Client) QueryAll(ctx context.Context, doc string, q Query) ([]Entry, error) {
	var all []Entry
	for {
		page, err := c.Query(ctx, doc, q)
		if err != nil {
			return all, err
		}
		all = append(all, page.Entries...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Cursor = page.NextCursor
	}
}

// StartSync opens the document for sync with the peers it last synced with.
func (c *Client) StartSync(ctx context.Context, doc string) error {
	return c.do(ctx, http.MethodPost, docPath(doc, "/sync/start"), nil, nil, nil)
}

// Leave stops syncing the document.
func (c *Client) Leave(ctx context.Context, doc string) error {
	return c.do(ctx, http.MethodPost, docPath(doc, "/sync/leave"), nil, nil, nil)
}

// SyncStatus returns the document's sync record per peer.
func (c *Client) SyncStatus(ctx context.Context, doc string) ([]PeerSync, error) {
	var s SyncStatus
	return s.Peers, c.do(ctx, http.MethodGet, docPath(doc, "/sync"), nil, nil, &s)
}

// ContentStatus is how much of a document's content the daemon holds
// (Client.ContentStatus).
type ContentStatus = wire.ContentStatus

// ContentStatus returns how much of the content the document's entries
// name the daemon holds, and its downloads. The daemon reads every entry
// of the document for it: call it when asked, and follow the
// content-progress events in between.
func (c *Client) ContentStatus(ctx context.Context, doc string) (ContentStatus, error) {
	var s ContentStatus
	return s, c.do(ctx, http.MethodGet, docPath(doc, "/content"), nil, nil, &s)
}

// WaitSynced returns once peer (every known peer when empty) holds every
// entry the daemon held for the document when it was called, or when
// timeout (0: the server's default) runs out.
func (c *Client) WaitSynced(ctx context.Context, doc, peer string, timeout time.Duration) error {
	q := url.Values{}
	if peer != "" {
		q.Set("peer", peer)
	}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	return c.do(ctx, http.MethodPost, docPath(doc, "/wait-synced"), q, nil, nil)
}

// CreateAuthor creates an author and returns its id.
func (c *Client) CreateAuthor(ctx context.Context) (string, error) {
	var a wire.Author
	return a.ID, c.do(ctx, http.MethodPost, "/v1/authors", nil, nil, &a)
}

// SetDefaultAuthor makes a stored author the default.
func (c *Client) SetDefaultAuthor(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPut, "/v1/authors/default", nil, jsonBody(wire.Author{ID: id}), nil)
}

// ExportAuthor returns an author's secret, for ImportAuthor elsewhere.
func (c *Client) ExportAuthor(ctx context.Context, id string) (string, error) {
	var s wire.AuthorSecret
	return s.Secret, c.do(ctx, http.MethodPost, "/v1/authors/"+url.PathEscape(id)+"/export", nil, nil, &s)
}

// ImportAuthor stores an author from its exported secret and returns its id.
func (c *Client) ImportAuthor(ctx context.Context, secret string) (string, error) {
	var a wire.Author
	return a.ID, c.do(ctx, http.MethodPost, "/v1/authors/import", nil, jsonBody(wire.AuthorSecret{Secret: secret}), &a)
}

// DeleteAuthor removes an author key; the entries it signed stay. The
// default author is refused (code is_default).
func (c *Client) DeleteAuthor(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/authors/"+url.PathEscape(id), nil, nil, nil)
}

// Policy is a document's download policy.
type Policy = wire.Policy

// DownloadPolicy returns which entries' content the document fetches.
func (c *Client) DownloadPolicy(ctx context.Context, doc string) (Policy, error) {
	var p Policy
	return p, c.do(ctx, http.MethodGet, docPath(doc, "/policy"), nil, nil, &p)
}

// SetDownloadPolicy sets which entries' content the document fetches,
// for entries that arrive afterwards.
func (c *Client) SetDownloadPolicy(ctx context.Context, doc string, p Policy) (Policy, error) {
	var out Policy
	return out, c.do(ctx, http.MethodPut, docPath(doc, "/policy"), nil, jsonBody(p), &out)
}

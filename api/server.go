package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/replica"
)

// Config configures a Server. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// MaxValueBytes bounds the body of PUT .../entries/{key}: the value
	// of one entry. Larger values are refused with 413. The body streams
	// into the content store, so the bound is on disk, not memory; the
	// content store's own limit applies too. Default 1 GiB, the content
	// store's default.
	MaxValueBytes int64
	// MaxBodyBytes bounds JSON request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxPageSize bounds limit= of an entries query, and is the page
	// size when limit= is absent. Default 1000.
	MaxPageSize int
	// EventReplay is how many events each document keeps for clients
	// that reconnect with Last-Event-ID. Default 1024.
	EventReplay int
	// Heartbeat is how often an idle event stream sends a comment line.
	// Default 15s.
	Heartbeat time.Duration
	// MaxWait bounds the timeout= of wait-synced, and is its default.
	// Default 5m.
	MaxWait time.Duration
	// Metrics, when set, is served at GET /metrics (on the unix socket,
	// and on TCP behind the token).
	Metrics http.Handler
	// ObserveRequest, when set, is called after each request with the
	// route's pattern ("GET /v1/docs/{id}/entries/{key...}"; "" for no
	// route), the status answered and the time taken: the place for a
	// request-latency metric. An event stream is observed when it ends.
	ObserveRequest func(pattern string, status int, took time.Duration)
	// Logger receives one debug line per request and the errors answered
	// with 500. Default slog.Default(). Secrets never reach it.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxValueBytes: 1 << 30,
		MaxBodyBytes:  1 << 20,
		MaxPageSize:   1000,
		EventReplay:   1024,
		Heartbeat:     15 * time.Second,
		MaxWait:       5 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = d.MaxValueBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxPageSize <= 0 {
		c.MaxPageSize = d.MaxPageSize
	}
	if c.EventReplay <= 0 {
		c.EventReplay = d.EventReplay
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = d.Heartbeat
	}
	if c.MaxWait <= 0 {
		c.MaxWait = d.MaxWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is the API's http.Handler. Close it before closing the engine:
// Close ends the event streams, which http.Server.Shutdown would
// otherwise wait on.
type Server struct {
	e   *engine.Engine
	cfg Config
	mux *http.ServeMux

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // event pumps

	mu   sync.Mutex
	logs map[engine.NamespaceID]*eventLog

	patterns []string // the routes, as registered

	// defaultAuthor caches the default author: reading it from the store
	// on every set costs two store calls and a key derivation. Changes
	// through this server's author routes reset it; a change of the
	// default made on the engine directly is seen after a restart.
	authorMu      sync.Mutex
	defaultAuthor engine.Author
}

// cachedDefault returns the default author, from the cache once read.
func (s *Server) cachedDefault(ctx context.Context) (engine.Author, error) {
	s.authorMu.Lock()
	defer s.authorMu.Unlock()
	if !s.defaultAuthor.IsZero() {
		return s.defaultAuthor, nil
	}
	a, err := s.e.Authors().Default(ctx)
	if err != nil {
		return a, err
	}
	s.defaultAuthor = a
	return a, nil
}

// forgetDefault drops the cached default author.
func (s *Server) forgetDefault() {
	s.authorMu.Lock()
	s.defaultAuthor = engine.Author{}
	s.authorMu.Unlock()
}

// Routes returns the routes the server serves, as "METHOD /path" patterns
// of http.ServeMux: docs/openapi.json describes the same set.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// NewServer returns the API over e.
func NewServer(e *engine.Engine, cfg Config) *Server {
	s := &Server{e: e, cfg: cfg.withDefaults(), mux: http.NewServeMux(), logs: map[engine.NamespaceID]*eventLog{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	return s
}

// Close ends every event stream and stops following the documents'
// events. Requests served after Close that stream events end at once.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	for _, l := range s.logs {
		l.stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) routes() {
	h := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		s.patterns = append(s.patterns, pattern)
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if sw, ok := w.(*statusWriter); ok {
				sw.pattern = pattern
			}
			if err := f(w, r); err != nil {
				s.fail(w, r, err)
			}
		})
	}
	h("GET /healthz", s.healthz)
	h("GET /readyz", s.readyz)
	h("GET /v1/node", s.node)
	h("POST /v1/gc", s.collectGarbage)
	h("GET /v1/authors", s.authors)
	s.authorRoutes(h)
	h("GET /v1/docs", s.listDocs)
	h("POST /v1/docs", s.createDoc)
	h("POST /v1/docs/import", s.importDoc)
	h("DELETE /v1/docs/{id}", s.dropDoc)
	h("POST /v1/docs/{id}/share", s.share)
	h("GET /v1/docs/{id}/entries", s.query)
	h("PUT /v1/docs/{id}/entries/{key...}", s.setEntry)
	h("GET /v1/docs/{id}/entries/{key...}", s.getEntry)
	h("DELETE /v1/docs/{id}/entries/{key...}", s.deleteEntries)
	h("POST /v1/docs/{id}/sync/start", s.startSync)
	h("POST /v1/docs/{id}/sync/leave", s.leave)
	h("GET /v1/docs/{id}/sync", s.syncStatus)
	h("GET /v1/docs/{id}/content", s.contentStatus)
	h("POST /v1/docs/{id}/wait-synced", s.waitSynced)
	h("GET /v1/docs/{id}/events", s.events)
	h("GET /v1/docs/{id}/policy", s.getPolicy)
	h("PUT /v1/docs/{id}/policy", s.setPolicy)
	if s.cfg.Metrics != nil {
		s.patterns = append(s.patterns, "GET /metrics")
		s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			if sw, ok := w.(*statusWriter); ok {
				sw.pattern = "GET /metrics"
			}
			s.cfg.Metrics.ServeHTTP(w, r)
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no route %s %s: see docs/api.md", r.Method, r.URL.Path)})
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(sw, r)
	took := time.Since(start)
	if s.cfg.ObserveRequest != nil {
		s.cfg.ObserveRequest(sw.pattern, sw.status, took)
	}
	// The path carries document ids and keys, never secrets; the query
	// string and bodies (tickets, values) are not logged.
	s.cfg.Logger.LogAttrs(r.Context(), slog.LevelDebug, "api request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", sw.status), slog.Duration("took", took))
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	pattern string // the route that served the request, set by route
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Error is an API error: the status and the stable code answered.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// fail answers err. Errors of the engine are mapped to their codes;
// what maps to none is a 500 whose text is logged, not answered.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge, Message: fmt.Sprintf("the request body is over the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, engine.ErrTooLarge):
		ae = &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge, Message: "the value is over the content store's size limit"}
	case errors.Is(err, engine.ErrReadOnly):
		ae = &Error{Status: http.StatusForbidden, Code: wire.CodeReadOnly, Message: "the document is held read-only here: import a write ticket to write"}
	case errors.Is(err, engine.ErrEmptyValue):
		ae = badRequest(wire.CodeEmptyValue, "an empty value is refused: delete the key instead")
	case errors.Is(err, engine.ErrNotSyncing):
		ae = &Error{Status: http.StatusConflict, Code: wire.CodeNotSyncing, Message: "the document is not open for sync: share it or start sync first"}
	case errors.Is(err, engine.ErrUnknownPeer):
		ae = &Error{Status: http.StatusNotFound, Code: wire.CodeUnknownPeer, Message: "the peer is not known to the document"}
	case errors.Is(err, engine.ErrUnreachable):
		ae = &Error{Status: http.StatusBadGateway, Code: wire.CodeUnreachable, Message: "the peer could not be reached: " + err.Error()}
	case errors.Is(err, engine.ErrContentNotHeld):
		w.Header().Set("Retry-After", "1")
		ae = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeContentMissing, Message: "the entry's content is not held yet; it is being downloaded, retry later"}
	case errors.Is(err, engine.ErrContentCollected):
		w.Header().Set("Retry-After", "1")
		ae = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: "the value was removed by garbage collection while it was written (it matched content due for removal): send it again"}
	case errors.Is(err, engine.ErrStoreFailed) || engine.IsClosed(err):
		ae = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: "the node cannot serve: " + err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		ae = &Error{Status: http.StatusGatewayTimeout, Code: wire.CodeTimeout, Message: "timed out"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	default:
		s.cfg.Logger.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &Error{Status: http.StatusInternalServerError, Code: wire.CodeInternal, Message: "internal error; the daemon's log has the details"}
	}
	writeError(w, ae)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, wire.Error{Code: e.Code, Message: e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// readJSON decodes an optional JSON body into v; an empty body leaves v.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest(wire.CodeBadRequest, "the body is not the JSON expected: %v", err)
	}
	return nil
}

// doc opens the document named by the {id} path parameter.
func (s *Server) doc(r *http.Request) (*engine.Doc, error) {
	id, err := engine.ParseNamespaceID(r.PathValue("id"))
	if err != nil {
		return nil, badRequest(wire.CodeBadDocID, "%q is not a document id (64 hex characters)", r.PathValue("id"))
	}
	d, err := s.e.Docs().Open(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, &Error{Status: http.StatusNotFound, Code: wire.CodeDocNotFound, Message: fmt.Sprintf("no document %s is held here", id)}
	}
	return d, err
}

// author returns the author named by ?author=, or the default author.
func (s *Server) author(r *http.Request) (engine.Author, error) {
	v := r.URL.Query().Get("author")
	if v == "" {
		return s.cachedDefault(r.Context())
	}
	id, err := engine.ParseAuthorID(v)
	if err != nil {
		return engine.Author{}, badRequest(wire.CodeBadAuthorID, "%q is not an author id (64 hex characters)", v)
	}
	a, err := s.e.Authors().Export(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return a, &Error{Status: http.StatusNotFound, Code: wire.CodeAuthorNotFound, Message: fmt.Sprintf("no author %s is held here", id)}
	}
	return a, err
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(wire.CodeBadRequest, "%s=%q is not a boolean", name, v)
	}
	return b, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, wire.Status{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.Health().Err(); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: "the store failed: " + err.Error()}
	}
	if len(s.e.NodeAddr().Addrs) == 0 {
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: "the endpoint has no address"}
	}
	return writeJSON(w, http.StatusOK, wire.Status{Status: "ready"})
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) error {
	a := s.e.NodeAddr()
	n := wire.Node{ID: a.ID.String(), Addrs: []string{}, GC: gcJSON(s.e.GCStats())}
	for _, ap := range a.Addrs {
		n.Addrs = append(n.Addrs, ap.String())
	}
	return writeJSON(w, http.StatusOK, n)
}

// collectGarbage runs one garbage collection pass and answers the stats
// it leaves.
func (s *Server) collectGarbage(w http.ResponseWriter, r *http.Request) error {
	st, err := s.e.CollectGarbage(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gcJSON(st))
}

func gcJSON(st engine.GCStats) wire.GC {
	return wire.GC{
		Runs: st.Runs, Abandoned: st.Abandoned, BlobsRemoved: st.BlobsRemoved, BytesRemoved: st.BytesRemoved,
		Held: st.Held, Unreferenced: st.Unreferenced, Protected: st.Protected, Pending: st.Pending,
		LastRun: st.LastRun, LastMillis: st.LastDuration.Milliseconds(), LastError: st.LastErr,
	}
}

func (s *Server) authors(w http.ResponseWriter, r *http.Request) error {
	def, err := s.e.Authors().Default(r.Context())
	if err != nil {
		return err
	}
	ids, err := s.e.Authors().List(r.Context())
	if err != nil {
		return err
	}
	out := wire.Authors{Authors: []string{}, Default: def.ID().String()}
	for _, id := range ids {
		out.Authors = append(out.Authors, id.String())
	}
	return writeJSON(w, http.StatusOK, out)
}

func docJSON(d engine.DocInfo) wire.Doc {
	return wire.Doc{ID: d.ID().String(), Capability: d.Capability.Kind().String(), Durability: d.Durability.String()}
}

func (s *Server) docInfo(ctx context.Context, id engine.NamespaceID) (wire.Doc, error) {
	docs, err := s.e.Docs().List(ctx)
	if err != nil {
		return wire.Doc{}, err
	}
	for _, d := range docs {
		if d.ID() == id {
			return docJSON(d), nil
		}
	}
	return wire.Doc{}, &Error{Status: http.StatusNotFound, Code: wire.CodeDocNotFound, Message: fmt.Sprintf("no document %s is held here", id)}
}

func (s *Server) listDocs(w http.ResponseWriter, r *http.Request) error {
	docs, err := s.e.Docs().List(r.Context())
	if err != nil {
		return err
	}
	out := wire.Docs{Docs: []wire.Doc{}}
	for _, d := range docs {
		out.Docs = append(out.Docs, docJSON(d))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createDoc(w http.ResponseWriter, r *http.Request) error {
	var req wire.CreateDoc
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	dur := engine.Batched
	if req.Durable {
		dur = engine.Durable
	}
	d, err := s.e.Docs().CreateWith(r.Context(), dur)
	if err != nil {
		return err
	}
	info, err := s.docInfo(r.Context(), d.ID())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, info)
}

func (s *Server) importDoc(w http.ResponseWriter, r *http.Request) error {
	var req wire.Import
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	t, err := engine.ParseTicket(req.Ticket)
	if err != nil {
		// The ticket's text is not echoed: a write ticket is a secret.
		return badRequest(wire.CodeBadTicket, "the ticket does not parse: %v", err)
	}
	// The subscription is taken before the first session starts and
	// feeds the document's event log, so that a client streaming from
	// events_after misses none of what the first sync brings.
	d, sub, err := s.e.Docs().ImportAndSubscribe(r.Context(), t)
	if err != nil {
		return err
	}
	after, err := s.adopt(d.ID(), sub)
	if err != nil {
		return err
	}
	info, err := s.docInfo(r.Context(), d.ID())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Imported{Doc: info, EventsAfter: after})
}

func (s *Server) dropDoc(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	if err := s.e.Docs().Drop(r.Context(), d.ID()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) share(w http.ResponseWriter, r *http.Request) error {
	var req wire.Share
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	var mode engine.ShareMode
	switch req.Mode {
	case "read":
		mode = engine.ShareRead
	case "write":
		mode = engine.ShareWrite
	default:
		return badRequest(wire.CodeBadRequest, "mode %q: share takes mode read or write", req.Mode)
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	t, err := d.Share(r.Context(), mode)
	if err != nil {
		return err
	}
	// The one place a write ticket's text, the document's secret, is
	// exported: to the caller who asked for it.
	text, err := t.ExportText()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, wire.Ticket{Ticket: text, Mode: t.Capability.Kind().String()})
}

func entryJSON(e *engine.SignedEntry) wire.Entry {
	out := wire.Entry{Doc: e.Namespace.String(), Author: e.Author.String(), Hash: hex.EncodeToString(e.Hash[:]),
		Len: e.Len, Timestamp: e.Timestamp, Tombstone: e.IsTombstone()}
	out.SetKey(e.Key)
	return out
}

func (s *Server) setEntry(w http.ResponseWriter, r *http.Request) error {
	key := []byte(r.PathValue("key"))
	if len(key) == 0 {
		return badRequest(wire.CodeBadRequest, "the key is empty")
	}
	if r.ContentLength > s.cfg.MaxValueBytes {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge, Message: fmt.Sprintf("the value is %d bytes, over the limit of %d (the daemon's --max-value-bytes)", r.ContentLength, s.cfg.MaxValueBytes)}
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	// The value streams into the content store; a body over the limit
	// fails the read part way, and the engine then stores nothing.
	value := bufio.NewReader(http.MaxBytesReader(w, r.Body, s.cfg.MaxValueBytes))
	if _, err := value.Peek(1); errors.Is(err, io.EOF) {
		return badRequest(wire.CodeEmptyValue, "an empty value is refused: delete the key instead")
	} else if err != nil {
		return err
	}
	// The author comes after the checks: a default author is created on
	// first use, which a refused request must not do.
	a, err := s.author(r)
	if err != nil {
		return err
	}
	se, err := d.SetReader(r.Context(), a, key, value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, entryJSON(&se))
}

// lookup finds the entry at the path's key: the author's with ?author=,
// else the latest across authors.
func (s *Server) lookup(r *http.Request, d *engine.Doc) (engine.SignedEntry, error) {
	key := []byte(r.PathValue("key"))
	notFound := &Error{Status: http.StatusNotFound, Code: wire.CodeEntryNotFound, Message: fmt.Sprintf("no entry at key %q", key)}
	if v := r.URL.Query().Get("author"); v != "" {
		id, err := engine.ParseAuthorID(v)
		if err != nil {
			return engine.SignedEntry{}, badRequest(wire.CodeBadAuthorID, "%q is not an author id (64 hex characters)", v)
		}
		e, err := d.Get(r.Context(), id, key)
		if errors.Is(err, engine.ErrNotFound) || (err == nil && e.IsTombstone()) {
			return e, notFound
		}
		return e, err
	}
	for e, err := range d.Query(r.Context(), engine.Query{Key: key, LatestPerKey: true}) {
		return e, err
	}
	return engine.SignedEntry{}, notFound
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("key") == "" {
		return badRequest(wire.CodeBadRequest, "the key is empty")
	}
	meta, err := boolParam(r, "meta")
	if err != nil {
		return err
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	e, err := s.lookup(r, d)
	if err != nil {
		return err
	}
	if meta {
		return writeJSON(w, http.StatusOK, entryJSON(&e))
	}
	content, err := d.ContentReader(e) // not held: its download is queued
	if errors.Is(err, engine.ErrContentNotHeld) {
		// Meanwhile it streams from peers that hold it, checked chunk
		// group by chunk group, only the ranges asked for; 503 when no
		// peer serves it.
		content, err = d.OpenContent(r.Context(), e)
	}
	if err != nil {
		return err
	}
	defer content.Close()
	hash := hex.EncodeToString(e.Hash[:])
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Docsnode-Author", e.Author.String())
	h.Set("Docsnode-Hash", hash)
	h.Set("Docsnode-Timestamp", strconv.FormatUint(e.Timestamp, 10))
	// ServeContent streams, and answers Range, If-Range and
	// If-None-Match. Content found corrupt while it streams ends the
	// body short of its Content-Length, which the client sees as an
	// error rather than as the value.
	http.ServeContent(w, r, "", time.Time{}, content)
	return nil
}

func (s *Server) deleteEntries(w http.ResponseWriter, r *http.Request) error {
	prefix := []byte(r.PathValue("key")) // the key is a prefix here
	all, err := boolParam(r, "all")
	if err != nil {
		return err
	}
	if len(prefix) == 0 && !all {
		return badRequest(wire.CodeEmptyPrefix, "the prefix is empty, which deletes every key of the author: add all=true to mean it")
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	a, err := s.author(r)
	if err != nil {
		return err
	}
	if err := d.Delete(r.Context(), a, prefix); err != nil {
		return err
	}
	e, err := d.Get(r.Context(), a.ID(), prefix)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Deleted{Tombstone: entryJSON(&e)})
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query()
	var q engine.Query
	if v, ok := p["prefix"]; ok {
		q.KeyPrefix = []byte(v[0])
	}
	if v := p.Get("author"); v != "" {
		id, err := engine.ParseAuthorID(v)
		if err != nil {
			return badRequest(wire.CodeBadAuthorID, "%q is not an author id (64 hex characters)", v)
		}
		q.Author = &id
	}
	switch p.Get("sort") {
	case "", "author":
		q.SortBy = engine.SortAuthorKey
	case "key":
		q.SortBy = engine.SortKeyAuthor
	default:
		return badRequest(wire.CodeBadRequest, "sort=%q: sort takes author or key", p.Get("sort"))
	}
	var err error
	if q.Descending, err = boolParam(r, "desc"); err != nil {
		return err
	}
	if q.LatestPerKey, err = boolParam(r, "latest"); err != nil {
		return err
	}
	if q.IncludeTombstones, err = boolParam(r, "tombstones"); err != nil {
		return err
	}
	limit := s.cfg.MaxPageSize
	if v := p.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > s.cfg.MaxPageSize {
			return badRequest(wire.CodeBadRequest, "limit=%q: limit takes 1 to %d", v, s.cfg.MaxPageSize)
		}
		limit = n
	}
	if v := p.Get("cursor"); v != "" {
		c, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(c) == 0 {
			return badRequest(wire.CodeBadCursor, "cursor=%q is not a cursor this API answered", v)
		}
		q.After = c
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	// One more than the page tells whether another page follows.
	q.Limit = limit + 1
	out := wire.Entries{Entries: []wire.Entry{}}
	var last engine.SignedEntry
	n := 0
	for e, err := range d.Query(r.Context(), q) {
		if err != nil {
			if q.After != nil && errors.Is(err, replica.ErrMalformed) {
				return badRequest(wire.CodeBadCursor, "the cursor does not fit this query: use it with the parameters of the query that answered it")
			}
			return err
		}
		n++
		if n > limit {
			out.NextCursor = base64.RawURLEncoding.EncodeToString(q.CursorOf(&last.Entry))
			break
		}
		last = e.Clone()
		out.Entries = append(out.Entries, entryJSON(&e))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) startSync(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	if err := d.StartSync(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Status{Status: "syncing"})
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	if err := d.Leave(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Status{Status: "left"})
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	st, err := d.SyncStatus(r.Context())
	if err != nil {
		return err
	}
	out := wire.SyncStatus{Peers: []wire.PeerSync{}}
	for _, p := range st {
		ps := wire.PeerSync{Peer: p.Peer.String(), Running: p.Running.String(), Pending: p.Pending,
			Sessions: p.Sessions, Failures: p.Failures, LastSync: p.LastSync, LastError: p.LastError,
			Sent: p.Sent, Received: p.Received, CaughtUp: p.CaughtUp}
		for _, a := range p.Addr.Addrs {
			ps.Addrs = append(ps.Addrs, a.String())
		}
		out.Peers = append(out.Peers, ps)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) waitSynced(w http.ResponseWriter, r *http.Request) error {
	timeout := s.cfg.MaxWait
	if v := r.URL.Query().Get("timeout"); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 || t > s.cfg.MaxWait {
			return badRequest(wire.CodeBadRequest, "timeout=%q: timeout takes a duration up to %v, such as 30s", v, s.cfg.MaxWait)
		}
		timeout = t
	}
	var peers []engine.NodeID
	if v := r.URL.Query().Get("peer"); v != "" {
		id, err := engine.ParseNodeID(v)
		if err != nil {
			return badRequest(wire.CodeBadPeerID, "%q is not a node id (64 hex characters)", v)
		}
		peers = append(peers, id)
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	if peers == nil {
		st, err := d.SyncStatus(r.Context())
		if err != nil {
			return err
		}
		if st == nil {
			return d.WaitSynced(r.Context(), engine.NodeID{}) // answers not_syncing
		}
		for _, p := range st {
			peers = append(peers, p.Peer)
		}
		if len(peers) == 0 {
			return &Error{Status: http.StatusConflict, Code: wire.CodeNoPeers, Message: "the document has no peer to wait for: name one with peer="}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	for _, p := range peers {
		if err := d.WaitSynced(ctx, p); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, wire.Status{Status: "synced"})
}

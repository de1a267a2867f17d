package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// Errors returned by the engine. Errors of the layers below pass through
// wrapped; test them with errors.Is.
var (
	// ErrReadOnly: a write to a document held with its read capability
	// only. Import a write ticket to write.
	ErrReadOnly = replica.ErrReadOnly
	// ErrNoDefaultAuthor: the stored default author is missing or
	// unreadable. Set one with Authors().SetDefault.
	ErrNoDefaultAuthor = errors.New("engine: no usable default author")
)

// Config configures an Engine.
type Config struct {
	// DataDir holds the store ("store") and the content ("blobs"). Empty
	// keeps the store in memory, or on Store.FS when that is set, and the
	// content in a temporary directory removed on Close.
	DataDir string
	// FS, with a DataDir, is the file system the store and the content
	// live on, under DataDir (a path on FS); it overrides Store.FS and
	// Content.FS. Tests pass vfs.NewCrashableMem to see what survives a
	// power loss. Without a DataDir it is ignored. Default: the
	// operating system's (vfs.Default).
	FS vfs.FS
	// Endpoint configures the node's QUIC endpoint. With a persistent
	// store (a DataDir or a Store.FS) and no SecretKey, the node key is
	// generated once and kept in the store, so the node id survives
	// restarts.
	Endpoint endpoint.Config
	// Gossip configures the document swarms.
	Gossip gossip.Config
	// Live configures sync sessions and the live actor.
	Live live.Config
	// Actor configures the store actor.
	Actor actor.Config
	// Store configures the store; InMemory is set from DataDir. A Store.FS
	// without a DataDir holds the store at its root and counts as
	// persistent: the node key is kept there and Open resumes live sync
	// from it, as with a DataDir. Tests use it to restart a node on a copy
	// of its store taken at a simulated crash (pebble's
	// vfs.NewCrashableMem and CrashClone); the content stays in a
	// temporary directory and does not survive the restart.
	Store replica.StoreOptions
	// Content configures the content store. Its FlushInterval defaults to
	// the store actor's, so that an entry and its content are synced
	// within the same window.
	Content blobs.Options
	// GC configures the garbage collection of content no entry names any
	// more (see GCConfig for the defaults and how to turn it off).
	GC GCConfig
	// Now is the node's clock: local writes take their timestamps from
	// it, and the timestamps of entries from peers are checked against it
	// (replica.Limits.MaxFutureShift, 10 minutes ahead at most). It is the
	// default of Actor.Now, Store.Now, Live.Sync.Now and Gossip.Now, each of
	// which may still be set alone. Timers and timeouts keep the system
	// clock. Default time.Now; tests skew it.
	Now func() time.Time
	// Logger receives the problems that do not stop the engine, such as a
	// document whose live sync failed to resume on Open (see
	// Engine.Resumed). Default: slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is the profile for real use, storing in dir.
func DefaultConfig(dir string) Config {
	return Config{DataDir: dir, Endpoint: endpoint.DefaultConfig(), Gossip: gossip.DefaultConfig(), Live: live.DefaultConfig()}
}

// TestConfig is the profile for tests: in memory, loopback, short
// timeouts and gossip intervals.
func TestConfig() Config {
	return Config{Endpoint: endpoint.TestConfig(), Gossip: gossip.TestConfig(), Live: live.TestConfig()}
}

// Engine is a docsnode node: its store, content, QUIC endpoint, gossip and
// live sync, behind the Docs and Authors APIs.
type Engine struct {
	act    *actor.Actor
	blobs  *blobs.Store
	ep     *endpoint.Endpoint
	router *gossip.Router
	live   *live.Actor
	tmpDir string // removed on Close

	guard contentGuard // content the collector must keep (PinContent)
	gc    *collector
	// afterPut, set by tests only, runs in Doc.Set between the content's
	// put and the insert of its entry.
	afterPut func(replica.Hash)

	resumed   []replica.NamespaceID // documents whose live sync Open resumed
	resumeErr error                 // why the others did not resume

	// observers hear of every session's end (ObserveSessions), after
	// Config.Live.OnSession.
	obsMu     sync.RWMutex
	observers map[*sessionObserver]struct{}
	onSession func(live.Outcome, error) // Config.Live.OnSession
}

// sessionObserver is one ObserveSessions registration; its pointer is
// the key that removes it.
type sessionObserver struct{ f func(SyncOutcome, error) }

const (
	metaNodeKey       = "node-key"
	metaDefaultAuthor = "default-author" // shared with cmd/docsnode
)

// Open starts an engine. ctx bounds the start only: when it ends first,
// Open closes what it opened and returns ctx.Err().
//
// With a persistent store (a DataDir or a Store.FS), Open resumes live
// sync of the documents that were open for sync when the node stopped. A document that fails to resume does not
// stop the node: the failure is logged (Config.Logger) and reported by
// Resumed, and StartSync on the document tries again.
func Open(ctx context.Context, cfg Config) (_ *Engine, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := &Engine{}
	defer func() {
		if err == nil {
			err = ctx.Err() // ended during the last step
		}
		if err != nil {
			e.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	// The store outlives the engine with a data directory, or on a file
	// system the caller keeps.
	persistent := cfg.DataDir != "" || cfg.Store.FS != nil
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Now != nil {
		for _, now := range []*func() time.Time{&cfg.Actor.Now, &cfg.Store.Now, &cfg.Live.Sync.Now, &cfg.Gossip.Now} {
			if *now == nil {
				*now = cfg.Now
			}
		}
	}
	storeDir, blobDir := "", ""
	if cfg.DataDir == "" {
		cfg.Store.InMemory = true
		if e.tmpDir, err = os.MkdirTemp("", "docsnode-blobs-"); err != nil {
			return nil, fmt.Errorf("engine: content directory: %w", err)
		}
		blobDir = e.tmpDir
	} else {
		storeDir, blobDir = filepath.Join(cfg.DataDir, "store"), filepath.Join(cfg.DataDir, "blobs")
		if cfg.FS != nil {
			cfg.Store.FS, cfg.Content.FS = cfg.FS, cfg.FS
		}
	}
	store, err := replica.OpenStore(storeDir, cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("engine: open store: %w", err)
	}
	if e.act, err = actor.Open(store, cfg.Actor); err != nil {
		store.Close()
		return nil, fmt.Errorf("engine: start store actor: %w", err)
	}
	if cfg.Content.FlushInterval <= 0 {
		cfg.Content.FlushInterval = cfg.Actor.FlushInterval
	}
	if e.blobs, err = blobs.OpenOptions(blobDir, cfg.Content); err != nil {
		return nil, fmt.Errorf("engine: open content store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Endpoint.SecretKey.IsZero() && persistent {
		if cfg.Endpoint.SecretKey, err = e.nodeKey(ctx); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.ep, err = endpoint.Open(ctx, cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("engine: open endpoint: %w", err)
	}
	if e.router, err = gossip.NewRouter(e.ep, cfg.Gossip); err != nil {
		return nil, fmt.Errorf("engine: start gossip: %w", err)
	}
	cfg.Live.Content = e.blobs
	cfg.Live.ProtectContent = e.PinContent
	e.onSession, cfg.Live.OnSession = cfg.Live.OnSession, e.sessionEnded
	if e.live, err = live.NewActor(e.ep, e.act, e.router, cfg.Live); err != nil {
		return nil, fmt.Errorf("engine: start live sync: %w", err)
	}
	if persistent {
		// Documents open for sync when the node stopped sync again with
		// the peers they last synced with. Resume skips a document that
		// fails to reopen (a corrupt sync-peer record, say) and joins its
		// error: refusing to start the node for one document would make
		// every other document unreachable too, so the error is logged
		// and kept for Resumed instead.
		e.resumed, e.resumeErr = e.live.Resume(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.resumeErr != nil {
			logger.Warn("docsnode engine: live sync did not resume for every document",
				"resumed", len(e.resumed), "err", e.resumeErr)
		}
	}
	e.gc = newCollector(cfg.GC.withDefaults(cfg.Now), e.act, e.blobs, &e.guard, logger)
	e.gc.start()
	return e, nil
}

// Resumed reports what Open did to resume live sync: the documents it
// reopened for sync, and the errors (joined) of those that were open for
// sync when the node stopped but failed to reopen. Both are empty without
// a persistent store (a DataDir or a Store.FS).
func (e *Engine) Resumed() ([]replica.NamespaceID, error) {
	return slices.Clone(e.resumed), e.resumeErr
}

// nodeKey returns the node key kept in the store, creating it once.
func (e *Engine) nodeKey(ctx context.Context) (endpoint.SecretKey, error) {
	seed, err := e.act.Meta(ctx, metaNodeKey)
	if errors.Is(err, replica.ErrNotFound) {
		k := endpoint.GenerateSecretKey()
		if err := e.act.SetMeta(ctx, metaNodeKey, k.SecretSeed()); err != nil {
			return k, fmt.Errorf("engine: store node key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return endpoint.SecretKey{}, fmt.Errorf("engine: read node key: %w", err)
	}
	k, err := endpoint.SecretKeyFromSeed(seed)
	if err != nil {
		return k, fmt.Errorf("engine: stored node key: %w", err)
	}
	return k, nil
}

// Close stops live sync (sessions this node dialled are cancelled),
// gossip and the endpoint, then the store, last. It is safe to call once
// Open has failed part way, and more than once.
func (e *Engine) Close() error {
	var errs []error
	if e.gc != nil {
		e.gc.stop()
	}
	if e.live != nil {
		errs = append(errs, e.live.Close())
	}
	if e.router != nil {
		errs = append(errs, e.router.Close())
	}
	if e.ep != nil {
		errs = append(errs, e.ep.Close())
	}
	if e.blobs != nil {
		errs = append(errs, e.blobs.Close())
	}
	if e.act != nil {
		errs = append(errs, e.act.Close())
	}
	if e.tmpDir != "" {
		errs = append(errs, os.RemoveAll(e.tmpDir))
		e.tmpDir = ""
	}
	return errors.Join(errs...)
}

// Health is what a readiness check needs to know about an engine.
type Health struct {
	// Store is the store actor's status: the sticky error of a failed
	// store (wrapping actor.ErrStoreFailed), when it happened, and the
	// commit and log sync counts.
	Store actor.Status
}

// Err returns why the engine cannot serve, or nil when it can.
func (h Health) Err() error { return h.Store.Err }

// Health reports the engine's health without waiting on any of its parts.
// Once the store has failed, every document call returns the same error
// as Health().Err(), and the node must be restarted.
func (e *Engine) Health() Health { return Health{Store: e.act.Status()} }

// NodeAddr is this node's id and addresses, as tickets carry them.
func (e *Engine) NodeAddr() endpoint.NodeAddr { return e.ep.Addr() }

// NodeID is this node's id.
func (e *Engine) NodeID() endpoint.NodeID { return e.ep.ID() }

// SyncStats returns the counters of the node's live sync: sessions
// dialled, accepted, refused as already running, failed, and catch-ups.
func (e *Engine) SyncStats(ctx context.Context) (live.Stats, error) { return e.live.Stats(ctx) }

// SyncServerStats returns the admission counters of the node's sync
// server: incoming sessions refused (busy, per-peer limits), preempted for
// a peer holding fewer, and streams reset without an Init.
func (e *Engine) SyncServerStats() live.ServerStats { return e.live.ServerStats() }

// ContentServerStats returns the counters of the node's content server:
// fetches served, refused (not found, busy, per-peer limit, bad request),
// preempted and timed out.
func (e *Engine) ContentServerStats() blobs.ServerStats { return e.live.ContentServerStats() }

// GossipStats returns the counters of the node's gossip swarms, summed
// over every swarm opened since Open, closed ones included.
func (e *Engine) GossipStats() gossip.Stats { return e.router.Stats() }

// DownloadStats returns the content downloader's state and counters.
func (e *Engine) DownloadStats(ctx context.Context) (live.DownloadStats, error) {
	return e.live.DownloadStats(ctx)
}

// StoreSize returns the bytes the store's database files take (for an
// engine without a DataDir, what they would take). The content store is
// not included.
func (e *Engine) StoreSize(ctx context.Context) (uint64, error) { return e.act.DiskUsage(ctx) }

// ObserveSessions calls f once for every sync session that ends from now
// on, dialled or accepted, refused ones included, with its outcome and nil
// or the error that ended it. f runs on the session's goroutine,
// concurrently with other sessions, and must not block: it is meant for
// counters. Call the returned function to stop.
func (e *Engine) ObserveSessions(f func(SyncOutcome, error)) (stop func()) {
	o := &sessionObserver{f: f}
	e.obsMu.Lock()
	if e.observers == nil {
		e.observers = make(map[*sessionObserver]struct{})
	}
	e.observers[o] = struct{}{}
	e.obsMu.Unlock()
	return func() {
		e.obsMu.Lock()
		delete(e.observers, o)
		e.obsMu.Unlock()
	}
}

// sessionEnded is the live actor's OnSession.
func (e *Engine) sessionEnded(o live.Outcome, err error) {
	if e.onSession != nil {
		e.onSession(o, err)
	}
	// Called outside the lock, so that an observer may stop itself.
	e.obsMu.RLock()
	obs := make([]*sessionObserver, 0, len(e.observers))
	for ob := range e.observers {
		obs = append(obs, ob)
	}
	e.obsMu.RUnlock()
	for _, ob := range obs {
		ob.f(o, err)
	}
}

// Docs is the document API.
func (e *Engine) Docs() *Docs { return &Docs{e: e} }

// Authors is the author API.
func (e *Engine) Authors() *Authors { return &Authors{e: e} }

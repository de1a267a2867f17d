package main

import (
	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
	"github.com/spf13/pflag"
)

// engineDefaults is the engine config start begins from: the defaults of
// every package, filled in, so that --help shows them.
func engineDefaults() engine.Config {
	cfg := engine.DefaultConfig("")
	cfg.Live.Sync = live.DefaultSessionConfig()
	cfg.Live.BlobServer = blobs.DefaultServerConfig()
	cfg.Live.BlobServer.MaxKeyLen = 0 // follows --max-key-bytes
	cfg.Store.Limits = replica.DefaultLimits()
	cfg.Content.SmallMax = blobs.DefaultSmallMax
	cfg.Content.GroupLog, cfg.Content.GroupLogSet = blobs.DefaultGroupLog, true
	// The store actor's numbers only: its Logger and clock stay the
	// engine's to set.
	a := actor.DefaultConfig()
	cfg.Actor.FlushInterval, cfg.Actor.CommitDelay, cfg.Actor.MaxBatch = a.FlushInterval, a.CommitDelay, a.MaxBatch
	cfg.Actor.InboxSize, cfg.Actor.SubscriberBuffer, cfg.Actor.QueryPageSize = a.InboxSize, a.SubscriberBuffer, a.QueryPageSize
	cfg.GC = engine.GCConfig{Interval: engine.DefaultGCInterval, Grace: engine.DefaultGCGrace, Batch: engine.DefaultGCBatch, Pause: engine.DefaultGCPause}
	return cfg
}

// gcFromFlags turns the garbage collection flags into the engine's
// config: --gc-interval 0 means no background passes, which the engine
// spells as a negative interval (its zero takes the default).
func gcFromFlags(c engine.GCConfig) engine.GCConfig {
	if c.Interval == 0 {
		c.Interval = -1
	}
	return c
}

// engineFlags binds start's flags for the engine's limits to cfg.
func engineFlags(f *pflag.FlagSet, cfg *engine.Config) {
	// Entries and the store.
	f.IntVar(&cfg.Store.Limits.MaxKeyLen, "max-key-bytes", cfg.Store.Limits.MaxKeyLen, "longest entry key, local or from a peer, in bytes")
	f.DurationVar(&cfg.Store.Limits.MaxFutureShift, "max-clock-skew", cfg.Store.Limits.MaxFutureShift, "how far ahead of this node's clock a peer's entry may be")

	// The store actor and the content store.
	sa := &cfg.Actor
	f.DurationVar(&sa.FlushInterval, "store-flush-interval", sa.FlushInterval, "how long a batched write may wait for its fsync (the crash window of the default durability)")
	f.DurationVar(&sa.CommitDelay, "store-commit-delay", sa.CommitDelay, "how long batched writes gather before they commit")
	f.IntVar(&sa.MaxBatch, "store-max-batch", sa.MaxBatch, "most requests the store applies in one batch")
	f.IntVar(&sa.InboxSize, "store-inbox", sa.InboxSize, "requests queued for the store before callers wait")
	f.IntVar(&sa.SubscriberBuffer, "store-subscriber-buffer", sa.SubscriberBuffer, "store events buffered per internal subscriber before it is told it lagged")
	f.IntVar(&sa.QueryPageSize, "store-query-page", sa.QueryPageSize, "entries a query reads from the store per trip")
	f.Int64Var(&cfg.Content.SmallMax, "content-small-max", cfg.Content.SmallMax, "largest value kept in the small-content database rather than a file of its own, in bytes")
	f.Uint8Var(&cfg.Content.GroupLog, "content-group-log", cfg.Content.GroupLog, "content is checked in chunk groups of 1024<<N bytes (0 to 10); every node that fetches from another must use the same")
	bs := &cfg.Live.BlobServer
	f.IntVar(&bs.MaxRanges, "content-max-ranges", bs.MaxRanges, "ranges of chunk groups one content request may ask for")
	f.Int64Var(&bs.MaxUploadRate, "content-max-upload-rate", bs.MaxUploadRate, "bytes per second of content sent to all peers together (0: no bound)")
	f.IntVar(&bs.MaxFetches, "content-max-serve", bs.MaxFetches, "content fetches served to peers at once")
	f.IntVar(&bs.MaxFetchesPerPeer, "content-max-serve-per-peer", bs.MaxFetchesPerPeer, "content fetches served to one peer at once")
	f.DurationVar(&bs.RequestTimeout, "content-request-timeout", bs.RequestTimeout, "how long a peer may take to send its content request")
	f.DurationVar(&bs.IdleTimeout, "content-idle-timeout", bs.IdleTimeout, "a content transfer that moves nothing this long ends")

	// Content garbage collection.
	gc := &cfg.GC
	f.DurationVar(&gc.Interval, "gc-interval", gc.Interval, "time between content garbage collection passes; 0 turns the background passes off (docsnode node gc still runs one)")
	f.DurationVar(&gc.Grace, "gc-grace", gc.Grace, "how long content no entry names stays before garbage collection removes it")
	f.IntVar(&gc.Batch, "gc-batch", gc.Batch, "entries a garbage collection pass reads per store trip, and blobs it removes per step")
	f.DurationVar(&gc.Pause, "gc-pause", gc.Pause, "pause between the steps of a garbage collection pass")

	// Sync sessions.
	s := &cfg.Live.Sync
	f.IntVar(&s.MaxFrameSize, "sync-max-frame-bytes", s.MaxFrameSize, "largest sync frame, in bytes (at least 16 KiB)")
	f.DurationVar(&s.SessionTimeout, "sync-session-timeout", s.SessionTimeout, "longest sync session")
	f.DurationVar(&s.IdleTimeout, "sync-idle-timeout", s.IdleTimeout, "how long a sync session may move nothing")
	f.IntVar(&s.MaxRounds, "sync-max-rounds", s.MaxRounds, "reconciliation rounds a session may take whatever the sets' sizes (more are allowed for large sets)")
	f.IntVar(&s.RoundsPerDoubling, "sync-rounds-per-doubling", s.RoundsPerDoubling, "reconciliation rounds a session may take per doubling of the items it has seen")
	f.IntVar(&s.BytesPerItemFactor, "sync-bytes-per-item-factor", s.BytesPerItemFactor, "bytes a session may receive per item seen, in largest entries")
	f.Int64Var(&s.MaxBytes, "sync-max-bytes", s.MaxBytes, "most bytes one sync session may move")
	f.IntVar(&s.MaxEntriesPerFrame, "sync-max-entries-per-frame", s.MaxEntriesPerFrame, "most entries in one frame")
	f.IntVar(&s.MaxIDsPerWant, "sync-max-ids-per-want", s.MaxIDsPerWant, "most entry ids one Want frame may ask for")
	f.IntVar(&s.MaxSessions, "sync-max-sessions", s.MaxSessions, "most incoming sync sessions served at once (and twice as many streams)")
	f.IntVar(&s.MaxSessionsPerPeer, "sync-max-sessions-per-peer", s.MaxSessionsPerPeer, "most incoming sync sessions served to one peer at once")
	f.IntVar(&s.MaxStreamsPerPeer, "sync-max-streams-per-peer", s.MaxStreamsPerPeer, "most incoming sync streams handled for one peer at once, sessions and streams awaiting Init")
	f.DurationVar(&s.InitTimeout, "sync-init-timeout", s.InitTimeout, "how long an incoming sync stream may take to send its Init")
	f.IntVar(&s.InsertBatch, "sync-insert-batch", s.InsertBatch, "received entries stored per store trip")

	// The live actor.
	l := &cfg.Live
	f.IntVar(&l.MaxDialsPerDoc, "max-dials-per-doc", l.MaxDialsPerDoc, "sessions this node dials at once for one document")
	f.IntVar(&l.MaxRetries, "max-retries", l.MaxRetries, "failed dials in a row to one peer before waiting for news of it")
	f.DurationVar(&l.RetryBase, "retry-base", l.RetryBase, "first back-off after a failed dial (doubles per failure)")
	f.DurationVar(&l.RetryMax, "retry-max", l.RetryMax, "longest back-off after failed dials")
	f.DurationVar(&l.UnreachableAfter, "unreachable-after", l.UnreachableAfter, "how long wait-synced waits for a peer that dials fail to reach, or that never appears")
	f.DurationVar(&l.CatchUpDelay, "catch-up-delay", l.CatchUpDelay, "quiet time after writes before a catch-up sync with one neighbour")
	f.IntVar(&l.EventBuffer, "subscriber-buffer", l.EventBuffer, "events buffered per subscriber before it is told it lagged")
	f.IntVar(&l.MaxDownloads, "max-downloads", l.MaxDownloads, "content downloads run at once")
	f.IntVar(&l.MaxQueuedDownloads, "max-queued-downloads", l.MaxQueuedDownloads, "content downloads queued; more are dropped and fetched when read")
	f.IntVar(&l.DownloadRetries, "download-retries", l.DownloadRetries, "attempts per download before it is given up")
	f.DurationVar(&l.DownloadTimeout, "download-timeout", l.DownloadTimeout, "longest attempt at fetching one blob, from all the peers it asks")
	f.IntVar(&l.DownloadProviders, "download-providers", l.DownloadProviders, "peers one download fetches a blob from at once")
	f.DurationVar(&l.DownloadIdleTimeout, "download-idle-timeout", l.DownloadIdleTimeout, "a fetch that receives nothing this long ends")
	f.DurationVar(&l.ContentProgressInterval, "content-progress-interval", l.ContentProgressInterval, "least time between two content-progress events of one document; the changes in between are coalesced")
	f.DurationVar(&l.MaxCatchUpDelay, "max-catch-up-delay", l.MaxCatchUpDelay, "longest wait for a pause before a catch-up sync in a document written without one")
	f.DurationVar(&l.AntiEntropyInterval, "anti-entropy-interval", l.AntiEntropyInterval, "quiet time without a completed sync after which a document syncs with one random neighbour")
	f.DurationVar(&l.JoinTimeout, "join-timeout", l.JoinTimeout, "longest join of a document's swarm")
	f.DurationVar(&l.LeaveTimeout, "leave-timeout", l.LeaveTimeout, "how long a left swarm goes on telling its members")
	f.DurationVar(&l.AcceptTimeout, "accept-timeout", l.AcceptTimeout, "how long an incoming session waits for the live actor's decision before it is refused as busy")
	f.DurationVar(&l.StoreTimeout, "store-timeout", l.StoreTimeout, "longest store call of the live actor's workers")
	f.IntVar(&l.NewsBuffer, "news-buffer", l.NewsBuffer, "work queued for the live actor's loop before its sources wait")
	f.IntVar(&l.MaxIdlePeers, "max-idle-peers", l.MaxIdlePeers, "records kept per document of peers that are not swarm members and have no session running or waited for")
	f.DurationVar(&l.IdlePeerTTL, "idle-peer-ttl", l.IdlePeerTTL, "how long such an idle peer record is kept after its last session")

	// Gossip.
	g := &cfg.Gossip
	f.DurationVar(&g.ProbeInterval, "gossip-probe-interval", g.ProbeInterval, "how often each document's swarm probes a member")
	f.IntVar(&g.EagerFanout, "gossip-eager-fanout", g.EagerFanout, "neighbours each write is pushed to at once")
	f.IntVar(&g.InlineContent, "gossip-inline-content", g.InlineContent, "largest value sent along with its write's gossip push, in bytes")
	f.IntVar(&g.MaxQueuedBroadcasts, "gossip-max-queued", g.MaxQueuedBroadcasts, "ops queued per swarm for gossip rounds")
	f.IntVar(&g.InboxSize, "gossip-inbox", g.InboxSize, "received ops queued per swarm before more are dropped")
	f.IntVar(&g.EventBuffer, "gossip-event-buffer", g.EventBuffer, "gossip events queued per swarm for the live actor")
	f.IntVar(&g.SeenCacheSize, "gossip-seen-cache", g.SeenCacheSize, "op ids remembered per swarm to drop duplicates")
	f.IntVar(&g.MaxPacketsInFlight, "gossip-max-packets-in-flight", g.MaxPacketsInFlight, "gossip packets being sent at once per swarm; more are dropped")
	f.IntVar(&g.MaxStreamsPerPeer, "gossip-max-streams-per-peer", g.MaxStreamsPerPeer, "incoming gossip streams handled for one peer at once; more are reset")
	f.Int64Var(&g.MaxStreamBytes, "gossip-max-stream-bytes", g.MaxStreamBytes, "largest gossip stream (a membership exchange), in bytes")
	f.DurationVar(&g.GossipInterval, "gossip-interval", g.GossipInterval, "time between gossip rounds while something is queued")
	f.IntVar(&g.PeerOpRate, "gossip-peer-op-rate", g.PeerOpRate, "gossip ops per second each sending node may hand this node; more are dropped unchecked")
	f.IntVar(&g.PeerOpBurst, "gossip-peer-op-burst", g.PeerOpBurst, "gossip ops a sending node may hand this node at once")
	f.IntVar(&g.InvalidOpCost, "gossip-invalid-op-cost", g.InvalidOpCost, "tokens an invalid gossip op (forged, foreign, malformed) takes from its sender's budget")
	f.IntVar(&g.NodeOpRate, "gossip-node-op-rate", g.NodeOpRate, "gossip ops per second all senders together may hand this node")
	f.IntVar(&g.NodeOpBurst, "gossip-node-op-burst", g.NodeOpBurst, "gossip ops all senders together may hand this node at once")
	f.IntVar(&g.MaxMembers, "gossip-max-members", g.MaxMembers, "other members a document's swarm admits; alive messages for more are refused")
	f.IntVar(&g.MaxRateLimitedPeers, "gossip-max-rate-limited-peers", g.MaxRateLimitedPeers, "sending nodes whose gossip budget is tracked; the least recently seen is forgotten")

	// The QUIC endpoint.
	e := &cfg.Endpoint
	f.DurationVar(&e.HandshakeTimeout, "handshake-timeout", e.HandshakeTimeout, "longest QUIC dial, over all of a peer's addresses")
	f.DurationVar(&e.MaxIdleTimeout, "conn-idle-timeout", e.MaxIdleTimeout, "a QUIC connection that receives nothing this long is closed")
	f.IntVar(&e.MaxIncomingStreams, "max-streams-per-conn", e.MaxIncomingStreams, "streams a peer may open at once on one connection")
	f.IntVar(&e.MaxKnownPeers, "max-known-peers", e.MaxKnownPeers, "peers whose addresses the node remembers")
	f.IntVar(&e.MaxAddrsPerPeer, "max-addrs-per-peer", e.MaxAddrsPerPeer, "addresses remembered per peer")
	f.IntVar(&e.MaxQueuedDatagrams, "max-queued-datagrams", e.MaxQueuedDatagrams, "datagrams queued per connection before more are dropped")
	f.DurationVar(&e.KeepAlivePeriod, "keep-alive", e.KeepAlivePeriod, "how often an idle QUIC connection sends a keep-alive")
}

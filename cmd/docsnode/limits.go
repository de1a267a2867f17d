package main

import (
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
	cfg.Store.Limits = replica.DefaultLimits()
	return cfg
}

// engineFlags binds start's flags for the engine's limits to cfg.
func engineFlags(f *pflag.FlagSet, cfg *engine.Config) {
	// Entries and the store.
	f.IntVar(&cfg.Store.Limits.MaxKeyLen, "max-key-bytes", cfg.Store.Limits.MaxKeyLen, "longest entry key, local or from a peer, in bytes")
	f.DurationVar(&cfg.Store.Limits.MaxFutureShift, "max-clock-skew", cfg.Store.Limits.MaxFutureShift, "how far ahead of this node's clock a peer's entry may be")

	// Sync sessions.
	s := &cfg.Live.Sync
	f.IntVar(&s.MaxFrameSize, "sync-max-frame-bytes", s.MaxFrameSize, "largest sync frame, in bytes (at least 16 KiB)")
	f.DurationVar(&s.SessionTimeout, "sync-session-timeout", s.SessionTimeout, "longest sync session")
	f.DurationVar(&s.IdleTimeout, "sync-idle-timeout", s.IdleTimeout, "how long a sync session may move nothing")
	f.IntVar(&s.MaxRounds, "sync-max-rounds", s.MaxRounds, "reconciliation rounds a session may take (more are allowed for large differences)")
	f.Int64Var(&s.MaxBytes, "sync-max-bytes", s.MaxBytes, "most bytes one sync session may move")
	f.IntVar(&s.MaxEntriesPerFrame, "sync-max-entries-per-frame", s.MaxEntriesPerFrame, "most entries in one frame")
	f.IntVar(&s.MaxIDsPerWant, "sync-max-ids-per-want", s.MaxIDsPerWant, "most entry ids one Want frame may ask for")
	f.IntVar(&s.MaxSessions, "sync-max-sessions", s.MaxSessions, "most incoming sync sessions served at once")

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
	f.DurationVar(&l.DownloadTimeout, "download-timeout", l.DownloadTimeout, "longest fetch of one blob from one peer")

	// Gossip.
	g := &cfg.Gossip
	f.DurationVar(&g.ProbeInterval, "gossip-probe-interval", g.ProbeInterval, "how often each document's swarm probes a member")
	f.IntVar(&g.EagerFanout, "gossip-eager-fanout", g.EagerFanout, "neighbours each write is pushed to at once")
	f.IntVar(&g.InlineContent, "gossip-inline-content", g.InlineContent, "largest value sent along with its write's gossip push, in bytes")
	f.IntVar(&g.MaxQueuedBroadcasts, "gossip-max-queued", g.MaxQueuedBroadcasts, "ops queued per swarm for gossip rounds")
	f.IntVar(&g.InboxSize, "gossip-inbox", g.InboxSize, "received ops queued per swarm before more are dropped")

	// The QUIC endpoint.
	e := &cfg.Endpoint
	f.DurationVar(&e.HandshakeTimeout, "handshake-timeout", e.HandshakeTimeout, "longest QUIC dial, over all of a peer's addresses")
	f.DurationVar(&e.MaxIdleTimeout, "conn-idle-timeout", e.MaxIdleTimeout, "a QUIC connection that receives nothing this long is closed")
	f.IntVar(&e.MaxIncomingStreams, "max-streams-per-conn", e.MaxIncomingStreams, "streams a peer may open at once on one connection")
	f.IntVar(&e.MaxKnownPeers, "max-known-peers", e.MaxKnownPeers, "peers whose addresses the node remembers")
}

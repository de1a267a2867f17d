package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
)

// engineCollector reads the engine's own counters when Prometheus
// scrapes: nothing is copied or kept between scrapes, and the engine pays
// nothing for metrics while no one scrapes.
type engineCollector struct {
	e       *engine.Engine
	timeout time.Duration

	sessionsStarted *prometheus.Desc // role
	catchups        *prometheus.Desc
	syncRefused     *prometheus.Desc // reason
	syncPreempted   *prometheus.Desc // slot
	syncInitTimeout *prometheus.Desc

	contentRefused   *prometheus.Desc // reason
	contentPreempted *prometheus.Desc
	contentSent      *prometheus.Desc
	gossipRefused    *prometheus.Desc

	gossipOps            *prometheus.Desc // direction
	gossipDiscarded      *prometheus.Desc // reason
	gossipPackets        *prometheus.Desc // reason
	gossipHints          *prometheus.Desc
	gossipMembersRefused *prometheus.Desc

	downloads        *prometheus.Desc // result
	downloadRetries  *prometheus.Desc
	downloadFaults   *prometheus.Desc
	downloadTakeover *prometheus.Desc
	contentCorrupt   *prometheus.Desc
	downloadsQueued  *prometheus.Desc
	downloadsRunning *prometheus.Desc

	storeSize      *prometheus.Desc
	storeCommits   *prometheus.Desc
	storeLogSyncs  *prometheus.Desc
	storeUnsynced  *prometheus.Desc
	storeFailed    *prometheus.Desc
	subscriberLags *prometheus.Desc // source

	gcRuns         *prometheus.Desc // result
	gcRemoved      *prometheus.Desc
	gcRemovedBytes *prometheus.Desc
	gcProtected    *prometheus.Desc
	gcPending      *prometheus.Desc
	gcLastDuration *prometheus.Desc
	gcLastRun      *prometheus.Desc
}

func newEngineCollector(e *engine.Engine, timeout time.Duration) *engineCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &engineCollector{
		e: e, timeout: timeout,
		sessionsStarted: desc("sync_sessions_started_total",
			"Sync sessions started since the node opened: dialled by this node (initiator) or accepted from a peer (acceptor).", "role"),
		catchups: desc("sync_catchups_total",
			"Catch-up sessions started: a sync with one random neighbour after a burst of writes, which repairs a lost gossip push."),
		syncRefused: desc("sync_admission_refused_total",
			"Incoming sync streams and sessions the server refused with Busy, by reason: busy (every slot taken, none fair to preempt), peer_streams and peer_sessions (the peer was at its per-peer limit).", "reason"),
		syncPreempted: desc("sync_preempted_total",
			"Incoming sync streams (slot=stream) and sessions (slot=session) ended with Busy to admit a peer holding fewer slots: the stalest of the peer holding the most.", "slot"),
		syncInitTimeout: desc("sync_init_timeouts_total",
			"Incoming sync streams reset because their Init did not arrive within the Init timeout."),
		contentRefused: desc("content_fetches_refused_total",
			"Content fetches from peers the server refused or cut, by reason: busy (every slot taken, none fair to preempt), peer_limit (the peer was at its per-peer limit), timeout (the request did not arrive in time).", "reason"),
		contentPreempted: desc("content_fetches_preempted_total",
			"Content fetches reset to admit a peer holding fewer: the stalest fetch of the peer holding the most."),
		contentSent: desc("content_sent_bytes_total",
			"Bytes the content server wrote to peers' fetch streams: response headers, proofs and content."),
		gossipRefused: desc("gossip_streams_refused_total",
			"Incoming gossip streams reset at once because their peer had its per-peer limit of streams open."),
		gossipOps: desc("gossip_ops_total",
			"Gossip ops (entries, content announcements, sync reports): out = published by this node, in = received new and valid.", "direction"),
		gossipDiscarded: desc("gossip_ops_discarded_total",
			"Gossip ops not published or not delivered, by reason: too_large (published, over the op size limit), duplicate (received again), invalid (did not decode or verify), inbox_full (the swarm fell behind), queue_pruned (dropped from the broadcast queue before all its retransmissions), peer_rate_limited (its sender's budget was spent), node_rate_limited (the budget all senders share was spent).", "reason"),
		gossipPackets: desc("gossip_packets_lost_total",
			"Gossip packets lost by the transport, by reason: dropped (a full queue, oversize, unreadable) or failed (the dial or stream failed).", "reason"),
		gossipHints: desc("gossip_hints_ignored_total",
			"Gossiped sync reports and content announcements the live actor did not act on: their origin, which nothing authenticates, was neither a member of the document's swarm nor a peer with a record."),
		gossipMembersRefused: desc("gossip_members_refused_total",
			"Alive messages a swarm refused for a node that was not a member while the swarm had its most members (gossip.Config.MaxMembers)."),
		downloads: desc("downloads_total",
			"Content downloads: ok = fetched and stored, failed = given up after every retry, dropped = not queued because the wanted set was full.", "result"),
		downloadRetries: desc("download_retries_total",
			"Failed download attempts that were tried again later."),
		downloadFaults: desc("download_peer_faults_total",
			"Providers dropped from a download for sending a chunk group or proof that did not match, another length, or more than asked."),
		downloadTakeover: desc("download_takeovers_total",
			"Pieces of a download a faster provider took over from a slower one."),
		contentCorrupt: desc("content_served_corrupt_total",
			"Content requests that found this node's copy not matching its hash: the copy is removed, nothing bad is sent."),
		downloadsQueued: desc("downloads_queued",
			"Blobs wanted and not yet fetched or given up."),
		downloadsRunning: desc("downloads_running",
			"Downloads in progress."),
		storeSize: desc("store_size_bytes",
			"Bytes the entry store's database files take (tables, write-ahead log, manifest); content is not included."),
		storeCommits: desc("store_commits_total",
			"Commits the store actor made."),
		storeLogSyncs: desc("store_log_syncs_total",
			"Syncs of the store's write-ahead log (durable writes' commits and the flush window's syncs)."),
		storeUnsynced: desc("store_unsynced_writes",
			"Batched writes acknowledged since the write-ahead log was last synced: what a crash now could lose."),
		storeFailed: desc("store_failed",
			"1 once the store has failed to commit or sync (the node must be restarted), else 0."),
		subscriberLags: desc("subscriber_lagged_events_total",
			"Events dropped because their subscriber fell behind, by source: store (the store actor's subscribers, the live actor among them), document (document subscriptions, which get a Lagged event), gossip (a swarm's events to the live actor).", "source"),
		gcRuns: desc("gc_runs_total",
			"Content garbage collection passes, by result: completed, or abandoned (the pass failed, or missed inserts and removed nothing).", "result"),
		gcRemoved: desc("gc_blobs_removed_total",
			"Blobs (content no entry named for the grace period, or partial data of such) removed by garbage collection."),
		gcRemovedBytes: desc("gc_bytes_removed_total",
			"Bytes of content removed by garbage collection."),
		gcProtected: desc("gc_blobs_protected",
			"Unreferenced blobs the last completed garbage collection pass kept because they were being fetched, wanted, written or read."),
		gcPending: desc("gc_blobs_pending",
			"Unreferenced blobs waiting out the grace period before garbage collection removes them."),
		gcLastDuration: desc("gc_last_run_duration_seconds",
			"How long the last garbage collection pass took."),
		gcLastRun: desc("gc_last_run_timestamp_seconds",
			"When the last garbage collection pass ended, in seconds since the Unix epoch; 0 before the first."),
	}
}

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessionsStarted, c.catchups, c.syncRefused, c.syncPreempted, c.syncInitTimeout,
		c.contentRefused, c.contentPreempted, c.contentSent, c.gossipRefused, c.gossipOps, c.gossipDiscarded, c.gossipPackets, c.gossipHints, c.gossipMembersRefused,
		c.downloads, c.downloadRetries, c.downloadsQueued, c.downloadsRunning, c.downloadFaults, c.downloadTakeover, c.contentCorrupt,
		c.storeSize, c.storeCommits, c.storeLogSyncs, c.storeUnsynced, c.storeFailed, c.subscriberLags,
		c.gcRuns, c.gcRemoved, c.gcRemovedBytes, c.gcProtected, c.gcPending, c.gcLastDuration, c.gcLastRun,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. The live actor's counters and
// the store's size are read through their actors' loops, within the
// scrape timeout; a figure that could not be read is sent as an invalid
// metric, which the handler reports and leaves out.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	health := c.e.Health().Store
	counter(c.storeCommits, health.Commits)
	counter(c.storeLogSyncs, health.LogSyncs)
	gauge(c.storeUnsynced, float64(health.UnsyncedWrites))
	failed := 0.0
	if health.Err != nil {
		failed = 1
	}
	gauge(c.storeFailed, failed)
	counter(c.subscriberLags, health.EventsDropped, "store")

	g := c.e.GossipStats()
	counter(c.gossipOps, g.OpsPublished, "out")
	counter(c.gossipOps, g.OpsAccepted, "in")
	counter(c.gossipDiscarded, g.OpsTooLarge, "too_large")
	counter(c.gossipDiscarded, g.OpsDuplicate, "duplicate")
	counter(c.gossipDiscarded, g.OpsInvalid, "invalid")
	counter(c.gossipDiscarded, g.InboxDropped, "inbox_full")
	counter(c.gossipDiscarded, g.BroadcastsPruned, "queue_pruned")
	counter(c.gossipDiscarded, g.OpsPeerLimited, "peer_rate_limited")
	counter(c.gossipDiscarded, g.OpsNodeLimited, "node_rate_limited")
	counter(c.gossipMembersRefused, g.MembersRefused)
	counter(c.gossipPackets, g.PacketsDropped, "dropped")
	counter(c.gossipPackets, g.PacketsFailed, "failed")
	counter(c.subscriberLags, g.EventsDropped, "gossip")
	counter(c.gossipRefused, g.StreamsRefused)

	gc := c.e.GCStats()
	counter(c.gcRuns, gc.Runs, "completed")
	counter(c.gcRuns, gc.Abandoned, "abandoned")
	counter(c.gcRemoved, gc.BlobsRemoved)
	counter(c.gcRemovedBytes, gc.BytesRemoved)
	gauge(c.gcProtected, float64(gc.Protected))
	gauge(c.gcPending, float64(gc.Pending))
	gauge(c.gcLastDuration, gc.LastDuration.Seconds())
	lastRun := 0.0
	if !gc.LastRun.IsZero() {
		lastRun = float64(gc.LastRun.UnixNano()) / 1e9
	}
	gauge(c.gcLastRun, lastRun)

	ss := c.e.SyncServerStats()
	counter(c.syncRefused, ss.RefusedBusy, "busy")
	counter(c.syncRefused, ss.RefusedPeerStreams, "peer_streams")
	counter(c.syncRefused, ss.RefusedPeerSessions, "peer_sessions")
	counter(c.syncPreempted, ss.PreemptedStreams, "stream")
	counter(c.syncPreempted, ss.PreemptedSessions, "session")
	counter(c.syncInitTimeout, ss.InitTimeouts)

	cs := c.e.ContentServerStats()
	counter(c.contentRefused, cs.Busy, "busy")
	counter(c.contentRefused, cs.PeerBusy, "peer_limit")
	counter(c.contentRefused, cs.Timeouts, "timeout")
	counter(c.contentPreempted, cs.Preempted)
	counter(c.contentCorrupt, cs.Corrupt)
	counter(c.contentSent, cs.BytesSent)

	if st, err := c.e.SyncStats(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.sessionsStarted, fmt.Errorf("read sync stats: %w", err))
	} else {
		counter(c.sessionsStarted, st.Dials, live.Initiator.String())
		counter(c.sessionsStarted, st.Accepted, live.Acceptor.String())
		counter(c.catchups, st.Catchups)
		counter(c.gossipHints, st.HintsIgnored)
		counter(c.subscriberLags, st.EventsDropped, "document")
	}

	if dl, err := c.e.DownloadStats(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.downloads, fmt.Errorf("read download stats: %w", err))
	} else {
		counter(c.downloads, dl.Completed, "ok")
		counter(c.downloads, dl.Failed, "failed")
		counter(c.downloads, dl.Dropped, "dropped")
		counter(c.downloadRetries, dl.Retried)
		counter(c.downloadFaults, dl.PeerFaults)
		counter(c.downloadTakeover, dl.Takeovers)
		gauge(c.downloadsQueued, float64(dl.Queued))
		gauge(c.downloadsRunning, float64(dl.Running))
	}

	if size, err := c.e.StoreSize(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.storeSize, fmt.Errorf("read store size: %w", err))
	} else {
		gauge(c.storeSize, float64(size))
	}
}

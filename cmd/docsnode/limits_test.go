package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/docsnode/docsnode/engine"
)

// TestEngineFlags: every engine limit flag shows a real default (none is
// a zero that the engine would replace behind the user's back), and a
// flag given on the command line reaches the engine's config.
func TestEngineFlags(t *testing.T) {
	cfg := engineDefaults()
	f := pflag.NewFlagSet("start", pflag.ContinueOnError)
	engineFlags(f, &cfg)
	n := 0
	// Flags whose 0 is a documented setting, not a placeholder.
	zeroIsOff := map[string]bool{"content-max-upload-rate": true}
	f.VisitAll(func(fl *pflag.Flag) {
		n++
		if zeroIsOff[fl.Name] {
			return
		}
		if fl.DefValue == "0" || fl.DefValue == "0s" || fl.DefValue == "" {
			t.Errorf("--%s shows the default %q", fl.Name, fl.DefValue)
		}
	})
	if n < 20 {
		t.Fatalf("%d engine flags", n)
	}
	err := f.Parse([]string{"--max-key-bytes", "512", "--sync-max-sessions", "7", "--unreachable-after", "9s",
		"--gossip-probe-interval", "3s", "--handshake-timeout", "4s",
		"--gossip-peer-op-rate", "11", "--gossip-peer-op-burst", "12", "--gossip-node-op-rate", "13", "--gossip-node-op-burst", "14",
		"--gossip-max-rate-limited-peers", "15", "--max-idle-peers", "16", "--idle-peer-ttl", "17m", "--gossip-max-members", "18",
		"--sync-max-sessions-per-peer", "3", "--sync-init-timeout", "2s", "--content-max-serve-per-peer", "5", "--gossip-max-streams-per-peer", "6",
		"--content-progress-interval", "2s", "--gc-interval", "7m", "--gc-grace", "8m", "--gc-batch", "9", "--gc-pause", "10ms"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Limits.MaxKeyLen != 512 || cfg.Live.Sync.MaxSessions != 7 || cfg.Live.UnreachableAfter != 9*time.Second ||
		cfg.Gossip.ProbeInterval != 3*time.Second || cfg.Endpoint.HandshakeTimeout != 4*time.Second {
		t.Fatalf("flags did not reach the config: key %d, sessions %d, unreachable %v, probe %v, handshake %v", cfg.Store.Limits.MaxKeyLen, cfg.Live.Sync.MaxSessions, cfg.Live.UnreachableAfter, cfg.Gossip.ProbeInterval, cfg.Endpoint.HandshakeTimeout)
	}
	if g, l := cfg.Gossip, cfg.Live; g.PeerOpRate != 11 || g.PeerOpBurst != 12 || g.NodeOpRate != 13 || g.NodeOpBurst != 14 ||
		g.MaxRateLimitedPeers != 15 || l.MaxIdlePeers != 16 || l.IdlePeerTTL != 17*time.Minute || g.MaxMembers != 18 {
		t.Fatalf("the gossip budget and idle peer flags did not reach the config: %+v; idle peers %d, ttl %v", g, l.MaxIdlePeers, l.IdlePeerTTL)
	}
	if cfg.Live.Sync.MaxSessionsPerPeer != 3 || cfg.Live.Sync.InitTimeout != 2*time.Second ||
		cfg.Live.BlobServer.MaxFetchesPerPeer != 5 || cfg.Gossip.MaxStreamsPerPeer != 6 || cfg.Live.ContentProgressInterval != 2*time.Second {
		t.Fatalf("admission flags did not reach the config: %d %v %d %d", cfg.Live.Sync.MaxSessionsPerPeer,
			cfg.Live.Sync.InitTimeout, cfg.Live.BlobServer.MaxFetchesPerPeer, cfg.Gossip.MaxStreamsPerPeer)
	}
	if off := gcFromFlags(engine.GCConfig{}); off.Interval >= 0 {
		t.Fatalf("--gc-interval 0 gives the engine the interval %v, which it takes as the default", off.Interval)
	}
	if on := gcFromFlags(cfg.GC); on.Interval != 7*time.Minute {
		t.Fatalf("--gc-interval 7m gives the engine %v", on.Interval)
	}
	if gc := cfg.GC; gc.Interval != 7*time.Minute || gc.Grace != 8*time.Minute || gc.Batch != 9 || gc.Pause != 10*time.Millisecond {
		t.Fatalf("garbage collection flags did not reach the config: %+v", gc)
	}
}

package live

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// quicNode is a store actor behind a QUIC endpoint on loopback that
// serves sync sessions and reports their results on finished.
type quicNode struct {
	act      *actor.Actor
	ep       *endpoint.Endpoint
	finished chan result
}

func newQUICNode(t *testing.T, cfg SessionConfig, accept func(replica.NamespaceID, endpoint.NodeID) AbortReason) *quicNode {
	t.Helper()
	n := &quicNode{act: newActor(t), finished: make(chan result, 16)}
	ep, err := endpoint.Open(context.Background(), endpoint.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() }) // before the actor closes: cleanups run last first
	n.ep = ep
	srv := NewServer(n.act, cfg, PolicyFuncs{
		AcceptFunc:   accept,
		FinishedFunc: func(o Outcome, err error) { n.finished <- result{o, err} },
	})
	if err := ep.Handle(endpoint.ALPNSync, srv); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *quicNode) waitFinished(t *testing.T) result {
	t.Helper()
	select {
	case r := <-n.finished:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the acceptor never reported its session")
		return result{}
	}
}

// TestSyncOverQUIC runs one session between two endpoints in this process
// over real QUIC on loopback.
func TestSyncOverQUIC(t *testing.T) {
	cfg := TestSessionConfig()
	ini, acc := newQUICNode(t, cfg, nil), newQUICNode(t, cfg, nil)
	w := newWorld(3)
	ei, ea := overlapping(t, w, 42, 600, 500, 500, ini.act, acc.act)
	all := append(append([]replica.SignedEntry(nil), ei...), ea...)
	before := [2]map[replica.EntryID]bool{stored(t, ini.act, w.ns(), all), stored(t, acc.act, w.ns(), all)}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := Sync(ctx, ini.ep, ini.act, acc.ep.Addr(), w.ns(), cfg)
	ri := result{out, err}
	ra := acc.waitFinished(t)
	if out.Peer != acc.ep.ID() || ra.out.Peer != ini.ep.ID() {
		t.Fatalf("peers: initiator saw %s, acceptor saw %s", out.Peer.Short(), ra.out.Peer.Short())
	}
	checkSynced(t, w, ini.act, acc.act, ei, ea, ri, ra, before)

	// A second session on the shared connection finds nothing to do.
	out, err = Sync(ctx, ini.ep, ini.act, acc.ep.Addr(), w.ns(), cfg)
	if err != nil || out.Sent+out.Received != 0 || !out.Equal || out.Rounds != 1 {
		t.Fatalf("second sync: %v, %v", out, err)
	}
	if r := acc.waitFinished(t); r.err != nil || !r.out.Equal {
		t.Fatalf("second sync, acceptor: %v, %v", r.out, r.err)
	}
}

// TestAbortsOverQUIC checks the refusals a dialler sees: a document the
// acceptor does not hold, and the accept policy's answers.
func TestAbortsOverQUIC(t *testing.T) {
	cfg := TestSessionConfig()
	w := newWorld(1)
	var refuse atomic.Uint32 // the policy's answer
	ini := newQUICNode(t, cfg, nil)
	acc := newQUICNode(t, cfg, func(replica.NamespaceID, endpoint.NodeID) AbortReason { return AbortReason(refuse.Load()) })
	w.join(t, ini.act)
	insert(t, ini.act, w.ns(), []replica.SignedEntry{w.entry(0, "k", false, 1, 1)})
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		held   bool
		reason AbortReason
		want   error
	}{
		{"not held", false, 0, ErrNotFound},
		{"not open for sync", true, AbortNotFound, ErrNotFound},
		{"already syncing", true, AbortAlreadySyncing, ErrAlreadySyncing},
		{"busy", true, AbortBusy, ErrBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.held {
				w.join(t, acc.act)
			}
			refuse.Store(uint32(tc.reason))
			out, err := Sync(ctx, ini.ep, ini.act, acc.ep.Addr(), w.ns(), cfg)
			var ae *AbortError
			if !errors.Is(err, tc.want) || !errors.As(err, &ae) || ae.Text == "" {
				t.Fatalf("err = %v, want an *AbortError matching %v", err, tc.want)
			}
			t.Logf("dialler: %v", err)
			r := acc.waitFinished(t)
			if r.out.Served || !errors.Is(r.err, tc.want) || r.out.Namespace != w.ns() || out.Sent+r.out.Received != 0 {
				t.Fatalf("acceptor: served=%v, %v", r.out.Served, r.err)
			}
			if n, _ := acc.act.Count(ctx, w.ns()); n != 0 {
				t.Fatalf("the refusing acceptor stored %d entries", n)
			}
		})
	}
}

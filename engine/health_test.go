package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/internal/testutil"
)

// TestHealthReportsStoreFailure: the store's log fails under a batched
// write. Health reports the sticky failure, and the documents refuse work.
func TestHealthReportsStoreFailure(t *testing.T) {
	faults := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	cfg := TestConfig()
	cfg.Store.FS = errorfs.Wrap(vfs.NewMem(), faults)
	cfg.Actor.FlushInterval = 20 * time.Millisecond
	cfg.Actor.Logger = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			e.Close()
		}
	})
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h := e.Health(); h.Err() != nil || h.Store.Commits == 0 {
		t.Fatalf("health of a working engine: %+v", h)
	}

	faults.On()
	if _, err := doc.Set(ctx, author, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("a batched write is acknowledged before its log sync: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return e.Health().Err() != nil }, "the failed log sync shows in Health")
	h := e.Health()
	if !errors.Is(h.Err(), actor.ErrStoreFailed) || !errors.Is(h.Err(), errorfs.ErrInjected) || h.Store.FailedAt.IsZero() {
		t.Fatalf("health after the failure: %+v", h)
	}
	if _, err := doc.Set(ctx, author, []byte("k2"), []byte("v")); !errors.Is(err, actor.ErrStoreFailed) {
		t.Fatalf("write after the failure: %v, want ErrStoreFailed", err)
	}
	if _, err := doc.Get(ctx, author.ID(), []byte("k")); !errors.Is(err, actor.ErrStoreFailed) {
		t.Fatalf("read after the failure: %v, want ErrStoreFailed", err)
	}
	closed = true
	if err := e.Close(); !errors.Is(err, actor.ErrStoreFailed) {
		t.Fatalf("Close = %v, want the store failure", err)
	}
}

// TestObserveSessionsStops: an observer hears every session's end until
// it stops, and may stop itself from its own call.
func TestObserveSessionsStops(t *testing.T) {
	e := &Engine{}
	var first, second int
	stopFirst := e.ObserveSessions(func(SyncOutcome, error) { first++ })
	var stopSecond func()
	stopSecond = e.ObserveSessions(func(SyncOutcome, error) {
		second++
		stopSecond()
	})
	e.sessionEnded(SyncOutcome{}, nil)
	e.sessionEnded(SyncOutcome{}, nil)
	stopFirst()
	e.sessionEnded(SyncOutcome{}, nil)
	if first != 2 || second != 1 {
		t.Fatalf("observers called %d and %d times, want 2 and 1", first, second)
	}
}

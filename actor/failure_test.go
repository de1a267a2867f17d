package actor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// openFailable opens an actor over an in-memory store whose write-ahead
// log fails every write and sync once the returned toggle is on.
func openFailable(t *testing.T, cfg Config) (*Actor, *errorfs.Toggle) {
	t.Helper()
	faults := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	store, err := replica.OpenStore("", replica.StoreOptions{FS: errorfs.Wrap(vfs.NewMem(), faults)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, faults
}

// logBuffer collects what a slog handler writes, safe to read while the
// actor's loop writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes the JSON records written so far.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// failureRecord returns the one Error record the failure must have
// logged, and checks the log holds no secret and no key written.
func failureRecord(t *testing.T, logs *logBuffer, secrets []string) map[string]any {
	t.Helper()
	var failures []map[string]any
	for _, r := range logs.records(t) {
		if r["level"] == "ERROR" {
			failures = append(failures, r)
		}
	}
	if len(failures) != 1 {
		t.Fatalf("want one Error record for the store failure, got %d; log:\n%s", len(failures), logs.String())
	}
	text := logs.String()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("the log holds %q, a secret or a written key:\n%s", s, text)
		}
	}
	if msg, _ := failures[0]["err"].(string); !strings.Contains(msg, "injected error") {
		t.Fatalf("the record does not carry the store's error: %v", failures[0])
	}
	return failures[0]
}

// checkRefusesEverything calls every kind of request and wants each to
// return the sticky failure.
func checkRefusesEverything(t *testing.T, a *Actor, ns replica.NamespaceID, author replica.Author) {
	t.Helper()
	ctx := context.Background()
	secret, _ := replica.NewNamespace(nil)
	peer := replica.PeerID{9}
	remote := testutil.MustSign(secret, author, replica.Entry{Key: []byte("r"), Record: replica.Record{Hash: replica.HashContent([]byte("r")), Len: 1, Timestamp: 1}})
	calls := map[string]func() error{
		"Get":   func() error { _, err := a.Get(ctx, ns, author.ID(), []byte("before")); return err },
		"Heads": func() error { _, err := a.Heads(ctx, ns); return err },
		"Count": func() error { _, err := a.Count(ctx, ns); return err },
		"Doc":   func() error { _, err := a.Doc(ctx, ns); return err },
		"Docs":  func() error { _, err := a.Docs(ctx); return err },
		"Query": func() error {
			for _, err := range a.Query(ctx, ns, replica.Query{}) {
				return err
			}
			return nil
		},
		"InsertLocal": func() error {
			_, _, err := a.InsertLocal(ctx, ns, author, []byte("after"), replica.HashContent([]byte("v")), 1)
			return err
		},
		"DeletePrefix": func() error { _, _, err := a.DeletePrefix(ctx, ns, author, []byte("b")); return err },
		"InsertRemote": func() error {
			_, err := a.InsertRemote(ctx, secret.ID(), []replica.SignedEntry{remote}, peer)
			return err
		},
		"CreateDoc":         func() error { _, err := a.CreateDoc(ctx, replica.Batched); return err },
		"ImportDoc":         func() error { _, err := a.ImportDoc(ctx, replica.WriteCapability(secret)); return err },
		"SetDurability":     func() error { return a.SetDurability(ctx, ns, replica.Durable) },
		"DropDoc":           func() error { return a.DropDoc(ctx, ns) },
		"CreateAuthor":      func() error { _, err := a.CreateAuthor(ctx); return err },
		"Authors":           func() error { _, err := a.Authors(ctx); return err },
		"Meta":              func() error { _, err := a.Meta(ctx, "m"); return err },
		"SetMeta":           func() error { return a.SetMeta(ctx, "m", []byte("v")) },
		"AddSyncPeer":       func() error { return a.AddSyncPeer(ctx, ns, peer) },
		"SyncPeers":         func() error { _, err := a.SyncPeers(ctx, ns); return err },
		"SetDownloadPolicy": func() error { return a.SetDownloadPolicy(ctx, ns, replica.DownloadPolicy{}) },
		"DownloadPolicy":    func() error { _, err := a.DownloadPolicy(ctx, ns); return err },
		"Summary":           func() error { _, err := a.Summary(ctx, ns); return err },
		"EntriesByID":       func() error { _, err := a.EntriesByID(ctx, ns, [][32]byte{{1}}); return err },
		"NewReconSession": func() error {
			_, err := a.NewReconSession(ctx, ns, recon.Config{})
			return err
		},
		"Subscribe": func() error {
			s, err := a.Subscribe(ctx, ns)
			if err == nil {
				s.Close()
			}
			return err
		},
		"SubscribeAll": func() error {
			s, err := a.SubscribeAll(ctx)
			if err == nil {
				s.Close()
			}
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrStoreFailed) || !errors.Is(err, errorfs.ErrInjected) {
			t.Errorf("%s after the store failed: %v, want the sticky ErrStoreFailed wrapping the injected error", name, err)
		}
	}
}

// TestBatchedLogFailureIsSticky: the log write under an acknowledged
// batched write fails, which the flush window's sync finds. The actor
// logs the failure once, keeps it, reports it in Status and returns it
// from every later call and from Close.
func TestBatchedLogFailureIsSticky(t *testing.T) {
	logs := &logBuffer{}
	failedAt := time.UnixMicro(1_800_000_000_000_000)
	a, faults := openFailable(t, Config{
		FlushInterval: 20 * time.Millisecond,
		Logger:        slog.New(slog.NewJSONHandler(logs, nil)),
		Now:           func() time.Time { return failedAt },
	})
	ctx := context.Background()
	info, err := a.CreateDoc(ctx, replica.Batched)
	if err != nil {
		t.Fatal(err)
	}
	ns := info.ID()
	author, err := a.CreateAuthor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := a.Subscribe(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	set(t, a, ns, author, "before", "v")
	// A durable write syncs the log under every earlier write.
	if err := a.SetMeta(ctx, "settled", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.Err != nil || st.UnsyncedWrites != 0 || st.Commits == 0 || st.LogSyncs == 0 {
		t.Fatalf("status before the failure: %+v", st)
	}

	faults.On()
	set(t, a, ns, author, "key-b7e1", "v") // acknowledged: applied, visible, waiting for its sync
	testutil.Eventually(t, 10*time.Second, func() bool { return a.Err() != nil }, "the failed log sync shows in Err")

	st := a.Status()
	if !errors.Is(st.Err, ErrStoreFailed) || !errors.Is(st.Err, errorfs.ErrInjected) || st.Err != a.Err() {
		t.Fatalf("Status().Err = %v, want ErrStoreFailed wrapping the injected error (Err() = %v)", st.Err, a.Err())
	}
	if !st.FailedAt.Equal(failedAt) {
		t.Fatalf("FailedAt = %v, want %v", st.FailedAt, failedAt)
	}
	if st.UnsyncedWrites != 1 {
		t.Fatalf("UnsyncedWrites = %d, want the 1 acknowledged write the failed sync was under", st.UnsyncedWrites)
	}
	nsSeed, _ := info.Secret()
	seed, authorSeed := nsSeed.SecretSeed(), author.SecretSeed()
	rec := failureRecord(t, logs, []string{hex.EncodeToString(seed[:]), hex.EncodeToString(authorSeed[:]), "key-b7e1"})
	if rec["unsynced_writes"] != 1.0 {
		t.Fatalf("the record does not count the writes at risk: %v", rec)
	}

	checkRefusesEverything(t, a, ns, author)
	if st2 := a.Status(); st2.Commits != st.Commits || st2.LogSyncs != st.LogSyncs {
		t.Fatalf("the failed store committed again: %+v after %+v", st2, st)
	}

	// A batched write's event goes out with its acknowledgement; nothing
	// follows the failure, and the subscription still closes.
	for _, want := range []string{"before", "key-b7e1"} {
		if ev := <-sub.C(); ev.Kind != InsertLocal || string(ev.Entry.Key) != want {
			t.Fatalf("event %v %q, want insert-local %q", ev.Kind, ev.Entry.Key, want)
		}
	}
	sub.Close()
	select {
	case ev, ok := <-sub.C():
		if ok {
			t.Fatalf("event after the failure: %v %q", ev.Kind, ev.Entry.Key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscription.Close did not close C once the store had failed")
	}
	if err := a.Close(); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("Close = %v, want the sticky failure", err)
	}
}

// TestFailedGroupCommitIsSticky: a durable write commits, with fsync, the
// group that holds an acknowledged batched write, and the log fails. The
// durable writer gets the failure, its event never reaches a subscriber,
// and the actor refuses everything after.
func TestFailedGroupCommitIsSticky(t *testing.T) {
	logs := &logBuffer{}
	// Batched writes wait in the open batch until a read or a durable
	// write commits them.
	a, faults := openFailable(t, Config{FlushInterval: time.Hour, CommitDelay: 30 * time.Minute, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ctx := context.Background()
	batched, author := newDocAndAuthor(t, a, replica.Batched)
	durable, err := a.CreateDoc(ctx, replica.Durable)
	if err != nil {
		t.Fatal(err)
	}
	// Seed both documents' clocks, so the writes below need no read.
	set(t, a, batched, author, "seed", "v")
	set(t, a, durable.ID(), author, "seed", "v")
	subDurable, err := a.Subscribe(ctx, durable.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer subDurable.Close()

	faults.On()
	set(t, a, batched, author, "key-5c2d", "v")
	_, _, err = a.InsertLocal(ctx, durable.ID(), author, []byte("key-90aa"), replica.HashContent([]byte("v")), 1)
	if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("durable write whose commit failed: %v, want ErrStoreFailed wrapping the injected error", err)
	}
	// The loop fans a commit's events out before it answers the writers,
	// so an event of the failed commit would be queued by now.
	if n := len(subDurable.C()); n != 0 {
		ev := <-subDurable.C()
		t.Fatalf("%d events of the failed commit reached the subscriber, first %v %q", n, ev.Kind, ev.Entry.Key)
	}
	st := a.Status()
	if !errors.Is(st.Err, ErrStoreFailed) || st.FailedAt.IsZero() || st.UnsyncedWrites != 1 {
		t.Fatalf("status after the failed commit: %+v", st)
	}
	rec := failureRecord(t, logs, []string{"key-5c2d", "key-90aa"})
	if rec["durable_waiting"] != 1.0 {
		t.Fatalf("the record does not count the durable writes answered with the failure: %v", rec)
	}
	checkRefusesEverything(t, a, batched, author)
}

package actor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("DOCSNODE_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

func openMem(t *testing.T, cfg Config) *Actor {
	t.Helper()
	store, err := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func newDocAndAuthor(t *testing.T, a *Actor, d replica.Durability) (replica.NamespaceID, replica.Author) {
	t.Helper()
	ctx := context.Background()
	c, err := a.CreateDoc(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	author, err := a.CreateAuthor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID(), author
}

func set(t *testing.T, a *Actor, ns replica.NamespaceID, author replica.Author, key, value string) replica.SignedEntry {
	t.Helper()
	se, out, err := a.InsertLocal(context.Background(), ns, author, []byte(key), replica.HashContent([]byte(value)), uint64(len(value)))
	if err != nil {
		t.Fatalf("set %q: %v", key, err)
	}
	if !out.Inserted {
		t.Fatalf("set %q: not inserted: %v", key, out.Reason)
	}
	return se
}

func TestInsertGetQueryPaged(t *testing.T) {
	a := openMem(t, Config{QueryPageSize: 3})
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Batched)
	want := map[string]replica.SignedEntry{}
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		want[k] = set(t, a, ns, author, k, "v"+k)
	}
	got, err := a.Get(ctx, ns, author.ID(), []byte("k07"))
	if err != nil || got.Record != want["k07"].Record {
		t.Fatalf("get k07 = %v, %v", got.Record, err)
	}
	if err := got.Verify(); err != nil {
		t.Fatalf("stored entry does not verify: %v", err)
	}
	var keys []string
	for e, err := range a.Query(ctx, ns, replica.Query{SortBy: replica.SortKeyAuthor}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(e.Key))
	}
	if len(keys) != 20 {
		t.Fatalf("query returned %d entries over pages of 3, want 20: %v", len(keys), keys)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("k%02d", i) {
			t.Fatalf("entry %d is %q: pages out of order or repeated", i, k)
		}
	}
	n := 0
	for _, err := range a.Query(ctx, ns, replica.Query{Limit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 7 {
		t.Fatalf("limit 7 over pages of 3 returned %d", n)
	}
	heads, err := a.Heads(ctx, ns)
	if err != nil || heads[author.ID()] != want["k19"].Timestamp {
		t.Fatalf("heads = %v, %v; want last timestamp %d", heads, err, want["k19"].Timestamp)
	}
}

func TestLocalTimestampsNeverGoBackwards(t *testing.T) {
	var mu sync.Mutex
	now := time.UnixMicro(1_700_000_000_000_000)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(-time.Second) // a clock that runs backwards
		return now
	}
	a := openMem(t, Config{Now: clock})
	ns, author := newDocAndAuthor(t, a, replica.Batched)
	var last uint64
	for i := range 10 {
		se := set(t, a, ns, author, "same-key", fmt.Sprint(i))
		if se.Timestamp <= last {
			t.Fatalf("write %d: timestamp %d not after %d", i, se.Timestamp, last)
		}
		last = se.Timestamp
	}
	got, err := a.Get(context.Background(), ns, author.ID(), []byte("same-key"))
	if err != nil || got.Hash != replica.HashContent([]byte("9")) {
		t.Fatalf("last write must win: %v %v", got.Hash, err)
	}
}

func TestLocalWriteWinsOverRemoteFutureHead(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	info, err := a.CreateDoc(ctx, replica.Batched)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := info.Secret()
	author, _ := a.CreateAuthor(ctx)
	// The same author wrote elsewhere five minutes ahead of our clock.
	future := uint64(time.Now().Add(5 * time.Minute).UnixMicro())
	remote := testutil.MustSign(secret, author, replica.Entry{Key: []byte("k"), Record: replica.Record{Hash: replica.HashContent([]byte("remote")), Len: 6, Timestamp: future}})
	if _, err := a.InsertRemote(ctx, info.ID(), []replica.SignedEntry{remote}, replica.PeerID{1}); err != nil {
		t.Fatal(err)
	}
	se := set(t, a, info.ID(), author, "k", "local")
	if se.Timestamp <= future {
		t.Fatalf("local write at %d does not follow the remote head %d", se.Timestamp, future)
	}
}

func TestReadOnlyDocRefusesLocalWrites(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	secret, _ := replica.NewNamespace(nil)
	if _, err := a.ImportDoc(ctx, replica.ReadCapability(secret.ID())); err != nil {
		t.Fatal(err)
	}
	author, _ := a.CreateAuthor(ctx)
	_, _, err := a.InsertLocal(ctx, secret.ID(), author, []byte("k"), replica.HashContent(nil), 0)
	if !errors.Is(err, replica.ErrReadOnly) {
		t.Fatalf("err = %v, want ErrReadOnly", err)
	}
	// Upgrading to write capability makes the document writable.
	if _, err := a.ImportDoc(ctx, replica.WriteCapability(secret)); err != nil {
		t.Fatal(err)
	}
	set(t, a, secret.ID(), author, "k", "v")
}

func TestInsertRemoteEventsAndNamespaceCheck(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	info, _ := a.CreateDoc(ctx, replica.Batched)
	secret, _ := info.Secret()
	author, _ := replica.NewAuthor(nil)
	sub, err := a.Subscribe(ctx, info.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	peer := replica.PeerID{7}
	e1 := testutil.MustSign(secret, author, replica.Entry{Key: []byte("a"), Record: replica.Record{Hash: replica.HashContent([]byte("1")), Len: 1, Timestamp: 10}})
	outs, err := a.InsertRemote(ctx, info.ID(), []replica.SignedEntry{e1, e1}, peer)
	if err != nil {
		t.Fatal(err)
	}
	if !outs[0].Inserted || outs[1].Inserted || outs[1].Reason != replica.Duplicate {
		t.Fatalf("outcomes = %+v, want inserted then duplicate", outs)
	}
	ev := <-sub.C()
	if ev.Kind != InsertRemote || ev.From != peer || string(ev.Entry.Key) != "a" {
		t.Fatalf("event = %+v", ev)
	}
	other, _ := replica.NewNamespace(nil)
	wrong := testutil.MustSign(other, author, replica.Entry{Key: []byte("b"), Record: replica.Record{Hash: replica.HashContent([]byte("1")), Len: 1, Timestamp: 11}})
	e2 := testutil.MustSign(secret, author, replica.Entry{Key: []byte("c"), Record: replica.Record{Hash: replica.HashContent([]byte("1")), Len: 1, Timestamp: 12}})
	if _, err := a.InsertRemote(ctx, info.ID(), []replica.SignedEntry{e2, wrong}, peer); !errors.Is(err, replica.ErrWrongNamespace) {
		t.Fatalf("err = %v, want ErrWrongNamespace", err)
	}
	if _, err := a.Get(ctx, info.ID(), author.ID(), []byte("c")); !errors.Is(err, replica.ErrNotFound) {
		t.Fatalf("a refused batch must store nothing; get c: %v", err)
	}
}

func TestSlowSubscriberDoesNotBlockInserts(t *testing.T) {
	a := openMem(t, Config{SubscriberBuffer: 4})
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Batched)
	stuck, err := a.Subscribe(ctx, ns) // never read until the end
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	for i := range 100 {
		set(t, a, ns, author, fmt.Sprint(i), "v")
	}
	for i := range 4 {
		ev := <-stuck.C()
		if ev.Kind != InsertLocal || string(ev.Entry.Key) != fmt.Sprint(i) {
			t.Fatalf("buffered event %d = %v %q", i, ev.Kind, ev.Entry.Key)
		}
	}
	set(t, a, ns, author, "after", "v")
	ev := <-stuck.C()
	if ev.Kind != Lagged || ev.Missed != 96 {
		t.Fatalf("want Lagged with 96 missed, got %v missed=%d", ev.Kind, ev.Missed)
	}
	ev = <-stuck.C()
	if ev.Kind != InsertLocal || string(ev.Entry.Key) != "after" {
		t.Fatalf("after Lagged: %v %q", ev.Kind, ev.Entry.Key)
	}
	if got := a.Status().EventsDropped; got != 96 {
		t.Fatalf("Status().EventsDropped = %d, want 96", got)
	}
}

func TestCloseWithCallsInFlight(t *testing.T) {
	store, err := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Durable)
	sub, _ := a.Subscribe(ctx, ns)
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, _, err := a.InsertLocal(ctx, ns, author, fmt.Appendf(nil, "w%d-%d", w, i), replica.HashContent([]byte("v")), 1)
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("writer %d: %v", w, err)
					}
					return
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for range sub.C() { // closed by Close
	}
	if _, err := a.Heads(ctx, ns); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	sub.Close()
}

func TestCanceledContext(t *testing.T) {
	a := openMem(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Docs(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// crashChild writes durably, printing each key once its insert returned,
// until it is killed.
func crashChild(dir string) {
	store, err := replica.OpenStore(dir, replica.StoreOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	a, err := Open(store, Config{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	info, err := a.CreateDoc(ctx, replica.Durable)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	author, _ := a.CreateAuthor(ctx)
	fmt.Printf("doc %s %s\n", info.ID(), author.ID())
	var mu sync.Mutex
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, _, err := a.InsertLocal(ctx, info.ID(), author, []byte(key), replica.HashContent([]byte(key)), uint64(len(key))); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println("ack", key)
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestDurableWritesSurviveSIGKILL runs a child process that writes to a
// durable document and kills it with SIGKILL after some acknowledgements.
// Every write the child acknowledged must be in the store when it is
// reopened.
func TestDurableWritesSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DOCSNODE_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var ns replica.NamespaceID
	var author replica.AuthorID
	var acked []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "doc":
			if ns, err = replica.ParseNamespaceID(f[1]); err != nil {
				t.Fatal(err)
			}
			if author, err = replica.ParseAuthorID(f[2]); err != nil {
				t.Fatal(err)
			}
		case len(f) == 2 && f[0] == "ack":
			acked = append(acked, f[1])
		default:
			t.Fatalf("child: %s", sc.Text())
		}
		if len(acked) == 300 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks printed between our read and the kill are acknowledged too.
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "ack" {
			acked = append(acked, f[1])
		}
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}
	store, err := replica.OpenStore(dir, replica.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, key := range acked {
		e, err := store.Get(ns, author, []byte(key))
		if err != nil {
			t.Fatalf("acknowledged write %q lost after SIGKILL: %v", key, err)
		}
		if e.Hash != replica.HashContent([]byte(key)) {
			t.Fatalf("write %q has the wrong content hash", key)
		}
	}
	t.Logf("%d acknowledged durable writes survived SIGKILL", len(acked))
}

func TestInsertLocalMany(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Batched)
	writes := make([]LocalWrite, 200)
	for i := range writes {
		v := fmt.Appendf(nil, "v%d", i)
		writes[i] = LocalWrite{Key: fmt.Appendf(nil, "k%d", i%150), Hash: replica.HashContent(v), Len: uint64(len(v))}
	}
	ses, outs, err := a.InsertLocalMany(ctx, ns, author, writes)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ses {
		if !outs[i].Inserted || ses[i].Verify() != nil || (i > 0 && ses[i].Timestamp != ses[i-1].Timestamp+1) {
			t.Fatalf("write %d: %+v, timestamp %d", i, outs[i], ses[i].Timestamp)
		}
	}
	// Keys written twice keep the later write.
	got, err := a.Get(ctx, ns, author.ID(), []byte("k10"))
	if err != nil || got.Hash != writes[160].Hash {
		t.Fatalf("k10 = %x, %v; want the second write", got.Hash[:4], err)
	}
	if n, _ := a.Count(ctx, ns); n != 150 {
		t.Fatalf("count = %d, want 150", n)
	}
	if _, _, err := a.InsertLocalMany(ctx, ns, author, []LocalWrite{{Key: []byte("ok"), Hash: replica.HashContent([]byte("x")), Len: 1}, {Key: []byte("bad"), Hash: replica.EmptyHash, Len: 3}}); !errors.Is(err, replica.ErrMalformedTombstone) {
		t.Fatalf("a malformed write in the batch: %v", err)
	}
	if _, err := a.Get(ctx, ns, author.ID(), []byte("ok")); !errors.Is(err, replica.ErrNotFound) {
		t.Fatal("a refused batch stored part of itself")
	}
}

package actor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/replica"
)

// The power-loss tests run the store on pebble's crashable in-memory file
// system and take a crash clone of it while writers run: the clone holds
// what was fsynced (and, with UnsyncedDataPercent, some of the rest), as
// the disk would after a power loss. The store is reopened on the clone
// and what it holds is checked against what was acknowledged.

// plWrite is one call of a power-loss workload: one or more keys set, or
// a prefix deleted (del).
type plWrite struct {
	keys  []string
	value string // the keys' content, named by its hash
	del   bool
}

// plWriter generates the calls of one writer under its own prefix:
// InsertLocal, InsertLocalMany and DeletePrefix, with overwrites.
type plWriter struct {
	rng    *rand.Rand
	prefix string
	n      int
}

func (w *plWriter) next() plWrite {
	w.n++
	key := func() string { return fmt.Sprintf("%sk%d", w.prefix, w.rng.IntN(40)) }
	switch r := w.rng.IntN(10); {
	case r < 5:
		return plWrite{keys: []string{key()}, value: fmt.Sprint(w.prefix, w.n)}
	case r < 8:
		keys := make([]string, 2+w.rng.IntN(7))
		for i := range keys {
			keys[i] = key()
		}
		return plWrite{keys: keys, value: fmt.Sprint(w.prefix, w.n)}
	default:
		// "k1" deletes k1 and k10…k19.
		return plWrite{keys: []string{fmt.Sprintf("%sk%d", w.prefix, w.rng.IntN(4))}, del: true}
	}
}

func (p plWrite) apply(ctx context.Context, a *Actor, ns replica.NamespaceID, au replica.Author) error {
	if p.del {
		_, _, err := a.DeletePrefix(ctx, ns, au, []byte(p.keys[0]))
		return err
	}
	h, n := replica.HashContent([]byte(p.value)), uint64(len(p.value))
	if len(p.keys) == 1 {
		_, _, err := a.InsertLocal(ctx, ns, au, []byte(p.keys[0]), h, n)
		return err
	}
	writes := make([]LocalWrite, len(p.keys))
	for i, k := range p.keys {
		writes[i] = LocalWrite{Key: []byte(k), Hash: h, Len: n}
	}
	_, _, err := a.InsertLocalMany(ctx, ns, au, writes)
	return err
}

// plModel is what writes[:n] leave: key -> content hash. Within one
// InsertLocalMany the last write of a key wins (its timestamp is the
// latest).
func plModel(writes []plWrite, n int) map[string]replica.Hash {
	m := make(map[string]replica.Hash)
	for _, w := range writes[:n] {
		if w.del {
			for k := range m {
				if strings.HasPrefix(k, w.keys[0]) {
					delete(m, k)
				}
			}
			continue
		}
		for _, k := range w.keys {
			m[k] = replica.HashContent([]byte(w.value))
		}
	}
	return m
}

// plHeld is what the actor holds of au's entries under prefix, tombstones
// left out.
func plHeld(t *testing.T, a *Actor, ns replica.NamespaceID, au replica.AuthorID, prefix string) map[string]replica.Hash {
	t.Helper()
	m := make(map[string]replica.Hash)
	for e, err := range a.Query(context.Background(), ns, replica.Query{Author: &au, KeyPrefix: []byte(prefix)}) {
		if err != nil {
			t.Fatal(err)
		}
		if !e.IsTombstone() {
			m[string(e.Key)] = e.Hash
		}
	}
	return m
}

func plEqual(a, b map[string]replica.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// plDiff names one difference between held and want.
func plDiff(held, want map[string]replica.Hash) string {
	for k := range want {
		if _, ok := held[k]; !ok {
			return fmt.Sprintf("%q lost", k)
		}
		if held[k] != want[k] {
			return fmt.Sprintf("%q holds other content than its last write", k)
		}
	}
	for k := range held {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%q held but deleted or never written", k)
		}
	}
	return "equal"
}

// plOpen opens a store and its actor on fs.
func plOpen(t *testing.T, fs vfs.FS, cfg Config) *Actor {
	t.Helper()
	store, err := replica.OpenStore("/store", replica.StoreOptions{FS: fs})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	a, err := Open(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// crashClone is a crash clone of fs: exactly what was synced, or that and
// a random part of the rest.
func crashClone(fs *vfs.MemFS, rng *rand.Rand) *vfs.MemFS {
	if rng.IntN(2) == 0 {
		return fs.CrashClone(vfs.CrashCloneCfg{})
	}
	return fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 1 + rng.IntN(99), RNG: rng})
}

// TestPowerLossDurable: on a durable document, every call acknowledged
// before the crash (InsertLocal, InsertLocalMany, DeletePrefix) is held
// after reopening on the crash clone, and the call in flight on each
// writer is wholly there or not at all. Writers run at once, so the crash
// falls anywhere in a group commit.
func TestPowerLossDurable(t *testing.T) {
	const writers = 3
	for it := range 25 {
		seed := uint64(0xd1 + it)
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(seed, 7))
			fs := vfs.NewCrashableMem()
			a := plOpen(t, fs, Config{})
			defer func() { a.Close() }()
			ns, au := newDocAndAuthor(t, a, replica.Durable)

			target := int64(1 + rng.IntN(200))
			var (
				total          atomic.Int64
				stop           atomic.Bool
				fire           = make(chan struct{})
				calls          = make([][]plWrite, writers)
				started, acked = make([]atomic.Int64, writers), make([]atomic.Int64, writers)
				wg             sync.WaitGroup
			)
			for i := range writers {
				w := &plWriter{rng: rand.New(rand.NewPCG(seed, uint64(i))), prefix: fmt.Sprintf("w%d/", i)}
				wg.Go(func() {
					for n := 0; !stop.Load(); n++ {
						c := w.next()
						calls[i] = append(calls[i], c)
						started[i].Store(int64(n + 1))
						if err := c.apply(ctx, a, ns, au); err != nil {
							t.Errorf("writer %d, call %d: %v", i, n, err)
							return
						}
						acked[i].Store(int64(n + 1))
						if total.Add(1) == target {
							close(fire)
						}
					}
				})
			}
			<-fire
			lo := make([]int, writers)
			for i := range lo {
				lo[i] = int(acked[i].Load())
			}
			crashed := crashClone(fs, rng)
			hi := make([]int, writers)
			for i := range hi {
				hi[i] = int(started[i].Load())
			}
			stop.Store(true)
			wg.Wait()
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}

			a = plOpen(t, crashed, Config{})
			for i := range writers {
				held := plHeld(t, a, ns, au.ID(), fmt.Sprintf("w%d/", i))
				ok := false
				for n := lo[i]; n <= hi[i] && !ok; n++ {
					ok = plEqual(held, plModel(calls[i], n))
				}
				if !ok {
					t.Errorf("writer %d: %d calls acknowledged before the crash, %d started: %s",
						i, lo[i], hi[i], plDiff(held, plModel(calls[i], lo[i])))
				}
			}
		})
	}
}

// TestPowerLossBatchedWindow: on a batched document a crash loses only
// writes acknowledged within CommitDelay + FlushInterval before it: each
// write is committed within CommitDelay of its acknowledgement and the
// log under it synced within FlushInterval of the commit. What survives
// is a prefix of the writes. The test runs in a synctest bubble, so the
// times it measures are the actor's timers, not the machine's speed; it
// reports the largest loss it saw, in writes and in time.
func TestPowerLossBatchedWindow(t *testing.T) {
	cfg := DefaultConfig()
	window := cfg.CommitDelay + cfg.FlushInterval
	var maxLost int
	var maxAge time.Duration
	for it := range 30 {
		seed := uint64(0xba + it)
		rng := rand.New(rand.NewPCG(seed, 9))
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			fs := vfs.NewCrashableMem()
			a := plOpen(t, fs, Config{})
			defer func() { a.Close() }()
			ns, au := newDocAndAuthor(t, a, replica.Batched)

			// One writer, one new key per write, a random pace; the
			// crash comes at a random time.
			var (
				mu    sync.Mutex
				acked []time.Time
				stop  = make(chan struct{})
				done  = make(chan struct{})
			)
			pace := time.Duration(1+rng.IntN(20)) * time.Millisecond
			wrng := rand.New(rand.NewPCG(seed, 10))
			go func() {
				defer close(done)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(wrng.Int64N(int64(pace)))):
					}
					key := fmt.Sprintf("k%06d", n)
					if _, _, err := a.InsertLocal(ctx, ns, au, []byte(key), replica.HashContent([]byte(key)), uint64(len(key))); err != nil {
						t.Errorf("write %d: %v", n, err)
						return
					}
					mu.Lock()
					acked = append(acked, time.Now())
					mu.Unlock()
				}
			}()
			time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Second))))
			mu.Lock()
			ackedAtCrash := len(acked)
			crashAt := time.Now()
			crashed := crashClone(fs, rng)
			mu.Unlock()
			close(stop)
			<-done
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}

			a = plOpen(t, crashed, Config{})
			held := 0
			for e, err := range a.Query(ctx, ns, replica.Query{}) {
				if err != nil {
					t.Fatal(err)
				}
				var n int
				if _, err := fmt.Sscanf(string(e.Key), "k%06d", &n); err != nil || n != held {
					t.Fatalf("after the crash the store holds %q where k%06d was expected: not a prefix of the writes", e.Key, held)
				}
				held++
			}
			if held < ackedAtCrash {
				lost := ackedAtCrash - held
				age := crashAt.Sub(acked[held]) // the oldest write lost
				maxLost, maxAge = max(maxLost, lost), max(maxAge, age)
				if age > window {
					t.Errorf("the crash lost %d acknowledged writes, the oldest acknowledged %v before it; the window is %v", lost, age, window)
				}
			}
		})
	}
	t.Logf("largest loss: %d writes, the oldest acknowledged %v before the crash (window %v)", maxLost, maxAge, window)
}

// TestPowerLossEveryCloneReopens takes many crash clones during one run
// whose small memtables make pebble flush and compact all along, with a
// durable and a batched document written at once: the store must reopen
// from every clone without error, and hold each durable write
// acknowledged before that clone.
func TestPowerLossEveryCloneReopens(t *testing.T) {
	const clones = 25
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(0xc1, 0))  // the batched writer's
	crng := rand.New(rand.NewPCG(0xc2, 0)) // the clones'
	fs := vfs.NewCrashableMem()
	store, err := replica.OpenStore("/store", replica.StoreOptions{FS: fs, MemTableSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	durable, au := newDocAndAuthor(t, a, replica.Durable)
	batched, _ := newDocAndAuthor(t, a, replica.Batched)

	// The durable writer takes the clones, after a random number of its
	// writes each, while the batched writer goes on.
	type clone struct {
		fs    *vfs.MemFS
		acked int
	}
	var (
		keys  []string // durable keys acknowledged, in order
		taken []clone
		wg    sync.WaitGroup
		value = strings.Repeat("v", 200)
		// Long keys fill the memtables with few entries (and few
		// signatures, slow under the race detector).
		pad = strings.Repeat("p", 500)
	)
	h := replica.HashContent([]byte(value))
	kick := make(chan struct{}, 1) // one batched call per durable write at most
	wg.Go(func() {
		for range kick {
			writes := make([]LocalWrite, 4)
			for i := range writes {
				writes[i] = LocalWrite{Key: fmt.Appendf(nil, "b%08d%s", rng.Uint32(), pad), Hash: h, Len: uint64(len(value))}
			}
			if _, _, err := a.InsertLocalMany(ctx, batched, au, writes); err != nil {
				t.Errorf("batched write: %v", err)
				return
			}
		}
	})
	for next := 0; len(taken) < clones; {
		key := fmt.Sprintf("d%06d%s", len(keys), pad)
		if _, _, err := a.InsertLocal(ctx, durable, au, []byte(key), h, uint64(len(value))); err != nil {
			t.Fatalf("durable write: %v", err)
		}
		keys = append(keys, key)
		select {
		case kick <- struct{}{}:
		default:
		}
		if len(keys) >= next {
			taken = append(taken, clone{crashClone(fs, crng), len(keys)})
			next = len(keys) + 1 + crng.IntN(40)
		}
	}
	close(kick)
	wg.Wait()
	// Tables seen in the clones and gone at the end were compacted away.
	tables, compacted := map[string]bool{}, 0
	for _, c := range taken {
		for _, name := range sstables(t, c.fs) {
			tables[name] = true
		}
	}
	final := sstables(t, fs)
	for name := range tables {
		if !slices.Contains(final, name) {
			compacted++
		}
	}
	if len(tables) == 0 || compacted == 0 {
		t.Fatalf("the clones hold %d tables, %d of them compacted since; the test needs flushes and compactions", len(tables), compacted)
	}
	for i, c := range taken {
		s, err := replica.OpenStore("/store", replica.StoreOptions{FS: c.fs})
		if err != nil {
			t.Fatalf("clone %d: reopen: %v", i, err)
		}
		for _, key := range keys[:c.acked] {
			if _, err := s.Get(durable, au.ID(), []byte(key)); err != nil {
				s.Close()
				t.Fatalf("clone %d (%d durable writes acknowledged): %s: %v", i, c.acked, key, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// sstables lists the store's tables on fs.
func sstables(t *testing.T, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List("/store")
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, ".sst") })
}

package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/replica"
)

// The power-loss tests run the engine on pebble's crashable in-memory file
// system and take a crash clone of it at a random moment: the clone holds
// exactly what was fsynced (or, with UnsyncedDataPercent, some of the
// rest), as the disk would after a power loss. The engine is then reopened
// on the clone and what it holds is checked against what was
// acknowledged.

// plOp is one write of a power-loss workload.
type plOp struct {
	key    string
	value  []byte // nil: a delete of the prefix key
	stream bool   // through SetReader
}

// plWorkload generates the writes of one writer: sets of small and large
// values (large ones stream into a file of their own), values shared by
// several keys, overwrites, and prefix deletes, all under prefix.
type plWorkload struct {
	rng    *rand.Rand
	prefix string
	shared [][]byte
}

func (w *plWorkload) next() plOp {
	key := fmt.Sprintf("%sk%d", w.prefix, w.rng.IntN(30))
	switch r := w.rng.IntN(100); {
	case r < 50:
		v := make([]byte, 1+w.rng.IntN(4000))
		fillRand(w.rng, v)
		return plOp{key: key, value: v}
	case r < 70:
		v := make([]byte, 16<<10+1+w.rng.IntN(64<<10))
		fillRand(w.rng, v)
		w.shared = append(w.shared, v)
		return plOp{key: key, value: v, stream: true}
	case r < 85 && len(w.shared) > 0:
		// The same content under another key: the blob is stored already.
		return plOp{key: key, value: w.shared[w.rng.IntN(len(w.shared))]}
	default:
		// "k1" deletes k1 and k10…k19.
		return plOp{key: fmt.Sprintf("%sk%d", w.prefix, w.rng.IntN(4))}
	}
}

func fillRand(rng *rand.Rand, b []byte) {
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// plModel is the state that ops[:n] leave: key -> value.
func plModel(ops []plOp, n int) map[string][]byte {
	m := make(map[string][]byte)
	for _, op := range ops[:n] {
		if op.value == nil {
			for k := range m {
				if len(k) >= len(op.key) && k[:len(op.key)] == op.key {
					delete(m, k)
				}
			}
			continue
		}
		m[op.key] = op.value
	}
	return m
}

// plApply runs one op on doc.
func plApply(ctx context.Context, doc *Doc, au replica.Author, op plOp) error {
	switch {
	case op.value == nil:
		return doc.Delete(ctx, au, []byte(op.key))
	case op.stream:
		_, err := doc.SetReader(ctx, au, []byte(op.key), bytes.NewReader(op.value))
		return err
	default:
		_, err := doc.Set(ctx, au, []byte(op.key), op.value)
		return err
	}
}

// plState reads what doc holds of au's entries under prefix, with the
// content of each; missing content is an error.
func plState(ctx context.Context, doc *Doc, au replica.AuthorID, prefix string) (map[string][]byte, error) {
	got := make(map[string][]byte)
	for e, err := range doc.Query(ctx, replica.Query{Author: &au, KeyPrefix: []byte(prefix)}) {
		if err != nil {
			return nil, err
		}
		if e.IsTombstone() {
			continue
		}
		b, err := doc.e.blobs.Get(e.Hash)
		if err != nil {
			return nil, fmt.Errorf("content of %q (%d bytes): %w", e.Key, e.Len, err)
		}
		got[string(e.Key)] = b
	}
	return got, nil
}

// plDiff describes how got differs from want, or "" when they are equal.
func plDiff(got, want map[string][]byte) string {
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			return fmt.Sprintf("%q lost (%d bytes)", k, len(w))
		case !wok:
			return fmt.Sprintf("%q held (%d bytes) but deleted or never written", k, len(g))
		case !bytes.Equal(g, w):
			return fmt.Sprintf("%q holds %d bytes that differ from the %d written", k, len(g), len(w))
		}
	}
	return ""
}

// TestPowerLossDurableDoc: on a durable document, every write that was
// acknowledged before the crash (Set, SetReader, Delete) is held after
// reopening on the crash clone, content bit-exact, and the write in flight
// on each writer is either wholly there or not. Several writers run at
// once, so the crash falls between any two steps of a write, and one more
// writes to a batched document of the same engine, whose content shares
// the store's directories.
func TestPowerLossDurableDoc(t *testing.T) {
	const (
		iterations = 12
		writers    = 3
	)
	for it := range iterations {
		seed := uint64(0xd0c5 + it)
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { powerLossDurableRun(t, seed, writers) })
	}
}

func powerLossDurableRun(t *testing.T, seed uint64, writers int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	cfg := TestConfig()
	cfg.DataDir, cfg.FS = "/data", fs
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Close() }()
	doc, err := e.Docs().CreateWith(ctx, Durable)
	if err != nil {
		t.Fatal(err)
	}
	au, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batched, err := e.Docs().CreateWith(ctx, Batched)
	if err != nil {
		t.Fatal(err)
	}

	// The crash comes once target writes are acknowledged, in all, while
	// the writers go on.
	target := 1 + rng.IntN(60)
	var (
		total          atomic.Int64
		stop           atomic.Bool
		fire           = make(chan struct{})
		ops            = make([][]plOp, writers)
		started, acked = make([]atomic.Int64, writers), make([]atomic.Int64, writers)
		wg             sync.WaitGroup
	)
	for i := range writers {
		w := &plWorkload{rng: rand.New(rand.NewPCG(seed, uint64(100+i))), prefix: fmt.Sprintf("w%d/", i)}
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				op := w.next()
				ops[i] = append(ops[i], op)
				started[i].Store(int64(n + 1))
				if err := plApply(ctx, doc, au, op); err != nil {
					t.Errorf("writer %d, write %d (%q): %v", i, n, op.key, err)
					return
				}
				acked[i].Store(int64(n + 1))
				if total.Add(1) == int64(target) {
					close(fire)
				}
			}
		})
	}
	wg.Go(func() {
		w := &plWorkload{rng: rand.New(rand.NewPCG(seed, 99)), prefix: "b/"}
		for !stop.Load() {
			if err := plApply(ctx, batched, au, w.next()); err != nil {
				t.Errorf("batched writer: %v", err)
				return
			}
		}
	})
	<-fire
	lo := make([]int, writers)
	for i := range lo {
		lo[i] = int(acked[i].Load())
	}
	var crashed *vfs.MemFS
	if rng.IntN(2) == 0 {
		crashed = fs.CrashClone(vfs.CrashCloneCfg{})
	} else {
		crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 1 + rng.IntN(99), RNG: rng})
	}
	hi := make([]int, writers)
	for i := range hi {
		hi[i] = int(started[i].Load())
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.FS = crashed
	e, err = Open(ctx, cfg)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	doc, err = e.Docs().Open(ctx, doc.ID())
	if err != nil {
		t.Fatalf("document lost in the crash: %v", err)
	}
	for i := range writers {
		prefix := fmt.Sprintf("w%d/", i)
		got, err := plState(ctx, doc, au.ID(), prefix)
		if err != nil {
			t.Fatalf("writer %d (%d writes acknowledged): %v", i, lo[i], err)
		}
		// The writes acknowledged before the clone, and perhaps the one
		// in flight.
		ok := false
		for n := lo[i]; n <= hi[i] && !ok; n++ {
			ok = plDiff(got, plModel(ops[i], n)) == ""
		}
		if !ok {
			t.Errorf("writer %d: %d writes acknowledged before the crash, %d started: %s",
				i, lo[i], hi[i], plDiff(got, plModel(ops[i], lo[i])))
		}
	}
}

// TestPowerLossBatchedDocContent: on a batched document, a crash loses only
// the writes (entry and content) acknowledged within the documented window
// before it: the entry's CommitDelay + FlushInterval (the store actor's)
// and the content's FlushInterval (the content store's, by default the
// actor's). Every older Set is held with its content, bit-exact, and the
// entries held are a prefix of the writes. It runs the document API over a
// store actor and a content store in a synctest bubble, without the
// network, so the times are the timers', not the machine's.
func TestPowerLossBatchedDocContent(t *testing.T) {
	acfg := actor.DefaultConfig()
	window := acfg.CommitDelay + acfg.FlushInterval
	var maxLost, maxContentLost int
	var maxAge time.Duration
	for it := range 12 {
		seed := uint64(0xbc + it)
		rng := rand.New(rand.NewPCG(seed, 3))
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			fs := vfs.NewCrashableMem()
			e := openStoreOnly(t, fs)
			defer func() { e.Close() }()
			doc, err := e.Docs().CreateWith(ctx, Batched)
			if err != nil {
				t.Fatal(err)
			}
			au, err := e.Authors().Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			type write struct {
				at    time.Time
				value []byte
			}
			var (
				mu     sync.Mutex
				writes []write
				stop   = make(chan struct{})
				done   = make(chan struct{})
			)
			wrng := rand.New(rand.NewPCG(seed, 4))
			pace := time.Duration(1+rng.IntN(20)) * time.Millisecond
			go func() {
				defer close(done)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(wrng.Int64N(int64(pace)))):
					}
					size := 1 + wrng.IntN(3000)
					if wrng.IntN(4) == 0 {
						size = 16<<10 + 1 + wrng.IntN(40<<10) // a file of its own
					}
					v := make([]byte, size)
					fillRand(wrng, v)
					if _, err := doc.Set(ctx, au, fmt.Appendf(nil, "k%06d", n), v); err != nil {
						t.Errorf("write %d: %v", n, err)
						return
					}
					mu.Lock()
					writes = append(writes, write{time.Now(), v})
					mu.Unlock()
				}
			}()
			time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Second))))
			mu.Lock()
			acked, crashAt := len(writes), time.Now()
			var crashed *vfs.MemFS
			if rng.IntN(2) == 0 {
				crashed = fs.CrashClone(vfs.CrashCloneCfg{})
			} else {
				crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 1 + rng.IntN(99), RNG: rng})
			}
			mu.Unlock()
			close(stop)
			<-done
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}

			e = openStoreOnly(t, crashed)
			doc = &Doc{e: e, id: doc.ID()}
			held, contentLost, oldestContentLost := 0, 0, -1
			for se, err := range doc.Query(ctx, replica.Query{}) {
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("k%06d", held); string(se.Key) != want {
					t.Fatalf("after the crash the store holds %q where %q was expected: not a prefix of the writes", se.Key, want)
				}
				b, err := e.blobs.Get(se.Hash)
				switch {
				case err == nil && !bytes.Equal(b, writes[held].value):
					t.Fatalf("content of %q differs from what was written", se.Key)
				case err != nil:
					contentLost++
					if oldestContentLost < 0 {
						oldestContentLost = held
					}
				}
				held++
			}
			oldest := min(held, acked)
			if oldestContentLost >= 0 {
				oldest = min(oldest, oldestContentLost)
			}
			if oldest < acked {
				age := crashAt.Sub(writes[oldest].at)
				maxLost, maxContentLost, maxAge = max(maxLost, acked-held), max(maxContentLost, contentLost), max(maxAge, age)
				if age > window {
					t.Errorf("the crash lost writes acknowledged up to %v before it (%d entries, %d contents); the window is %v",
						age, acked-held, contentLost, window)
				}
			}
		})
	}
	t.Logf("largest loss: %d entries, %d contents, the oldest acknowledged %v before the crash (window %v)", maxLost, maxContentLost, maxAge, window)
}

// openStoreOnly opens the parts of an engine the document API's writes and
// reads use, the store actor and the content store, on fs under /data:
// no endpoint, gossip or live sync.
func openStoreOnly(t *testing.T, fs vfs.FS) *Engine {
	t.Helper()
	store, err := replica.OpenStore("/data/store", replica.StoreOptions{FS: fs})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e := &Engine{}
	if e.act, err = actor.Open(store, actor.Config{}); err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = blobs.OpenOptions("/data/blobs", blobs.Options{FS: fs, FlushInterval: actor.DefaultConfig().FlushInterval}); err != nil {
		e.act.Close()
		t.Fatalf("open content store: %v", err)
	}
	return e
}

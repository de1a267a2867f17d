package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
)

func init() { scenarios["insert"] = runInsert }

// runInsert measures signed local inserts through the store actor: each
// insert takes a timestamp, signs twice, and is committed to pebble on disk
// under the document's durability.
func runInsert(args []string) error {
	fs := flag.NewFlagSet("insert", flag.ContinueOnError)
	n := fs.Int("n", 200000, "number of inserts")
	mode := fs.String("mode", "batched", "document durability: batched or durable")
	writers := fs.Int("writers", 1, "concurrent writer goroutines")
	batch := fs.Int("batch", 1, "entries per call: 1 uses InsertLocal, more uses InsertLocalMany (signed on all cores)")
	dir := fs.String("dir", "", "store directory (default: a temporary directory, removed afterwards)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var d replica.Durability
	switch *mode {
	case "batched":
		d = replica.Batched
	case "durable":
		d = replica.Durable
	default:
		return fmt.Errorf("-mode must be batched or durable, got %q", *mode)
	}
	if *writers < 1 || *n < *writers || *batch < 1 {
		return fmt.Errorf("need 1 <= writers <= n and batch >= 1")
	}
	path := *dir
	if path == "" {
		tmp, err := os.MkdirTemp("", "docsbench-insert-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		path = tmp
	}
	store, err := replica.OpenStore(path, replica.StoreOptions{})
	if err != nil {
		return err
	}
	act, err := actor.Open(store, actor.Config{})
	if err != nil {
		store.Close()
		return err
	}
	defer act.Close()
	ctx := context.Background()
	docCap, err := act.CreateDoc(ctx, d)
	if err != nil {
		return err
	}
	author, err := act.CreateAuthor(ctx)
	if err != nil {
		return err
	}
	value := []byte("a small value of about forty bytes.....")
	hash := replica.HashContent(value)

	lat := make([][]time.Duration, *writers)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *writers)
	start := time.Now()
	for w := range *writers {
		wg.Go(func() {
			writes := make([]actor.LocalWrite, 0, *batch)
			for {
				lo := next.Add(int64(*batch)) - int64(*batch)
				if lo >= int64(*n) {
					return
				}
				writes = writes[:0]
				for i := lo; i < min(lo+int64(*batch), int64(*n)); i++ {
					writes = append(writes, actor.LocalWrite{Key: fmt.Appendf(nil, "key-%010d", i), Hash: hash, Len: uint64(len(value))})
				}
				t0 := time.Now()
				var err error
				if len(writes) == 1 {
					_, _, err = act.InsertLocal(ctx, docCap.ID(), author, writes[0].Key, hash, uint64(len(value)))
				} else {
					_, _, err = act.InsertLocalMany(ctx, docCap.ID(), author, writes)
				}
				if err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	count, err := act.Count(ctx, docCap.ID())
	if err != nil {
		return err
	}
	if count != *n {
		return fmt.Errorf("store holds %d entries after %d inserts", count, *n)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	p99 := all[len(all)*99/100]
	// p99_us is the latency of one call (of -batch entries).
	fmt.Printf("insert mode=%s writers=%d batch=%d n=%d entries_per_s=%.0f p99_us=%d\n",
		*mode, *writers, *batch, *n, float64(*n)/elapsed.Seconds(), p99.Microseconds())
	return nil
}

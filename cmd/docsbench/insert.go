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
	if *writers < 1 || *n < *writers {
		return fmt.Errorf("need 1 <= writers <= n")
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
			key := make([]byte, 0, 16)
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				key = fmt.Appendf(key[:0], "key-%010d", i)
				t0 := time.Now()
				if _, _, err := act.InsertLocal(ctx, docCap.ID(), author, key, hash, uint64(len(value))); err != nil {
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
	fmt.Printf("insert mode=%s writers=%d n=%d entries_per_s=%.0f p99_us=%d\n",
		*mode, *writers, *n, float64(*n)/elapsed.Seconds(), p99.Microseconds())
	return nil
}

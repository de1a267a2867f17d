package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/engine"
)

func init() { scenarios["api"] = runAPI }

// runAPI measures small sets through the daemon's API: an engine with a
// pebble store on disk, the API on a unix socket, and clients that each
// set values one after another into one batched document. A set's
// latency is the client's round trip.
func runAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	clients := fs.Int("clients", 8, "concurrent clients")
	n := fs.Int("n", 20000, "sets, over all clients")
	size := fs.Int("size", 100, "value size in bytes")
	dir := fs.String("dir", "", "data directory (default: a temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "docsbench-api-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	cfg := engine.DefaultConfig(*dir)
	cfg.Endpoint = engine.TestConfig().Endpoint // loopback only
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	srv := api.NewServer(e, api.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer srv.Close()
	sock := filepath.Join(*dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	defer hs.Close()
	c, err := client.New(client.Options{Socket: sock})
	if err != nil {
		return err
	}
	defer c.Close()
	doc, err := c.CreateDoc(ctx, false)
	if err != nil {
		return err
	}
	value := make([]byte, *size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	for i := range 100 { // warm up connections and the store
		if _, err := c.Set(ctx, doc.ID, fmt.Sprintf("warm/%d", i), value, client.SetOptions{}); err != nil {
			return err
		}
	}
	lat := make([][]time.Duration, *clients)
	errs := make(chan error, *clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *clients {
		wg.Go(func() {
			for i := w; i < *n; i += *clients {
				t0 := time.Now()
				if _, err := c.Set(ctx, doc.ID, fmt.Sprintf("k/%08d", i), value, client.SetOptions{}); err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	fmt.Printf("api clients=%d n=%d sets_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
		*clients, len(all), float64(len(all))/took.Seconds(), pct(0.50), pct(0.99))
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/engine"
)

func init() { scenarios["api"] = runAPI }

const apiHelp = `usage: docsbench api [flags]

Small sets through the local HTTP API on a unix socket. The server runs in
this process, as docsnode start runs it: an engine on a temporary data
directory (QUIC on 127.0.0.1:0), api.NewServer with the default api.Config,
served by net/http on a unix socket in that directory. The requests go
through the client package over that socket.

One batched document (the API's default) is created; -clients goroutines,
each with its own client.Client (its own connection, as separate
programs would have), share -n sets of distinct keys with values of 16 to
64 bytes. Each set is timed from the call of client.Set to its answer.
Every set must succeed and answer its key, and a query at the end must
count n entries.

Figures (last line):
  sets_per_s   n divided by the time from the first set to the last answer
  p50_ms       median time of one set
  p99_ms       99th percentile time of one set

DOCSBENCH_API_CPUPROFILE=file writes a CPU profile of the sets (client
and server both run in this process).

Flags:
`

// runAPI measures small sets through the API over a unix socket; see
// apiHelp.
func runAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), apiHelp)
		fs.PrintDefaults()
	}
	clients := fs.Int("clients", 8, "concurrent clients, each a goroutine with its own client.Client")
	n := fs.Int("n", 20000, "sets in all, shared by the clients")
	shared := fs.Bool("shared", false, "one client.Client shared by every goroutine (one connection pool) rather than one each")
	parent := fs.String("dir", "", "parent of the temporary data directory (default: the system's)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *clients < 1 || *n < *clients {
		return fmt.Errorf("need 1 <= -clients <= -n")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp(*parent, "docsbench-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := engine.DefaultConfig(filepath.Join(dir, "data"))
	cfg.Endpoint.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open the engine: %w", err)
	}
	defer e.Close()
	if _, err := e.Authors().Default(ctx); err != nil {
		return err
	}
	srv := api.NewServer(e, api.DefaultConfig())
	defer srv.Close()
	sock := filepath.Join(dir, "api.sock")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", sock)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-served
	}()

	newClient := func() (*client.Client, error) { return client.New(client.Options{Socket: sock}) }
	c0, err := newClient()
	if err != nil {
		return err
	}
	defer c0.Close()
	doc, err := c0.CreateDoc(ctx, false)
	if err != nil {
		return err
	}
	cs := make([]*client.Client, *clients)
	for i := range cs {
		if *shared {
			cs[i] = c0
			continue
		}
		if cs[i], err = newClient(); err != nil {
			return err
		}
		defer cs[i].Close()
	}

	key := func(i int) string { return fmt.Sprintf("k%08d", i) }
	// Values of 16 to 64 bytes, the length varying with i.
	value := func(i int) []byte {
		v := fmt.Appendf(nil, "value %08d ", i)
		for len(v) < 16+i%49 {
			v = append(v, '.')
		}
		return v
	}

	stopProfile, err := cpuProfileFromEnv("DOCSBENCH_API_CPUPROFILE")
	if err != nil {
		return err
	}
	lat := make([]time.Duration, *n)
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for g := range *clients {
		c := cs[g]
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				k, v := key(i), value(i)
				t := time.Now()
				entry, err := c.Set(ctx, doc.ID, k, v, client.SetOptions{})
				lat[i] = time.Since(t)
				if err == nil && (entry.Key != k || entry.Len != uint64(len(v))) {
					err = fmt.Errorf("answered key %q len %d", entry.Key, entry.Len)
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("set %s: %w", k, err) })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	stopProfile()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d sets failed; the first: %w", f, *n, firstErr)
	}

	entries, err := c0.QueryAll(ctx, doc.ID, client.Query{})
	if err != nil {
		return fmt.Errorf("query the document: %w", err)
	}
	if len(entries) != *n {
		return fmt.Errorf("the document holds %d entries, want %d", len(entries), *n)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	fmt.Printf("%d sets by %d clients in %.2f s; the document holds %d entries; max %.2f ms\n",
		*n, *clients, elapsed.Seconds(), len(entries), ms(lat[len(lat)-1]))
	fmt.Printf("CPU of client and server: %.2f s in %.2f s (%.0f%% of one core), %.0f µs per set\n",
		cpu.Seconds(), elapsed.Seconds(), 100*cpu.Seconds()/elapsed.Seconds(), float64(cpu.Microseconds())/float64(*n))
	fmt.Printf("api clients=%d n=%d sets_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
		*clients, *n, float64(*n)/elapsed.Seconds(), pct(0.50), pct(0.99))
	return nil
}

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/internal/testutil"
)

func init() { scenarios["daemons"] = runDaemons }

// runDaemons measures delivery between two daemon processes on loopback:
// A creates a document and shares it, B joins, and a client of B's API
// follows its event stream. Writes go to A's API at a steady pace; a
// write's latency is the time from the start of the set on A's API to
// its insert-remote event on B's stream.
func runDaemons(args []string) error {
	fs := flag.NewFlagSet("daemons", flag.ContinueOnError)
	writes := fs.Int("writes", 1000, "writes on A")
	interval := fs.Duration("interval", 2*time.Millisecond, "pause between two writes")
	grace := fs.Duration("grace", 3*time.Second, "wait after the last write for deliveries")
	bin := fs.String("bin", "", "the docsnode binary (default: built from ./cmd/docsnode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "docsbench-daemons-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "docsnode")
		if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/docsnode").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/docsnode (run from the module root, or pass -bin): %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(name string) (*client.Client, func(), error) {
		dir := filepath.Join(tmp, name)
		cmd := exec.Command(*bin, "--data", dir, "start", "--listen", "127.0.0.1:0", "--log-level", "warn")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		c, err := client.New(client.Options{Socket: filepath.Join(dir, "api.sock")})
		if err != nil {
			stop()
			return nil, nil, err
		}
		if err := testutil.Poll(30*time.Second, func() bool { return c.Health(ctx) == nil }); err != nil {
			stop()
			return nil, nil, fmt.Errorf("daemon %s did not start: %v\n%s", name, err, stderr.String())
		}
		return c, stop, nil
	}
	a, stopA, err := start("a")
	if err != nil {
		return err
	}
	defer stopA()
	b, stopB, err := start("b")
	if err != nil {
		return err
	}
	defer stopB()
	doc, err := a.CreateDoc(ctx, false)
	if err != nil {
		return err
	}
	t, err := a.Share(ctx, doc.ID, "read")
	if err != nil {
		return err
	}
	if _, err := b.Import(ctx, t.Ticket); err != nil {
		return err
	}
	stream, err := b.Events(ctx, doc.ID, 0, false)
	if err != nil {
		return err
	}
	defer stream.Close()
	// B knows A from the ticket; A learns of B when B first syncs.
	if err := b.WaitSynced(ctx, doc.ID, "", 30*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}

	var mu sync.Mutex
	sent := make(map[string]time.Time, *writes)
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := stream.Next()
			if err != nil {
				return
			}
			if ev.Kind != "insert-remote" || ev.Entry == nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			if t0, ok := sent[ev.Entry.Key]; ok {
				lat = append(lat, now.Sub(t0))
				delete(sent, ev.Entry.Key)
			}
			n := len(lat)
			mu.Unlock()
			if n == *writes {
				return
			}
		}
	}()
	value := []byte("docsbench daemons value")
	for i := range *writes {
		key := fmt.Sprintf("w/%06d", i)
		mu.Lock()
		sent[key] = time.Now()
		mu.Unlock()
		if _, err := a.Set(ctx, doc.ID, key, value, client.SetOptions{}); err != nil {
			return err
		}
		time.Sleep(*interval)
	}
	select {
	case <-done:
	case <-time.After(*grace):
	}
	stream.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return fmt.Errorf("no write reached B")
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	fmt.Printf("daemons writes=%d p50_ms=%.2f p99_ms=%.2f delivered_pct=%.1f\n",
		*writes, pct(0.50), pct(0.99), 100*float64(len(lat))/float64(*writes))
	return nil
}

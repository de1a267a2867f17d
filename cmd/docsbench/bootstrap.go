package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

func init() {
	scenarios["bootstrap"] = runBootstrap
	scenarios["bootstrap-source"] = runBootstrapSource
}

// runBootstrap measures a fresh node's first sync of a large document. A
// source node, in a child process (the hidden scenario bootstrap-source),
// holds n entries of one author with 16-byte keys in pebble on disk. A
// fresh node with an empty store on disk, in this process, dials it over
// QUIC on loopback and syncs the document, checking every signature. Only
// the Sync call is timed: seconds covers reconciliation, transfer,
// verification and inserts on both sides until both summaries matched.
// The source's reconciliation index is built before (untimed) unless
// -cold. Each side reports its own peak resident set during the sync
// (VmHWM, reset after its setup): fresh_rss_mb and source_rss_mb, and
// peak_rss_mb is the larger.
func runBootstrap(args []string) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	n := fs.Int("n", 100000, "entries in the document")
	dir := fs.String("dir", "", "parent directory of both stores (default: a temporary directory, removed afterwards)")
	frame := fs.Int("frame", live.DefaultMaxFrameSize, "MaxFrameSize of both sides, in bytes")
	cold := fs.Bool("cold", false, "time the source's first use of the document too (building its reconciliation index)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	parent := *dir
	if parent == "" {
		tmp, err := os.MkdirTemp("", "docsbench-bootstrap-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		parent = tmp
	}
	ctx := context.Background()

	// The source: a child process that prints "ready <node id> <addr>
	// <namespace id>" once it serves, and "served <figures>" after its
	// session.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "bootstrap-source", "-n", strconv.Itoa(*n), "-dir", parent+"/source",
		"-frame", strconv.Itoa(*frame), "-cold="+strconv.FormatBool(*cold))
	child.Stderr = os.Stderr
	childOut, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	// Closing the child's stdin tells it to stop serving.
	childIn, err := child.StdinPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	lines := bufio.NewScanner(childOut)
	readLine := func(prefix string) ([]string, error) {
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) > 0 && f[0] == prefix {
				return f[1:], nil
			}
			fmt.Println(lines.Text())
		}
		return nil, fmt.Errorf("source exited before %q (%v)", prefix, lines.Err())
	}
	ready, err := readLine("ready")
	if err != nil {
		return err
	}
	if len(ready) != 3 {
		return fmt.Errorf("source said ready %v", ready)
	}
	srcID, err := endpoint.ParseNodeID(ready[0])
	if err != nil {
		return err
	}
	srcAP, err := netip.ParseAddrPort(ready[1])
	if err != nil {
		return err
	}
	ns, err := replica.ParseNamespaceID(ready[2])
	if err != nil {
		return err
	}
	srcAddr := endpoint.NodeAddr{ID: srcID, Addrs: []netip.AddrPort{srcAP}}

	dst, err := openActor(parent + "/fresh")
	if err != nil {
		return err
	}
	defer dst.Close()
	if _, err := dst.ImportDoc(ctx, replica.ReadCapability(ns)); err != nil {
		return err
	}
	epCfg := endpoint.DefaultConfig()
	epCfg.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	epDst, err := endpoint.Open(ctx, epCfg)
	if err != nil {
		return err
	}
	defer epDst.Close()
	cfg := live.DefaultSessionConfig()
	cfg.MaxFrameSize = *frame

	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	// DOCSBENCH_SYNC_CPUPROFILE=file profiles the fresh side's sync.
	stopProfile, err := cpuProfileFromEnv("DOCSBENCH_SYNC_CPUPROFILE")
	if err != nil {
		return err
	}
	// DOCSBENCH_SYNC_HEAPPROFILE=file writes a heap profile at the sync's
	// largest heap (sampled every second).
	stopHeap := heapProfileAtPeak(os.Getenv("DOCSBENCH_SYNC_HEAPPROFILE"))
	cpu0 := cpuTime()
	start := time.Now()
	out, err := live.Sync(ctx, epDst, dst, srcAddr, ns, cfg)
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	peakHeap := stopHeap()
	stopProfile()
	if err != nil {
		return err
	}
	peak := peakRSSMiB()
	served, err := readLine("served")
	if err != nil {
		return err
	}
	childIn.Close()
	srcFig := map[string]string{}
	for _, kv := range served {
		if k, v, ok := strings.Cut(kv, "="); ok {
			srcFig[k] = v
		}
	}
	if srcFig["err"] != "" {
		return fmt.Errorf("source: %s", srcFig["err"])
	}
	srcRSS, _ := strconv.ParseFloat(srcFig["peak_rss_mb"], 64)
	count, err := dst.Count(ctx, ns)
	if err != nil {
		return err
	}
	if count != *n || !out.Equal || out.Received != *n || out.Refused.Total() != 0 {
		return fmt.Errorf("fresh node holds %d of %d entries after the sync (%v)", count, *n, out)
	}
	fmt.Printf("%v\nreconcile %.2f s, transfer %.2f s, %d rounds; fresh node: cpu %.2f s (%.2f cores), peak Go heap in use %.0f MiB (sampled); source: cpu %s s\n",
		out, out.ReconcileTime.Seconds(), out.TransferTime.Seconds(), out.Rounds, cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(),
		float64(peakHeap)/(1<<20), srcFig["cpu_s"])
	fmt.Printf("bootstrap n=%d seconds=%.3f bytes=%d entries_per_s=%.0f peak_rss_mb=%.0f fresh_rss_mb=%.0f source_rss_mb=%.0f\n",
		*n, elapsed.Seconds(), out.BytesSent+out.BytesReceived, float64(*n)/elapsed.Seconds(), max(peak, srcRSS), peak, srcRSS)
	return nil
}

// runBootstrapSource is the source side of bootstrap, run in its own
// process: it builds the document, serves one sync session on loopback,
// and reports its CPU time and peak resident set during the session.
func runBootstrapSource(args []string) error {
	fs := flag.NewFlagSet("bootstrap-source", flag.ContinueOnError)
	n := fs.Int("n", 100000, "entries in the document")
	dir := fs.String("dir", "", "the store's directory")
	frame := fs.Int("frame", live.DefaultMaxFrameSize, "MaxFrameSize, in bytes")
	cold := fs.Bool("cold", false, "leave the reconciliation index to the session")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	ctx := context.Background()
	src, err := openActor(*dir)
	if err != nil {
		return err
	}
	defer src.Close()
	t0 := time.Now()
	secret, err := replica.NewNamespace(nil)
	if err != nil {
		return err
	}
	if _, err := src.PutDoc(ctx, replica.DocInfo{Capability: replica.WriteCapability(secret)}); err != nil {
		return err
	}
	if err := fillDocument(ctx, src, secret, *n); err != nil {
		return err
	}
	if !*cold {
		// A node serving a document has its reconciliation index in
		// memory after the first session; build it now, untimed.
		if _, err := src.Summary(ctx, secret.ID()); err != nil {
			return err
		}
	}
	waitIdle()
	fmt.Fprintf(os.Stderr, "source: built a document of %d entries in %.1f s\n", *n, time.Since(t0).Seconds())

	epCfg := endpoint.DefaultConfig()
	epCfg.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	ep, err := endpoint.Open(ctx, epCfg)
	if err != nil {
		return err
	}
	defer ep.Close()
	cfg := live.DefaultSessionConfig()
	cfg.MaxFrameSize = *frame
	type result struct {
		err error
		cpu time.Duration
	}
	served := make(chan result, 1)
	var cpu0 time.Duration
	srv := live.NewServer(src, cfg, live.PolicyFuncs{FinishedFunc: func(o live.Outcome, err error) {
		served <- result{err, cpuTime() - cpu0}
	}})
	if err := ep.Handle(endpoint.ALPNSync, srv); err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	cpu0 = cpuTime()
	fmt.Printf("ready %s %s %s\n", ep.ID(), ep.Addr().Addrs[0], secret.ID())
	r := <-served
	errText := ""
	if r.err != nil {
		errText = " err=" + strings.ReplaceAll(r.err.Error(), " ", "_")
	}
	fmt.Printf("served peak_rss_mb=%.0f cpu_s=%.2f%s\n", peakRSSMiB(), r.cpu.Seconds(), errText)
	// Keep the endpoint up until the fresh node has read everything.
	io.Copy(io.Discard, os.Stdin)
	return nil
}

func openActor(path string) (*actor.Actor, error) {
	store, err := replica.OpenStore(path, replica.StoreOptions{})
	if err != nil {
		return nil, err
	}
	a, err := actor.Open(store, actor.Config{})
	if err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

// fillDocument signs n entries of one author, on every core, and stores
// them in batches as if received from a peer. Keys are 16 bytes.
func fillDocument(ctx context.Context, a *actor.Actor, secret replica.NamespaceSecret, n int) error {
	author, err := replica.NewAuthor(nil)
	if err != nil {
		return err
	}
	base := uint64(time.Now().Add(-24 * time.Hour).UnixMicro())
	const batch = 20000
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		unsigned := make([]replica.Entry, hi-lo)
		for i := lo; i < hi; i++ {
			value := fmt.Appendf(nil, "value %d", i)
			unsigned[i-lo] = replica.Entry{
				Key:    fmt.Appendf(nil, "key-%012d", i),
				Record: replica.Record{Hash: replica.HashContent(value), Len: uint64(len(value)), Timestamp: base + uint64(i)},
			}
		}
		entries, err := replica.SignAll(secret, author, unsigned) // on all cores
		if err != nil {
			return err
		}
		if _, err := a.InsertRemote(ctx, secret.ID(), entries, replica.PeerID{}); err != nil {
			return err
		}
	}
	return nil
}

// waitIdle waits (up to a minute) until the process has used almost no CPU
// for half a second, so that the source store's compactions after the fill
// do not count towards the sync.
func waitIdle() {
	quiet := 0
	for range 600 {
		before := cpuTime()
		time.Sleep(100 * time.Millisecond)
		if cpuTime()-before < 5*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		if quiet == 5 {
			return
		}
	}
}

// heapProfileAtPeak samples the Go heap every second until the returned
// function is called, which returns the largest HeapInuse seen. With a
// path, it writes a heap profile whenever a new largest heap is seen.
func heapProfileAtPeak(path string) func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
				if path != "" {
					if f, err := os.Create(path); err == nil {
						pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				done <- peak
				return
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

// resetPeakRSS restarts the kernel's peak RSS count (VmHWM), so that the
// figure covers the sync only; Linux only, silently ignored elsewhere.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

func init() { scenarios["hostile"] = runHostile }

const hostileHelp = `usage: docsbench hostile [flags]

A soak of one victim node under attack while an honest peer syncs with it.

The victim is a docsnode daemon in a child process (docsnode start on a
temporary data directory, QUIC on 127.0.0.1:0; without -bin the binary is
built first), or with -inprocess an engine in this process. It creates a
document and writes to it once a second. The honest peer, in this process,
holds the write ticket; every round it writes one entry and runs one sync
session with the victim (live.Sync), bounded by -round-timeout. A round is
ok when the session ends without error; a failed one (busy, timeout,
refused) counts at -round-timeout in the percentiles.

First -baseline of rounds without attack, then -seconds of rounds while
adversaries, each from fresh node ids and knowing the document id (the
read ticket), attack the victim:

  garbage        random bytes, a length beyond any limit, an oversized
                 frame, an unknown type, a bad version, Entries before Init
  no-init        streams that send a frame length and then nothing
  trickle        a valid Init, one byte per second
  never-read     sessions, one identity each, that send Init and never read
  never-end      sessions whose every round lists a frame's worth of
                 made-up ids, answered again and again
  forge-sync     Entries of forged, foreign-namespace and future entries
  gossip-flood   eager-push datagrams: forged Puts, SyncReports and
                 ContentReady from random origins
  conn-flood     many node ids connecting on every protocol, renewed
  corrupt-blobs  a content provider that announces the honest entries'
                 content (which the honest peer does not serve) and serves
                 wrong bytes for it
  rogue writer   one adversary holds the write secret and signs entries a
                 year ahead (sent by forge-sync and gossip-flood)

The victim's resident set (VmRSS, sampled every 100 ms, and VmHWM, reset
when the attack starts) is read from /proc/<pid>/status; with -inprocess it
is this whole process's and says little. After the run the victim is
stopped and its store opened and scanned: every entry whose signatures do
not verify, whose author is neither the honest peer's nor the victim's,
that lies in the future or belongs to another document counts in
invalid_stored, and so does content held for an entry that does not
match the entry's hash and length.

Figures (last line):
  honest_syncs_ok_pct  rounds ok during the attack
  honest_p99_ms        p99 of the rounds during the attack
  baseline_p99_ms      p99 of the rounds before it
  idle_rss_mb          the victim's VmRSS when the attack starts
  peak_rss_mb          its largest resident set during the attack
  invalid_stored       entries in its store that should not be there

Flags:
`

// hostileOptions sizes a hostile run.
type hostileOptions struct {
	attack, baseline         time.Duration
	roundTimeout, roundPause time.Duration
	victimWrites             time.Duration
	garbage, forge, gossip   int
	noInitIDs, noInitStreams int
	trickleStreams           int
	neverRead, neverEnd      int
	neverEndIDs              int
	floodIDs                 int
	floodHold                time.Duration
	corrupt                  bool
	drain                    time.Duration
	// enough, when set, ends the attack early once it reports true
	// (polled every 100 ms): tests stop as soon as they have seen what
	// they check, however slow the machine.
	enough func(*attack) bool
}

// keepOnly switches off every adversary not named.
func (o *hostileOptions) keepOnly(names []string) error {
	keep := map[string]bool{}
	for _, n := range names {
		keep[strings.TrimSpace(n)] = true
	}
	off := func(name string, sizes ...*int) {
		if !keep[name] {
			for _, p := range sizes {
				*p = 0
			}
		}
		delete(keep, name)
	}
	off("garbage", &o.garbage)
	off("no-init", &o.noInitIDs)
	off("trickle", &o.trickleStreams)
	off("never-read", &o.neverRead)
	off("never-end", &o.neverEnd)
	off("forge-sync", &o.forge)
	off("gossip-flood", &o.gossip)
	off("conn-flood", &o.floodIDs)
	o.corrupt = o.corrupt && keep["corrupt-blobs"]
	delete(keep, "corrupt-blobs")
	for n := range keep {
		return fmt.Errorf("-only: no adversary %q", n)
	}
	return nil
}

func defaultHostileOptions() hostileOptions {
	return hostileOptions{
		attack: 60 * time.Second, baseline: 10 * time.Second,
		roundTimeout: 10 * time.Second, roundPause: 50 * time.Millisecond,
		victimWrites: time.Second,
		garbage:      2, forge: 2, gossip: 2,
		noInitIDs: 2, noInitStreams: 80,
		trickleStreams: 16,
		neverRead:      70, neverEnd: 4, neverEndIDs: 8000,
		floodIDs: 300, floodHold: 5 * time.Second,
		corrupt: true,
		drain:   20 * time.Second,
	}
}

// runHostile runs the hostile soak; see hostileHelp.
func runHostile(args []string) error {
	o := defaultHostileOptions()
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), hostileHelp)
		fs.PrintDefaults()
	}
	seconds := fs.Float64("seconds", 60, "length of the attack phase, in seconds")
	fs.DurationVar(&o.baseline, "baseline", o.baseline, "rounds without attack before it")
	fs.DurationVar(&o.roundTimeout, "round-timeout", o.roundTimeout, "longest honest sync round")
	fs.DurationVar(&o.roundPause, "round-pause", o.roundPause, "pause between two honest rounds")
	fs.IntVar(&o.garbage, "garbage", o.garbage, "garbage-frame workers")
	fs.IntVar(&o.forge, "forge", o.forge, "forged-entry session workers")
	fs.IntVar(&o.gossip, "gossip", o.gossip, "gossip flooders")
	fs.IntVar(&o.noInitIDs, "no-init-ids", o.noInitIDs, "identities opening streams without Init")
	fs.IntVar(&o.noInitStreams, "no-init-streams", o.noInitStreams, "such streams per identity")
	fs.IntVar(&o.trickleStreams, "trickle", o.trickleStreams, "streams trickling an Init")
	fs.IntVar(&o.neverRead, "never-read", o.neverRead, "never-reading sessions, one identity each")
	fs.IntVar(&o.neverEnd, "never-end", o.neverEnd, "never-ending sessions, one identity each")
	fs.IntVar(&o.neverEndIDs, "never-end-ids", o.neverEndIDs, "ids in each round of a never-ending session")
	fs.IntVar(&o.floodIDs, "flood", o.floodIDs, "node ids connected at once by the connection flood")
	fs.DurationVar(&o.floodHold, "flood-hold", o.floodHold, "how long each flood id stays connected")
	fs.BoolVar(&o.corrupt, "corrupt", o.corrupt, "run the corrupt content provider")
	only := fs.String("only", "", "run only these adversaries, comma-separated (garbage, no-init, trickle, never-read, never-end, forge-sync, gossip-flood, conn-flood, corrupt-blobs)")
	inprocess := fs.Bool("inprocess", false, "the victim is an engine in this process, not a daemon")
	bin := fs.String("bin", "", "the docsnode binary (default: go build it)")
	parent := fs.String("dir", "", "parent of the temporary directory (default: the system's)")
	setup := fs.Duration("setup", 60*time.Second, "longest wait for the daemon's start")
	stop := fs.Duration("stop", 15*time.Second, "how long the daemon may take to exit after SIGTERM before it is killed")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	o.attack = time.Duration(*seconds * float64(time.Second))
	if *only != "" {
		if err := o.keepOnly(strings.Split(*only, ",")); err != nil {
			return err
		}
	}
	if o.attack <= 0 || o.baseline <= 0 || o.roundTimeout <= 0 {
		return fmt.Errorf("need -seconds, -baseline and -round-timeout above 0")
	}
	// An interrupt ends the run early but still stops the victim, scans
	// its store and removes the temporary directory.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	tmp, err := os.MkdirTemp(*parent, "docsbench-hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var v *victim
	if *inprocess {
		v, _, err = startEngineVictim(ctx, tmp, engine.DefaultConfig(""))
	} else {
		if *bin == "" {
			*bin = filepath.Join(tmp, "docsnode")
			build := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/docsnode/docsnode/cmd/docsnode")
			if out, err := build.CombinedOutput(); err != nil {
				return fmt.Errorf("go build docsnode (run inside the module, or pass -bin): %w\n%s", err, out)
			}
		}
		v, err = startDaemonVictim(ctx, *bin, tmp, *setup, *stop)
	}
	if v != nil {
		defer v.stop()
	}
	if err != nil {
		return err
	}
	res, err := hostileRun(ctx, v, o)
	if err != nil {
		return err
	}
	fmt.Printf("hostile seconds=%.0f honest_syncs_ok_pct=%.2f honest_p99_ms=%.2f baseline_p99_ms=%.2f peak_rss_mb=%.1f idle_rss_mb=%.1f invalid_stored=%d\n",
		res.seconds, res.okPct, res.p99, res.baselineP99, res.peakRSS, res.idleRSS, res.invalid)
	return nil
}

// victim is the node under attack.
type victim struct {
	addr   endpoint.NodeAddr
	tk     ticket.DocTicket // write
	author replica.AuthorID // the victim's own writer
	pid    int              // 0: not a process of its own
	// write sets the i-th of the victim's own values.
	write func(ctx context.Context, i int) error
	// report prints what the victim counted, if it can say.
	report func(ctx context.Context)
	// stop stops it, once; its store is then closed at storeDir.
	stop     func() error
	storeDir string
	blobDir  string
}

func startDaemonVictim(ctx context.Context, bin, dir string, setup, bound time.Duration) (*victim, error) {
	d, err := startDaemon(bin, dir, "victim", setup)
	var v *victim
	if d != nil {
		v = &victim{pid: d.cmd.Process.Pid, storeDir: filepath.Join(d.dir, "store"), blobDir: filepath.Join(d.dir, "blobs"),
			stop: func() error { return d.stop(bound) }}
	}
	if err != nil {
		return v, err
	}
	doc, err := d.c.CreateDoc(ctx, false)
	if err != nil {
		return v, fmt.Errorf("victim: create: %w", err)
	}
	t, err := d.c.Share(ctx, doc.ID, "write")
	if err != nil {
		return v, fmt.Errorf("victim: share: %w", err)
	}
	if v.tk, err = ticket.Parse(t.Ticket); err != nil {
		return v, err
	}
	v.addr = v.tk.Nodes[0]
	authors, err := d.c.Authors(ctx)
	if err != nil {
		return v, err
	}
	if v.author, err = replica.ParseAuthorID(authors.Default); err != nil {
		return v, err
	}
	v.write = func(ctx context.Context, i int) error {
		_, err := d.c.Set(ctx, doc.ID, fmt.Sprintf("victim/%06d", i), fmt.Appendf(nil, "the victim's value %d", i), client.SetOptions{})
		return err
	}
	v.report = func(ctx context.Context) {
		printDaemonMetrics(ctx, filepath.Join(d.dir, "api.sock"))
		if st, err := d.c.SyncStatus(ctx, doc.ID); err == nil {
			fmt.Printf("victim sync records: %d peers\n", len(st))
		} else {
			fmt.Fprintf(os.Stderr, "victim sync status: %v\n", err)
		}
	}
	return v, nil
}

// printDaemonMetrics prints the daemon's counters of what it refused.
func printDaemonMetrics(ctx context.Context, socket string) {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docsnode/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "victim metrics: %v\n", err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		l := sc.Text()
		for _, p := range []string{"docsnode_sync_sessions_total", "docsnode_sync_entries_refused_total", "docsnode_sync_rounds_total",
			"docsnode_gossip_ops_total", "docsnode_gossip_ops_discarded_total", "docsnode_gossip_packets_lost_total", "docsnode_downloads_total"} {
			if strings.HasPrefix(l, p) {
				fmt.Println("victim", l)
			}
		}
	}
}

// startEngineVictim opens an engine in this process, with cfg's
// settings but its data in dir, as the victim.
func startEngineVictim(ctx context.Context, dir string, cfg engine.Config) (*victim, *engine.Engine, error) {
	cfg.DataDir = filepath.Join(dir, "victim")
	cfg.Endpoint.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	v := &victim{storeDir: filepath.Join(cfg.DataDir, "store"), blobDir: filepath.Join(cfg.DataDir, "blobs"), stop: func() error {
		var err error
		once.Do(func() { err = e.Close() })
		return err
	}}
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		return v, e, err
	}
	if v.tk, err = doc.Share(ctx, engine.ShareWrite); err != nil {
		return v, e, err
	}
	v.addr = e.NodeAddr()
	author, err := e.Authors().Default(ctx)
	if err != nil {
		return v, e, err
	}
	v.author = author.ID()
	v.write = func(ctx context.Context, i int) error {
		_, err := doc.Set(ctx, author, fmt.Appendf(nil, "victim/%06d", i), fmt.Appendf(nil, "the victim's value %d", i))
		return err
	}
	v.report = func(ctx context.Context) {
		fmt.Printf("victim gossip %+v\n", e.GossipStats())
		if st, err := e.SyncStats(ctx); err == nil {
			fmt.Printf("victim sync %+v\n", st)
		}
		if st, err := doc.SyncStatus(ctx); err == nil {
			fmt.Printf("victim sync records: %d peers\n", len(st))
		}
	}
	return v, e, nil
}

// honestPeer is a node that holds the write ticket and syncs with the
// victim one explicit session at a time. It serves no content, so the
// victim must find its entries' content elsewhere.
type honestPeer struct {
	act    *actor.Actor
	ep     *endpoint.Endpoint
	author replica.Author
	ns     replica.NamespaceID
	victim endpoint.NodeAddr

	mu     sync.Mutex
	synced []syncedRef // entries the victim acknowledged, latest last
}

type syncedRef struct {
	ref honestRef
	at  time.Time
}

func openHonest(ctx context.Context, tk ticket.DocTicket) (*honestPeer, error) {
	store, err := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	if err != nil {
		return nil, err
	}
	act, err := actor.Open(store, actor.Config{})
	if err != nil {
		store.Close()
		return nil, err
	}
	h := &honestPeer{act: act, ns: tk.Capability.ID(), victim: tk.Nodes[0]}
	if _, err := act.ImportDoc(ctx, tk.Capability); err != nil {
		h.close()
		return nil, err
	}
	if h.author, err = replica.NewAuthor(nil); err != nil {
		h.close()
		return nil, err
	}
	if h.ep, err = identity(ctx); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *honestPeer) close() {
	if h.ep != nil {
		h.ep.Close()
	}
	h.act.Close()
}

// round writes entry i and syncs once with the victim; it returns the
// session's time and "ok" or why it failed.
func (h *honestPeer) round(ctx context.Context, i int, timeout time.Duration) (time.Duration, string, error) {
	value := fmt.Appendf(nil, "honest value %d, whose content only a hostile node claims to serve", i)
	ref := honestRef{author: h.author.ID(), key: fmt.Appendf(nil, "honest/%06d", i), hash: replica.HashContent(value), len: uint64(len(value))}
	if _, _, err := h.act.InsertLocal(ctx, h.ns, h.author, ref.key, ref.hash, ref.len); err != nil {
		return 0, "", fmt.Errorf("honest write: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	_, err := live.Sync(sctx, h.ep, h.act, h.victim, h.ns, live.DefaultSessionConfig())
	took := time.Since(start)
	switch {
	case err == nil:
		h.mu.Lock()
		h.synced = append(h.synced, syncedRef{ref, time.Now()})
		if len(h.synced) > 1024 {
			h.synced = slices.Delete(h.synced, 0, 512)
		}
		h.mu.Unlock()
		return took, "ok", nil
	case errors.Is(err, live.ErrBusy):
		return took, "busy", nil
	case errors.Is(err, live.ErrAlreadySyncing):
		return took, "already-syncing", nil
	case errors.Is(err, live.ErrTimeout), errors.Is(err, context.DeadlineExceeded), sctx.Err() != nil:
		return took, "timeout", nil
	case errors.Is(err, endpoint.ErrTooManyConns):
		return took, "too-many-conns", nil
	}
	return took, "error: " + err.Error(), nil
}

// recent lists the entries the victim has held for a moment (so that its
// first fetch, from the honest peer, has failed), from the last minute.
func (h *honestPeer) recent() []honestRef {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	var out []honestRef
	for _, s := range h.synced {
		if d := now.Sub(s.at); d > 300*time.Millisecond && d < time.Minute {
			out = append(out, s.ref)
		}
	}
	return out
}

// rounds is the honest peer's record of one phase.
type rounds struct {
	lat     []time.Duration // failed rounds count at the round timeout
	okLat   []time.Duration
	results map[string]int
}

func (r *rounds) okPct() float64 {
	if len(r.lat) == 0 {
		return 0
	}
	return 100 * float64(r.results["ok"]) / float64(len(r.lat))
}

func (r *rounds) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return ms(s[min(len(s)-1, int(p*float64(len(s))))])
}

func (r *rounds) String() string {
	keys := make([]string, 0, len(r.results))
	for k := range r.results {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %q=%d", k, r.results[k])
	}
	return fmt.Sprintf("%d rounds, ok %.2f%%, p50 %.2f ms, p99 %.2f ms, max %.2f ms; the ok ones' p99 %.2f ms;%s",
		len(r.lat), r.okPct(), r.pct(0.5), r.pct(0.99), r.pct(1), ms(r.okP99()), b.String())
}

// okP99 is the p99 of the ok rounds alone.
func (r *rounds) okP99() time.Duration {
	if len(r.okLat) == 0 {
		return 0
	}
	s := slices.Clone(r.okLat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// runRounds runs honest rounds from *next on until ctx ends.
func (h *honestPeer) runRounds(ctx context.Context, next *int, o hostileOptions) (*rounds, error) {
	r := &rounds{results: map[string]int{}}
	for ctx.Err() == nil {
		took, how, err := h.round(context.Background(), *next, o.roundTimeout)
		*next++
		if err != nil {
			return r, err
		}
		if how == "ok" {
			r.okLat = append(r.okLat, took)
		} else {
			took = o.roundTimeout
			if strings.HasPrefix(how, "error") {
				if r.results["error"] < 5 { // the first few, in full
					fmt.Fprintf(os.Stderr, "honest round %d: %s\n", *next-1, how)
				}
				how = "error"
			}
		}
		r.lat = append(r.lat, took)
		r.results[how]++
		pause(ctx, o.roundPause)
	}
	return r, nil
}

// hostileResult holds a run's figures.
type hostileResult struct {
	seconds                 float64 // the attack's length
	okPct, p99, baselineP99 float64
	idleRSS, peakRSS        float64
	invalid                 int
	attack                  *attack
	scan                    scanResult
	baseline, attacked      *rounds
}

// hostileRun measures the honest peer's syncs with v before and during
// the attack, and scans v's store after it. It stops v.
func hostileRun(ctx context.Context, v *victim, o hostileOptions) (*hostileResult, error) {
	h, err := openHonest(ctx, v.tk)
	if err != nil {
		return nil, err
	}
	defer h.close()
	res := &hostileResult{}

	// One untimed round first: the connection's handshake and the
	// victim's first look at the peer are not the figures'.
	next := 0
	if _, how, err := h.round(ctx, next, 4*o.roundTimeout); err != nil || how != "ok" {
		return nil, fmt.Errorf("the first honest sync failed: %s %v", how, err)
	}
	next++

	// The victim writes too, so that the honest rounds carry both ways.
	writerCtx, stopWriter := context.WithCancel(ctx)
	var writer sync.WaitGroup
	var victimWrites, victimWriteErrs atomic.Int64
	writer.Go(func() {
		for i := 0; pause(writerCtx, o.victimWrites); i++ {
			if err := v.write(writerCtx, i); err != nil && writerCtx.Err() == nil {
				victimWriteErrs.Add(1)
			} else if err == nil {
				victimWrites.Add(1)
			}
		}
	})
	defer func() { stopWriter(); writer.Wait() }()

	// The victim's resident set, sampled; attacking gates the peak.
	var attacking atomic.Bool
	var peakKB atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	if v.pid != 0 {
		sampler.Go(func() {
			for pause(sampleCtx, 100*time.Millisecond) {
				if kb := procStatusKB(v.pid, "VmRSS"); attacking.Load() && kb > peakKB.Load() {
					peakKB.Store(kb)
				}
			}
		})
	}
	defer func() { stopSampling(); sampler.Wait() }()

	bctx, cancel := context.WithTimeout(ctx, o.baseline)
	res.baseline, err = h.runRounds(bctx, &next, o)
	cancel()
	if err != nil {
		return nil, err
	}
	fmt.Printf("baseline: %v\n", res.baseline)

	pid := v.pid
	if pid == 0 {
		pid = os.Getpid()
	}
	res.idleRSS = float64(procStatusKB(pid, "VmRSS")) / 1024
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	attacking.Store(true)

	a := &attack{victim: v.addr, ns: h.ns, topic: gossipTopic(h.ns), recent: h.recent}
	secret, _ := v.tk.Capability.Secret()
	a.rogue = secret
	if a.rogueAuthor, err = replica.NewAuthor(nil); err != nil {
		return nil, err
	}
	actx, stopAttack := context.WithTimeout(ctx, o.attack)
	drained := make(chan struct{})
	go func() { <-actx.Done(); a.wg.Wait(); close(drained) }()
	// However the run ends, the adversaries stop first.
	defer func() {
		stopAttack()
		select {
		case <-drained:
		case <-time.After(o.drain):
			fmt.Fprintf(os.Stderr, "some adversaries had not stopped %v after the attack\n", o.drain)
		}
	}()
	start := time.Now()
	a.garbage(actx, o.garbage)
	a.noInit(actx, o.noInitIDs, o.noInitStreams)
	a.trickle(actx, 1, o.trickleStreams)
	a.neverRead(actx, o.neverRead)
	a.neverEnd(actx, o.neverEnd, o.neverEndIDs)
	a.forgeSync(actx, o.forge)
	a.gossipFlood(actx, o.gossip)
	a.connFlood(actx, o.floodIDs, o.floodHold)
	if o.corrupt {
		a.corruptProvider(actx)
	}
	var poll sync.WaitGroup
	if o.enough != nil {
		poll.Go(func() {
			for pause(actx, 100*time.Millisecond) {
				if o.enough(a) {
					stopAttack()
				}
			}
		})
	}
	res.attacked, err = h.runRounds(actx, &next, o)
	stopAttack()
	poll.Wait()
	if err != nil {
		return nil, err
	}
	res.seconds = time.Since(start).Seconds()
	fmt.Printf("attack (%.1f s): %v\n", res.seconds, res.attacked)
	if v.pid != 0 {
		res.peakRSS = float64(max(peakKB.Load(), procStatusKB(v.pid, "VmHWM"))) / 1024
	} else {
		res.peakRSS = float64(procStatusKB(pid, "VmHWM")) / 1024
		fmt.Println("the victim runs in this process: its RSS figures include the adversaries")
	}
	attacking.Store(false)

	select {
	case <-drained:
	case <-time.After(o.drain):
		fmt.Fprintf(os.Stderr, "some adversaries had not stopped %v after the attack\n", o.drain)
	}
	for _, t := range a.tallies {
		fmt.Println("adversary", t)
	}
	res.attack = a

	// The victim's own count of what it refused, then its store, also
	// after an interrupt.
	if v.report != nil {
		v.report(context.WithoutCancel(ctx))
	}
	stopWriter()
	writer.Wait()
	fmt.Printf("victim writes: %d ok, %d failed\n", victimWrites.Load(), victimWriteErrs.Load())
	if err := v.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "victim stop: %v\n", err)
	}
	honest := map[replica.AuthorID]bool{h.author.ID(): true, v.author: true}
	res.scan, err = scanStore(v.storeDir, v.blobDir, h.ns, honest, time.Now())
	if err != nil {
		return nil, fmt.Errorf("scan the victim's store: %w", err)
	}
	fmt.Printf("victim store: %v\n", res.scan)
	res.invalid = res.scan.invalid()
	res.okPct, res.p99, res.baselineP99 = res.attacked.okPct(), res.attacked.pct(0.99), res.baseline.pct(0.99)
	return res, nil
}

// procStatusKB reads one "kB" field of /proc/<pid>/status; 0 when it
// cannot.
func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// scanResult counts a store's entries: all, by honest author, and those
// that should not be there, by reason.
type scanResult struct {
	total, honest int
	content       int // entries whose content is held, and checked
	bad           map[string]int
}

func (s scanResult) invalid() int {
	n := 0
	for _, c := range s.bad {
		n += c
	}
	return n
}

func (s scanResult) String() string {
	return fmt.Sprintf("%d entries, %d from the honest writers, content held for %d, invalid %v", s.total, s.honest, s.content, s.bad)
}

// scanStore opens the closed store at dir and checks every entry of every
// document: it must be of ns, verify, be by an honest author, not lie
// after now, and have a valid shape; content held for it, in the content
// store at blobDir, must match its hash and length.
func scanStore(dir, blobDir string, ns replica.NamespaceID, honest map[replica.AuthorID]bool, now time.Time) (scanResult, error) {
	res := scanResult{bad: map[string]int{}}
	store, err := replica.OpenStore(dir, replica.StoreOptions{})
	if err != nil {
		return res, err
	}
	defer store.Close()
	content, err := blobs.Open(blobDir, 1<<40)
	if err != nil {
		return res, err
	}
	defer content.Close()
	docs, err := store.Docs()
	if err != nil {
		return res, err
	}
	limit := uint64(now.UnixMicro())
	for _, d := range docs {
		for se, err := range store.Query(d.ID(), replica.Query{IncludeTombstones: true}) {
			if err != nil {
				return res, err
			}
			res.total++
			switch {
			case d.ID() != ns:
				res.bad["other-document"]++
			case se.Namespace != ns:
				res.bad["wrong-namespace"]++
			case se.Verify() != nil:
				res.bad["bad-signature"]++
			case !honest[se.Author]:
				res.bad["not-honest"]++
			case se.Timestamp > limit:
				res.bad["future"]++
			case store.Limits().ValidateShape(&se.Entry) != nil:
				res.bad["bad-shape"]++
			default:
				res.honest++
			}
			if !se.IsTombstone() && content.Has(se.Hash) {
				res.content++
				// Get checks the hash (and drops a blob that fails).
				if b, err := content.Get(se.Hash); err != nil || uint64(len(b)) != se.Len {
					res.bad["content-mismatch"]++
				}
			}
		}
	}
	return res, nil
}

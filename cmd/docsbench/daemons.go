package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/internal/testutil"
)

func init() { scenarios["daemons"] = runDaemons }

const daemonsHelp = `usage: docsbench daemons [flags]

Live delivery between two docsnode daemons, each a process of its own
(docsnode start) on a temporary data directory, with QUIC on
--listen 127.0.0.1:0. Without -bin the docsnode binary is built first with
go build into the temporary directory (run from inside the module).

A creates a batched document and shares it write; B imports the ticket.
Once B's sync record of A says caught up, B's event stream is opened with
the client's event reader, and a few warm-up writes must reach it. Then A
sets -writes values of about 40 bytes one at a time through its API,
-pause apart. A write's latency is the time from the call of client.Set on
A's socket to the insert-remote event for its key read from B's stream.
At the end both daemons get SIGTERM, and are killed if they have not
exited within -stop.

Figures (last line):
  p50_ms, p99_ms  of the writes' latencies that arrived
  delivered_pct   writes whose event arrived within -grace of the last set

DOCSBENCH_DAEMONS_CPUPROFILE=file profiles this process only (the API
calls and the event reader), not the daemons.

Flags:
`

// runDaemons measures live delivery from one daemon's API to another's
// event stream; see daemonsHelp.
func runDaemons(args []string) error {
	fs := flag.NewFlagSet("daemons", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), daemonsHelp)
		fs.PrintDefaults()
	}
	writes := fs.Int("writes", 1000, "values A sets, one at a time")
	pause := fs.Duration("pause", 2*time.Millisecond, "pause after each set's answer before the next set")
	warmup := fs.Int("warmup", 10, "writes that must reach B before the measured ones")
	bin := fs.String("bin", "", "the docsnode binary (default: go build it)")
	parent := fs.String("dir", "", "parent of the temporary directory (default: the system's)")
	setup := fs.Duration("setup", 60*time.Second, "longest wait for each setup step: a daemon's socket, B catching up, the warm-up writes")
	grace := fs.Duration("grace", 5*time.Second, "wait after the last set for deliveries")
	stop := fs.Duration("stop", 15*time.Second, "how long a daemon may take to exit after SIGTERM before it is killed")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *writes < 1 || *warmup < 1 || *pause < 0 {
		return fmt.Errorf("need -writes >= 1, -warmup >= 1 and -pause >= 0")
	}
	ctx := context.Background()
	tmp, err := os.MkdirTemp(*parent, "docsbench-daemons-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "docsnode")
		t := time.Now()
		build := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/docsnode/docsnode/cmd/docsnode")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build docsnode (run inside the module, or pass -bin): %w\n%s", err, out)
		}
		fmt.Printf("built docsnode in %.1f s\n", time.Since(t).Seconds())
	}

	var daemons []*daemonProc
	defer func() {
		for _, d := range daemons {
			d.stop(*stop) // a no-op for a daemon already stopped
		}
	}()
	for _, name := range []string{"a", "b"} {
		d, err := startDaemon(*bin, tmp, name, *setup)
		if d != nil {
			daemons = append(daemons, d)
		}
		if err != nil {
			return err
		}
	}
	a, b := daemons[0], daemons[1]
	nodeA, err := a.c.Node(ctx)
	if err != nil {
		return err
	}

	doc, err := a.c.CreateDoc(ctx, false)
	if err != nil {
		return fmt.Errorf("a: create: %w", err)
	}
	tk, err := a.c.Share(ctx, doc.ID, "write")
	if err != nil {
		return fmt.Errorf("a: share: %w", err)
	}
	t0 := time.Now()
	if _, err := b.c.Import(ctx, tk.Ticket); err != nil {
		return fmt.Errorf("b: import: %w", err)
	}
	// B's first sync with A is the join's cost: wait until B's record of A
	// says caught up with no session running.
	var status []client.PeerSync
	var statusErr error
	if err := testutil.Poll(*setup, func() bool {
		if status, statusErr = b.c.SyncStatus(ctx, doc.ID); statusErr != nil {
			return false
		}
		for _, p := range status {
			if p.Peer == nodeA.ID && p.CaughtUp && p.Running == "idle" && p.Sessions > 0 {
				return true
			}
		}
		return false
	}); err != nil {
		return fmt.Errorf("b catching up with a (last record %+v, last error %v): %w", status, statusErr, err)
	}
	fmt.Printf("b caught up with a %.2f s after the import\n", time.Since(t0).Seconds())

	stream, err := b.c.Events(ctx, doc.ID, 0, false)
	if err != nil {
		return fmt.Errorf("b: events: %w", err)
	}
	// The reader records when each write's insert-remote event arrives;
	// warm[i] and done are closed as the warm-up writes and the measured
	// ones have all arrived.
	base := time.Now()
	arrived := make([]time.Duration, *writes) // since base; 0: not seen
	warm := make([]chan struct{}, *warmup)
	for i := range warm {
		warm[i] = make(chan struct{})
	}
	done := make(chan struct{})
	var mu sync.Mutex // guards arrived, seen, kinds
	seen := 0
	kinds := map[string]int{}
	readErr := make(chan error, 1)
	go func() {
		for {
			ev, err := stream.Next()
			now := time.Since(base)
			if err != nil {
				readErr <- err
				return
			}
			mu.Lock()
			kinds[ev.Kind]++
			if ev.Kind == "insert-remote" && ev.Entry != nil {
				if w, ok := writeIndex(ev.Entry.Key, "w", *writes); ok && arrived[w] == 0 {
					arrived[w] = now
					if seen++; seen == *writes {
						close(done)
					}
				} else if w, ok := writeIndex(ev.Entry.Key, "warm", *warmup); ok {
					select {
					case <-warm[w]:
					default:
						close(warm[w])
					}
				}
			}
			mu.Unlock()
		}
	}()
	defer func() {
		stream.Close()
		if err := <-readErr; err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "closed") {
			fmt.Fprintf(os.Stderr, "b's event stream: %v\n", err)
		}
	}()

	value := func(prefix string, i int) []byte {
		return fmt.Appendf(nil, "%s %06d: a small value of some forty bytes", prefix, i)
	}
	t0 = time.Now()
	for i := range *warmup {
		if _, err := a.c.Set(ctx, doc.ID, fmt.Sprintf("warm%06d", i), value("warm", i), client.SetOptions{}); err != nil {
			return fmt.Errorf("a: warm-up set %d: %w", i, err)
		}
		select {
		case <-warm[i]:
		case <-time.After(*setup):
			return fmt.Errorf("warm-up write %d did not reach b's event stream within %v", i, *setup)
		}
	}
	fmt.Printf("%d warm-up writes reached b in %.2f s\n", *warmup, time.Since(t0).Seconds())

	stopProfile, err := cpuProfileFromEnv("DOCSBENCH_DAEMONS_CPUPROFILE")
	if err != nil {
		return err
	}
	sent := make([]time.Duration, *writes)
	setTimes := make([]time.Duration, 0, *writes)
	start := time.Now()
	for w := range *writes {
		s := time.Since(base)
		sent[w] = s
		if _, err := a.c.Set(ctx, doc.ID, fmt.Sprintf("w%06d", w), value("w", w), client.SetOptions{}); err != nil {
			stopProfile()
			return fmt.Errorf("a: set %d: %w", w, err)
		}
		setTimes = append(setTimes, time.Since(base)-s)
		if *pause > 0 {
			time.Sleep(*pause)
		}
	}
	wrote := time.Since(start)
	timer := time.NewTimer(*grace)
	select {
	case <-done:
	case <-timer.C:
	case err := <-readErr:
		readErr <- err // for the deferred check
	}
	timer.Stop()
	stopProfile()

	mu.Lock()
	lat := make([]time.Duration, 0, *writes)
	for w, t := range arrived {
		if t != 0 {
			lat = append(lat, t-sent[w])
		}
	}
	events := fmt.Sprint(kinds)
	mu.Unlock()
	slices.Sort(lat)
	slices.Sort(setTimes)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	fmt.Printf("a's sets took p50 %.2f ms, p99 %.2f ms; %d writes in %.2f s\n",
		ms(setTimes[len(setTimes)/2]), ms(setTimes[len(setTimes)*99/100]), *writes, wrote.Seconds())
	if len(lat) > 0 {
		fmt.Printf("%d of %d writes reached b; max %.2f ms; b's events %s\n", len(lat), *writes, pct(1), events)
	} else {
		fmt.Printf("no write reached b; b's events %s\n", events)
	}
	for _, d := range daemons {
		if err := d.stop(*stop); err != nil {
			fmt.Fprintf(os.Stderr, "daemon %s: %v\n", d.name, err)
		}
		if ps := d.cmd.ProcessState; ps != nil {
			fmt.Printf("daemon %s: %s, CPU %.2f s over its life\n", d.name, ps, (ps.UserTime() + ps.SystemTime()).Seconds())
		}
	}
	fmt.Printf("daemons writes=%d p50_ms=%.2f p99_ms=%.2f delivered_pct=%.2f\n",
		*writes, pct(0.50), pct(0.99), 100*float64(len(lat))/float64(*writes))
	return nil
}

// writeIndex parses key as prefix and a decimal index below n.
func writeIndex(key, prefix string, n int) (int, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n
}

// daemonProc is a docsnode start process and a client of its API.
type daemonProc struct {
	name   string
	dir    string
	log    string // the file its stderr and stdout go to
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
	c      *client.Client

	stopOnce sync.Once
	stopErr  error
}

// startDaemon starts docsnode start on dir/name, with QUIC on loopback
// and start's extra flags, and returns once its API answers as ready.
// The daemon it returns, also with an error, must be stopped.
func startDaemon(bin, dir, name string, wait time.Duration, extra ...string) (*daemonProc, error) {
	d := &daemonProc{name: name, dir: filepath.Join(dir, name), log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	d.cmd = exec.Command(bin, append([]string{"--data", d.dir, "start", "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start daemon %s: %w", name, err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	if d.c, err = client.New(client.Options{Socket: filepath.Join(d.dir, "api.sock")}); err != nil {
		return d, err
	}
	ctx := context.Background()
	exited := false
	err = testutil.Poll(wait, func() bool {
		select {
		case <-d.exited:
			exited = true
			return true
		default:
		}
		return d.c.Health(ctx) == nil
	})
	if exited {
		return d, fmt.Errorf("daemon %s exited at start (%s):\n%s", name, d.cmd.ProcessState, d.logTail())
	}
	if err != nil {
		return d, fmt.Errorf("daemon %s not ready: %w\n%s", name, err, d.logTail())
	}
	return d, nil
}

// stop sends SIGTERM and waits up to bound for the exit, then kills.
func (d *daemonProc) stop(bound time.Duration) error {
	d.stopOnce.Do(func() {
		if d.c != nil {
			d.c.Close()
		}
		select {
		case <-d.exited:
			return
		default:
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			d.stopErr = fmt.Errorf("SIGTERM: %w", err)
		}
		timer := time.NewTimer(bound)
		defer timer.Stop()
		select {
		case <-d.exited:
			if !d.cmd.ProcessState.Success() {
				d.stopErr = fmt.Errorf("exited %s after SIGTERM:\n%s", d.cmd.ProcessState, d.logTail())
			}
		case <-timer.C:
			d.cmd.Process.Kill()
			<-d.exited
			d.stopErr = fmt.Errorf("killed: no exit within %v of SIGTERM", bound)
		}
	})
	return d.stopErr
}

// logTail is the end of the daemon's log.
func (d *daemonProc) logTail() string {
	b, _ := os.ReadFile(d.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

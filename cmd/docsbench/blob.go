package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/endpoint"
	ticketpkg "github.com/docsnode/docsnode/ticket"
	"lukechampine.com/blake3"
)

func init() { scenarios["blob"] = runBlob }

const blobHelp = `usage: docsbench blob [flags]

The transfer of one large value between docsnode daemons, each a process
of its own (docsnode start) on a temporary data directory, with QUIC on
--listen 127.0.0.1:0. Without -bin the docsnode binary is built first
with go build into the temporary directory (run from inside the module).

Every daemon runs with --max-content-bytes of -size (so a value over the
1 GiB default can be measured; each daemon keeps a copy on disk), p0 with
--max-value-bytes of it too. Provider p0 creates a document and sets one
value of -size bytes of deterministic pseudo-random data (ChaCha8, seeded
per 16 KiB block so that any range can be made alone), streamed through
its API by the client (never held in memory here), then shares the
document read-only. With -providers N > 1, providers p1..pN-1 import the
ticket and each waits for the content to be held (its content-ready
event) before the next. With -throttle, the last provider serves content
at that rate (--content-max-upload-rate).

With -liar, a lying provider runs too: a docsbench blob-liar process that
makes the same value and serves it on the content protocol from an
endpoint of its own, with one chunk group in ten corrupted (index 3
modulo 10; the proofs are honest), and speaks no other protocol.

Then the fetcher imports p0's ticket with the addresses of p1..pN-1 added
after p0's, so that its download knows every provider from the start
(with -p0-only it names p0 alone, and the download must find the others
as they join the fetcher's swarm while it runs), and the liar's before
it. The ticket's nodes
become the document's peers: the fetcher's syncs with the liar fail, and
its download asks the liar for content along with the honest providers,
and must drop it at its first corrupt group. The transfer is timed from
the import call to the fetcher's content-ready event for the value (the
arrival of the entry, its insert-remote event, is printed too). Last,
the fetcher's API streams the value back and its BLAKE3 hash is checked
against the entry.

Memory is each daemon's peak resident set (VmHWM of /proc/PID/status)
above its resident set just before the step, with the peak reset
(5 > /proc/PID/clear_refs) at the step's start. The set and the read back
are reported on their own lines.

Figures (last line):
  size                  the value's bytes
  providers             daemons holding the value when the fetcher joins
  mb_per_s              size / transfer time, in 10^6 bytes per second
  peak_rss_mb           the fetcher's peak above its resident set, MiB
  provider_peak_rss_mb  the largest provider's peak during the transfer, MiB
  seconds               the transfer time
  served_mb             what each provider's content server sent during
                        the transfer (docsnode_content_sent_bytes_total),
                        10^6 bytes, p0/p1/...; ? where a daemon does not
                        export it
  liar_requests         with -liar: the requests the liar answered
  liar_bytes            with -liar: the bytes it wrote to their streams

Flags:
`

// blobFlags are the blob scenario's parsed flags.
type blobFlags struct {
	size      int64
	providers int
	throttle  int64 // bytes per second for the last provider; 0: none
	liar      bool
	p0Only    bool // the fetcher's ticket names p0 (and the liar) only
	bin, dir  string
	setup     time.Duration
	timeout   time.Duration
	stop      time.Duration
}

// parseBlobFlags parses and checks the blob scenario's flags.
func parseBlobFlags(args []string) (blobFlags, error) {
	var f blobFlags
	fs := flag.NewFlagSet("blob", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), blobHelp)
		fs.PrintDefaults()
	}
	size := fs.String("size", "64MiB", "the value's size: bytes, or a number with B, KiB, MiB, GiB (or kB, MB, GB); every daemon gets --max-content-bytes of it, and each holds a copy on disk")
	fs.IntVar(&f.providers, "providers", 1, "daemons that hold the value before the fetcher joins")
	throttle := fs.String("throttle", "", "upload rate of the last provider, in bytes per second (units as -size), passed as --content-max-upload-rate; needs -providers 2 or more")
	fs.BoolVar(&f.liar, "liar", false, "a provider of the liar's own (docsbench blob-liar) that corrupts one chunk group in ten is in the fetcher's ticket")
	fs.BoolVar(&f.p0Only, "p0-only", false, "the fetcher's ticket names p0 (and the liar) only: the other providers are found as they announce the content or join the swarm while the download runs")
	fs.StringVar(&f.bin, "bin", "", "the docsnode binary (default: go build it)")
	fs.StringVar(&f.dir, "dir", "", "parent of the temporary directory (default: the system's)")
	fs.DurationVar(&f.setup, "setup", 60*time.Second, "longest wait for a daemon's socket")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "longest wait for each transfer of the value (a provider's or the fetcher's)")
	fs.DurationVar(&f.stop, "stop", 15*time.Second, "how long a daemon may take to exit after SIGTERM before it is killed")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if f.size, err = parseSize(*size); err != nil {
		return f, fmt.Errorf("-size: %w", err)
	}
	if f.size < 1 {
		return f, fmt.Errorf("-size %s: want 1 byte or more", *size)
	}
	if f.providers < 1 {
		return f, fmt.Errorf("-providers %d: want 1 or more", f.providers)
	}
	if *throttle != "" {
		if f.throttle, err = parseSize(*throttle); err != nil {
			return f, fmt.Errorf("-throttle: %w", err)
		}
		if f.throttle < 1 {
			return f, fmt.Errorf("-throttle %s: want a rate above 0", *throttle)
		}
		if f.providers < 2 {
			return f, errors.New("-throttle slows the last provider while the others serve at full rate: use it with -providers 2 or more (3 in docs/benchmarks.md)")
		}
	}
	return f, nil
}

// sizeUnits are the suffixes parseSize takes, lower case.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"k": 1000, "kb": 1000, "mb": 1000_000, "gb": 1000_000_000, "tb": 1000_000_000_000,
}

// parseSize reads a byte count: a whole number with an optional unit,
// binary (KiB, MiB, GiB, TiB) or decimal (kB, MB, GB, TB), in any case.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(t)
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: want a whole number with an optional unit, like 64MiB", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)", s, t[i:])
	}
	if n > (1<<63-1)/unit {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return n * unit, nil
}

// runBlob measures one large value's transfer; see blobHelp.
func runBlob(args []string) error {
	f, err := parseBlobFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	ctx := context.Background()
	tmp, err := os.MkdirTemp(f.dir, "docsbench-blob-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if f.bin == "" {
		f.bin = filepath.Join(tmp, "docsnode")
		t := time.Now()
		build := exec.CommandContext(ctx, "go", "build", "-o", f.bin, "github.com/docsnode/docsnode/cmd/docsnode")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build docsnode (run inside the module, or pass -bin): %w\n%s", err, out)
		}
		fmt.Printf("built docsnode in %.1f s\n", time.Since(t).Seconds())
	}

	var daemons []*daemonProc
	defer func() {
		for _, d := range daemons {
			d.stop(f.stop) // a no-op for a daemon already stopped
		}
	}()
	// The liar builds its tree of the value while the daemons start.
	var lp *liarProc
	if f.liar {
		if lp, err = startLiar(f.size, filepath.Join(tmp, "liar.log")); err != nil {
			return err
		}
		defer lp.stop(f.stop) // a no-op for a liar already stopped
	}
	// Every daemon stores and downloads a value of the size.
	sizeFlags := []string{"--max-content-bytes", strconv.FormatInt(f.size, 10)}
	start := func(name string, extra ...string) (*daemonProc, error) {
		d, err := startDaemon(f.bin, tmp, name, f.setup, append(sizeFlags, extra...)...)
		if d != nil {
			daemons = append(daemons, d)
		}
		return d, err
	}
	providers := make([]*daemonProc, f.providers)
	for i := range providers {
		// p0 takes the value through its API.
		extra := []string{"--max-value-bytes", strconv.FormatInt(f.size, 10)}
		throttled := f.throttle > 0 && i == f.providers-1
		if throttled {
			extra = append(extra, "--content-max-upload-rate", strconv.FormatInt(f.throttle, 10))
		}
		if providers[i], err = start(fmt.Sprintf("p%d", i), extra...); err != nil {
			if throttled && strings.Contains(err.Error(), "content-max-upload-rate") {
				return fmt.Errorf("the docsnode binary refused --content-max-upload-rate, which -throttle needs (a docsnode with that flag, or no -throttle): %w", err)
			}
			return err
		}
	}
	fetcher, err := start("fetcher")
	if err != nil {
		return err
	}

	// p0 sets the value from a generator, streamed through its API.
	p0 := providers[0]
	doc, err := p0.c.CreateDoc(ctx, false)
	if err != nil {
		return fmt.Errorf("p0: create: %w", err)
	}
	base, err := resetPeak(p0)
	if err != nil {
		return err
	}
	t0 := time.Now()
	value := io.NewSectionReader(blobContent{f.size}, 0, f.size)
	entry, err := p0.c.SetReader(ctx, doc.ID, "blob", value, client.SetOptions{Length: f.size})
	if err != nil {
		return fmt.Errorf("p0: set %d bytes: %w", f.size, err)
	}
	setTime := time.Since(t0)
	setPeak, err := peakAbove(p0, base)
	if err != nil {
		return err
	}
	fmt.Printf("p0 set %d bytes in %.2f s (%.1f MB/s), peak RSS %.1f MiB above its %.1f MiB before\n",
		f.size, setTime.Seconds(), mbPerSec(f.size, setTime), mib(setPeak), mib(base))
	tk, err := p0.c.Share(ctx, doc.ID, "read")
	if err != nil {
		return fmt.Errorf("p0: share: %w", err)
	}

	// The other providers fetch the value first, one after another.
	for i, p := range providers[1:] {
		took, _, err := fetchValue(ctx, p, tk.Ticket, entry.Hash, f.timeout)
		if err != nil {
			return fmt.Errorf("p%d: %w", i+1, err)
		}
		fmt.Printf("p%d holds the value after %.2f s (%.1f MB/s)\n", i+1, took.Seconds(), mbPerSec(f.size, took))
	}

	// The fetcher's ticket names every provider (unless -p0-only), and
	// the liar first.
	var front, back []endpoint.NodeAddr
	for _, p := range providers[1:] {
		if f.p0Only {
			break
		}
		addr, err := nodeAddrOf(ctx, p)
		if err != nil {
			return err
		}
		back = append(back, addr)
	}
	if lp != nil {
		addr, err := liarAddr(lp, entry.Hash, f.timeout)
		if err != nil {
			return err
		}
		front = append(front, addr)
	}
	fetchTicket, err := ticketWith(tk.Ticket, front, back)
	if err != nil {
		return err
	}

	// The measured transfer.
	procs := append(append([]*daemonProc{}, providers...), fetcher)
	bases := make([]int64, len(procs))
	for i, p := range procs {
		if bases[i], err = resetPeak(p); err != nil {
			return err
		}
	}
	sentBefore := make([]float64, len(providers))
	for i, p := range providers {
		sentBefore[i] = contentSent(ctx, p)
	}
	took, gotEntry, err := fetchValue(ctx, fetcher, fetchTicket, entry.Hash, f.timeout)
	if err != nil {
		return fmt.Errorf("fetcher: %w", err)
	}
	served := make([]string, len(providers))
	for i, p := range providers {
		served[i] = "?"
		if after := contentSent(ctx, p); after >= 0 && sentBefore[i] >= 0 {
			served[i] = fmt.Sprintf("%.1f", (after-sentBefore[i])/1e6)
		}
	}
	peaks := make([]int64, len(procs))
	for i, p := range procs {
		if peaks[i], err = peakAbove(p, bases[i]); err != nil {
			return err
		}
	}
	var providerPeak int64
	for i, p := range providers {
		providerPeak = max(providerPeak, peaks[i])
		fmt.Printf("%s: sent %s MB of content and proofs, peak RSS %.1f MiB above its %.1f MiB during the transfer\n", p.name, served[i], mib(peaks[i]), mib(bases[i]))
	}
	fetcherPeak := peaks[len(peaks)-1]
	fmt.Printf("fetcher held %d bytes %.2f s after its import (the entry after %.2f s), peak RSS %.1f MiB above its %.1f MiB\n",
		f.size, took.Seconds(), gotEntry.Seconds(), mib(fetcherPeak), mib(bases[len(bases)-1]))

	// The fetcher's API streams the value back; its hash must match.
	base, err = resetPeak(fetcher)
	if err != nil {
		return err
	}
	t0 = time.Now()
	n, sum, err := readValue(ctx, fetcher.c, doc.ID, "blob")
	if err != nil {
		return fmt.Errorf("fetcher: read the value back: %w", err)
	}
	if n != f.size || sum != entry.Hash {
		return fmt.Errorf("fetcher: read back %d bytes hashing to %s, want %d bytes hashing to %s", n, sum, f.size, entry.Hash)
	}
	readTime := time.Since(t0)
	readPeak, err := peakAbove(fetcher, base)
	if err != nil {
		return err
	}
	fmt.Printf("fetcher read the value back through its API in %.2f s (%.1f MB/s), hash checked, peak RSS %.1f MiB above its %.1f MiB\n",
		readTime.Seconds(), mbPerSec(f.size, readTime), mib(readPeak), mib(base))

	for _, d := range daemons {
		if err := d.stop(f.stop); err != nil {
			fmt.Fprintf(os.Stderr, "daemon %s: %v\n", d.name, err)
		}
	}
	liarFigures := ""
	if lp != nil {
		requests, bytes, err := lp.stop(f.stop)
		if err != nil {
			return fmt.Errorf("liar: %w\n%s", err, tail(filepath.Join(tmp, "liar.log")))
		}
		if requests == 0 {
			fmt.Println("the liar was never asked for content")
		}
		liarFigures = fmt.Sprintf(" liar_requests=%d liar_bytes=%d", requests, bytes)
	}
	fmt.Printf("blob size=%d providers=%d mb_per_s=%.1f peak_rss_mb=%.1f provider_peak_rss_mb=%.1f seconds=%.2f served_mb=%s%s\n",
		f.size, f.providers, mbPerSec(f.size, took), mib(fetcherPeak), mib(providerPeak), took.Seconds(), strings.Join(served, "/"), liarFigures)
	return nil
}

// liarAddr waits for the liar to serve, checks that its value is the
// entry's, and returns its address.
func liarAddr(lp *liarProc, hash string, timeout time.Duration) (endpoint.NodeAddr, error) {
	addr, liarHash, err := lp.wait(timeout)
	if err != nil {
		return addr, fmt.Errorf("liar: %w", err)
	}
	if liarHash != hash {
		return addr, fmt.Errorf("liar: its value hashes to %s, p0's to %s: they must come from the same generator", liarHash, hash)
	}
	fmt.Printf("the liar %s serves; the fetcher's ticket names it first\n", addr.ID.Short())
	return addr, nil
}

// nodeAddrOf asks a daemon for its node address.
func nodeAddrOf(ctx context.Context, d *daemonProc) (endpoint.NodeAddr, error) {
	n, err := d.c.Node(ctx)
	if err != nil {
		return endpoint.NodeAddr{}, fmt.Errorf("%s: node: %w", d.name, err)
	}
	var addr endpoint.NodeAddr
	if addr.ID, err = endpoint.ParseNodeID(n.ID); err != nil {
		return addr, fmt.Errorf("%s: node id: %w", d.name, err)
	}
	for _, a := range n.Addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return addr, fmt.Errorf("%s: node address %q: %w", d.name, a, err)
		}
		addr.Addrs = append(addr.Addrs, ap)
	}
	return addr, nil
}

// ticketWith returns ticket with the nodes of front before its own and
// those of back after them, at most ticket.MaxNodes in all.
func ticketWith(ticket string, front, back []endpoint.NodeAddr) (string, error) {
	t, err := ticketpkg.Parse(ticket)
	if err != nil {
		return "", fmt.Errorf("parse the ticket: %w", err)
	}
	t.Nodes = append(append(append([]endpoint.NodeAddr{}, front...), t.Nodes...), back...)
	if len(t.Nodes) > ticketpkg.MaxNodes {
		t.Nodes = t.Nodes[:ticketpkg.MaxNodes]
	}
	out, err := t.ExportText()
	if err != nil {
		return "", fmt.Errorf("the ticket with nodes added: %w", err)
	}
	return out, nil
}

// contentSent reads docsnode_content_sent_bytes_total from the daemon's
// /metrics, or returns -1 when it cannot.
func contentSent(ctx context.Context, d *daemonProc) float64 {
	const name = "docsnode_content_sent_bytes_total "
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", filepath.Join(d.dir, "api.sock"))
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docsnode/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := hc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// tail is the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// fetchValue imports the ticket on d and waits, on d's event stream from
// the import on, until d holds the content with the given hash. It
// returns the time from the import call to that event, and to the
// arrival of the entry (its insert-remote event).
func fetchValue(ctx context.Context, d *daemonProc, ticket, hash string, timeout time.Duration) (took, gotEntry time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	imp, err := d.c.Import(ctx, ticket)
	if err != nil {
		return 0, 0, fmt.Errorf("import: %w", err)
	}
	events, err := d.c.Events(ctx, imp.ID, imp.EventsAfter, true)
	if err != nil {
		return 0, 0, fmt.Errorf("events: %w", err)
	}
	defer events.Close()
	for {
		ev, err := events.Next()
		if err != nil {
			if ctx.Err() != nil {
				return 0, 0, fmt.Errorf("the content was not held within %v: %w\n%s", timeout, ctx.Err(), d.logTail())
			}
			return 0, 0, fmt.Errorf("event stream: %w", err)
		}
		if ev.Kind == "insert-remote" && ev.Entry != nil && ev.Entry.Hash == hash && gotEntry == 0 {
			gotEntry = time.Since(t0)
		}
		switch {
		case ev.Kind == "content-ready" && ev.Hash == hash:
			return time.Since(t0), gotEntry, nil
		case ev.Kind == "insert-remote" && ev.Entry != nil && ev.Entry.Hash == hash && ev.Content == "complete":
			return time.Since(t0), gotEntry, nil
		case ev.Kind == "content-failed" && ev.Hash == hash:
			return 0, 0, fmt.Errorf("the download was given up: %s\n%s", ev.Error, d.logTail())
		case ev.Kind == "lagged":
			return 0, 0, fmt.Errorf("the event stream lost %d events, among them perhaps the content's", ev.Missed)
		}
	}
}

// readValue streams the value at key from c into BLAKE3 and returns its
// length and hash.
func readValue(ctx context.Context, c *client.Client, doc, key string) (int64, string, error) {
	body, _, err := c.GetReader(ctx, doc, key, client.GetOptions{})
	if err != nil {
		return 0, "", err
	}
	defer body.Close()
	h := blake3.New(32, nil)
	n, err := io.Copy(h, body)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// procStatus reads the resident set and its peak (VmRSS, VmHWM) of a
// process, in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return rss, hwm, nil
}

// resetPeak resets the daemon's peak resident set to its current one and
// returns that, the base of a later peakAbove.
func resetPeak(d *daemonProc) (int64, error) {
	pid := d.cmd.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("reset the peak RSS of %s: %w", d.name, err)
	}
	rss, _, err := procStatus(pid)
	return rss, err
}

// peakAbove is the daemon's peak resident set since resetPeak, above
// base.
func peakAbove(d *daemonProc, base int64) (int64, error) {
	_, hwm, err := procStatus(d.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return max(hwm-base, 0), nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func mbPerSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / 1e6 / d.Seconds()
}

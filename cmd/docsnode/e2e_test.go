package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	docticket "github.com/docsnode/docsnode/ticket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildBinary builds docsnode into a temporary directory, once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "docsnode")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer that a child process writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type daemon struct {
	cmd    *exec.Cmd
	dir    string
	stderr *syncBuffer
	exited chan struct{}
	err    error // after exited
}

// startDaemon runs 'docsnode start' on dir, on loopback only, and waits
// until its API answers. The process is killed in t.Cleanup if it still
// runs.
func startDaemon(t *testing.T, bin, dir string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, stderr: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"--data", dir, "start", "--listen", "127.0.0.1:0", "--event-heartbeat", "200ms", "--shutdown-timeout", "20s"}, extra...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", dir, d.stderr.String())
		}
	})
	sock, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case <-d.exited:
			t.Fatalf("the daemon on %s exited: %v\n%s", dir, d.err, d.stderr.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Health(ctx) == nil
	}, "the daemon on %s answers", dir)
	return d
}

// tcpAddr returns the TCP address of the API, from the daemon's log.
func (d *daemon) tcpAddr(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`api=\S+,(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(d.stderr.String())
	if m == nil {
		t.Fatalf("no TCP API address in the log:\n%s", d.stderr.String())
	}
	return m[1]
}

// socketClient is a client of the daemon on dir, closed with the test.
func socketClient(t *testing.T, dir string) *client.Client {
	t.Helper()
	sock, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// quicAddr returns the node's QUIC address, through the API.
func quicAddr(t *testing.T, bin, dir string) string {
	t.Helper()
	var n client.Node
	if err := json.Unmarshal([]byte(mustCLI(t, bin, dir, "--json", "node", "id")), &n); err != nil || len(n.Addrs) != 1 {
		t.Fatalf("node id --json: %+v, %v", n, err)
	}
	return n.Addrs[0]
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.exited
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon on %s did not exit after SIGTERM", d.dir)
	}
	return d.cmd.ProcessState.ExitCode()
}

// cli runs one command and returns its stdout, stderr and exit code.
func runCLI(t *testing.T, bin, dir string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--data", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("docsnode %q: %v", args, err)
	}
	return strings.TrimSpace(stdout.String()), stderr.String(), cmd.ProcessState.ExitCode()
}

func mustCLI(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, bin, dir, args...)
	if code != 0 {
		t.Fatalf("docsnode %q: exit %d: %s", args, code, errOut)
	}
	return out
}

// TestDaemonsShareAndWatch runs two daemons on loopback: A creates and
// shares a document, B joins it and watches it, and a value set on A
// shows in B's watch and reads back on B. Along the way: the exit code
// without a daemon, a refused second daemon on A's data directory, A's
// TCP API and its token, an SSE client resuming with Last-Event-ID,
// wait-synced, a 20 MiB binary value, a read-only refusal, B killed and
// restarted on its kept port catching up on what A wrote meanwhile,
// authors, and no secret in the logs. SIGTERM ends both daemons with
// status 0.
func TestDaemonsShareAndWatch(t *testing.T) {
	bin := buildBinary(t)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")

	// No daemon yet: a distinct exit code and a message saying what to do.
	if _, errOut, code := runCLI(t, bin, dirA, "doc", "ls"); code != exitNoDaemon || !strings.Contains(errOut, "docsnode start") {
		t.Fatalf("doc ls with no daemon: exit %d, %q", code, errOut)
	}
	a := startDaemon(t, bin, dirA, "--api-addr", "127.0.0.1:0", "--log-level", "debug")
	b := startDaemon(t, bin, dirB)
	addrB := quicAddr(t, bin, dirB)

	// A's TCP API wants the token: the CLI reads it from the data
	// directory; a wrong one, or none, is refused.
	tcp := a.tcpAddr(t)
	if out := mustCLI(t, bin, dirA, "--api-addr", tcp, "doc", "ls"); out != "" {
		t.Fatalf("doc ls over TCP = %q", out)
	}
	t.Setenv("DOCSNODE_API_TOKEN", "wrong")
	if _, errOut, code := runCLI(t, bin, dirA, "--api-addr", tcp, "doc", "ls"); code != exitError || !strings.Contains(errOut, "unauthorized") {
		t.Fatalf("doc ls over TCP with a wrong token: exit %d, %q", code, errOut)
	}
	os.Unsetenv("DOCSNODE_API_TOKEN")
	resp, err := http.Get("http://" + tcp + "/v1/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/docs over TCP without a token: %s", resp.Status)
	}

	if _, errOut, code := runCLI(t, bin, dirA, "start", "--listen", "127.0.0.1:0"); code != exitError || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, lockFile) {
		t.Fatalf("a second daemon on A's directory: exit %d, %q", code, errOut)
	}
	if fi, err := os.Stat(filepath.Join(dirA, socketFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("A's socket: %v, %v", fi, err)
	}

	idA := mustCLI(t, bin, dirA, "node", "id")
	doc := mustCLI(t, bin, dirA, "doc", "new")
	ticket, errOut, code := runCLI(t, bin, dirA, "doc", "share", doc, "read")
	if code != 0 || !strings.Contains(errOut, "grants read") {
		t.Fatalf("share: exit %d, %q", code, errOut)
	}
	writeTicket, errOut, code := runCLI(t, bin, dirA, "doc", "share", doc, "write")
	if code != 0 || !strings.Contains(errOut, "grants WRITE") || writeTicket == ticket {
		t.Fatalf("share write: exit %d, %q", code, errOut)
	}
	// The printed write ticket is the whole ticket, secret included, not
	// its redacted description.
	if wt, err := docticket.Parse(writeTicket); err != nil || wt.Capability.Kind() != replica.Write {
		t.Fatalf("share write printed %q: %v", writeTicket, err)
	}
	if joined := mustCLI(t, bin, dirB, "doc", "join", ticket); joined != doc {
		t.Fatalf("join printed %q, want %s", joined, doc)
	}

	// B watches the document, as JSON lines.
	watch := exec.Command(bin, "--data", dirB, "--json", "doc", "watch", doc)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	watchErr := &syncBuffer{}
	watch.Stderr = watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan struct{})
	t.Cleanup(func() {
		watch.Process.Kill()
		<-watchDone
	})
	events := make(chan client.Event, 64)
	go func() {
		defer close(watchDone)
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev client.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("watch printed %q: %v", sc.Text(), err)
				continue
			}
			events <- ev
		}
		watch.Wait()
	}()
	// Nothing outside tells when the watch's stream is open, and a set
	// made before it opens is not shown: the set is repeated (a new entry
	// each time) until the watch shows one.
	deadline := time.After(60 * time.Second)
	got := false
	for i := 0; !got; i++ {
		mustCLI(t, bin, dirA, "doc", "set", doc, "greeting", "hello from A")
		retry := time.After(2 * time.Second)
	wait:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("watch ended: %s", watchErr.String())
				}
				if ev.Kind == "insert-remote" && ev.Entry != nil && ev.Entry.Key == "greeting" {
					if ev.Peer != idA || ev.Doc != doc || ev.ID == 0 {
						t.Fatalf("B's event = %+v, want from %s", ev, idA)
					}
					got = true
					break wait
				}
			case <-retry:
				break wait
			case <-deadline:
				t.Fatalf("B's watch did not show A's set after %d tries: %s", i+1, watchErr.String())
			}
		}
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		out, _, code := runCLI(t, bin, dirB, "doc", "get", doc, "greeting")
		return code == 0 && out == "hello from A"
	}, "B reads A's value")
	// Metrics: B's /metrics parses as Prometheus text, and the sync and
	// gossip counters moved with the join and A's set.
	fams := scrapeMetrics(t, dirB)
	if n := metricSum(fams, "docsnode_sync_sessions_total", "result", "ok"); n < 1 {
		t.Fatalf("B counts %v completed sync sessions after joining", n)
	}
	if n := metricSum(fams, "docsnode_gossip_ops_total", "direction", "in"); n < 1 {
		t.Fatalf("B counts %v gossip ops in after A's sets", n)
	}
	if n := metricSum(fams, "docsnode_api_request_duration_seconds", "", ""); n < 1 {
		t.Fatalf("B counts %v API requests", n)
	}
	// SSE: a client of B's API reads an event and disconnects; A writes
	// 10 entries, and wait-synced on A returns only once B holds them; the
	// client reconnects with Last-Event-ID and gets exactly those 10.
	ca, cb := socketClient(t, dirA), socketClient(t, dirB)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := cb.Events(ctx, doc, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, bin, dirA, "doc", "set", doc, "sse/first", "1")
	for {
		ev, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == "insert-remote" && ev.Entry.Key == "sse/first" {
			break
		}
	}
	lastID := stream.LastID
	stream.Close()
	for i := range 10 {
		if _, err := ca.Set(ctx, doc, fmt.Sprintf("sse/batch/%d", i), []byte("v"), client.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	idB := mustCLI(t, bin, dirB, "node", "id")
	mustCLI(t, bin, dirA, "doc", "wait-synced", doc, "--peer", idB, "--timeout", "30s")
	prefix := "sse/batch/"
	if held, err := cb.QueryAll(ctx, doc, client.Query{Prefix: &prefix}); err != nil || len(held) != 10 {
		t.Fatalf("B holds %d of A's 10 entries once wait-synced returned (%v)", len(held), err)
	}
	stream, err = cb.Events(ctx, doc, lastID, true)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 10 {
		ev, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Kind == "lagged":
			t.Fatalf("lagged after a reconnect within the replay buffer: %+v", ev)
		case ev.Kind == "insert-remote" || ev.Kind == "insert-local":
			if !strings.HasPrefix(ev.Entry.Key, prefix) || seen[ev.Entry.Key] {
				t.Fatalf("replayed insert of %q (seen so far %v)", ev.Entry.Key, seen)
			}
			seen[ev.Entry.Key] = true
		}
	}
	stream.Close()

	// A 20 MiB binary value set from a file on A reads back
	// byte-identical on B.
	big := make([]byte, 20<<20)
	rand.NewChaCha8([32]byte{1}).Read(big)
	bigIn, bigOut := filepath.Join(t.TempDir(), "big.in"), filepath.Join(t.TempDir(), "big.out")
	if err := os.WriteFile(bigIn, big, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, bin, dirA, "doc", "set", doc, "big", "@"+bigIn)
	testutil.Eventually(t, 60*time.Second, func() bool {
		_, _, code := runCLI(t, bin, dirB, "doc", "get", doc, "big", "--out", bigOut)
		return code == 0
	}, "B reads the 20 MiB value")
	if got, err := os.ReadFile(bigOut); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("B's copy of the 20 MiB value: %d bytes, equal %v, %v", len(got), bytes.Equal(got, big), err)
	}
	// doc content: B holds all the content A's entries name, the 20 MiB
	// value among it, and says so as JSON and as text.
	var cs client.ContentStatus
	testutil.Eventually(t, 30*time.Second, func() bool {
		out := mustCLI(t, bin, dirB, "--json", "doc", "content", doc)
		if err := json.Unmarshal([]byte(out), &cs); err != nil {
			t.Fatalf("doc content --json printed %q: %v", out, err)
		}
		return cs.Held == cs.Bytes && cs.Downloads.Idle()
	}, "B holds all the content")
	if cs.Entries != cs.Complete || cs.Bytes < uint64(len(big)) || cs.Downloads.BytesCompleted < uint64(len(big)) {
		t.Fatalf("B's content status: %+v", cs)
	}
	if out := mustCLI(t, bin, dirB, "doc", "content", doc); !strings.Contains(out, "content held") || !strings.Contains(out, "100%") {
		t.Fatalf("doc content printed %q", out)
	}

	if _, errOut, code := runCLI(t, bin, dirB, "doc", "set", doc, "k", "v"); code != exitError || !strings.Contains(errOut, "read_only") {
		t.Fatalf("set on B's read-only copy: exit %d, %q", code, errOut)
	}

	// SIGINT ends the watch cleanly.
	if err := watch.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-watchDone
	if code := watch.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("watch exit %d after SIGINT: %s", code, watchErr.String())
	}
	// B crashes; A writes while it is down; B restarts on the QUIC port
	// its first start kept, resumes the document's sync, and catches up.
	b.kill(t)
	mustCLI(t, bin, dirA, "doc", "set", doc, "while-down", "B was down")
	b = startDaemon(t, bin, dirB)
	if got := quicAddr(t, bin, dirB); got != addrB {
		t.Fatalf("B restarted on %s, first on %s: the kept port was not used", got, addrB)
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		out, _, code := runCLI(t, bin, dirB, "doc", "get", doc, "while-down")
		return code == 0 && out == "B was down"
	}, "B catches up after its restart")

	// Authors: a new default on A, exported and imported on B.
	author := mustCLI(t, bin, dirA, "author", "new")
	mustCLI(t, bin, dirA, "author", "default", author)
	if got := mustCLI(t, bin, dirA, "author", "default"); got != author {
		t.Fatalf("author default = %q, want %s", got, author)
	}
	secret := mustCLI(t, bin, dirA, "author", "export", author)
	if a, err := replica.ParseAuthor(secret); err != nil || a.ID().String() != author {
		t.Fatalf("author export printed %q: %v", secret, err)
	}
	if got := mustCLI(t, bin, dirB, "author", "import", secret); got != author {
		t.Fatalf("author import on B = %q, want %s", got, author)
	}
	if ls := mustCLI(t, bin, dirB, "author", "ls"); !strings.Contains(ls, author) {
		t.Fatalf("B's author ls = %q", ls)
	}

	// Neither the write ticket (it holds the document's secret), an
	// author's secret nor the API token reaches the log, even at debug
	// level.
	token, err := readAPIToken(dirA)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*daemon{a, b} {
		if log := d.stderr.String(); strings.Contains(log, writeTicket) || strings.Contains(log, secret) {
			t.Fatalf("the log of %s shows a secret:\n%s", d.dir, log)
		}
	}
	if log := a.stderr.String(); strings.Contains(log, token) || !strings.Contains(log, "api request") {
		t.Fatalf("A's debug log shows a secret, or no requests:\n%s", log)
	}

	if code := a.stop(t); code != 0 {
		t.Fatalf("A exit %d after SIGTERM:\n%s", code, a.stderr.String())
	}
	if code := b.stop(t); code != 0 {
		t.Fatalf("B exit %d after SIGTERM:\n%s", code, b.stderr.String())
	}
	if !strings.Contains(a.stderr.String(), "stopped") {
		t.Fatalf("A's log does not say it stopped:\n%s", a.stderr.String())
	}
	// Stopped, the commands say no daemon runs, and how to start one.
	if _, errOut, code := runCLI(t, bin, dirA, "doc", "ls"); code != exitNoDaemon || !strings.Contains(errOut, "docsnode start") {
		t.Fatalf("doc ls after the stop: exit %d, %q", code, errOut)
	}
}

// TestShutdownKeepsAcknowledgedWrites: SIGTERM while clients write to a
// durable document ends the daemon with status 0, and every write it
// acknowledged is there after a restart.
func TestShutdownKeepsAcknowledgedWrites(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "a")
	d := startDaemon(t, bin, dir)
	doc := mustCLI(t, bin, dir, "doc", "new", "--durable")
	sock, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d/%06d", w, i)
				if _, err := c.Set(ctx, doc, key, []byte(key), client.SetOptions{}); err != nil {
					return // the daemon stopped accepting
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		})
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	}, "200 writes acknowledged")
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM under load:\n%s", code, d.stderr.String())
	}
	wg.Wait()
	mu.Lock()
	want := slices.Clone(acked)
	mu.Unlock()

	startDaemon(t, bin, dir)
	es, err := c.QueryAll(ctx, doc, client.Query{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range es {
		have[e.Key] = true
	}
	for _, k := range want {
		if !have[k] {
			t.Fatalf("acknowledged write %s is missing after the restart (%d acknowledged, %d held)", k, len(want), len(have))
		}
	}
}

// TestEphemeral: an ephemeral daemon keeps nothing in its data directory
// but the lock, and a restart starts empty with a new node id.
func TestEphemeral(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "e")
	d := startDaemon(t, bin, dir, "--ephemeral")
	id := mustCLI(t, bin, dir, "node", "id")
	doc := mustCLI(t, bin, dir, "doc", "new")
	mustCLI(t, bin, dir, "doc", "set", doc, "k", "v")
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n.Name() != lockFile {
			t.Fatalf("the ephemeral daemon left %s in its data directory", n.Name())
		}
	}
	startDaemon(t, bin, dir, "--ephemeral")
	if ls := mustCLI(t, bin, dir, "doc", "ls"); ls != "" {
		t.Fatalf("doc ls after an ephemeral restart = %q", ls)
	}
	if again := mustCLI(t, bin, dir, "node", "id"); again == id {
		t.Fatal("an ephemeral restart kept the node id")
	}
}

// scrapeMetrics fetches the daemon's /metrics over its socket and parses it
// with the Prometheus text parser.
func scrapeMetrics(t *testing.T, dir string) map[string]*dto.MetricFamily {
	t.Helper()
	sock, err := socketPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://docsnode/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metricSum adds up the series of family name that carry label=value (all
// of them when label is ""); a histogram counts its samples.
func metricSum(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == label && l.GetValue() == value
		}) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestNodeGC: with background passes off (--gc-interval 0) nothing runs
// by itself; node gc runs a pass, and the second, past the grace period,
// removes the overwritten value's content; node status and node gc
// --stats report it.
func TestNodeGC(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "g")
	startDaemon(t, bin, dir, "--ephemeral", "--gc-interval", "0", "--gc-grace", "1ms")
	doc := mustCLI(t, bin, dir, "doc", "new")
	mustCLI(t, bin, dir, "doc", "set", doc, "k", "first value")
	mustCLI(t, bin, dir, "doc", "set", doc, "k", "second value")
	var st client.GC
	if err := json.Unmarshal([]byte(mustCLI(t, bin, dir, "--json", "node", "gc", "--stats")), &st); err != nil || st.Runs != 0 {
		t.Fatalf("node gc --stats before any pass: %+v, %v (did a background pass run?)", st, err)
	}
	first := mustCLI(t, bin, dir, "node", "gc")
	if !strings.Contains(first, "gc: 1 passes") || !strings.Contains(first, "1 unreferenced") {
		t.Fatalf("first node gc: %q", first)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(mustCLI(t, bin, dir, "node", "gc"), "removed 1 blobs of 11 bytes")
	}, "a later node gc removed the overwritten value")
	if status := mustCLI(t, bin, dir, "node", "status"); !strings.HasPrefix(status, "ready\ngc: ") || !strings.Contains(status, "removed 1 blobs") {
		t.Fatalf("node status: %q", status)
	}
	if got := mustCLI(t, bin, dir, "doc", "get", doc, "k"); got != "second value" {
		t.Fatalf("doc get after gc = %q", got)
	}
}

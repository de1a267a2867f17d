package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newMetrics returns e's metrics, closed with the test.
func newMetrics(t *testing.T, e *engine.Engine) *metrics.Metrics {
	t.Helper()
	m := metrics.New(e, metrics.Options{})
	t.Cleanup(m.Close)
	return m
}

// scrape fetches h's exposition in the text format and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("scrape does not parse: %v\n%s", err, rec.Body)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include those given as name, value pairs, summed over the series that
// match; a histogram counts its samples. It fails the test when no series
// matches.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := lookup(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

func lookup(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if labelOf(m, labels[i]) != labels[i+1] {
				continue next
			}
		}
		found = true
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			sum += m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			sum += m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestSyncMovesCounters: b joins a's document of n entries, which come by
// sync and their content by downloads, then a writes once more, which
// comes by gossip.
// The session, entry, byte, round, duration, gossip, download and store
// figures of both nodes must show that work.
func TestSyncMovesCounters(t *testing.T) {
	ctx := context.Background()
	a, b := openEngine(t, engine.TestConfig()), openEngine(t, engine.TestConfig())
	ma, mb := newMetrics(t, a), newMetrics(t, b)

	doc, err := a.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := a.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := doc.Share(ctx, engine.ShareWrite)
	if err != nil {
		t.Fatal(err)
	}
	bdoc, sub, err := b.Docs().ImportAndSubscribe(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitRemote(t, sub, n, "")

	// Sessions are counted when they end, which may come after their
	// entries were delivered. Either node may have dialled: b's dial
	// with the ticket races a's dial when b joins the swarm, and the
	// other is refused. Sync carries no content: b fetches each value.
	var seen string
	if err := testutil.Poll(20*time.Second, func() bool {
		fb, fa := scrape(t, mb.Handler()), scrape(t, ma.Handler())
		ok := func(f map[string]*dto.MetricFamily, role string) float64 {
			return value(t, f, "docsnode_sync_sessions_total", "role", role, "result", "ok")
		}
		bInit, bAcc, aInit, aAcc := ok(fb, "initiator"), ok(fb, "acceptor"), ok(fa, "initiator"), ok(fa, "acceptor")
		fetched := value(t, fb, "docsnode_downloads_total", "result", "ok")
		seen = fmt.Sprintf("b ended %v dialled and %v accepted sessions ok, a %v and %v; b fetched %v (failed %v, retried %v)",
			bInit, bAcc, aInit, aAcc, fetched,
			value(t, fb, "docsnode_downloads_total", "result", "failed"), value(t, fb, "docsnode_download_retries_total"))
		// What one node dialled, the other accepted.
		return bInit+bAcc >= 1 && (bInit < 1 || aAcc >= 1) && (bAcc < 1 || aInit >= 1) && fetched >= n
	}); err != nil {
		t.Fatalf("sessions and download not counted: %s: %v", seen, err)
	}
	fa, fb := scrape(t, ma.Handler()), scrape(t, mb.Handler())
	if got := value(t, fb, "docsnode_sync_entries_total", "direction", "in"); got < n {
		t.Errorf("b received %v entries by sync, want at least %d", got, n)
	}
	if got := value(t, fa, "docsnode_sync_entries_total", "direction", "out"); got < n {
		t.Errorf("a sent %v entries by sync, want at least %d", got, n)
	}
	if got := value(t, fb, "docsnode_sync_entries_total", "direction", "out"); got != 0 {
		t.Errorf("b sent %v entries by sync; it held none of its own", got)
	}
	// Each value is fetched from a: at least its status byte, its length
	// and its bytes.
	if got := value(t, fa, "docsnode_content_sent_bytes_total"); got < 4*n {
		t.Errorf("a's content server wrote %v bytes for %d values", got, n)
	}
	if got := value(t, fb, "docsnode_sync_entries_refused_total"); got != 0 {
		t.Errorf("b refused %v entries from an honest peer", got)
	}
	// Every entry is over 100 bytes on the wire.
	if got := value(t, fb, "docsnode_sync_bytes_total", "direction", "in"); got < 100*n {
		t.Errorf("b read %v sync bytes for %d entries", got, n)
	}
	if got := value(t, fa, "docsnode_sync_bytes_total", "direction", "out"); got < 100*n {
		t.Errorf("a wrote %v sync bytes for %d entries", got, n)
	}
	for name, f := range map[string]map[string]*dto.MetricFamily{"a": fa, "b": fb} {
		if got := value(t, f, "docsnode_sync_rounds_total"); got < 1 {
			t.Errorf("%s counted %v reconciliation rounds", name, got)
		}
	}
	for name, f := range map[string]map[string]*dto.MetricFamily{"a": fa, "b": fb} {
		// A session is counted, then its duration observed: a scrape may
		// see one without the other, but not a histogram left empty.
		if got := value(t, f, "docsnode_sync_session_duration_seconds"); got < 1 {
			t.Errorf("%s's duration histogram holds %v sessions", name, got)
		}
		if got := value(t, f, "docsnode_sync_sessions_started_total"); got < 1 {
			t.Errorf("%s started %v sessions", name, got)
		}
	}
	for name, f := range map[string]map[string]*dto.MetricFamily{"a": fa, "b": fb} {
		if got := value(t, f, "docsnode_store_size_bytes"); got <= 0 {
			t.Errorf("%s's store size is %v", name, got)
		}
		if got := value(t, f, "docsnode_store_commits_total"); got < 1 {
			t.Errorf("%s made %v commits", name, got)
		}
		if got := value(t, f, "docsnode_store_failed"); got != 0 {
			t.Errorf("%s's store reports failed = %v", name, got)
		}
	}

	// A later write travels by gossip: published by a, received by b.
	if _, err := doc.Set(ctx, author, []byte("later"), []byte("live")); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, sub, 1, "later")
	// Gossip pushes it at once; should b not be a's swarm member yet, the
	// op waits in the broadcast queue.
	testutil.Eventually(t, 20*time.Second, func() bool {
		return value(t, scrape(t, ma.Handler()), "docsnode_gossip_ops_total", "direction", "out") >= 1 &&
			value(t, scrape(t, mb.Handler()), "docsnode_gossip_ops_total", "direction", "in") >= 1
	}, "a's published op and b's received op counted")
	if _, err := bdoc.Get(ctx, author.ID(), []byte("later")); err != nil {
		t.Fatal(err)
	}
}

// waitRemote reads sub until n remote inserts (of key, unless empty)
// arrived.
func waitRemote(t *testing.T, sub *engine.Subscription, n int, key string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for got := 0; got < n; {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Kind == engine.EventInsertRemote && (key == "" || string(ev.Entry.Key) == key) {
				got++
			}
		case <-deadline:
			t.Fatalf("saw %d of %d remote inserts", got, n)
		}
	}
}

// TestSubscriberLagCounted: a document subscriber that never reads
// misses every event beyond its buffer, and the metric counts them.
func TestSubscriberLagCounted(t *testing.T) {
	ctx := context.Background()
	cfg := engine.TestConfig()
	cfg.Live.EventBuffer = 4
	e := openEngine(t, cfg)
	m := newMetrics(t, e)
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := doc.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const writes = 20
	for i := range writes {
		if _, err := doc.Set(ctx, author, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// The live actor's event pump delivers the inserts after the writes
	// return; all but the buffer's worth are dropped.
	const want = writes - 4
	testutil.Eventually(t, 10*time.Second, func() bool {
		return value(t, scrape(t, m.Handler()), "docsnode_subscriber_lagged_events_total", "source", "document") >= want
	}, "%d lagged events counted", want)
	if got := value(t, scrape(t, m.Handler()), "docsnode_subscriber_lagged_events_total", "source", "document"); got != want {
		t.Fatalf("lagged events = %v, want %d", got, want)
	}
}

// TestObserveRequest: the API latency histogram counts each request under
// its route, method and status code, with the durations given.
func TestObserveRequest(t *testing.T) {
	m := newMetrics(t, openEngine(t, engine.TestConfig()))
	m.ObserveRequest("/v1/docs/{id}", http.MethodGet, http.StatusOK, 3*time.Millisecond)
	m.ObserveRequest("/v1/docs/{id}", http.MethodGet, http.StatusOK, 5*time.Millisecond)
	m.ObserveRequest("/v1/docs", http.MethodPost, http.StatusBadRequest, 2*time.Second)

	fams := scrape(t, m.Handler())
	const name = "docsnode_api_request_duration_seconds"
	if got := value(t, fams, name, "route", "/v1/docs/{id}", "method", "GET", "code", "200"); got != 2 {
		t.Errorf("GET 200 count = %v, want 2", got)
	}
	if got := value(t, fams, name, "route", "/v1/docs", "method", "POST", "code", "400"); got != 1 {
		t.Errorf("POST 400 count = %v, want 1", got)
	}
	for _, mt := range fams[name].GetMetric() {
		h := mt.GetHistogram()
		want := 2.0
		if labelOf(mt, "code") == "200" {
			want = 0.008
		}
		if math.Abs(h.GetSampleSum()-want) > 1e-9 {
			t.Errorf("%s sum = %v, want %v", labelOf(mt, "code"), h.GetSampleSum(), want)
		}
		// The 5 ms request falls in the 5 ms bucket, not the 2.5 ms one.
		if labelOf(mt, "code") == "200" {
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == 0.0025 && b.GetCumulativeCount() != 0 ||
					b.GetUpperBound() == 0.005 && b.GetCumulativeCount() != 2 {
					t.Errorf("bucket le=%v holds %d", b.GetUpperBound(), b.GetCumulativeCount())
				}
			}
		}
	}
}

// TestScrapeAfterClose: once the engine is closed, a scrape still answers
// with what it can read, leaves out what it cannot, and logs why.
func TestScrapeAfterClose(t *testing.T) {
	e := openEngine(t, engine.TestConfig())
	var logged bytes.Buffer
	m := metrics.New(e, metrics.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	defer m.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m.Handler())
	if _, ok := fams["docsnode_store_size_bytes"]; ok {
		t.Error("a closed store reports a size")
	}
	if _, ok := fams["docsnode_sync_catchups_total"]; ok {
		t.Error("a closed live actor reports its counters")
	}
	if !strings.Contains(logged.String(), "read store size") || !strings.Contains(logged.String(), "read sync stats") {
		t.Errorf("the scrape's errors were not logged: %q", logged.String())
	}
	if got := value(t, fams, "docsnode_sync_sessions_total"); got != 0 {
		t.Errorf("sessions = %v on a node that synced nothing", got)
	}
}

var (
	nameRE  = regexp.MustCompile(`^docsnode_[a-z][a-z0-9_]*[a-z0-9]$`)
	labelRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// units are the base-unit suffixes a histogram or a size must carry.
	units = []string{"_seconds", "_bytes"}
)

// TestNamingConventions walks every family a busy node exports and checks
// Prometheus's naming rules, and that docs/metrics.md documents it.
func TestNamingConventions(t *testing.T) {
	m := newMetrics(t, openEngine(t, engine.TestConfig()))
	m.ObserveRequest("/v1/node", http.MethodGet, http.StatusOK, time.Millisecond) // the histogram has no series before
	fams := scrape(t, m.Handler())
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) < 20 {
		t.Fatalf("only %d families exported", len(fams))
	}
	for name, f := range fams {
		if !nameRE.MatchString(name) {
			t.Errorf("%s: not docsnode_ and snake case", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help text", name)
		}
		hasUnit := false
		for _, u := range units {
			hasUnit = hasUnit || strings.HasSuffix(strings.TrimSuffix(name, "_total"), u)
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("%s: a counter's name ends in _total", name)
			}
		case dto.MetricType_GAUGE:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("%s: a gauge's name must not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !hasUnit {
				t.Errorf("%s: a histogram's name ends in its unit (%v)", name, units)
			}
		default:
			t.Errorf("%s: unexpected type %v", name, f.GetType())
		}
		for _, word := range []string{"duration", "size", "latency"} {
			if strings.Contains(name, word) && !hasUnit {
				t.Errorf("%s: a %s ends in its base unit (%v)", name, word, units)
			}
		}
		for _, bad := range []string{"_milliseconds", "_ms", "_kb", "_mb", "_count", "_sum", "_bucket"} {
			if strings.HasSuffix(strings.TrimSuffix(name, "_total"), bad) {
				t.Errorf("%s: suffix %s", name, bad)
			}
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !labelRE.MatchString(l.GetName()) {
					t.Errorf("%s: label %q is not snake case", name, l.GetName())
				}
			}
		}
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("%s is not documented in docs/metrics.md", name)
		}
	}
}

// TestGossipGuardSeries: what the gossip budgets dropped and the hints
// the live actor did not act on are exported from the start, at zero on
// a node that received nothing.
func TestGossipGuardSeries(t *testing.T) {
	fams := scrape(t, newMetrics(t, openEngine(t, engine.TestConfig())).Handler())
	for _, reason := range []string{"peer_rate_limited", "node_rate_limited"} {
		if got, ok := lookup(fams, "docsnode_gossip_ops_discarded_total", "reason", reason); !ok || got != 0 {
			t.Errorf("gossip ops discarded, %s: %v, exported %v; want 0, exported", reason, got, ok)
		}
	}
	for _, name := range []string{"docsnode_gossip_hints_ignored_total", "docsnode_gossip_members_refused_total"} {
		if got, ok := lookup(fams, name); !ok || got != 0 {
			t.Errorf("%s: %v, exported %v; want 0, exported", name, got, ok)
		}
	}
}

// TestGCSeries: a pass that removes an overwritten value's content moves
// the garbage collection series.
func TestGCSeries(t *testing.T) {
	ctx := context.Background()
	cfg := engine.TestConfig()
	cfg.GC = engine.GCConfig{Interval: -1, Grace: time.Nanosecond}
	e := openEngine(t, cfg)
	m := newMetrics(t, e)
	fams := scrape(t, m.Handler())
	if v := value(t, fams, "docsnode_gc_runs_total"); v != 0 {
		t.Fatalf("gc runs before any pass: %v", v)
	}
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte("old "), 10000)
	for _, v := range [][]byte{old, []byte("new")} {
		if _, err := doc.Set(ctx, a, []byte("k"), v); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the first pass notes, the second removes
		if _, err := e.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fams = scrape(t, m.Handler())
	if v := value(t, fams, "docsnode_gc_runs_total", "result", "completed"); v != 2 {
		t.Errorf("completed passes %v, want 2", v)
	}
	if v := value(t, fams, "docsnode_gc_blobs_removed_total"); v != 1 {
		t.Errorf("blobs removed %v, want 1", v)
	}
	// The value and its outboard: 8 bytes and 64 per chunk group past the
	// first (three groups of 16 KiB).
	if want := len(old) + 8 + 2*64; value(t, fams, "docsnode_gc_bytes_removed_total") != float64(want) {
		t.Errorf("bytes removed %v, want %d", value(t, fams, "docsnode_gc_bytes_removed_total"), want)
	}
	if v := value(t, fams, "docsnode_gc_last_run_timestamp_seconds"); v <= 0 {
		t.Errorf("last run %v", v)
	}
	if v := value(t, fams, "docsnode_gc_blobs_pending"); v != 0 {
		t.Errorf("pending %v", v)
	}
}

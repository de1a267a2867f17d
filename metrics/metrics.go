package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
)

// namespace prefixes every docsnode metric.
const namespace = "docsnode"

// Options tunes the metrics. The zero value works.
type Options struct {
	// ScrapeTimeout bounds what one scrape waits for the engine's actors
	// (the live actor's counters, the store's size). A figure not read in
	// time is left out of that scrape, and the error logged. Default 2s.
	ScrapeTimeout time.Duration
	// SessionBuckets are the upper bounds, in seconds, of the session
	// duration histogram. Default: 1 ms to about 4 minutes, four times
	// apart.
	SessionBuckets []float64
	// RequestBuckets are the upper bounds, in seconds, of the API request
	// latency histogram. Default: 0.5 ms to 10 s.
	RequestBuckets []float64
	// Runtime adds the Go runtime and process collectors (go_*,
	// process_*), which a daemon usually wants and tests do not.
	Runtime bool
	// Logger receives the errors of a scrape: figures the engine could not
	// report (it is closing, or an actor did not answer in time). Nil
	// drops them; the scrape serves what it could read either way.
	Logger *slog.Logger
}

// defaultRequestBuckets resolve the API's latency targets (milliseconds)
// as well as slow streamed uploads.
var defaultRequestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func (o Options) withDefaults() Options {
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 2 * time.Second
	}
	if len(o.SessionBuckets) == 0 {
		o.SessionBuckets = prometheus.ExponentialBuckets(0.001, 4, 10)
	}
	if len(o.RequestBuckets) == 0 {
		o.RequestBuckets = defaultRequestBuckets
	}
	return o
}

// Metrics holds a node's metrics and serves them.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	stop    func() // stops observing sessions

	sessions       *prometheus.CounterVec   // role, result
	entries        *prometheus.CounterVec   // direction
	entriesRefused prometheus.Counter       // received entries that failed validation
	bytes          *prometheus.CounterVec   // direction
	rounds         prometheus.Counter       // reconciliation messages
	duration       *prometheus.HistogramVec // role
	requests       *prometheus.HistogramVec // route, method, code
}

// Session results, the values of the result label.
const (
	resultOK      = "ok"
	resultError   = "error"
	resultRefused = "refused"
)

// New creates e's metrics. The per-session figures count the sessions
// that end from now on; the others are the engine's counters since it
// opened. Close stops counting sessions.
func New(e *engine.Engine, opts Options) *Metrics {
	opts = opts.withDefaults()
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sync", Name: "sessions_total",
		Help: "Sync sessions ended, by this node's role and by result: ok, error, or refused (by the acceptor: already syncing, busy, document not served).",
	}, []string{"role", "result"})
	m.entries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sync", Name: "entries_total",
		Help: "Entries carried by sync sessions: in = received from peers (stored or not), out = sent to peers.",
	}, []string{"direction"})
	m.entriesRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sync", Name: "entries_refused_total",
		Help: "Entries received in sync sessions that failed validation (bad signature, other document, future timestamp, malformed) and were not stored.",
	})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sync", Name: "bytes_total",
		Help: "Sync protocol frame bytes: in = read, out = written.",
	}, []string{"direction"})
	m.rounds = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "sync", Name: "rounds_total",
		Help: "Reconciliation messages this node sent (as initiator) or answered (as acceptor) in sync sessions.",
	})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "sync", Name: "session_duration_seconds",
		Help:    "Duration of the sync sessions that ran (refused ones left out), by this node's role.",
		Buckets: opts.SessionBuckets,
	}, []string{"role"})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "api", Name: "request_duration_seconds",
		Help:    "Latency of the local API's requests, by route pattern, method and HTTP status code.",
		Buckets: opts.RequestBuckets,
	}, []string{"route", "method", "code"})

	// Every series of a fixed label set exists from the start, at zero,
	// so that rate() and absence alerts see them before the first event.
	for _, role := range []string{live.Initiator.String(), live.Acceptor.String()} {
		for _, result := range []string{resultOK, resultError, resultRefused} {
			m.sessions.WithLabelValues(role, result)
		}
		m.duration.WithLabelValues(role)
	}
	for _, dir := range []string{"in", "out"} {
		m.entries.WithLabelValues(dir)
		m.bytes.WithLabelValues(dir)
	}

	m.reg.MustRegister(m.sessions, m.entries, m.entriesRefused, m.bytes, m.rounds, m.duration, m.requests,
		newEngineCollector(e, opts.ScrapeTimeout))
	if opts.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	hopts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if opts.Logger != nil {
		hopts.ErrorLog = slogPrinter{opts.Logger}
	}
	m.handler = promhttp.HandlerFor(m.reg, hopts)
	m.stop = e.ObserveSessions(m.observeSession)
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the registry the metrics live in; a daemon may register its
// own collectors there.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Close stops counting sessions. The handler keeps serving what was
// counted, and the engine's own counters.
func (m *Metrics) Close() { m.stop() }

// ObserveRequest records one answered API request: route is the pattern
// the request matched (not its path, which would make a series per
// document), status the HTTP status code sent, d the time from receiving
// the request to answering it.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// observeSession counts one session's end. It runs on the session's
// goroutine; prometheus counters are safe for concurrent use and never
// block.
func (m *Metrics) observeSession(o engine.SyncOutcome, err error) {
	role := o.Role.String()
	result := sessionResult(err)
	m.sessions.WithLabelValues(role, result).Inc()
	m.entries.WithLabelValues("in").Add(float64(o.Received))
	m.entries.WithLabelValues("out").Add(float64(o.Sent))
	m.entriesRefused.Add(float64(o.Refused.Total()))
	m.bytes.WithLabelValues("in").Add(float64(o.BytesReceived))
	m.bytes.WithLabelValues("out").Add(float64(o.BytesSent))
	m.rounds.Add(float64(o.Rounds))
	if result != resultRefused && !o.Start.IsZero() && !o.End.Before(o.Start) {
		m.duration.WithLabelValues(role).Observe(o.Duration().Seconds())
	}
}

// sessionResult classes a session's error. A refusal is the acceptor's
// answer before any work: a session of the pair already runs, it is at
// its session limit, or it does not serve the document (yet).
func sessionResult(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, live.ErrAlreadySyncing), errors.Is(err, live.ErrBusy), errors.Is(err, live.ErrNotFound):
		return resultRefused
	}
	return resultError
}

// slogPrinter adapts a slog.Logger to promhttp's error log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Warn("docsnode metrics: scrape incomplete", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

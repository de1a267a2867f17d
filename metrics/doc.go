// Package metrics exports a docsnode node's figures in the Prometheus
// format: sync sessions and what they moved, gossip, downloads, the store
// and its subscribers, and the latency of the local API. docs/metrics.md
// lists every metric.
//
// Most figures are the engine's own counters, read when Prometheus
// scrapes; the per-session ones (sessions by result, entries, bytes,
// rounds, durations) are counted as each session ends. A daemon mounts
// the handler and reports its API requests:
//
//	e, _ := engine.Open(ctx, engine.DefaultConfig(dir))
//	m := metrics.New(e, metrics.Options{})
//	defer m.Close()
//	mux.Handle("/metrics", m.Handler())
//	// in the API's middleware, once a request is answered:
//	m.ObserveRequest("/v1/docs/{id}", r.Method, status, time.Since(start))
//
// The metrics live in a registry of their own, not Prometheus's global
// one, so that two nodes in one process (tests, benchmarks) each export
// their own.
package metrics

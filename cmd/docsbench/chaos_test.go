package main

import (
	"testing"
	"time"
)

// TestParseChaosResults: each seed's line is read from -v output, with
// the test's file prefix, and a seed that failed without converging, or
// converged and failed otherwise, counts as diverged.
func TestParseChaosResults(t *testing.T) {
	out := []byte(`=== RUN   TestChaos/seed=3
    chaos_test.go:90: chaos-result seed=3 nodes=5 steps=40 converged=true converge_ms=1500 ok=true live_ms=20 writes=1
    chaos_test.go:90: chaos-result seed=4 nodes=5 steps=40 converged=false converge_ms=180000 ok=false writes=2
    chaos_test.go:92: reproduce: go test ./engine -run 'TestChaos$' -chaos.seed=4 -chaos.nodes=5 -v
    chaos_test.go:90: chaos-result seed=5 nodes=5 steps=40 converged=true converge_ms=250 ok=false writes=2
--- FAIL: TestChaos (0.00s)
`)
	got := parseChaosResults(out)
	if len(got) != 3 {
		t.Fatalf("parsed %d results, want 3: %v", len(got), got)
	}
	if r := got[3]; !r.ok || r.converge != 1500*time.Millisecond || r.live != 20*time.Millisecond {
		t.Errorf("seed 3: %+v", r)
	}
	if r := got[4]; r.ok || r.why != "not converged" {
		t.Errorf("seed 4: %+v", r)
	}
	if r := got[5]; r.ok || r.why == "" {
		t.Errorf("seed 5: %+v", r)
	}
	s := summarizeChaos([]chaosResult{got[3], got[4], got[5], {seed: 6, ok: true, converge: 500 * time.Millisecond}})
	if s.seeds != 4 || s.converged != 2 || s.diverged != 2 || s.p50 != 0.5 || s.p99 != 1.5 || s.max != 1.5 {
		t.Errorf("summary %+v", s)
	}
}

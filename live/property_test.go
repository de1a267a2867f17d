package live

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
)

// TestSyncProperty gives 2 or 3 replicas random overlapping sets (several
// authors, superseded versions, prefix tombstones), then syncs random pairs
// in random directions until a full sweep over every pair moves nothing.
// Every replica must then hold the model: the store that received every
// entry any replica was given.
func TestSyncProperty(t *testing.T) {
	w := newWorld(3)
	keys := []string{"a", "ab", "abc", "b", "ba", "c", ""}
	cfg := TestSessionConfig()
	cfg.MaxEntriesPerFrame, cfg.MaxIDsPerWant, cfg.InsertBatch = 3, 4, 5 // many frames from few entries
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		pool := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) replica.SignedEntry {
			key := rapid.SampledFrom(keys).Draw(rt, "key")
			tomb := key == "" || rapid.IntRange(0, 4).Draw(rt, "tomb") == 0
			return w.entry(rapid.IntRange(0, 2).Draw(rt, "author"), key, tomb,
				rapid.IntRange(0, 2).Draw(rt, "value"), uint64(rapid.IntRange(1, 30).Draw(rt, "ts")))
		}), 0, 40).Draw(rt, "pool")

		acts := make([]*actor.Actor, n)
		servers := make([]*Server, n)
		var given []replica.SignedEntry
		for i := range acts {
			acts[i] = openActor(rt)
			defer acts[i].Close()
			servers[i] = NewServer(acts[i], cfg, nil)
			w.join(rt, acts[i])
			var mine []replica.SignedEntry
			for j, e := range pool {
				if rapid.Bool().Draw(rt, fmt.Sprintf("replica %d has %d", i, j)) {
					mine = append(mine, e)
				}
			}
			insert(rt, acts[i], w.ns(), mine)
			given = append(given, mine...)
		}

		var pairs [][2]int
		for i := range n {
			for j := i + 1; j < n; j++ {
				pairs = append(pairs, [2]int{i, j})
			}
		}
		quiet := false
		for sweep := 0; sweep < 4 && !quiet; sweep++ {
			quiet = true
			for _, p := range rapid.Permutation(pairs).Draw(rt, "order") {
				if rapid.Bool().Draw(rt, "flip") {
					p[0], p[1] = p[1], p[0]
				}
				ri, ra := syncPipe(context.Background(), acts[p[0]], servers[p[1]], w.ns(), cfg)
				if ri.err != nil || ra.err != nil {
					rt.Fatalf("sync %d -> %d: %v / %v", p[0], p[1], ri.err, ra.err)
				}
				moved := ri.out.Sent + ri.out.Received
				if moved != 0 {
					quiet = false
				}
				// After any one session both sides hold the same set.
				if !ri.out.Equal || !ra.out.Equal {
					rt.Fatalf("sync %d -> %d left the sets unequal: %v / %v", p[0], p[1], ri.out, ra.out)
				}
			}
		}
		if !quiet {
			rt.Fatal("still moving entries after 4 sweeps over every pair")
		}
		want, wantContents := modelSummary(rt, w, given)
		for i, a := range acts {
			if got := summary(rt, a, w.ns()); got != want {
				rt.Fatalf("replica %d holds %+v, model %+v", i, got, want)
			}
			if got := contents(rt, a, w.ns()); !slices.Equal(got, wantContents) {
				rt.Fatalf("replica %d contents\n%v\nmodel\n%v", i, got, wantContents)
			}
		}
	})
}

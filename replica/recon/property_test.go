package recon

import (
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func drawConfig(t *rapid.T, side string) Config {
	c := Config{Branching: rapid.SampledFrom([]int{2, 3, 4, 8, 16}).Draw(t, side+" branching")}
	c.IDListThreshold = c.Branching * rapid.IntRange(1, 4).Draw(t, side+" threshold factor")
	if rapid.Bool().Draw(t, side+" frame limit") {
		c.MaxFrameSize = c.minFrame() + rapid.IntRange(0, 4096).Draw(t, side+" frame slack")
	}
	return c
}

// roundBound is the most round trips a reconciliation may take: the depth of
// the splits, plus, under a frame limit, one round per frame's worth of ids
// and fingerprints that have to cross.
func roundBound(n, diff int, ca, cb Config) int {
	b := min(ca.Branching, cb.Branching)
	depth := 2 + int(math.Ceil(math.Log(float64(n+1))/math.Log(float64(b))))
	frame := min(nonZero(ca.MaxFrameSize), nonZero(cb.MaxFrameSize))
	if frame == math.MaxInt {
		return depth
	}
	// Each differing item costs at most an id both ways and a share of the
	// fingerprints that found it, on every level.
	work := diff * (64 + depth*max(ca.Branching, cb.Branching)*60)
	return depth + 2*work/(frame/2) + 2
}

func nonZero(v int) int {
	if v == 0 {
		return math.MaxInt
	}
	return v
}

// Two random overlapping sets, with equal timestamps likely, reconcile to
// exactly their differences within a bounded number of rounds, whatever the
// configuration of either side; afterwards a second session finds nothing.
func TestReconcileProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		shared := rapid.IntRange(0, 3000).Draw(t, "shared")
		onlyA := rapid.IntRange(0, 300).Draw(t, "onlyA")
		onlyB := rapid.IntRange(0, 300).Draw(t, "onlyB")
		tsRange := rapid.SampledFrom([]uint64{1, 4, 100, 1 << 20, 1 << 62}).Draw(t, "tsRange")
		seed := rapid.Uint64().Draw(t, "seed")
		ca, cb := drawConfig(t, "initiator"), drawConfig(t, "responder")
		a, b := overlapping(seed, shared, onlyA, onlyB, tsRange)
		ia, ib := BuildIndex(slices.Clone(a)), BuildIndex(slices.Clone(b))

		limit := roundBound(max(len(a), len(b)), onlyA+onlyB, ca.withDefaults(), cb.withDefaults())
		res, err := reconcile(ia, ib, ca, cb, limit)
		if err != nil {
			t.Fatalf("%v (bound %d rounds)", err, limit)
		}
		if err := checkDiff(res, a, b); err != nil {
			t.Fatal(err)
		}
		for i, c := range []Config{ca, cb} {
			if c.MaxFrameSize > 0 && res.maxFrame[i] > c.MaxFrameSize {
				t.Fatalf("side %d wrote a %d-byte message over its %d limit", i, res.maxFrame[i], c.MaxFrameSize)
			}
		}

		// Exchange what was found; both sides now hold the union.
		for _, it := range a {
			ib.Insert(it)
		}
		for _, it := range b {
			ia.Insert(it)
		}
		again, err := reconcile(ia, ib, ca, cb, 2)
		if err != nil {
			t.Fatal(err)
		}
		if again.rounds != 1 || len(again.have)+len(again.need) != 0 {
			t.Fatalf("after exchange: %d rounds, %d have, %d need", again.rounds, len(again.have), len(again.need))
		}
	})
}

// A small frame limit on either side or both still converges on the exact
// result, each id once. The rounds are set by how many bytes must cross (an
// unlimited run shows it), not by a restart per frame. With only the
// responder limited, it has to merge ranges the initiator settled already,
// which the initiator must not report twice.
func TestReconcileSmallFrames(t *testing.T) {
	cases := []struct {
		name                 string
		shared, onlyA, onlyB int
	}{
		{"bootstrap pull", 0, 0, 500},
		{"bootstrap push", 0, 500, 0},
		{"scattered", 20000, 1000, 1000}, // hundreds of ranges to carry
		{"few", 100000, 10, 10},
		{"one-sided", 30000, 0, 300},
	}
	small, unlimited := Config{MaxFrameSize: MinFrameSize}, Config{}
	sides := []struct {
		name   string
		ca, cb Config
	}{
		{"both", small, small},
		{"initiator", small, unlimited},
		{"responder", unlimited, small},
	}
	for i, tc := range cases {
		a, b := overlapping(uint64(100+i), tc.shared, tc.onlyA, tc.onlyB, 1<<40)
		free, err := reconcile(BuildIndex(slices.Clone(a)), BuildIndex(slices.Clone(b)), unlimited, unlimited, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range sides {
			t.Run(tc.name+"/"+side.name, func(t *testing.T) {
				res, err := reconcile(BuildIndex(slices.Clone(a)), BuildIndex(slices.Clone(b)), side.ca, side.cb, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if err := checkDiff(res, a, b); err != nil {
					t.Fatal(err)
				}
				t.Logf("rounds=%d bytes=%d largest=%v; unlimited: rounds=%d bytes=%d",
					res.rounds, res.bytes, res.maxFrame, free.rounds, free.bytes)
				for i, c := range []Config{side.ca, side.cb} {
					if c.MaxFrameSize > 0 && res.maxFrame[i] > c.MaxFrameSize {
						t.Fatalf("side %d wrote %d bytes, over its limit of %d", i, res.maxFrame[i], c.MaxFrameSize)
					}
				}
				// A round trip moves at most two frames.
				bound := free.rounds + 2 + 3*free.bytes/(2*2*MinFrameSize)
				if res.rounds > bound {
					t.Fatalf("%d rounds, want at most %d", res.rounds, bound)
				}
			})
		}
	}
}

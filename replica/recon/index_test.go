package recon

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// model is the naive reference: a sorted slice.
type model []Item

func (m model) rank(key Item) int {
	i, _ := slices.BinarySearchFunc(m, key, Item.Compare)
	return i
}

func (m model) fingerprint(i, j int) Fingerprint {
	var acc Accumulator
	for _, it := range m[i:j] {
		acc.Add(it.ID)
	}
	return acc.Fingerprint(j - i)
}

// checkInvariants walks the whole tree: sorted keys, separators, counts and
// sums recorded in the parents, node occupancy.
func checkInvariants(x *Index) error {
	var prev *Item
	var walkNode func(n *node, h int, lo, hi *Item, root bool) (int, Accumulator, error)
	walkNode = func(n *node, h int, lo, hi *Item, root bool) (int, Accumulator, error) {
		var acc Accumulator
		if h == 0 {
			if len(n.items) > x.leafCap || cap(n.items) != x.leafCap {
				return 0, acc, fmt.Errorf("leaf holds %d items, cap %d", len(n.items), cap(n.items))
			}
			if !root && len(n.items) == 0 {
				return 0, acc, fmt.Errorf("empty leaf")
			}
			for i := range n.items {
				it := n.items[i]
				if prev != nil && !prev.Less(it) {
					return 0, acc, fmt.Errorf("items out of order: %v then %v", *prev, it)
				}
				if lo != nil && it.Less(*lo) || hi != nil && !it.Less(*hi) {
					return 0, acc, fmt.Errorf("item %v outside its separators", it)
				}
				prev = &n.items[i]
				acc.Add(it.ID)
			}
			return len(n.items), acc, nil
		}
		if len(n.kids) > x.innerCap || !root && len(n.kids) < 1 || root && len(n.kids) < 2 {
			return 0, acc, fmt.Errorf("inner node with %d kids", len(n.kids))
		}
		total := 0
		for i, k := range n.kids {
			klo, khi := lo, hi
			if i > 0 {
				klo = &n.kids[i].key
			}
			if i+1 < len(n.kids) {
				khi = &n.kids[i+1].key
			}
			c, s, err := walkNode(k.node, h-1, klo, khi, false)
			if err != nil {
				return 0, acc, err
			}
			if c != k.count || s != k.sum {
				return 0, acc, fmt.Errorf("kid records count %d, holds %d (or sums differ)", k.count, c)
			}
			total += c
			acc.AddSum(s)
		}
		return total, acc, nil
	}
	c, s, err := walkNode(x.root, x.height, nil, nil, true)
	if err != nil {
		return err
	}
	if c != x.n || s != x.sum {
		return fmt.Errorf("index records %d items, holds %d (or sums differ)", x.n, c)
	}
	return nil
}

// compare checks every query of x against m.
func compare(t *testing.T, x *Index, m model, r *rand.Rand, tsRange uint64) {
	t.Helper()
	if err := checkInvariants(x); err != nil {
		t.Fatal(err)
	}
	if x.Len() != len(m) {
		t.Fatalf("Len %d, want %d", x.Len(), len(m))
	}
	if got := slices.Collect(x.Range(0, x.Len())); !slices.Equal(got, m) {
		t.Fatalf("Range over everything differs from the model")
	}
	for range 50 {
		key := randomItem(r, tsRange+1)
		if len(m) > 0 && r.IntN(2) == 0 {
			key = m[r.IntN(len(m))]
		}
		if got, want := x.Rank(key), m.rank(key); got != want {
			t.Fatalf("Rank(%v) = %d, want %d", key, got, want)
		}
		if x.Has(key) != (m.rank(key) < len(m) && m[m.rank(key)] == key) {
			t.Fatalf("Has(%v) wrong", key)
		}
		i := r.IntN(len(m) + 1)
		j := i + r.IntN(len(m)-i+1)
		if got, want := x.Fingerprint(i, j), m.fingerprint(i, j); got != want {
			t.Fatalf("Fingerprint(%d, %d) = %x, want %x", i, j, got, want)
		}
		if got := slices.Collect(x.Range(i, j)); !slices.Equal(got, m[i:j]) {
			t.Fatalf("Range(%d, %d) differs", i, j)
		}
		if i < len(m) && x.At(i) != m[i] {
			t.Fatalf("At(%d) = %v, want %v", i, x.At(i), m[i])
		}
	}
}

// Random inserts and removals keep the index equal to a sorted slice, with
// fingerprints equal to a naive sum, for node sizes small enough to build
// deep trees and exercise every split, merge and rotation.
func TestIndexAgainstModel(t *testing.T) {
	for _, caps := range [][2]int{{4, 4}, {5, 3}, {8, 6}, {defaultLeafCap, defaultInnerCap}} {
		t.Run(fmt.Sprintf("leaf%d-inner%d", caps[0], caps[1]), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(caps[0]), uint64(caps[1])))
			x := newIndexCaps(caps[0], caps[1])
			var m model
			const tsRange = 50 // many equal timestamps
			steps := 6000
			for step := range steps {
				// Grow for the first half, then shrink to empty.
				grow := step < steps/2
				if (grow && r.IntN(4) != 0) || (!grow && r.IntN(4) == 0) || len(m) == 0 {
					it := randomItem(r, tsRange)
					if r.IntN(10) == 0 && len(m) > 0 {
						it = m[r.IntN(len(m))] // a duplicate
					}
					i, found := slices.BinarySearchFunc(m, it, Item.Compare)
					if got := x.Insert(it); got == found {
						t.Fatalf("Insert(%v) = %v with the item present: %v", it, got, found)
					}
					if !found {
						m = slices.Insert(m, i, it)
					}
				} else {
					it := m[r.IntN(len(m))]
					if r.IntN(10) == 0 {
						it = randomItem(r, tsRange) // most likely absent
					}
					i, found := slices.BinarySearchFunc(m, it, Item.Compare)
					if got := x.Remove(it); got != found {
						t.Fatalf("Remove(%v) = %v, present %v", it, got, found)
					}
					if found {
						m = slices.Delete(m, i, i+1)
					}
				}
				if step%200 == 0 {
					compare(t, x, m, r, tsRange)
				}
			}
			for len(m) > 0 {
				if !x.Remove(m[len(m)-1]) {
					t.Fatalf("Remove of a present item failed")
				}
				m = m[:len(m)-1]
			}
			compare(t, x, m, r, tsRange)
			if x.height != 0 || x.Sum() != (Accumulator{}) {
				t.Fatalf("empty index has height %d, sum %x", x.height, x.Sum().Bytes())
			}
		})
	}
}

func TestIndexRejectsInfinity(t *testing.T) {
	x := NewIndex()
	if x.Insert(Item{Timestamp: Infinity}) || x.Len() != 0 {
		t.Fatal("Insert accepted the reserved timestamp")
	}
	b := BuildIndex([]Item{{Timestamp: Infinity}, {Timestamp: 3}, {Timestamp: Infinity, ID: [32]byte{1}}})
	if b.Len() != 1 || b.At(0).Timestamp != 3 {
		t.Fatalf("BuildIndex kept %d items", b.Len())
	}
}

func TestBuildIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 101, 102, 103, 5000, 40000} {
		items := make([]Item, n)
		for i := range items {
			items[i] = randomItem(r, 1000)
		}
		items = append(items, items[:n/10]...) // duplicates
		m := model(slices.Clone(items))
		slices.SortFunc(m, Item.Compare)
		m = slices.Compact(m)
		x := BuildIndex(items)
		compare(t, x, m, r, 1000)
		// The built tree takes inserts and removals like any other.
		for range 300 {
			it := randomItem(r, 1000)
			x.Insert(it)
			m = slices.Insert(m, m.rank(it), it)
			if len(m) > 0 {
				k := r.IntN(len(m))
				x.Remove(m[k])
				m = slices.Delete(m, k, k+1)
			}
		}
		compare(t, x, m, r, 1000)
	}
}

func TestIndexMemory(t *testing.T) {
	const n = 200000
	r := rand.New(rand.NewPCG(3, 4))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	items := make([]Item, n)
	for i := range items {
		items[i] = randomItem(r, 1<<50)
	}
	x := BuildIndex(items)
	items = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	perItem := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("built index: %.1f bytes per item", perItem)
	if perItem > 52 {
		t.Errorf("built index takes %.1f bytes per item, want at most 52", perItem)
	}
	// Random inserts split leaves; the cost per item stays modest.
	runtime.ReadMemStats(&before)
	for range n / 2 {
		x.Insert(randomItem(r, 1<<50))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perItem = float64(after.HeapAlloc-before.HeapAlloc) / float64(n/2)
	t.Logf("after %d random inserts: %.1f bytes per inserted item", n/2, perItem)
	if perItem > 120 {
		t.Errorf("inserts take %.1f bytes per item, want at most 120", perItem)
	}
	runtime.KeepAlive(x)
}

func benchItems(n int) []Item {
	r := rand.New(rand.NewPCG(5, 6))
	items := make([]Item, n)
	for i := range items {
		items[i] = randomItem(r, 1<<50)
	}
	return items
}

func BenchmarkBuildIndex1M(b *testing.B) {
	src := benchItems(1 << 20)
	items := make([]Item, len(src))
	var mem runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		copy(items, src)
		runtime.GC()
		runtime.ReadMemStats(&mem)
		before := mem.HeapAlloc
		b.StartTimer()
		x := BuildIndex(items)
		b.StopTimer()
		runtime.ReadMemStats(&mem)
		b.ReportMetric(float64(mem.HeapAlloc-before)/float64(x.Len()), "B/item")
		b.StartTimer()
	}
}

func BenchmarkInsert(b *testing.B) {
	x := BuildIndex(benchItems(1 << 20))
	r := rand.New(rand.NewPCG(7, 8))
	for b.Loop() {
		x.Insert(randomItem(r, 1<<50))
	}
}

func BenchmarkFingerprint(b *testing.B) {
	x := BuildIndex(benchItems(1 << 20))
	r := rand.New(rand.NewPCG(9, 10))
	for b.Loop() {
		i := r.IntN(x.Len())
		x.Fingerprint(i, i+r.IntN(x.Len()-i))
	}
}

func BenchmarkRank(b *testing.B) {
	x := BuildIndex(benchItems(1 << 20))
	r := rand.New(rand.NewPCG(9, 10))
	for b.Loop() {
		x.Rank(randomItem(r, 1<<50))
	}
}

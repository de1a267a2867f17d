package recon

import (
	"iter"
	"slices"
)

// Node capacities. A leaf's item array (40 bytes per item) fills the
// allocator's 4 KiB size class; a bulk build leaves one eighth of each leaf
// free so that later inserts rarely split at once.
const (
	defaultLeafCap  = 102
	defaultInnerCap = 64
)

// Index is an ordered set of items, kept as a B+tree whose inner nodes record
// each child's item count and id sum. Rank, At and Fingerprint descend one
// path, so each costs O(log n) whatever the size of the range; Insert and
// Remove update the counts and sums along their path.
//
// An Index is not safe for concurrent use. It implements Storage.
type Index struct {
	root     *node
	height   int // 0: the root is a leaf
	n        int
	sum      Accumulator
	leafCap  int
	innerCap int
}

type node struct {
	items []Item  // leaf: sorted, len <= leafCap
	kids  []child // inner: len <= innerCap
}

// child is an inner node's record of one subtree. key separates it from its
// left sibling: every item of the sibling sorts below key, every item of
// this subtree at or above it. kids[0].key is a lower bound only.
type child struct {
	node  *node
	count int
	sum   Accumulator
	key   Item
}

// NewIndex returns an empty index.
func NewIndex() *Index { return newIndexCaps(defaultLeafCap, defaultInnerCap) }

func newIndexCaps(leafCap, innerCap int) *Index {
	return &Index{root: &node{items: make([]Item, 0, leafCap)}, leafCap: leafCap, innerCap: innerCap}
}

// BuildIndex builds an index from items in any order, much faster than one
// Insert per item. It may reorder items, and keeps no reference to the
// slice. Duplicates are stored once; items with the reserved Infinity
// timestamp are dropped.
func BuildIndex(items []Item) *Index {
	x := NewIndex()
	x.build(items)
	return x
}

func (x *Index) build(items []Item) {
	items = slices.Compact(sortItems(items))
	for len(items) > 0 && items[len(items)-1].Timestamp == Infinity {
		items = items[:len(items)-1]
	}
	if len(items) == 0 {
		return
	}
	level := make([]child, 0, len(items)/(x.leafCap*7/8)+1)
	for _, part := range evenParts(len(items), x.leafCap-x.leafCap/8) {
		leaf := &node{items: make([]Item, part, x.leafCap)}
		copy(leaf.items, items[:part])
		items = items[part:]
		c := child{node: leaf, count: part, key: leaf.items[0]}
		for i := range leaf.items {
			c.sum.add(&leaf.items[i].ID)
		}
		level = append(level, c)
	}
	height := 0
	for len(level) > 1 {
		var up []child
		for _, part := range evenParts(len(level), x.innerCap-x.innerCap/8) {
			in := &node{kids: make([]child, part, x.innerCap+1)}
			copy(in.kids, level[:part])
			level = level[part:]
			c := child{node: in, key: in.kids[0].key}
			for _, k := range in.kids {
				c.count += k.count
				c.sum.AddSum(k.sum)
			}
			up = append(up, c)
		}
		level = up
		height++
	}
	x.root, x.height, x.n, x.sum = level[0].node, height, level[0].count, level[0].sum
}

// evenParts splits n into the fewest parts of at most max, as equal as can be.
func evenParts(n, max int) []int {
	k := (n + max - 1) / max
	parts := make([]int, k)
	for i := range parts {
		parts[i] = n / k
		if i < n%k {
			parts[i]++
		}
	}
	return parts
}

// Len returns the number of items.
func (x *Index) Len() int { return x.n }

// Sum returns the id sum of all items.
func (x *Index) Sum() Accumulator { return x.sum }

// childIndex returns the kid whose subtree holds it's position: the last kid
// whose key is at or below it.
func (n *node) childIndex(it Item) int {
	lo, hi := 1, len(n.kids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.kids[m].key.Compare(it) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func (n *node) size(leaf bool) int {
	if leaf {
		return len(n.items)
	}
	return len(n.kids)
}

// Has reports whether it is in the index.
func (x *Index) Has(it Item) bool {
	n := x.root
	for h := x.height; h > 0; h-- {
		n = n.kids[n.childIndex(it)].node
	}
	_, found := slices.BinarySearchFunc(n.items, it, Item.Compare)
	return found
}

// Insert adds it and reports whether it was added: false if it was already
// present or carries the reserved Infinity timestamp.
func (x *Index) Insert(it Item) bool {
	if it.Timestamp == Infinity {
		return false
	}
	added, right, key := x.insert(x.root, x.height, it)
	if !added {
		return false
	}
	x.n++
	x.sum.add(&it.ID)
	if right != nil {
		left := child{node: x.root}
		left.count, left.sum = x.aggregate(left.node, x.height)
		r := child{node: right, key: key}
		r.count, r.sum = x.aggregate(right, x.height)
		root := &node{kids: make([]child, 2, x.innerCap+1)}
		root.kids[0], root.kids[1] = left, r
		x.root = root
		x.height++
	}
	return true
}

// insert adds it below n (at height h). If n had to split, it returns the new
// right sibling and the key that separates it from n.
func (x *Index) insert(n *node, h int, it Item) (added bool, right *node, key Item) {
	if h == 0 {
		i, found := slices.BinarySearchFunc(n.items, it, Item.Compare)
		if found {
			return false, nil, Item{}
		}
		if len(n.items) < x.leafCap {
			n.items = slices.Insert(n.items, i, it)
			return true, nil, Item{}
		}
		half := len(n.items) / 2
		right = &node{items: make([]Item, len(n.items)-half, x.leafCap)}
		copy(right.items, n.items[half:])
		n.items = n.items[:half]
		if i <= half {
			n.items = slices.Insert(n.items, i, it)
		} else {
			right.items = slices.Insert(right.items, i-half, it)
		}
		return true, right, right.items[0]
	}
	ci := n.childIndex(it)
	added, r, rkey := x.insert(n.kids[ci].node, h-1, it)
	if !added {
		return false, nil, Item{}
	}
	k := &n.kids[ci]
	if r == nil {
		k.count++
		k.sum.add(&it.ID)
		return true, nil, Item{}
	}
	k.count, k.sum = x.aggregate(k.node, h-1)
	nk := child{node: r, key: rkey}
	nk.count, nk.sum = x.aggregate(r, h-1)
	n.kids = slices.Insert(n.kids, ci+1, nk)
	if len(n.kids) <= x.innerCap {
		return true, nil, Item{}
	}
	half := len(n.kids) / 2
	right = &node{kids: make([]child, len(n.kids)-half, x.innerCap+1)}
	copy(right.kids, n.kids[half:])
	clear(n.kids[half:])
	n.kids = n.kids[:half]
	return true, right, right.kids[0].key
}

// aggregate recomputes the count and sum of the subtree at n.
func (x *Index) aggregate(n *node, h int) (count int, sum Accumulator) {
	if h == 0 {
		for i := range n.items {
			sum.add(&n.items[i].ID)
		}
		return len(n.items), sum
	}
	for _, k := range n.kids {
		count += k.count
		sum.AddSum(k.sum)
	}
	return count, sum
}

// Remove deletes it and reports whether it was present.
func (x *Index) Remove(it Item) bool {
	if !x.remove(x.root, x.height, it) {
		return false
	}
	x.n--
	x.sum.sub(&it.ID)
	for x.height > 0 && len(x.root.kids) == 1 {
		x.root = x.root.kids[0].node
		x.height--
	}
	return true
}

func (x *Index) remove(n *node, h int, it Item) bool {
	if h == 0 {
		i, found := slices.BinarySearchFunc(n.items, it, Item.Compare)
		if !found {
			return false
		}
		n.items = slices.Delete(n.items, i, i+1)
		return true
	}
	ci := n.childIndex(it)
	k := &n.kids[ci]
	if !x.remove(k.node, h-1, it) {
		return false
	}
	k.count--
	k.sum.sub(&it.ID)
	capacity := x.innerCap
	if h == 1 {
		capacity = x.leafCap
	}
	// A quarter full, and never fewer than two, so that no node but the
	// root is ever left empty or with a single kid.
	if k.node.size(h == 1) < max(capacity/4, 2) && len(n.kids) > 1 {
		x.rebalance(n, max(ci-1, 0), h-1, capacity)
	}
	return true
}

// rebalance merges n.kids[j] and n.kids[j+1] (nodes at height h) if their
// contents fit in one node, and otherwise shares them out evenly.
func (x *Index) rebalance(n *node, j, h, capacity int) {
	a, b := &n.kids[j], &n.kids[j+1]
	leaf := h == 0
	total := a.node.size(leaf) + b.node.size(leaf)
	if total <= capacity {
		if leaf {
			a.node.items = append(a.node.items, b.node.items...)
		} else {
			b.node.kids[0].key = b.key
			a.node.kids = append(a.node.kids, b.node.kids...)
		}
		a.count += b.count
		a.sum.AddSum(b.sum)
		n.kids = slices.Delete(n.kids, j+1, j+2)
		return
	}
	left := total / 2
	if leaf {
		all := slices.Concat(a.node.items, b.node.items)
		a.node.items = append(a.node.items[:0], all[:left]...)
		b.node.items = append(b.node.items[:0], all[left:]...)
		b.key = b.node.items[0]
	} else {
		b.node.kids[0].key = b.key
		all := slices.Concat(a.node.kids, b.node.kids)
		clear(a.node.kids)
		clear(b.node.kids)
		a.node.kids = append(a.node.kids[:0], all[:left]...)
		b.node.kids = append(b.node.kids[:0], all[left:]...)
		b.key = b.node.kids[0].key
	}
	a.count, a.sum = x.aggregate(a.node, h)
	b.count, b.sum = x.aggregate(b.node, h)
}

// Rank returns the number of items that sort below key.
func (x *Index) Rank(key Item) int {
	r := 0
	n := x.root
	for h := x.height; h > 0; h-- {
		ci := n.childIndex(key)
		for _, k := range n.kids[:ci] {
			r += k.count
		}
		n = n.kids[ci].node
	}
	i, _ := slices.BinarySearchFunc(n.items, key, Item.Compare)
	return r + i
}

// At returns the item of rank i, 0 <= i < Len().
func (x *Index) At(i int) Item {
	if i < 0 || i >= x.n {
		panic("recon: Index.At out of range")
	}
	n := x.root
	for h := x.height; h > 0; h-- {
		ci := 0
		for i >= n.kids[ci].count {
			i -= n.kids[ci].count
			ci++
		}
		n = n.kids[ci].node
	}
	return n.items[i]
}

// prefixSum returns the id sum of the first k items. At each level it adds
// the kids left of the path, or takes the kids right of it away from the
// subtree's total, whichever touches fewer.
func (x *Index) prefixSum(k int) Accumulator {
	if k >= x.n {
		return x.sum
	}
	var acc Accumulator
	n, total := x.root, x.sum
	for h := x.height; h > 0; h-- {
		ci := 0
		for k >= n.kids[ci].count {
			k -= n.kids[ci].count
			ci++
		}
		if ci <= len(n.kids)/2 {
			for _, c := range n.kids[:ci] {
				acc.AddSum(c.sum)
			}
		} else {
			acc.AddSum(total)
			for _, c := range n.kids[ci:] {
				acc.SubSum(c.sum)
			}
		}
		total = n.kids[ci].sum
		n = n.kids[ci].node
	}
	if k <= len(n.items)/2 {
		for i := range n.items[:k] {
			acc.add(&n.items[i].ID)
		}
	} else {
		acc.AddSum(total)
		for i := k; i < len(n.items); i++ {
			acc.sub(&n.items[i].ID)
		}
	}
	return acc
}

// Fingerprint returns the fingerprint of the items of rank i to j-1.
func (x *Index) Fingerprint(i, j int) Fingerprint {
	if i < 0 || j > x.n || i > j {
		panic("recon: Index.Fingerprint range out of bounds")
	}
	acc := x.prefixSum(j)
	acc.SubSum(x.prefixSum(i))
	return acc.Fingerprint(j - i)
}

// Range yields the items of rank i to j-1 in order. The index must not be
// changed while the iteration runs.
func (x *Index) Range(i, j int) iter.Seq[Item] {
	return func(yield func(Item) bool) {
		i, j := max(i, 0), min(j, x.n)
		if i < j {
			walk(x.root, x.height, i, j, yield)
		}
	}
}

// walk yields the items of rank [i, j) under n, 0 <= i < j <= size of n.
func walk(n *node, h, i, j int, yield func(Item) bool) bool {
	if h == 0 {
		for _, it := range n.items[i:j] {
			if !yield(it) {
				return false
			}
		}
		return true
	}
	for _, k := range n.kids {
		if i < k.count {
			if !walk(k.node, h-1, i, min(j, k.count), yield) {
				return false
			}
			if j <= k.count {
				return true
			}
		}
		i = max(i-k.count, 0)
		j -= k.count
	}
	return true
}

// sortItems sorts items and returns them, in items or in a new slice. Large
// inputs are radix sorted by timestamp (11 bits a pass, skipping digits
// that no item varies in), then runs of equal timestamps by id: about five
// times faster than a comparison sort of 40-byte items.
func sortItems(items []Item) []Item {
	if slices.IsSortedFunc(items, Item.Compare) {
		return items
	}
	if len(items) < 1<<12 {
		slices.SortFunc(items, Item.Compare)
		return items
	}
	const digit = 11
	var varying uint64
	for i := range items {
		varying |= items[i].Timestamp ^ items[0].Timestamp
	}
	src, dst := items, make([]Item, len(items))
	count := make([]int, 1<<digit)
	for shift := 0; shift < 64; shift += digit {
		if (varying>>shift)&(1<<digit-1) == 0 {
			continue
		}
		clear(count)
		for i := range src {
			count[(src[i].Timestamp>>shift)&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i := range src {
			d := (src[i].Timestamp >> shift) & (1<<digit - 1)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && src[j].Timestamp == src[i].Timestamp {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(src[i:j], Item.Compare)
		}
		i = j
	}
	return src
}

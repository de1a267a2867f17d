package replica

import (
	"bytes"
	"fmt"
	"iter"

	"github.com/cockroachdb/pebble/v2"
)

// A query runs as one of three plans:
//
//   - planRecords scans the records table, ordered by (author, key). It serves
//     SortAuthorKey, and every query with an Author filter (for one author,
//     key order and (author, key) order agree). Without an Author filter but
//     with a key filter it skips from author to author by seeking.
//   - planIndex scans the key index, ordered by (key, author), and looks up
//     the full record of each row it returns.
//   - planLatest scans the key index a key at a time and returns the latest
//     row of each key.
//
// A cursor is the plan's tag followed by the table key of the position,
// without the table byte and namespace: author || key for planRecords,
// esc(key) || author for planIndex, esc(key) for planLatest.
const (
	planRecords byte = 'r'
	planIndex   byte = 'i'
	planLatest  byte = 'l'
)

func (q *Query) planKind() byte {
	switch {
	case q.Author != nil:
		return planRecords
	case q.LatestPerKey:
		return planLatest
	case q.SortBy == SortKeyAuthor:
		return planIndex
	}
	return planRecords
}

// CursorOf returns the position of e in q's order, for Query.After.
func (q Query) CursorOf(e *Entry) Cursor {
	kind := q.planKind()
	c := Cursor{kind}
	switch kind {
	case planRecords:
		c = append(c, e.Author[:]...)
		c = append(c, e.Key...)
	case planIndex:
		c = appendEscaped(c, e.Key)
		c = append(c, e.Author[:]...)
	case planLatest:
		c = appendEscaped(c, e.Key)
	}
	return c
}

type queryPlan struct {
	kind         byte
	base         []byte // table || ns: cursors are relative to it
	lower, upper []byte // iterator bounds
	// For planRecords without an Author filter: the key range [lo, hi) to
	// keep within each author; hi nil means unbounded. skip is false when
	// every key is wanted.
	skip   bool
	lo, hi []byte
}

// plan works out the tables and bounds for q. empty reports a query that
// cannot match anything (Key outside KeyPrefix).
func (q *Query) plan(ns NamespaceID) (p queryPlan, empty bool) {
	if q.Key != nil && q.KeyPrefix != nil && !bytes.HasPrefix(q.Key, q.KeyPrefix) {
		return p, true
	}
	p.kind = q.planKind()
	var lo, hi []byte // raw key range, hi nil: unbounded
	switch {
	case q.Key != nil:
		lo, hi = q.Key, keySuccessor(q.Key)
	case q.KeyPrefix != nil:
		lo, hi = q.KeyPrefix, prefixEnd(q.KeyPrefix)
	}
	if p.kind == planRecords {
		p.base = nsKey(tableRecords, ns)
		if q.Author != nil {
			ap := append(bytes.Clone(p.base), q.Author[:]...)
			p.lower = append(bytes.Clone(ap), lo...)
			if hi != nil {
				p.upper = append(ap, hi...)
			} else {
				p.upper = prefixEnd(ap)
			}
			return p, false
		}
		p.lower, p.upper = p.base, prefixEnd(p.base)
		p.skip = len(lo) > 0 || hi != nil
		p.lo, p.hi = lo, hi
		return p, false
	}
	p.base = nsKey(tableIndex, ns)
	switch {
	case q.Key != nil:
		p.lower = appendEscaped(bytes.Clone(p.base), q.Key)
		p.upper = prefixEnd(p.lower)
	case q.KeyPrefix != nil:
		p.lower = appendEscapedBody(bytes.Clone(p.base), q.KeyPrefix)
		p.upper = prefixEnd(p.lower)
	default:
		p.lower, p.upper = p.base, prefixEnd(p.base)
	}
	return p, false
}

// Query returns the document's entries that q selects, in q's order. The
// iterator reads a consistent snapshot; stop it early by breaking out of
// the loop. Entries do not alias store memory.
func (s *Store) Query(ns NamespaceID, q Query) iter.Seq2[SignedEntry, error] {
	return func(yield func(SignedEntry, error) bool) {
		if s.closed.Load() {
			yield(SignedEntry{}, ErrClosed)
			return
		}
		if err := s.requireDoc(ns); err != nil {
			yield(SignedEntry{}, fmt.Errorf("query: %w", err))
			return
		}
		p, empty := q.plan(ns)
		if empty {
			return
		}
		var seekTo []byte
		if len(q.After) > 0 {
			if q.After[0] != p.kind {
				yield(SignedEntry{}, fmt.Errorf("query: %w: cursor belongs to another kind of query", ErrMalformed))
				return
			}
			seekTo = append(bytes.Clone(p.base), q.After[1:]...)
			if !q.Descending {
				// Strictly after: past every table key that starts with
				// the position for planLatest (a whole key group), past the
				// position itself otherwise.
				if p.kind == planLatest {
					seekTo = prefixEnd(seekTo)
				} else {
					seekTo = keySuccessor(seekTo)
				}
			}
		}
		r := &queryRun{s: s, ns: ns, q: &q, p: p, yield: yield}
		var err error
		switch p.kind {
		case planRecords:
			err = r.records(seekTo)
		default:
			err = r.index(seekTo)
		}
		if err != nil && !r.stopped {
			yield(SignedEntry{}, fmt.Errorf("query %s: %w", ns.Short(), err))
		}
	}
}

type queryRun struct {
	s       *Store
	ns      NamespaceID
	q       *Query
	p       queryPlan
	yield   func(SignedEntry, error) bool
	n       int
	stopped bool
}

// emit yields se and reports whether to go on.
func (r *queryRun) emit(se SignedEntry) bool {
	if !r.yield(se, nil) {
		r.stopped = true
		return false
	}
	r.n++
	if r.q.Limit > 0 && r.n >= r.q.Limit {
		r.stopped = true
		return false
	}
	return true
}

// start positions it at the first row in query order, or just after the
// cursor position seekTo.
func (r *queryRun) start(it *pebble.Iterator, seekTo []byte) bool {
	switch {
	case seekTo == nil && !r.q.Descending:
		return it.First()
	case seekTo == nil:
		return it.Last()
	case !r.q.Descending:
		return it.SeekGE(seekTo)
	}
	return it.SeekLT(seekTo)
}

func (r *queryRun) advance(it *pebble.Iterator) bool {
	if r.q.Descending {
		return it.Prev()
	}
	return it.Next()
}

func (r *queryRun) records(seekTo []byte) error {
	it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: r.p.lower, UpperBound: r.p.upper})
	if err != nil {
		return err
	}
	defer it.Close()
	p, desc := &r.p, r.q.Descending
	authorKey := func(a AuthorID, key []byte) []byte {
		k := appendRecordPrefix(make([]byte, 0, recordKeyLen+len(key)), r.ns, a)
		return append(k, key...)
	}
	for ok := r.start(it, seekTo); ok; {
		author, key, err := splitRecordKey(it.Key())
		if err != nil {
			return err
		}
		if p.skip {
			below := bytes.Compare(key, p.lo) < 0
			above := p.hi != nil && bytes.Compare(key, p.hi) >= 0
			switch {
			case below && !desc:
				ok = it.SeekGE(authorKey(author, p.lo))
				continue
			case above && !desc:
				next, more := nextID(author)
				if !more {
					return it.Error()
				}
				ok = it.SeekGE(authorKey(next, nil))
				continue
			case above && desc:
				ok = it.SeekLT(authorKey(author, p.hi))
				continue
			case below && desc:
				ok = it.SeekLT(authorKey(author, nil))
				continue
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		se := SignedEntry{Entry: Entry{Namespace: r.ns, Author: author}}
		if err := decodeRecordValue(v, &se); err != nil {
			return fmt.Errorf("entry %q of %s: %w", truncKey(key), author.Short(), err)
		}
		if r.q.IncludeTombstones || !se.IsTombstone() {
			se.Key = append(make([]byte, 0, len(key)), key...)
			if !r.emit(se) {
				return nil
			}
		}
		ok = r.advance(it)
	}
	return it.Error()
}

// index runs planIndex and planLatest. Both iterators read one snapshot, so
// the index and the records they point to agree.
func (r *queryRun) index(seekTo []byte) error {
	snap := r.s.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: r.p.lower, UpperBound: r.p.upper})
	if err != nil {
		return err
	}
	defer it.Close()
	recs := nsKey(tableRecords, r.ns)
	rit, err := snap.NewIter(&pebble.IterOptions{LowerBound: recs, UpperBound: prefixEnd(recs)})
	if err != nil {
		return err
	}
	defer rit.Close()

	lookup := func(key []byte, author AuthorID, want Record) (SignedEntry, error) {
		rk := recordKey(r.ns, author, key)
		if !rit.SeekGE(rk) || !bytes.Equal(rit.Key(), rk) {
			if err := rit.Error(); err != nil {
				return SignedEntry{}, err
			}
			return SignedEntry{}, fmt.Errorf("%w: index row for %q of %s has no record", ErrMalformed, truncKey(key), author.Short())
		}
		v, err := rit.ValueAndErr()
		if err != nil {
			return SignedEntry{}, err
		}
		se := SignedEntry{Entry: Entry{Namespace: r.ns, Author: author, Key: key}}
		if err := decodeRecordValue(v, &se); err != nil {
			return SignedEntry{}, fmt.Errorf("entry %q of %s: %w", truncKey(key), author.Short(), err)
		}
		if se.Timestamp != want.Timestamp || se.Hash != want.Hash {
			return SignedEntry{}, fmt.Errorf("%w: index and record disagree for %q of %s", ErrMalformed, truncKey(key), author.Short())
		}
		return se, nil
	}
	row := func() ([]byte, AuthorID, Record, error) {
		k := it.Key()
		key, author, err := splitIndexKey(k[len(r.p.base):])
		if err != nil {
			return nil, author, Record{}, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, author, Record{}, err
		}
		rec, err := decodeIndexValue(v)
		return key, author, rec, err
	}

	if r.p.kind == planIndex {
		for ok := r.start(it, seekTo); ok; ok = r.advance(it) {
			key, author, rec, err := row()
			if err != nil {
				return err
			}
			if rec.IsTombstone() && !r.q.IncludeTombstones {
				continue
			}
			se, err := lookup(key, author, rec)
			if err != nil {
				return err
			}
			if !r.emit(se) {
				return nil
			}
		}
		return it.Error()
	}

	// planLatest: rows of one key are adjacent (esc(key) || author); pick the
	// latest record among them.
	ok := r.start(it, seekTo)
	for ok {
		group := bytes.Clone(it.Key()[:len(it.Key())-min(IDLen, len(it.Key()))])
		var (
			bestKey    []byte
			bestAuthor AuthorID
			best       Record
			have       bool
		)
		for ; ok && bytes.HasPrefix(it.Key(), group) && len(it.Key()) == len(group)+IDLen; ok = r.advance(it) {
			key, author, rec, err := row()
			if err != nil {
				return err
			}
			if !have || rec.Compare(best) > 0 {
				bestKey, bestAuthor, best, have = key, author, rec, true
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
		if !have {
			return fmt.Errorf("%w: index key of %d bytes", ErrMalformed, len(group))
		}
		if best.IsTombstone() && !r.q.IncludeTombstones {
			continue
		}
		se, err := lookup(bestKey, bestAuthor, best)
		if err != nil {
			return err
		}
		if !r.emit(se) {
			return nil
		}
	}
	return it.Error()
}

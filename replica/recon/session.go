package recon

import (
	"fmt"
	"iter"
	"slices"
)

// Storage is the sorted item set a Session reconciles. Index implements it;
// a snapshot or an on-disk view can too. Ranks count items in (timestamp,
// id) order from 0. The set must not change during one Session call; it may
// change between calls, and the results then mix both states.
type Storage interface {
	// Len returns the number of items.
	Len() int
	// Rank returns the number of items that sort below key.
	Rank(key Item) int
	// At returns the item of rank i.
	At(i int) Item
	// Fingerprint returns the fingerprint of the items of rank i to j-1.
	Fingerprint(i, j int) Fingerprint
	// Range yields the items of rank i to j-1 in order.
	Range(i, j int) iter.Seq[Item]
}

// MinFrameSize is the smallest MaxFrameSize a Config may set: room for a
// full split of one range and the fingerprints that carry the rest to the
// next round, so that every message makes progress.
const MinFrameSize = 4096

// maxCarry is the most one range costs when carried to the next round as a
// fingerprint: a skip to its start, its end bound, the mode and the
// fingerprint.
const maxCarry = 2*(maxBoundLen+1) + 16

// Config tunes a Session. The zero value works: unlimited frames, 16-way
// splits, id lists below 32 items.
type Config struct {
	// MaxFrameSize bounds the size of every message this side writes, in
	// bytes. 0 means unlimited; otherwise it must be at least MinFrameSize
	// and large enough for one split (Branching fingerprints) and one id
	// list of IDListThreshold ids. Ranges that do not fit wait for a later
	// round, so a small frame costs rounds, not correctness. It does not
	// limit what the peer may send: bounding received frames is the
	// transport's job.
	MaxFrameSize int
	// Branching is the number of sub-ranges a mismatched range is split
	// into. 0 means 16.
	Branching int
	// IDListThreshold: a mismatched range holding fewer items than this is
	// answered with the ids themselves rather than split further. 0 means
	// 2*Branching; otherwise it must be at least Branching.
	IDListThreshold int
}

// DefaultConfig returns the configuration for real use: 256 KiB frames,
// 16-way splits, id lists below 32 items.
func DefaultConfig() Config {
	return Config{MaxFrameSize: 256 << 10, Branching: 16, IDListThreshold: 32}
}

func (c Config) withDefaults() Config {
	if c.Branching == 0 {
		c.Branching = 16
	}
	if c.IDListThreshold == 0 {
		c.IDListThreshold = 2 * c.Branching
	}
	return c
}

// minFrame is the smallest frame that, with half of it kept for ranges
// carried to the next round, still holds the version byte, a skip and the
// largest answer to one range.
func (c Config) minFrame() int {
	split := c.Branching * (maxBoundLen + 1 + 16)
	list := maxBoundLen + 1 + maxVarintLen + 32*c.IDListThreshold
	return max(MinFrameSize, 2*(1+maxBoundLen+1+max(split, list)))
}

func (c Config) validate() error {
	switch {
	case c.Branching < 2 || c.Branching > 1024:
		return fmt.Errorf("%w: Branching is %d, want 2..1024 (or 0 for 16)", ErrConfig, c.Branching)
	case c.IDListThreshold < c.Branching || c.IDListThreshold > 1<<16:
		return fmt.Errorf("%w: IDListThreshold is %d, want Branching (%d) .. 65536 (or 0 for twice Branching)",
			ErrConfig, c.IDListThreshold, c.Branching)
	case c.MaxFrameSize < 0 || c.MaxFrameSize > 0 && c.MaxFrameSize < c.minFrame():
		return fmt.Errorf("%w: MaxFrameSize is %d, want 0 (unlimited) or at least %d for this Branching and IDListThreshold",
			ErrConfig, c.MaxFrameSize, c.minFrame())
	}
	return nil
}

type role int

const (
	roleNone role = iota
	roleInitiator
	roleResponder
)

// span is a range of the key space, [lower, upper).
type span struct{ lower, upper bound }

// Session runs one side of a Negentropy v1 reconciliation. It is a plain
// state machine: feed it the peer's messages and send back what it returns;
// it starts no goroutines and does no I/O. The initiator calls Initiate
// once and then Reconcile with each reply until Reconcile returns a nil
// reply. The responder only calls Reconcile, once per message received.
//
// As in Negentropy, the initiator learns the whole difference: across its
// Reconcile calls, have lists every id it holds that the peer lacks and need
// every id the peer holds that it lacks, each once. The responder learns
// nothing by itself; the initiator must tell it (send what it has, ask for
// what it needs). The number of rounds is for the caller to bound.
type Session struct {
	st     Storage
	cfg    Config
	role   role
	done   bool
	rounds int
	// Initiator only. open holds the ranges of our last message that were
	// not skips: everything else is settled, and a reply that reaches
	// beyond them (a peer that merged ranges to fit its frame) is clipped.
	// stash holds answers that did not fit in our frame, to send later
	// (their ranks are looked up again then).
	// peerFrame is the largest reply of a peer seen to run out of room (it
	// sent ranges back unanswered), 0 while it has not.
	open      []span
	stash     []task
	peerFrame int
	// listed counts the ids the peer listed in ranges this side
	// compared (IdList ranges; on the initiator only their open parts).
	listed int
}

// NewSession returns a session over st. It fails with ErrConfig if cfg
// cannot work.
func NewSession(st Storage, cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Session{st: st, cfg: cfg}, nil
}

// Rounds returns the number of messages the initiator has sent, or the
// number the responder has answered: the round trips so far.
func (s *Session) Rounds() int { return s.rounds }

// PeerListed returns how many ids the peer has listed so far in the
// ranges this session compared: a lower bound on the peer's set that
// grows as the peer lists its ids, for the caller to bound the rounds and
// bytes it spends by the sets' sizes. Ids the peer lists for ranges that
// were already settled are not counted.
func (s *Session) PeerListed() int { return s.listed }

// Len returns the number of items on this side.
func (s *Session) Len() int { return s.st.Len() }

// Done reports whether the initiator has finished.
func (s *Session) Done() bool { return s.done }

// Initiate makes this session the initiator and returns the first message:
// one fingerprint over the whole set, so that peers already in sync finish
// in one round trip of a few dozen bytes. An empty set sends an empty id
// list instead, which asks the peer for all its ids at once.
func (s *Session) Initiate() ([]byte, error) {
	if s.role != roleNone {
		return nil, fmt.Errorf("%w: Initiate on a session that has started", ErrState)
	}
	s.role = roleInitiator
	s.rounds = 1
	s.open = []span{{zeroBound, infinityBound}}
	e := newEncoder(64)
	n := s.st.Len()
	if n == 0 {
		s.writeIDList(e, infinityBound, 0, 0)
	} else {
		e.bound(infinityBound)
		e.varint(modeFingerprint)
		e.fingerprint(s.st.Fingerprint(0, n))
	}
	return e.buf, nil
}

// Reconcile processes one message from the peer. It returns the reply to
// send, and on the initiator the ids learned from this message. A nil reply
// on the initiator means reconciliation is complete. The responder always
// returns a reply. msg is not retained.
//
// A responder that receives a later protocol version returns ErrVersion
// together with a one-byte reply naming version 1, which the caller may send
// so that the peer can fall back, as the protocol asks.
func (s *Session) Reconcile(msg []byte) (reply []byte, have, need [][32]byte, err error) {
	switch {
	case s.role == roleNone:
		s.role = roleResponder
	case s.done:
		return nil, nil, nil, fmt.Errorf("%w: Reconcile after the initiator finished", ErrState)
	}
	if len(msg) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: empty message", ErrTruncated)
	}
	if msg[0] != ProtocolVersion {
		if s.role == roleResponder && msg[0] > ProtocolVersion && msg[0] < 0x70 {
			return []byte{ProtocolVersion}, nil, nil, fmt.Errorf("%w: 0x%02x, this side speaks 0x%02x", ErrVersion, msg[0], ProtocolVersion)
		}
		return nil, nil, nil, fmt.Errorf("%w: 0x%02x", ErrVersion, msg[0])
	}
	ranges, err := decodeMessage(msg[1:])
	if err != nil {
		return nil, nil, nil, err
	}
	if s.role == roleResponder {
		s.rounds++
		return s.respond(s.classifyResponder(ranges)), nil, nil, nil
	}
	tasks, have, need, saturated := s.classifyInitiator(ranges)
	if saturated {
		s.peerFrame = max(s.peerFrame, len(msg))
	}
	if len(tasks) == 0 && len(s.stash) == 0 {
		s.done = true
		s.open = nil
		return nil, have, need, nil
	}
	s.rounds++
	return s.ask(tasks), have, need, nil
}

type taskKind int

const (
	taskSplit  taskKind = iota // fingerprints differ: split, or list our ids
	taskIDList                 // the initiator listed its ids: list ours
	taskAsk                    // unsure: send our fingerprint for the range
)

// task is a range that needs an answer: [lower, upper) by bound, [lo, hi)
// by our ranks.
type task struct {
	kind         taskKind
	lower, upper bound
	lo, hi       int
}

// ranked returns t with its ranks looked up.
func (s *Session) ranked(t task) task {
	t.lo, t.hi = s.st.Rank(t.lower.key), s.st.Rank(t.upper.key)
	return t
}

// classifyResponder returns the ranges of the initiator's message that need
// an answer: fingerprints that differ from ours and id lists.
func (s *Session) classifyResponder(ranges []wireRange) []task {
	var tasks []task
	lower, lo := zeroBound, 0
	for _, r := range ranges {
		hi := s.st.Rank(r.upper.key)
		switch r.mode {
		case modeFingerprint:
			if s.st.Fingerprint(lo, hi) != r.fp {
				tasks = append(tasks, task{kind: taskSplit, lower: lower, upper: r.upper, lo: lo, hi: hi})
			}
		case modeIDList:
			s.listed += len(r.ids) / 32
			tasks = append(tasks, task{kind: taskIDList, lower: lower, upper: r.upper, lo: lo, hi: hi})
		}
		lower, lo = r.upper, hi
	}
	return tasks
}

// classifyInitiator settles what the responder's message settles: skips,
// matching fingerprints, and id lists, from which it learns have and need.
// It returns the ranges that need an answer. Only the parts of each range
// that our last message left open count; a range that reaches beyond one
// open span cannot be compared as a whole, so each open part of it is asked
// again with our fingerprint.
// saturated reports that the peer sent ranges back unanswered: one of our
// ranges as a single fingerprint, or several merged.
func (s *Session) classifyInitiator(ranges []wireRange) (tasks []task, have, need [][32]byte, saturated bool) {
	open := s.open
	lower, lo := zeroBound, 0
	for _, r := range ranges {
		hi := s.st.Rank(r.upper.key)
		if r.mode != modeSkip {
			// Drop the open spans that end before this range.
			for len(open) > 0 && open[0].upper.key.Compare(lower.key) <= 0 {
				open = open[1:]
			}
			var parts []span
			for _, o := range open {
				if o.lower.key.Compare(r.upper.key) >= 0 {
					break
				}
				parts = append(parts, span{maxBound(o.lower, lower), minBound(o.upper, r.upper)})
			}
			whole := len(parts) == 1 && parts[0].lower.key == lower.key && parts[0].upper.key == r.upper.key
			if r.mode == modeFingerprint && len(parts) > 0 && (!whole ||
				open[0].lower.key == lower.key && open[0].upper.key == r.upper.key) {
				saturated = true
			}
			switch {
			case len(parts) == 0:
				// All settled already: only a peer that ignored our skips
				// sends this.
			case r.mode == modeIDList:
				have, need = s.diff(lo, hi, r.ids, parts, whole, have, need)
			case whole:
				if s.st.Fingerprint(lo, hi) != r.fp {
					tasks = append(tasks, task{kind: taskSplit, lower: lower, upper: r.upper, lo: lo, hi: hi})
				}
			default:
				for _, p := range parts {
					tasks = append(tasks, s.ranked(task{kind: taskAsk, lower: p.lower, upper: p.upper}))
				}
			}
		}
		lower, lo = r.upper, hi
	}
	return tasks, have, need, saturated
}

func maxBound(a, b bound) bound {
	if a.key.Compare(b.key) >= 0 {
		return a
	}
	return b
}

func minBound(a, b bound) bound {
	if a.key.Compare(b.key) <= 0 {
		return a
	}
	return b
}

// diff compares the peer's ids for a range with ours in [lo, hi). Unless
// the range lies whole in one open span, only our items inside the open
// parts count as have: the rest were settled in earlier rounds.
func (s *Session) diff(lo, hi int, raw []byte, parts []span, whole bool, have, need [][32]byte) ([][32]byte, [][32]byte) {
	theirs := make(map[[32]byte]bool, len(raw)/32) // id -> we hold it too
	order := make([][32]byte, 0, len(raw)/32)
	for i := 0; i < len(raw); i += 32 {
		id := [32]byte(raw[i : i+32])
		if _, dup := theirs[id]; !dup {
			theirs[id] = false
			order = append(order, id)
		}
	}
	s.listed += len(order)
	for it := range s.st.Range(lo, hi) {
		if _, ok := theirs[it.ID]; ok {
			theirs[it.ID] = true
		} else if whole || inSpans(it, parts) {
			have = append(have, it.ID)
		}
	}
	for _, id := range order {
		if !theirs[id] {
			need = append(need, id)
		}
	}
	return have, need
}

func inSpans(it Item, spans []span) bool {
	for _, sp := range spans {
		if sp.lower.key.Compare(it) <= 0 && it.Less(sp.upper.key) {
			return true
		}
	}
	return false
}

// ask writes the initiator's next message: the answers to tasks and to the
// ranges stashed earlier, in key order, as many as fit in the frame. The
// rest is stashed: the peer reads it as skipped and will not answer it, so
// it costs nothing now and is sent in a later round. The first answer
// always fits, so every round makes progress.
//
// Once the peer has run out of room, the frame shrinks to the peer's largest
// reply: answering a question costs the peer more bytes than asking it, and
// asking more than it can answer only makes it send the rest back.
func (s *Session) ask(tasks []task) []byte {
	limit := s.cfg.MaxFrameSize
	if s.peerFrame > 0 {
		if l := max(s.peerFrame, MinFrameSize); limit == 0 || l < limit {
			limit = l
		}
	}
	all := make([]task, 0, len(tasks)+len(s.stash))
	for _, t := range s.stash {
		all = append(all, s.ranked(t))
	}
	all = append(all, tasks...)
	slices.SortFunc(all, func(a, b task) int { return a.lower.key.Compare(b.lower.key) })
	s.stash = s.stash[:0]
	w := writer{encoder: newEncoder(256), s: s, spans: s.open[:0]}
	for i, t := range all {
		mark := w.mark()
		w.answer(t)
		if limit > 0 && w.size() > limit && i > 0 {
			w.reset(mark)
			s.stash = append(s.stash, all[i:]...)
			break
		}
	}
	s.open = w.spans
	return w.buf
}

// respond writes the responder's reply. With a frame limit, what does not
// fit is carried to the next round: each unanswered range becomes one
// fingerprint of our items, which the initiator will find differs and
// split. Answers stop while room remains to carry the rest one fingerprint
// each (or half the frame, if even that would not fit; neighbours are then
// merged into coarser fingerprints). The first range is always answered, at
// least in part, so every round makes progress.
func (s *Session) respond(tasks []task) []byte {
	limit := s.cfg.MaxFrameSize
	w := writer{encoder: newEncoder(256), s: s}
	if limit == 0 {
		for _, t := range tasks {
			w.answer(t)
		}
		return w.buf
	}
	carry := make([]int, len(tasks)+1) // carry[i]: cost of carrying tasks[i:]
	for i := len(tasks) - 1; i >= 0; i-- {
		t := tasks[i]
		carry[i] = carry[i+1] + 2*(maxVarintLen+1) + t.lower.prefixLen + 1 + t.upper.prefixLen + 1 + 16
	}
	for i, t := range tasks {
		reserve := min(carry[i+1], limit/2)
		// An id list that cannot fit is not written only to be undone:
		// listing a large set whole costs O(n) per round, and a bootstrap
		// takes n/frame rounds.
		tooLong := t.kind == taskIDList && w.size()+32*(t.hi-t.lo)+reserve > limit
		if !tooLong {
			mark := w.mark()
			w.answer(t)
			if w.size()+reserve <= limit {
				continue
			}
			w.reset(mark)
		}
		rest := tasks[i:]
		if t.kind == taskIDList {
			if rem, ok := w.partialIDList(t, limit-reserve-maxCarry); ok {
				rest[0] = rem
			}
		}
		w.carry(rest, limit)
		break
	}
	return w.buf
}

// writer is an encoder that knows where the message has got to, and on the
// initiator records the ranges it asks about.
type writer struct {
	*encoder
	s     *Session
	pos   bound  // upper bound of the last range written
	spans []span // the fingerprint and id-list ranges written
}

type writerMark struct {
	checkpoint
	pos   bound
	spans int
}

func (w *writer) mark() writerMark { return writerMark{w.encoder.mark(), w.pos, len(w.spans)} }

func (w *writer) reset(m writerMark) {
	w.encoder.reset(m.checkpoint)
	w.pos, w.spans = m.pos, w.spans[:m.spans]
}

// asked records a range written with a fingerprint or id list.
func (w *writer) asked(upper bound) {
	if w.s.role == roleInitiator {
		w.spans = append(w.spans, span{w.pos, upper})
	}
	w.pos = upper
}

// skipTo closes the gap before lower with a Skip range.
func (w *writer) skipTo(lower bound) {
	if lower.key != w.pos.key {
		w.bound(lower)
		w.varint(modeSkip)
		w.pos = lower
	}
}

// answer writes the answer to one task: our ids if the peer listed theirs or
// the range is small, otherwise Branching fingerprints over equal shares of
// our items, split at the shortest bounds.
func (w *writer) answer(t task) {
	w.skipTo(t.lower)
	n := t.hi - t.lo
	if t.kind == taskAsk {
		w.bound(t.upper)
		w.varint(modeFingerprint)
		w.fingerprint(w.s.st.Fingerprint(t.lo, t.hi))
		w.asked(t.upper)
		return
	}
	if t.kind == taskIDList || n < w.s.cfg.IDListThreshold {
		w.s.writeIDList(w.encoder, t.upper, t.lo, t.hi)
		w.asked(t.upper)
		return
	}
	b := w.s.cfg.Branching
	cur := t.lo
	for i := range b {
		next := cur + n/b
		if i < n%b {
			next++
		}
		ub := t.upper
		if next != t.hi {
			ub = minimalBound(w.s.st.At(next-1), w.s.st.At(next))
		}
		w.bound(ub)
		w.varint(modeFingerprint)
		w.fingerprint(w.s.st.Fingerprint(cur, next))
		w.asked(ub)
		cur = next
	}
}

// partialIDList answers the start of an id-list task within budget bytes
// and returns the task for the rest of its range.
func (w *writer) partialIDList(t task, budget int) (task, bool) {
	used := w.size() + w.boundLen(t.lower) + 1 + maxBoundLen + 1 + varintLen(uint64(t.hi-t.lo))
	k := (budget - used) / 32
	if k < 1 || k >= t.hi-t.lo {
		return t, false
	}
	split := t.lo + k
	ub := minimalBound(w.s.st.At(split-1), w.s.st.At(split))
	w.skipTo(t.lower)
	w.s.writeIDList(w.encoder, ub, t.lo, split)
	w.pos = ub
	return task{kind: taskIDList, lower: ub, upper: t.upper, lo: split, hi: t.hi}, true
}

// carry writes rest as fingerprints of our items, merging neighbours into
// fewer, coarser ranges until they fit.
func (w *writer) carry(rest []task, limit int) {
	for g := len(rest); ; g = (g + 1) / 2 {
		mark := w.mark()
		off := 0
		for _, size := range evenParts(len(rest), (len(rest)+g-1)/g) {
			first, last := rest[off], rest[off+size-1]
			off += size
			w.skipTo(first.lower)
			w.bound(last.upper)
			w.varint(modeFingerprint)
			w.fingerprint(w.s.st.Fingerprint(first.lo, last.hi))
			w.pos = last.upper
		}
		if w.size() <= limit || g == 1 {
			return
		}
		w.reset(mark)
	}
}

func (s *Session) writeIDList(e *encoder, upper bound, lo, hi int) {
	e.bound(upper)
	e.varint(modeIDList)
	e.varint(uint64(hi - lo))
	for it := range s.st.Range(lo, hi) {
		e.buf = append(e.buf, it.ID[:]...)
	}
}

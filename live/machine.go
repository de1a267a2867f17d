package live

import (
	"fmt"
	"io"
	"math/bits"
	"net/netip"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
)

// machine is the protocol of one sync session as a plain state machine: no
// goroutines, clocks, sockets or store. The session shell feeds it what
// happened (a frame arrived, a round was computed, entries were stored) and
// carries out the actions it returns (send a frame, reconcile a message,
// queue ids, verify entries). It decides what may arrive when, enforces
// the limits, knows when each side is done and keeps the counts.
//
// The conversation, initiator I and acceptor A:
//
//	I → A  Init{version, namespace, I's addresses, first message}
//	A → I  Recon reply; I → A Recon … until I's session is done
//	I → A  Want{ids} and Entries{have} as rounds find them (pipelined)
//	A → I  Entries answering each Want
//	I → A  Done once rounds are over and every Want and Entries is written
//	A → I  Done once I's Done arrived and every Want is answered
//	A → I  Summary{count, fingerprint} once every received entry is stored
//	I → A  Summary once A's arrived and every received entry is stored; I closes
//	A      closes once I's Summary arrived
//
// Abort may come from either side at any point and ends the session.
type machine struct {
	role Role
	cfg  SessionConfig
	ns   replica.NamespaceID
	// addrs (I) are the addresses Init tells the acceptor to dial us on.
	addrs []netip.AddrPort

	started    bool // I: Init sent. A: Init received.
	served     bool // A: the document check and policy passed
	awaiting   bool // I: our last Recon (or Init) is unanswered
	reconDone  bool // I: our session finished. A: I's Done arrived.
	rounds     int
	reconBytes int64
	// setSize is the size of this side's set and listed the ids the peer
	// listed, as the last round reported them.
	setSize, listed int

	work int // producer items queued and not yet reported
	pipe int // Entries frames received and not yet stored

	sentDone    bool
	peerDone    bool
	summarizing bool
	local       *actor.SetSummary
	remote      *actor.SetSummary
	closeQueued bool
	closed      bool // the writer closed our sending direction
	eof         bool
	finished    bool

	out Outcome
}

type actionKind uint8

const (
	// actInitiate: produce the first reconciliation message; report it
	// with initiated.
	actInitiate actionKind = iota + 1
	// actAccept: check that the document is held and the policy allows
	// the session, and open its reconciliation; report with accepted.
	// addrs are the addresses the initiator stated, to learn once served.
	actAccept
	// actReconcile: run recon through the reconciliation session; report
	// with reconciled.
	actReconcile
	// actSend: write msg ahead of queued data frames (Init, Recon).
	actSend
	// actSendLast: write msg after every data frame queued so far
	// (Done, Summary).
	actSendLast
	// actClose: close our sending direction after everything queued;
	// report with closed.
	actClose
	// actWant: ask for ids in Want frames; report with produced.
	actWant
	// actSendEntries: send the stored entries with these ids in Entries
	// frames; report with produced.
	actSendEntries
	// actVerify: validate and verify entries, then store the valid ones;
	// report with verified, then stored.
	actVerify
	// actSummarize: compute the local set summary; report with summarized.
	actSummarize
)

func (k actionKind) String() string {
	return [...]string{"?", "initiate", "accept", "reconcile", "send", "send-last", "close", "want",
		"send-entries", "verify", "summarize"}[k]
}

type action struct {
	kind    actionKind
	msg     *message              // actSend, actSendLast
	recon   []byte                // actReconcile
	addrs   []netip.AddrPort      // actAccept
	ids     [][32]byte            // actWant, actSendEntries
	entries []replica.SignedEntry // actVerify
}

func newMachine(role Role, ns replica.NamespaceID, cfg SessionConfig) *machine {
	m := &machine{role: role, cfg: cfg, ns: ns}
	m.out.Role = role
	m.out.Namespace = ns
	return m
}

// start returns the first actions: the initiator makes its first message;
// the acceptor waits for Init.
func (m *machine) start() []action {
	if m.role == Initiator {
		return []action{{kind: actInitiate}}
	}
	return nil
}

// canRead reports whether the shell may hand over the next frame: not while
// received entries pile up unstored, nor (on the acceptor) while Wants pile
// up unanswered. The initiator never stops reading for its own writes, so
// the two sides cannot both wait on each other.
func (m *machine) canRead() bool {
	if m.eof || m.finished {
		return false
	}
	if m.pipe >= pipelineDepth {
		return false
	}
	return m.role == Initiator || m.work < maxQueuedWants
}

// setSent records the bytes written so far.
func (m *machine) setSent(n int64) { m.out.BytesSent = n }

func (m *machine) checkBytes() error {
	if total := m.out.BytesSent + m.out.BytesReceived; total > m.cfg.MaxBytes {
		return fmt.Errorf("%w: %d bytes moved, limit %d (Config.MaxBytes)", ErrTooManyBytes, total, m.cfg.MaxBytes)
	}
	if budget := m.bytesBudget(); m.out.BytesReceived > budget {
		return fmt.Errorf("%w: %d bytes received for %d items seen, budget %d (Config.BytesPerItemFactor %d)",
			ErrTooManyBytes, m.out.BytesReceived, m.items(), budget, m.cfg.BytesPerItemFactor)
	}
	return nil
}

// items is how many items the session has seen: this side's set, the ids
// the peer listed, and the entries it sent.
func (m *machine) items() int64 {
	return int64(m.setSize) + int64(m.listed) + int64(m.out.Received)
}

// bytesBudget is the bytes the peer may have sent so far.
func (m *machine) bytesBudget() int64 {
	item := int64(maxEntryLen(m.cfg.Limits.MaxKeyLen) + 32)
	return 16*int64(m.cfg.MaxFrameSize) + int64(m.cfg.BytesPerItemFactor)*item*m.items()
}

// roundBudget is the rounds allowed so far: MaxRounds, RoundsPerDoubling
// per doubling of the items seen, and two per frame of this side's ids.
func (m *machine) roundBudget() int {
	n := m.items()
	ownFrames := (32*int64(m.setSize) + int64(m.cfg.MaxFrameSize) - 1) / int64(m.cfg.MaxFrameSize)
	return m.cfg.MaxRounds + m.cfg.RoundsPerDoubling*bits.Len64(uint64(n)) + 2*int(ownFrames)
}

func (m *machine) countRound(msgLen int) error {
	m.rounds++
	m.reconBytes += int64(msgLen)
	m.out.Rounds = m.rounds
	if m.rounds > m.roundBudget() {
		return fmt.Errorf("%w: %d rounds (%d bytes of reconciliation) for %d items seen, budget %d (Config.MaxRounds %d, RoundsPerDoubling %d)",
			ErrTooManyRounds, m.rounds, m.reconBytes, m.items(), m.roundBudget(), m.cfg.MaxRounds, m.cfg.RoundsPerDoubling)
	}
	return nil
}

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// initiated: the first message is ready; send Init.
func (m *machine) initiated(first []byte) []action {
	m.started, m.awaiting = true, true
	m.reconBytes = int64(len(first))
	return []action{{kind: actSend, msg: &message{Type: MsgInit, Version: ProtocolVersion, Namespace: m.ns, Addrs: m.addrs, Recon: first}}}
}

// accepted: the acceptor serves the session.
func (m *machine) accepted() { m.served = true; m.out.Served = true }

// frame handles one received frame of size bytes on the wire.
func (m *machine) frame(msg *message, size int) ([]action, error) {
	m.out.BytesReceived += int64(size)
	if err := m.checkBytes(); err != nil {
		return nil, err
	}
	if msg.Type == MsgAbort {
		return nil, &AbortError{Reason: msg.Reason, Text: msg.Text}
	}
	if m.role == Acceptor && !m.started && msg.Type != MsgInit {
		return nil, violation("%v before Init", msg.Type)
	}
	switch msg.Type {
	case MsgInit:
		if m.role == Initiator || m.started {
			return nil, violation("unexpected Init")
		}
		m.started = true
		m.ns, m.out.Namespace = msg.Namespace, msg.Namespace
		if msg.Version != ProtocolVersion {
			return nil, fmt.Errorf("%w: peer speaks version %d, this node %d", ErrVersion, msg.Version, ProtocolVersion)
		}
		if err := m.countRound(len(msg.Recon)); err != nil {
			return nil, err
		}
		return []action{{kind: actAccept, addrs: msg.Addrs}, {kind: actReconcile, recon: msg.Recon}}, nil

	case MsgRecon:
		switch {
		case m.role == Initiator && !m.awaiting:
			return nil, violation("Recon with no question outstanding")
		case m.role == Acceptor && m.peerDone:
			return nil, violation("Recon after Done")
		}
		m.awaiting = false
		if err := m.countRound(len(msg.Recon)); err != nil {
			return nil, err
		}
		return []action{{kind: actReconcile, recon: msg.Recon}}, nil

	case MsgEntries:
		if m.peerDone {
			return nil, violation("Entries after Done")
		}
		if len(msg.Entries) > m.cfg.MaxEntriesPerFrame {
			return nil, violation("Entries frame of %d entries, limit %d (Config.MaxEntriesPerFrame)", len(msg.Entries), m.cfg.MaxEntriesPerFrame)
		}
		m.out.Received += len(msg.Entries)
		m.pipe++
		return []action{{kind: actVerify, entries: msg.Entries}}, nil

	case MsgWant:
		switch {
		case m.role == Initiator:
			return nil, violation("Want sent to the initiator")
		case m.peerDone:
			return nil, violation("Want after Done")
		case len(msg.IDs) > m.cfg.MaxIDsPerWant:
			return nil, violation("Want of %d ids, limit %d (Config.MaxIDsPerWant)", len(msg.IDs), m.cfg.MaxIDsPerWant)
		}
		m.out.Wanted += len(msg.IDs)
		if len(msg.IDs) == 0 {
			return nil, nil
		}
		m.work++
		return []action{{kind: actSendEntries, ids: msg.IDs}}, nil

	case MsgDone:
		switch {
		case m.peerDone:
			return nil, violation("second Done")
		case m.role == Initiator && !m.sentDone:
			return nil, violation("acceptor sent Done before the initiator")
		}
		m.peerDone = true
		if m.role == Acceptor {
			m.reconDone = true
		}
		return m.progress(), nil

	case MsgSummary:
		switch {
		case !m.peerDone:
			return nil, violation("Summary before Done")
		case m.remote != nil:
			return nil, violation("second Summary")
		case m.role == Acceptor && m.local == nil:
			return nil, violation("initiator sent Summary before the acceptor")
		}
		s := msg.Summary
		m.remote = &s
		m.out.Remote = s
		m.compare()
		return m.progress(), nil
	}
	return nil, violation("unexpected %v", msg.Type)
}

// reconciled handles the result of one round on our side.
func (m *machine) reconciled(res actor.RoundResult) ([]action, error) {
	var acts []action
	m.setSize, m.listed = res.Local, res.PeerListed
	if m.role == Acceptor {
		m.reconBytes += int64(len(res.Reply))
		return []action{{kind: actSend, msg: &message{Type: MsgRecon, Recon: res.Reply}}}, nil
	}
	if res.Reply == nil {
		m.reconDone = true
	} else {
		m.awaiting = true
		m.reconBytes += int64(len(res.Reply))
		acts = append(acts, action{kind: actSend, msg: &message{Type: MsgRecon, Recon: res.Reply}})
	}
	// Ask first, so that the peer's entries start flowing while ours go out.
	if len(res.Need) > 0 {
		m.work++
		m.out.Wanted += len(res.Need)
		acts = append(acts, action{kind: actWant, ids: res.Need})
	}
	if len(res.Have) > 0 {
		m.work++
		acts = append(acts, action{kind: actSendEntries, ids: res.Have})
	}
	return append(acts, m.progress()...), nil
}

// verified records the validation failures of one received frame and
// decides whether the peer is hostile.
func (m *machine) verified(r Refused) error {
	m.out.Refused.add(r)
	refused := m.out.Refused.Total()
	if refused >= m.cfg.HostileMinRefused && float64(refused) > m.cfg.HostileFraction*float64(m.out.Received) {
		return fmt.Errorf("%w: %d of %d entries refused (%d bad signatures, %d of another namespace, %d from the future, %d malformed)",
			ErrHostile, refused, m.out.Received, m.out.Refused.BadSignature, m.out.Refused.WrongNamespace,
			m.out.Refused.FutureTimestamp, m.out.Refused.Malformed)
	}
	return nil
}

// stored: frames received Entries frames are now fully in the store.
func (m *machine) stored(frames, inserted, stale int) []action {
	m.pipe -= frames
	m.out.Inserted += inserted
	m.out.Stale += stale
	return m.progress()
}

// produced: the producer finished one work item, writing entries entries
// and skipping the ids whose entries were no longer stored.
func (m *machine) produced(entries, skipped int) ([]action, error) {
	m.work--
	m.out.Sent += entries
	m.out.SendSkipped += skipped
	if err := m.checkBytes(); err != nil {
		return nil, err
	}
	return m.progress(), nil
}

// summarized: the local summary, computed after every insert.
func (m *machine) summarized(s actor.SetSummary) []action {
	m.local = &s
	m.out.Local = s
	m.compare()
	acts := []action{{kind: actSendLast, msg: &message{Type: MsgSummary, Summary: s}}}
	return append(acts, m.progress()...)
}

// closedWrite: our sending direction is closed.
func (m *machine) closedWrite() []action {
	m.closed = true
	return m.progress()
}

// endOfStream: the peer closed its sending direction.
func (m *machine) endOfStream() ([]action, error) {
	m.eof = true
	if m.remote == nil || m.local == nil {
		return nil, violation("stream ended before the session completed: %w", io.ErrUnexpectedEOF)
	}
	return m.progress(), nil
}

func (m *machine) compare() {
	if m.local != nil && m.remote != nil {
		m.out.Equal = *m.local == *m.remote
	}
}

// progress returns the ending steps whose conditions now hold.
func (m *machine) progress() []action {
	var acts []action
	// Done: no more Recon, Want or Entries from this side. The initiator
	// knows once its rounds are over and all it queued is written; the
	// acceptor once the initiator's Done arrived and every Want is answered.
	if !m.sentDone && m.work == 0 && m.reconDone && (m.role == Initiator || m.peerDone) {
		m.sentDone = true
		acts = append(acts, action{kind: actSendLast, msg: &message{Type: MsgDone}})
	}
	// Summary, once everything the peer sent is stored: the acceptor after
	// the initiator's Done, the initiator after the acceptor's Summary.
	if !m.summarizing && m.peerDone && m.sentDone && m.pipe == 0 && (m.role == Acceptor || m.remote != nil) {
		m.summarizing = true
		acts = append(acts, action{kind: actSummarize})
	}
	// Close once both summaries are known and ours is queued.
	if !m.closeQueued && m.local != nil && m.remote != nil {
		m.closeQueued = true
		acts = append(acts, action{kind: actClose})
	}
	if m.closed && m.eof {
		m.finished = true
	}
	return acts
}

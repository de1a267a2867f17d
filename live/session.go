package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/admission"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// session is the shell around a machine: it moves frames between the
// stream and the machine and carries out the machine's actions. Its
// goroutines form a pipeline, so that no stage waits for another's round
// trip:
//
//	reader:   stream → decoded frames → loop
//	loop:     the machine; reconciliation rounds and summaries on the actor
//	producer: ids → Want frames, or stored entries (EntriesByID) → Entries frames → writer
//	writer:   control frames first (Init, Recon, Abort), then data frames → stream
//	verifier: received entries → validation and batch signature checks → inserter
//	inserter: valid entries → actor.InsertRemote in batches
//
// Every channel between them is bounded; the loop stops reading while
// received entries or unanswered Wants pile up. The initiator never stops
// reading for its own writes, so the two sides cannot wait on each other.
type session struct {
	m      *machine
	act    *actor.Actor
	st     stream
	cfg    SessionConfig
	peer   endpoint.NodeID
	ns     replica.NamespaceID // the acceptor learns it from Init
	accept func(ns replica.NamespaceID) (release func(), err error)
	learn  func(addrs []netip.AddrPort)
	rs     *actor.ReconSession

	ctx    context.Context
	cancel context.CancelCauseFunc
	quit   chan struct{}
	wg     sync.WaitGroup

	inC        chan inFrame
	ctrlC      chan outFrame // loop → writer, ahead of data
	dataC      chan outFrame // producer and loop → writer
	abortC     chan outFrame // the final Abort, ahead of everything
	closedC    chan struct{} // closed once the writer closed our direction
	writerDone chan struct{}
	workC      chan action
	prodC      chan produced
	verifyC    chan []replica.SignedEntry
	insertC    chan []replica.SignedEntry
	verC       chan Refused
	storedC    chan storedReport
	errC       chan error

	written  atomic.Int64        // frame bytes written
	progress atomic.Uint64       // frames read or written, batches stored
	activity *admission.Activity // the Server's view of progress, if set

	// Owned by the loop.
	ctrlQ, lastQ []outFrame
	workQ        []action
	release      func()
	start        time.Time
	reconEnd     time.Time
	xferStart    time.Time
	xferEnd      time.Time
}

type inFrame struct {
	msg  *message
	size int
	err  error
}

// outFrame is an encoded frame, or (close set) the end of our direction.
type outFrame struct {
	b     []byte
	close bool
}

type produced struct{ entries, skipped int }

type storedReport struct{ frames, inserted, stale int }

type sessionParams struct {
	role   Role
	act    *actor.Actor
	st     stream
	peer   endpoint.NodeID
	ns     replica.NamespaceID // initiator
	cfg    SessionConfig
	accept func(ns replica.NamespaceID) (release func(), err error) // acceptor
	// addrs (initiator) are where the acceptor may dial this node, sent
	// in Init.
	addrs []netip.AddrPort
	// learn (acceptor), if set, takes the addresses the initiator stated
	// in Init, once the session is served.
	learn func(addrs []netip.AddrPort)
	// activity (acceptor), if set, hears of every frame read or written
	// and every batch stored.
	activity *admission.Activity
}

// moved records progress: a frame read or written, a batch stored.
func (s *session) moved() {
	s.progress.Add(1)
	if s.activity != nil {
		s.activity.Tick(time.Now())
	}
}

// errInitTimeout ends an acceptor's session whose Init did not arrive
// within SessionConfig.InitTimeout.
var errInitTimeout = fmt.Errorf("%w: no Init in time", ErrTimeout)

// errSessionOver cancels the session's context once it has ended.
var errSessionOver = errors.New("live: session over")

// runSession runs one side of a session to its end and returns what it did.
func runSession(ctx context.Context, p sessionParams) (Outcome, error) {
	cfg := p.cfg.withDefaults(p.act.Limits())
	start := time.Now()
	if err := cfg.validate(); err != nil {
		p.st.CancelRead()
		p.st.CancelWrite()
		return Outcome{Role: p.role, Peer: p.peer, Namespace: p.ns, Start: start, End: start}, err
	}
	s := &session{
		m:          newMachine(p.role, p.ns, cfg),
		act:        p.act,
		st:         p.st,
		cfg:        cfg,
		peer:       p.peer,
		ns:         p.ns,
		accept:     p.accept,
		learn:      p.learn,
		activity:   p.activity,
		quit:       make(chan struct{}),
		inC:        make(chan inFrame, 2),
		ctrlC:      make(chan outFrame, 1),
		dataC:      make(chan outFrame, 2),
		abortC:     make(chan outFrame, 1),
		closedC:    make(chan struct{}),
		writerDone: make(chan struct{}),
		workC:      make(chan action, 1),
		prodC:      make(chan produced, 2),
		verifyC:    make(chan []replica.SignedEntry, pipelineDepth),
		insertC:    make(chan []replica.SignedEntry, pipelineDepth),
		verC:       make(chan Refused, pipelineDepth),
		storedC:    make(chan storedReport, pipelineDepth),
		errC:       make(chan error, 4),
		start:      start,
	}
	s.m.out.Peer = p.peer
	s.m.addrs = p.addrs
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	timeoutCtx, cancelTimeout := context.WithTimeoutCause(s.ctx, cfg.SessionTimeout,
		fmt.Errorf("%w: session ran longer than %v (Config.SessionTimeout)", ErrTimeout, cfg.SessionTimeout))
	defer cancelTimeout()
	s.ctx = timeoutCtx

	s.wg.Go(s.readLoop)
	s.wg.Go(s.writeLoop)
	s.wg.Go(s.produceLoop)
	s.wg.Go(s.verifyLoop)
	s.wg.Go(s.insertLoop)

	err := s.loop()
	return s.end(err)
}

// loop runs the machine until the session completes or fails.
func (s *session) loop() error {
	if err := s.exec(s.m.start()); err != nil {
		return err
	}
	idle := time.NewTicker(s.cfg.IdleTimeout)
	defer idle.Stop()
	var initC <-chan time.Time
	if s.m.role == Acceptor {
		initTimer := time.NewTimer(s.cfg.InitTimeout)
		defer initTimer.Stop()
		initC = initTimer.C
	}
	lastProgress := s.progress.Load()
	var told Outcome // what Progress last heard
	var toldAt time.Time
	tell := func(force bool) {
		out := s.m.out
		if s.cfg.Progress == nil || (out.Wanted == told.Wanted && out.Received == told.Received && out.Inserted == told.Inserted) {
			return
		}
		if now := time.Now(); force || now.Sub(toldAt) >= s.cfg.ProgressInterval {
			told, toldAt = out, now
			s.cfg.Progress(out)
		}
	}
	defer tell(true)
	for !s.m.finished {
		tell(false)
		s.m.setSent(s.written.Load())
		var (
			inC          chan inFrame
			ctrlC, dataC chan outFrame
			ctrlF, dataF outFrame
			workC        chan action
			work         action
			acts         []action
			err          error
			ctrlBacklog  = s.m.role == Acceptor && len(s.ctrlQ) > 1
		)
		if s.m.canRead() && !ctrlBacklog {
			inC = s.inC
		}
		if len(s.ctrlQ) > 0 {
			ctrlC, ctrlF = s.ctrlC, s.ctrlQ[0]
		}
		if len(s.lastQ) > 0 {
			dataC, dataF = s.dataC, s.lastQ[0]
		}
		if len(s.workQ) > 0 {
			workC, work = s.workC, s.workQ[0]
		}
		select {
		case f := <-inC:
			switch {
			case f.err == io.EOF:
				acts, err = s.m.endOfStream()
			case f.err != nil:
				err = f.err
			default:
				acts, err = s.m.frame(f.msg, f.size)
			}
		case ctrlC <- ctrlF:
			s.ctrlQ = s.ctrlQ[1:]
		case dataC <- dataF:
			s.lastQ = s.lastQ[1:]
		case workC <- work:
			s.workQ[0] = action{}
			s.workQ = s.workQ[1:]
		case r := <-s.verC:
			err = s.m.verified(r)
		case r := <-s.storedC:
			if r.inserted+r.stale > 0 {
				s.xferEnd = time.Now()
			}
			acts = s.m.stored(r.frames, r.inserted, r.stale)
		case r := <-s.prodC:
			if r.entries > 0 {
				s.markTransfer()
			}
			acts, err = s.m.produced(r.entries, r.skipped)
		case <-s.closedC:
			s.closedC = nil
			acts = s.m.closedWrite()
		case err = <-s.errC:
			if errors.Is(err, errWrite) {
				// A peer that aborts stops our writes too; its Abort,
				// sent first, says why.
				if ab := s.abortInFlight(); ab != nil {
					err = ab
				}
			}
		case <-initC:
			initC = nil
			if !s.m.started {
				err = fmt.Errorf("%w: none within %v (Config.InitTimeout)", errInitTimeout, s.cfg.InitTimeout)
			}
		case <-idle.C:
			if p := s.progress.Load(); p != lastProgress {
				lastProgress = p
				continue
			}
			err = fmt.Errorf("%w: no frame read or written for %v (Config.IdleTimeout)", ErrTimeout, s.cfg.IdleTimeout)
		case <-s.ctx.Done():
			err = context.Cause(s.ctx)
		}
		if err == nil {
			err = s.exec(acts)
		}
		if err != nil {
			// A store call cut short by the session's end reports the
			// context's error; the cause says why it ended (ErrTimeout).
			if s.ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
				if cause := context.Cause(s.ctx); cause != nil {
					err = cause
				}
			}
			return err
		}
	}
	return nil
}

func (s *session) markTransfer() {
	now := time.Now()
	if s.xferStart.IsZero() {
		s.xferStart = now
	}
	s.xferEnd = now
}

// exec carries out the machine's actions, in order, with the actions they
// lead to.
func (s *session) exec(acts []action) error {
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		var more []action
		var err error
		switch a.kind {
		case actInitiate:
			if s.rs, err = s.act.NewReconSession(s.ctx, s.ns, s.cfg.reconConfig()); err != nil {
				return fmt.Errorf("live: open reconciliation of %s: %w", s.ns.Short(), err)
			}
			first, err := s.rs.Initiate(s.ctx)
			if err != nil {
				return fmt.Errorf("live: first reconciliation message: %w", err)
			}
			more = s.m.initiated(first)
		case actAccept:
			s.ns = s.m.ns
			if s.release, err = s.accept(s.ns); err != nil {
				return err
			}
			if s.learn != nil && len(a.addrs) > 0 {
				// A hint from the authenticated peer: the endpoint
				// checks each address before it remembers it.
				s.learn(a.addrs)
			}
			if s.rs, err = s.act.NewReconSession(s.ctx, s.ns, s.cfg.reconConfig()); err != nil {
				return fmt.Errorf("live: open reconciliation of %s: %w", s.ns.Short(), err)
			}
			s.m.accepted()
		case actReconcile:
			res, err := s.rs.Reconcile(s.ctx, a.recon)
			if err != nil {
				return reconError(err)
			}
			if more, err = s.m.reconciled(res); err != nil {
				return err
			}
			if s.m.role == Acceptor || s.m.reconDone {
				s.reconEnd = time.Now()
			}
		case actSend:
			s.ctrlQ = append(s.ctrlQ, outFrame{b: encodeFrame(a.msg)})
		case actSendLast:
			s.lastQ = append(s.lastQ, outFrame{b: encodeFrame(a.msg)})
		case actClose:
			s.lastQ = append(s.lastQ, outFrame{close: true})
		case actWant, actSendEntries:
			s.workQ = append(s.workQ, a)
		case actVerify:
			s.markTransfer()
			// Never blocks: the machine holds at most pipelineDepth frames.
			s.verifyC <- a.entries
		case actSummarize:
			sum, err := s.act.Summary(s.ctx, s.ns)
			if err != nil {
				return fmt.Errorf("live: summary of %s: %w", s.ns.Short(), err)
			}
			more = s.m.summarized(sum)
		}
		acts = append(acts, more...)
	}
	return nil
}

func encodeFrame(m *message) []byte { return appendFrame(make([]byte, 0, frameLen(m)), m) }

// reconError classifies a failed round: a message that does not decode is
// the peer's fault; anything else (the store closed, the document dropped)
// is ours.
func reconError(err error) error {
	for _, e := range []error{recon.ErrMalformed, recon.ErrTruncated, recon.ErrVarint, recon.ErrBoundOrder, recon.ErrVersion, recon.ErrState} {
		if errors.Is(err, e) {
			return violation("reconciliation message: %w", err)
		}
	}
	return fmt.Errorf("live: reconcile: %w", err)
}

// end stops every goroutine, tells the peer why when the session failed
// and the stream still works, and fills in the outcome.
func (s *session) end(err error) (Outcome, error) {
	wroteAbort := false
	if err != nil && sendsAbort(err) {
		text := err.Error()
		if r, ok := errors.AsType[*refusal](err); ok {
			text = r.text
		}
		s.abortC <- outFrame{b: encodeFrame(&message{Type: MsgAbort, Reason: reasonFor(err), Text: text}), close: true}
		grace := time.NewTimer(min(time.Second, s.cfg.IdleTimeout/4))
		select {
		case <-s.closedC:
			wroteAbort = true
		case <-s.writerDone:
		case <-grace.C:
		}
		grace.Stop()
	}
	close(s.quit)
	s.cancel(errSessionOver)
	if err != nil {
		if !wroteAbort {
			s.st.CancelWrite()
		}
		s.st.CancelRead()
	}
	s.wg.Wait()
	if s.release != nil {
		s.release()
	}

	out := s.m.out
	out.BytesSent = s.written.Load()
	out.Start, out.End = s.start, time.Now()
	if !s.reconEnd.IsZero() {
		out.ReconcileTime = s.reconEnd.Sub(s.start)
	}
	if !s.xferStart.IsZero() {
		out.TransferTime = s.xferEnd.Sub(s.xferStart)
	}
	if err != nil {
		out.Local, out.Remote, out.Equal = actor.SetSummary{}, actor.SetSummary{}, false
		if s.m.role == Initiator {
			err = fmt.Errorf("live: sync %s with %s: %w", s.ns.Short(), s.peer.Short(), err)
		} else {
			err = fmt.Errorf("live: serve %s to %s: %w", s.m.ns.Short(), s.peer.Short(), err)
		}
	}
	return out, err
}

// sendsAbort reports whether the peer should be told: not when it aborted
// itself, and not after a timeout (a peer that stopped reading would never
// take the frame).
func sendsAbort(err error) bool {
	if _, ok := errors.AsType[*AbortError](err); ok {
		return false
	}
	return !errors.Is(err, ErrTimeout) && !errors.Is(err, context.Canceled)
}

// report hands an error from a helper goroutine to the loop; the first is
// enough.
func (s *session) report(err error) {
	select {
	case s.errC <- err:
	default:
	}
}

func (s *session) readLoop() {
	br := bufio.NewReaderSize(s.st, 64<<10)
	var buf []byte
	for {
		msg, b, err := readFrame(br, s.cfg.MaxFrameSize, s.cfg.Limits.MaxKeyLen, buf)
		buf = b
		f := inFrame{msg: msg, err: err}
		if err == nil {
			f.size = uvarintLen(uint64(len(b))) + len(b)
			s.moved()
		} else if err != io.EOF && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
			f.err = fmt.Errorf("live: read: %w", err)
		}
		select {
		case s.inC <- f:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *session) writeLoop() {
	defer close(s.writerDone)
	for {
		var f outFrame
		select {
		case f = <-s.abortC:
		default:
			select {
			case f = <-s.abortC:
			case f = <-s.ctrlC:
			default:
				select {
				case f = <-s.abortC:
				case f = <-s.ctrlC:
				case f = <-s.dataC:
				case <-s.quit:
					return
				}
			}
		}
		if f.b != nil {
			if _, err := s.st.Write(f.b); err != nil {
				s.report(fmt.Errorf("%w: %w", errWrite, err))
				return
			}
			s.written.Add(int64(len(f.b)))
			s.moved()
		}
		if f.close {
			if err := s.st.Close(); err != nil {
				s.report(fmt.Errorf("live: close: %w", err))
				return
			}
			close(s.closedC)
			return
		}
	}
}

// push hands a data frame to the writer; false once the session is over.
func (s *session) push(b []byte) bool {
	select {
	case s.dataC <- outFrame{b: b}:
		return true
	case <-s.quit:
		return false
	}
}

func (s *session) produceLoop() {
	for {
		var a action
		select {
		case a = <-s.workC:
		case <-s.quit:
			return
		}
		r, err := s.produce(a)
		if err != nil {
			if err != errQuit {
				s.report(err)
			}
			return
		}
		select {
		case s.prodC <- r:
		case <-s.quit:
			return
		}
	}
}

var (
	errQuit  = errors.New("live: session over")
	errWrite = errors.New("live: write")
)

// abortInFlight reads what the peer sent before our writes failed, for a
// short while, and returns its Abort if there is one.
func (s *session) abortInFlight() error {
	grace := time.NewTimer(min(time.Second, s.cfg.IdleTimeout/4))
	defer grace.Stop()
	for {
		select {
		case f := <-s.inC:
			if f.err != nil {
				return nil
			}
			if f.msg.Type == MsgAbort {
				return &AbortError{Reason: f.msg.Reason, Text: f.msg.Text}
			}
		case <-grace.C:
			return nil
		}
	}
}

// produce writes one work item: Want frames for ids, or the stored entries
// with those ids in Entries frames, fetched one frame's worth at a time so
// that memory stays flat however many ids there are.
// readBatch is how many entries the producer reads from the store at once.
// The store serves a batch in two ordered passes (replica.Store.EntriesByID),
// so larger batches touch fewer table blocks per entry. 4096 entries are
// about 1.2 MiB with short keys, and under 18 MiB with the longest.
const readBatch = 4096

func (s *session) produce(a action) (produced, error) {
	var r produced
	if a.kind == actWant {
		for ids := range slices.Chunk(a.ids, s.cfg.MaxIDsPerWant) {
			if !s.push(encodeFrame(&message{Type: MsgWant, IDs: ids})) {
				return r, errQuit
			}
		}
		return r, nil
	}
	for ids := range slices.Chunk(a.ids, max(readBatch, s.cfg.MaxEntriesPerFrame)) {
		entries, err := s.act.EntriesByID(s.ctx, s.ns, ids)
		if err != nil {
			if s.ctx.Err() != nil {
				return r, errQuit
			}
			return r, fmt.Errorf("live: read entries to send: %w", err)
		}
		limit := s.cfg.MaxFrameSize - frameOverhead
		first, size := 0, 0
		for i := range entries {
			l := entries[i].EncodedLen()
			if i > first && (size+l > limit || i-first == s.cfg.MaxEntriesPerFrame) {
				if !s.push(encodeFrame(&message{Type: MsgEntries, Entries: entries[first:i]})) {
					return r, errQuit
				}
				first, size = i, 0
			}
			size += l
		}
		if first < len(entries) {
			if !s.push(encodeFrame(&message{Type: MsgEntries, Entries: entries[first:]})) {
				return r, errQuit
			}
		}
		r.entries += len(entries)
		r.skipped += len(ids) - len(entries)
	}
	return r, nil
}

// verifyLoop validates each received frame: namespace, shape and clock per
// entry, then both signatures of the rest in one batch over all cores.
func (s *session) verifyLoop() {
	for {
		var entries []replica.SignedEntry
		select {
		case entries = <-s.verifyC:
		case <-s.quit:
			return
		}
		var refused Refused
		now := s.cfg.Now()
		valid := entries[:0]
		for i := range entries {
			if err := s.cfg.Limits.ValidateUnsigned(&entries[i].Entry, s.ns, now); err != nil {
				refused.count(err)
				continue
			}
			valid = append(valid, entries[i])
		}
		errs := replica.VerifyBatch(valid)
		good := valid[:0]
		for i, err := range errs {
			if err != nil {
				refused.count(err)
				continue
			}
			good = append(good, valid[i])
		}
		clear(entries[len(good):])
		select {
		case s.verC <- refused:
		case <-s.quit:
			return
		}
		select {
		case s.insertC <- good:
		case <-s.quit:
			return
		}
	}
}

// insertLoop stores valid entries in batches of Config.InsertBatch. A
// partial batch waits only while more frames are already queued.
func (s *session) insertLoop() {
	var batch []replica.SignedEntry
	frames := 0
	from := replica.PeerID(s.peer)
	for {
		var in []replica.SignedEntry
		select {
		case in = <-s.insertC:
		case <-s.quit:
			return
		}
		frames++
		batch = append(batch, in...)
		var r storedReport
		for len(batch) >= s.cfg.InsertBatch || len(batch) > 0 && len(s.insertC) == 0 {
			n := min(len(batch), s.cfg.InsertBatch)
			outs, err := s.act.InsertRemote(s.ctx, s.ns, batch[:n], from)
			if err != nil {
				if s.ctx.Err() == nil {
					s.report(fmt.Errorf("live: store received entries: %w", err))
				}
				return
			}
			for _, o := range outs {
				if o.Inserted {
					r.inserted++
				} else {
					r.stale++
				}
			}
			rest := copy(batch, batch[n:])
			clear(batch[rest:])
			batch = batch[:rest]
			s.moved()
		}
		if len(batch) == 0 {
			r.frames, frames = frames, 0
		}
		select {
		case s.storedC <- r:
		case <-s.quit:
			return
		}
	}
}

// refusal is an acceptor's answer to an Init it will not serve; text goes
// to the peer in the Abort.
type refusal struct {
	reason AbortReason
	text   string
}

func (r *refusal) Error() string { return fmt.Sprintf("live: refused (%v): %s", r.reason, r.text) }
func (r *refusal) Unwrap() error { return r.reason.sentinel() }

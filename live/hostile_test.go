package live

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// fakePeer speaks frames directly on one end of a pipe, to play peers that
// break the protocol. Unless told not to, it reads everything the node
// sends into frames.
type fakePeer struct {
	s      *pipeEnd
	frames chan *message
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newFakePeer(s *pipeEnd, read bool) *fakePeer {
	f := &fakePeer{s: s, frames: make(chan *message, 4096), stop: make(chan struct{})}
	if read {
		f.wg.Go(func() {
			defer close(f.frames)
			br := bufio.NewReader(s)
			for {
				m, _, err := readFrame(br, 1<<24, 1<<16, nil)
				if err != nil {
					return
				}
				select {
				case f.frames <- m:
				case <-f.stop:
					return
				}
			}
		})
	}
	return f
}

// send writes a frame; errors are ignored, as the node may have hung up.
func (f *fakePeer) send(m *message) { f.s.Write(appendFrame(nil, m)) }

func (f *fakePeer) sendRaw(b []byte) { f.s.Write(b) }

// keepSending writes m until the node hangs up or the fake is closed.
func (f *fakePeer) keepSending(m *message) {
	b := appendFrame(nil, m)
	f.wg.Go(func() {
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			if _, err := f.s.Write(b); err != nil {
				return
			}
		}
	})
}

// abort returns the Abort the node sent, skipping other frames.
func (f *fakePeer) abort(t *testing.T) *message {
	t.Helper()
	for m := range f.frames {
		if m.Type == MsgAbort {
			return m
		}
	}
	t.Fatal("the node closed the stream without an Abort")
	return nil
}

func (f *fakePeer) close() {
	close(f.stop)
	f.s.CancelRead()
	f.s.CancelWrite()
	f.wg.Wait()
}

// firstMessage returns a valid first reconciliation message over a set of
// n random items.
func firstMessage(t *testing.T, n int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 1))
	items := make([]recon.Item, n)
	for i := range items {
		items[i].Timestamp = r.Uint64N(1 << 40)
		for j := range items[i].ID {
			items[i].ID[j] = byte(r.Uint32())
		}
	}
	s, err := recon.NewSession(recon.BuildIndex(items), recon.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.Initiate()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// hostileSetup is a node that holds a document and serves it.
type hostileSetup struct {
	w      *world
	act    *actor.Actor
	srv    *Server
	cfg    SessionConfig
	held   []replica.SignedEntry
	before actor.SetSummary
	honest int // honest syncs so far
}

func newHostileSetup(t *testing.T, cfg SessionConfig) *hostileSetup {
	h := &hostileSetup{w: newWorld(2), act: newActor(t), cfg: cfg}
	h.srv = NewServer(h.act, cfg, nil)
	h.w.join(t, h.act)
	h.held = h.w.randomEntries(rand.New(rand.NewPCG(3, 3)), 120)
	insert(t, h.act, h.w.ns(), h.held)
	h.before = summary(t, h.act, h.w.ns())
	return h
}

// serve runs the acceptor's side on a new pipe and returns the fake's end
// and the session's result to come.
func (h *hostileSetup) serve() (*pipeEnd, <-chan result) {
	ours, theirs := newPipe()
	done := make(chan result, 1)
	go func() {
		out, err := h.srv.Serve(context.Background(), ours, nodeA)
		done <- result{out, err}
	}()
	return theirs, done
}

func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the session did not end")
		return result{}
	}
}

// stillServes checks that nothing was stored and that an honest peer can
// still sync with the node.
func (h *hostileSetup) stillServes(t *testing.T) {
	t.Helper()
	if got := summary(t, h.act, h.w.ns()); got != h.before {
		t.Fatalf("the hostile session changed the store: %+v, was %+v", got, h.before)
	}
	honest := newActor(t)
	h.w.join(t, honest)
	h.honest++
	insert(t, honest, h.w.ns(), []replica.SignedEntry{h.w.entry(1, fmt.Sprint("honest", h.honest), false, 1, 5)})
	ri, ra := syncPipe(context.Background(), honest, h.srv, h.w.ns(), h.cfg)
	if ri.err != nil || ra.err != nil || !ri.out.Equal || ri.out.Sent != 1 {
		t.Fatalf("honest sync after the hostile one: %v %v / %v", ri.out, ri.err, ra.err)
	}
	h.before = summary(t, h.act, h.w.ns())
}

// TestHostileInitiators plays initiators that break the protocol against a
// node's Server. Each session must end with a clear error, store nothing,
// and leave the node serving others.
func TestHostileInitiators(t *testing.T) {
	cfg := TestSessionConfig()
	h := newHostileSetup(t, cfg)
	ns := h.w.ns()
	init := &message{Type: MsgInit, Version: ProtocolVersion, Namespace: ns, Recon: firstMessage(t, 0)}
	other := newWorld(1)
	future := uint64(2 * time.Hour / time.Microsecond) // an hour ahead of now
	signed := func(f func(i int) replica.SignedEntry) *message {
		m := &message{Type: MsgEntries}
		for i := range cfg.MaxEntriesPerFrame {
			m.Entries = append(m.Entries, f(i))
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		play  func(f *fakePeer)
		want  error
		abort bool // the node tells the fake with Abort(Protocol)
		check func(t *testing.T, o Outcome)
	}{
		{
			name: "frame over the limit",
			play: func(f *fakePeer) {
				f.send(init)
				f.sendRaw(append(binary.AppendUvarint(nil, uint64(cfg.MaxFrameSize+1)), byte(MsgRecon), 0x61))
			},
			want: ErrFrameTooLarge, abort: true,
		},
		{
			name: "truncated frame",
			play: func(f *fakePeer) {
				f.send(init)
				f.sendRaw(append(binary.AppendUvarint(nil, 100), byte(MsgRecon), 0x61, 1, 2))
				f.s.Close()
			},
			want: ErrBadFrame, abort: true,
		},
		{
			name: "garbled frame",
			play: func(f *fakePeer) {
				f.send(init)
				f.sendRaw([]byte{3, 99, 1, 2})
			},
			want: ErrBadFrame, abort: true,
		},
		{
			name: "Init with too many addresses",
			play: func(f *fakePeer) {
				frame := append([]byte{byte(MsgInit), ProtocolVersion}, ns[:]...)
				frame = append(frame, endpoint.MaxAddrs+1)
				for i := range endpoint.MaxAddrs + 1 {
					frame = append(frame, 4, 192, 0, 2, byte(i+1), 0x11, 0x51)
				}
				frame = append(frame, firstMessage(t, 0)...)
				f.sendRaw(append(binary.AppendUvarint(nil, uint64(len(frame))), frame...))
			},
			want: ErrBadFrame, abort: true,
		},
		{
			name: "garbled reconciliation",
			play: func(f *fakePeer) {
				f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: ns, Recon: []byte{0x61, 0xff}})
			},
			want: ErrProtocol, abort: true,
		},
		{
			name: "unknown version",
			play: func(f *fakePeer) {
				f.send(&message{Type: MsgInit, Version: 9, Namespace: ns, Recon: firstMessage(t, 0)})
			},
			want: ErrVersion, abort: true,
		},
		{
			name: "frame before Init",
			play: func(f *fakePeer) { f.send(&message{Type: MsgWant, IDs: [][32]byte{{1}}}) },
			want: ErrProtocol, abort: true,
		},
		{
			name: "rounds that never converge",
			play: func(f *fakePeer) {
				first := firstMessage(t, 300)
				f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: ns, Recon: first})
				f.keepSending(&message{Type: MsgRecon, Recon: first})
			},
			want: ErrTooManyRounds, abort: true,
			check: func(t *testing.T, o Outcome) {
				if o.Rounds <= cfg.MaxRounds {
					t.Fatalf("stopped after %d rounds, limit %d", o.Rounds, cfg.MaxRounds)
				}
			},
		},
		{
			name: "bad signatures",
			play: func(f *fakePeer) {
				f.send(init)
				f.send(signed(func(i int) replica.SignedEntry {
					se := h.w.entry(0, "bad", false, i, uint64(i))
					se.AuthorSig[5] ^= 1
					return se
				}))
			},
			want: ErrHostile, abort: true,
			check: func(t *testing.T, o Outcome) {
				if o.Refused.BadSignature != cfg.MaxEntriesPerFrame || o.Inserted != 0 {
					t.Fatalf("refused %+v, inserted %d", o.Refused, o.Inserted)
				}
			},
		},
		{
			name: "another namespace",
			play: func(f *fakePeer) {
				f.send(init)
				f.send(signed(func(i int) replica.SignedEntry { return other.entry(0, "x", false, i, uint64(i)) }))
			},
			want: ErrHostile, abort: true,
			check: func(t *testing.T, o Outcome) {
				if o.Refused.WrongNamespace != cfg.MaxEntriesPerFrame {
					t.Fatalf("refused %+v", o.Refused)
				}
			},
		},
		{
			name: "timestamps far in the future",
			play: func(f *fakePeer) {
				f.send(init)
				f.send(signed(func(i int) replica.SignedEntry { return h.w.entry(0, "later", false, i, future+uint64(i)) }))
			},
			want: ErrHostile, abort: true,
			check: func(t *testing.T, o Outcome) {
				if o.Refused.FutureTimestamp != cfg.MaxEntriesPerFrame {
					t.Fatalf("refused %+v", o.Refused)
				}
			},
		},
		{
			name: "too many entries in a frame",
			play: func(f *fakePeer) {
				f.send(init)
				m := signed(func(i int) replica.SignedEntry { return h.w.entry(0, "many", false, i, uint64(i)) })
				m.Entries = append(m.Entries, h.w.entry(0, "many", false, 99, 99))
				f.send(m)
			},
			want: ErrProtocol, abort: true,
		},
		{
			name: "Entries after Done",
			play: func(f *fakePeer) {
				f.send(init)
				f.send(&message{Type: MsgDone})
				f.send(&message{Type: MsgEntries, Entries: []replica.SignedEntry{h.w.entry(0, "late", false, 1, 1)}})
			},
			want: ErrProtocol, abort: true,
		},
		{
			name: "stream ends early",
			play: func(f *fakePeer) {
				f.send(init)
				f.s.Close()
			},
			want: ErrProtocol, abort: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theirs, done := h.serve()
			f := newFakePeer(theirs, true)
			tc.play(f)
			r := wait(t, done)
			t.Logf("node: %v", r.err)
			if !errors.Is(r.err, tc.want) {
				t.Fatalf("err = %v, want %v", r.err, tc.want)
			}
			if tc.abort {
				if m := f.abort(t); m.Reason != AbortProtocol || m.Text == "" {
					t.Fatalf("Abort %v %q, want a protocol abort with a reason", m.Reason, m.Text)
				}
			}
			f.close()
			if tc.check != nil {
				tc.check(t, r.out)
			}
			h.stillServes(t)
		})
	}
}

// TestPeerStopsReading: a peer asks for everything and never reads. The
// node's writes block; the idle timeout must end the session and free its
// goroutines (goleak checks), and the node must go on serving.
func TestPeerStopsReading(t *testing.T) {
	cfg := TestSessionConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	h := newHostileSetup(t, cfg)
	theirs, done := h.serve()
	f := newFakePeer(theirs, false)
	f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: h.w.ns(), Recon: firstMessage(t, 0)})
	start := time.Now()
	r := wait(t, done)
	if !errors.Is(r.err, ErrTimeout) || !r.out.Served {
		t.Fatalf("err = %v (served %v), want ErrTimeout", r.err, r.out.Served)
	}
	t.Logf("ended after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
	f.close()
	h.stillServes(t)
}

// TestSessionTimeout: a peer that trickles frames keeps the idle timer
// happy, but not the session deadline.
func TestSessionTimeout(t *testing.T) {
	cfg := TestSessionConfig()
	cfg.SessionTimeout = 300 * time.Millisecond
	cfg.MaxRounds = 1 << 20
	h := newHostileSetup(t, cfg)
	theirs, done := h.serve()
	f := newFakePeer(theirs, true)
	first := firstMessage(t, 300)
	f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: h.w.ns(), Recon: first})
	f.keepSending(&message{Type: MsgRecon, Recon: first[:1:1]}) // tiny: the round budget hardly grows
	r := wait(t, done)
	if !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", r.err)
	}
	f.close()
	h.stillServes(t)
}

// TestHostileAcceptors plays acceptors that break the protocol against a
// node's syncStream.
func TestHostileAcceptors(t *testing.T) {
	cfg := TestSessionConfig()
	for _, tc := range []struct {
		name  string
		play  func(f *fakePeer, w *world)
		want  error
		check func(t *testing.T, o Outcome)
	}{
		{
			name: "rounds that never converge",
			play: func(f *fakePeer, w *world) {
				// Answer every question with one fingerprint over everything
				// that never matches.
				reply := []byte{0x61, 0x00, 0x00, 0x01}
				reply = append(reply, make([]byte, 16)...)
				reply[4] = 1
				for m := range f.frames {
					if m.Type == MsgAbort {
						return
					}
					if m.Type == MsgInit || m.Type == MsgRecon {
						f.send(&message{Type: MsgRecon, Recon: reply})
					}
				}
			},
			want: ErrTooManyRounds,
		},
		{
			name: "bad signatures",
			play: func(f *fakePeer, w *world) {
				<-f.frames // Init
				f.send(&message{Type: MsgRecon, Recon: []byte{0x61}})
				m := &message{Type: MsgEntries}
				for i := range cfg.MaxEntriesPerFrame {
					se := w.entry(0, "bad", false, i, uint64(i))
					se.NamespaceSig[0] ^= 1
					m.Entries = append(m.Entries, se)
				}
				f.send(m)
			},
			want: ErrHostile,
			check: func(t *testing.T, o Outcome) {
				if o.Refused.BadSignature != cfg.MaxEntriesPerFrame {
					t.Fatalf("refused %+v", o.Refused)
				}
			},
		},
		{
			name: "Done before the initiator's",
			play: func(f *fakePeer, w *world) {
				<-f.frames
				f.send(&message{Type: MsgDone})
			},
			want: ErrProtocol,
		},
		{
			name: "Want to the initiator",
			play: func(f *fakePeer, w *world) {
				<-f.frames
				f.send(&message{Type: MsgWant, IDs: [][32]byte{{1}}})
			},
			want: ErrProtocol,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(1)
			a := newActor(t)
			w.join(t, a)
			held := w.randomEntries(rand.New(rand.NewPCG(5, 5)), 200)
			insert(t, a, w.ns(), held)
			before := summary(t, a, w.ns())
			ours, theirs := newPipe()
			f := newFakePeer(theirs, true)
			f.wg.Go(func() { tc.play(f, w) })
			out, err := syncStream(context.Background(), a, ours, nodeB, w.ns(), cfg)
			t.Logf("node: %v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			f.close()
			if tc.check != nil {
				tc.check(t, out)
			}
			if got := summary(t, a, w.ns()); got != before {
				t.Fatalf("store changed: %+v, was %+v", got, before)
			}
		})
	}
}

// TestInvalidEntriesAmongValid: an honest-looking peer whose store holds a
// few entries that fail validation (it stored them unchecked). The session
// completes; the bad entries are refused and counted, never stored.
func TestInvalidEntriesAmongValid(t *testing.T) {
	cfg := TestSessionConfig()
	w := newWorld(2)
	ini, acc := newActor(t), newActor(t)
	w.join(t, ini)
	w.join(t, acc)
	good := w.randomEntries(rand.New(rand.NewPCG(9, 9)), 150)
	var bad []replica.SignedEntry
	for i := range 3 {
		se := w.entry(1, "forged", false, i, uint64(10+i))
		se.Key = []byte{'f', byte('0' + i)} // the signatures no longer cover it
		bad = append(bad, se)
	}
	bad = append(bad, w.entry(1, "later", false, 1, uint64(3*time.Hour/time.Microsecond)))
	insert(t, ini, w.ns(), append(slices.Clone(good), bad...))
	ri, ra := syncPipe(context.Background(), ini, NewServer(acc, cfg, nil), w.ns(), cfg)
	if ri.err != nil || ra.err != nil {
		t.Fatalf("%v / %v", ri.err, ra.err)
	}
	if r := ra.out.Refused; r.BadSignature != 3 || r.FutureTimestamp != 1 || r.Total() != 4 {
		t.Fatalf("acceptor refused %+v", r)
	}
	if ri.out.Equal || ra.out.Equal {
		t.Fatal("sets reported equal although the acceptor refused entries")
	}
	if held := stored(t, acc, w.ns(), bad); len(held) != 0 {
		t.Fatalf("the acceptor stored %d invalid entries", len(held))
	}
	if want, _ := modelSummary(t, w, good); summary(t, acc, w.ns()) != want {
		t.Fatal("the acceptor does not hold exactly the valid entries")
	}
}

// idListFlood is a reconciliation message that lists n random ids over
// the whole key space: the most a peer can make the other side compare
// in one message.
func idListFlood(r *rand.Rand, n int) []byte {
	b := []byte{0x61, 0, 0, 2} // version, bound: infinity, no prefix; IdList
	// n as the protocol's varint: base-128, most significant digit first.
	b = append(b, byte(n>>7)|0x80, byte(n&0x7f)) // n < 1<<14
	for range n {
		for range 4 {
			b = binary.LittleEndian.AppendUint64(b, r.Uint64())
		}
	}
	return b
}

// TestHostileIDListFlood: an initiator sends a frame of fresh random ids
// every round, which the node must compare with its set and answer. The
// rounds it may cost are bounded by the sizes of the sets seen, so the
// session ends with ErrTooManyRounds well before the byte limit.
func TestHostileIDListFlood(t *testing.T) {
	cfg := DefaultSessionConfig()
	cfg.IdleTimeout = 5 * time.Second
	cfg.MaxFrameSize = 64 << 10 // a quarter of the default, to keep the test short
	cfg.MaxIDsPerWant = 1024
	h := newHostileSetup(t, cfg)
	theirs, done := h.serve()
	f := newFakePeer(theirs, true)
	r := rand.New(rand.NewPCG(1, 2))
	perRound := (cfg.MaxFrameSize - frameOverhead - 16) / 32
	const sent = 600 // rounds the fake plays before it gives up
	f.send(&message{Type: MsgInit, Version: ProtocolVersion, Namespace: h.w.ns(), Recon: idListFlood(r, perRound)})
	f.wg.Go(func() {
		for range sent - 1 {
			msg := idListFlood(r, perRound)
			select {
			case <-f.stop:
				return
			default:
			}
			if _, err := f.s.Write(appendFrame(nil, &message{Type: MsgRecon, Recon: msg})); err != nil {
				return
			}
		}
		f.s.Close()
	})
	res := wait(t, done)
	t.Logf("node: %v after %d rounds, %d bytes received", res.err, res.out.Rounds, res.out.BytesReceived)
	if !errors.Is(res.err, ErrTooManyRounds) {
		t.Fatalf("err = %v, want ErrTooManyRounds", res.err)
	}
	// The budget: MaxRounds, RoundsPerDoubling per doubling of the items
	// seen (the held set and every id listed, at most sent × perRound),
	// two per frame of the held set's ids.
	limit := cfg.MaxRounds + cfg.RoundsPerDoubling*bits.Len(uint(len(h.held)+sent*perRound)) + 2
	if res.out.Rounds > limit {
		t.Fatalf("cut after %d rounds, budget at most %d", res.out.Rounds, limit)
	}
	if m := f.abort(t); m.Reason != AbortProtocol {
		t.Fatalf("Abort %v %q, want a protocol abort", m.Reason, m.Text)
	}
	f.close()
	h.stillServes(t)
}

package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// The tests of this file play peers that try to lock honest peers out of
// a Server: many streams from one peer, silent streams re-opened by a few
// peers, and many identities holding one session each. They run in a
// synctest bubble over in-process pipes, so that minutes of attack cost
// only the work done; the server runs with the default limits.

// peerID makes the node id of attacker or honest peer n.
func peerID(n int) endpoint.NodeID {
	var id endpoint.NodeID
	id[0] = 0xee
	binary.BigEndian.PutUint32(id[1:], uint32(n))
	return id
}

// lockout is a Server under attack, and an honest node that syncs with it
// now and then.
type lockout struct {
	t      *testing.T
	w      *world
	srv    *Server
	cfg    SessionConfig
	honest *actor.Actor

	stop  chan struct{}
	wg    sync.WaitGroup // attackers and the sessions they opened
	rng   *rand.Rand
	rngMu sync.Mutex
}

func newLockout(t *testing.T, cfg SessionConfig) *lockout {
	l := &lockout{t: t, w: newWorld(2), cfg: cfg, honest: newActor(t), stop: make(chan struct{}), rng: rand.New(rand.NewPCG(7, 7))}
	acc := newActor(t)
	l.w.join(t, acc)
	l.w.join(t, l.honest)
	insert(t, acc, l.w.ns(), l.w.randomEntries(rand.New(rand.NewPCG(3, 3)), 200))
	l.srv = NewServer(acc, cfg, nil)
	return l
}

// jitter returns a duration in [d/2, 3d/2).
func (l *lockout) jitter(d time.Duration) time.Duration {
	l.rngMu.Lock()
	defer l.rngMu.Unlock()
	return d/2 + time.Duration(l.rng.Int64N(int64(d)))
}

// open opens a stream from peer to the server and returns the peer's end.
func (l *lockout) open(peer endpoint.NodeID) *pipeEnd {
	ours, theirs := newPipe()
	l.wg.Go(func() { l.srv.Serve(context.Background(), ours, peer) })
	return theirs
}

// drain reads theirs until the server ends the stream, and closes done.
func drain(theirs *pipeEnd, done chan struct{}) {
	defer close(done)
	io.Copy(io.Discard, theirs)
}

// attack runs n streams from peer, each played by play on the peer's end
// until the server ends it, and opens another after reopen when one ends.
// play gets a channel closed when the server ended the stream; a write it
// is blocked in fails then.
func (l *lockout) attack(peer endpoint.NodeID, n int, reopen time.Duration, play func(theirs *pipeEnd, ended <-chan struct{})) {
	for range n {
		l.wg.Go(func() {
			for {
				theirs := l.open(peer)
				ended := make(chan struct{})
				played := make(chan struct{})
				go drain(theirs, ended)
				go func() {
					defer close(played)
					play(theirs, ended)
				}()
				select {
				case <-ended:
				case <-l.stop:
				}
				// Unblocks a write the server does not read.
				theirs.CancelRead()
				theirs.CancelWrite()
				<-ended
				<-played
				select {
				case <-l.stop:
					return
				case <-time.After(l.jitter(reopen)):
				}
			}
		})
	}
}

// silent plays a stream that never sends anything.
func (l *lockout) silent(theirs *pipeEnd, ended <-chan struct{}) {}

// trickle plays a stream that sends its Init one byte a second.
func (l *lockout) trickle(theirs *pipeEnd, ended <-chan struct{}) {
	b := appendFrame(nil, &message{Type: MsgInit, Version: ProtocolVersion, Namespace: l.w.ns(), Recon: firstMessage(l.t, 0)})
	for i := range b {
		select {
		case <-ended:
			return
		case <-l.stop:
			return
		case <-time.After(time.Second):
		}
		if _, err := theirs.Write(b[i : i+1]); err != nil {
			return
		}
	}
}

// stall plays a session that sends Init, reads what the server sends, and
// never sends anything more.
func (l *lockout) stall(theirs *pipeEnd, ended <-chan struct{}) {
	theirs.Write(appendFrame(nil, &message{Type: MsgInit, Version: ProtocolVersion, Namespace: l.w.ns(), Recon: firstMessage(l.t, 300)}))
}

// honestSyncs runs n syncs of the honest node, one every interval from a
// peer id of its own, each with one new entry, and returns how many
// succeeded, and the first error.
func (l *lockout) honestSyncs(n int, interval time.Duration) (ok int, first error) {
	for i := range n {
		time.Sleep(interval) // virtual time: the attack runs meanwhile
		se := l.w.entry(1, fmt.Sprint("honest/", i), false, i, uint64(i))
		insert(l.t, l.honest, l.w.ns(), []replica.SignedEntry{se})
		a, b := newPipe()
		done := make(chan result, 1)
		go func() {
			out, err := l.srv.Serve(context.Background(), b, peerID(1_000_000))
			done <- result{out, err}
		}()
		ri, err := syncStream(context.Background(), l.honest, a, nodeB, l.w.ns(), l.cfg)
		ra := <-done
		if err == nil && ra.err == nil && ri.Equal {
			ok++
			continue
		}
		if first == nil {
			first = fmt.Errorf("honest sync %d: %v / %v", i, err, ra.err)
		}
	}
	return ok, first
}

// end stops the attack and waits for every stream to end.
func (l *lockout) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *lockout) expectAllHonest(n int, interval time.Duration) {
	t := l.t
	ok, first := l.honestSyncs(n, interval)
	l.end()
	t.Logf("%d of %d honest syncs succeeded; admission %+v", ok, n, l.srv.Stats())
	if ok != n {
		t.Fatalf("%d of %d honest syncs succeeded; first failure: %v", ok, n, first)
	}
}

// TestLockoutTricklingStreams: one peer holds 130 streams that trickle
// their Init a byte a second, more than the server's stream slots. Every
// honest sync must still succeed.
func TestLockoutTricklingStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLockout(t, DefaultSessionConfig())
		l.attack(peerID(1), 130, time.Second, l.trickle)
		l.expectAllHonest(13, 5*time.Second+300*time.Millisecond)
	})
}

// TestLockoutSilentStreams: three peers keep re-opening streams that never
// send a byte, 50 each, for 70 s. Every honest sync must still succeed.
func TestLockoutSilentStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLockout(t, DefaultSessionConfig())
		for p := range 3 {
			l.attack(peerID(1+p), 50, 500*time.Millisecond, l.silent)
		}
		l.expectAllHonest(13, 5*time.Second+300*time.Millisecond)
	})
}

// TestLockoutSybils: 200 node ids hold one session each, which sends its
// Init and then stalls; each comes back a second after its session ends.
// Every honest sync must still succeed.
func TestLockoutSybils(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLockout(t, DefaultSessionConfig())
		for p := range 200 {
			l.attack(peerID(1+p), 1, time.Second, l.stall)
		}
		l.expectAllHonest(10, 3*time.Second+300*time.Millisecond)
	})
}

// TestInitTimeout: a stream that sends no Init is reset after InitTimeout,
// long before the idle timeout would end it, and counted.
func TestInitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultSessionConfig()
		l := newLockout(t, cfg)
		ours, theirs := newPipe()
		ended := make(chan struct{})
		go drain(theirs, ended)
		start := time.Now()
		_, err := l.srv.Serve(context.Background(), ours, peerID(1))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if waited := time.Since(start); waited != cfg.InitTimeout {
			t.Fatalf("reset after %v (virtual), want InitTimeout %v", waited, cfg.InitTimeout)
		}
		<-ended
		if st := l.srv.Stats(); st.InitTimeouts != 1 {
			t.Fatalf("stats %+v", st)
		}
		theirs.CancelWrite()
	})
}

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// tally counts what one adversary did, by name.
type tally struct {
	name string
	mu   sync.Mutex
	n    map[string]int64
}

func newTally(name string) *tally { return &tally{name: name, n: map[string]int64{}} }

func (t *tally) add(key string, n int64) {
	t.mu.Lock()
	t.n[key] += n
	t.mu.Unlock()
}

// atLeast raises key to v.
func (t *tally) atLeast(key string, v int64) {
	t.mu.Lock()
	t.n[key] = max(t.n[key], v)
	t.mu.Unlock()
}

func (t *tally) get(key string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[key]
}

// String is "name: k=v k=v" in key order.
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(t.name + ":")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, t.n[k])
	}
	return b.String()
}

// honestRef is an entry the honest peer wrote, as a reader of the
// document learns it.
type honestRef struct {
	author replica.AuthorID
	key    []byte
	hash   replica.Hash
	len    uint64
}

// attack is what every adversary knows and shares: the victim's address,
// the document id (the read ticket), and where to count.
type attack struct {
	victim endpoint.NodeAddr
	ns     replica.NamespaceID
	topic  [32]byte
	// rogue is a writer that turned hostile: it holds the write secret,
	// and only ever signs entries stamped far in the future, which the
	// victim must refuse by their timestamp alone.
	rogue       replica.NamespaceSecret
	rogueAuthor replica.Author
	// recent returns the honest peer's latest entries.
	recent func() []honestRef

	wg      sync.WaitGroup
	tallies []*tally
	mu      sync.Mutex
}

func (a *attack) newTally(name string) *tally {
	t := newTally(name)
	a.mu.Lock()
	a.tallies = append(a.tallies, t)
	a.mu.Unlock()
	return t
}

// run starts f on its own goroutine; a panic in it is counted, not fatal.
func (a *attack) run(t *tally, f func()) {
	a.wg.Go(func() {
		defer func() {
			if r := recover(); r != nil {
				t.add("panics", 1)
				fmt.Fprintf(os.Stderr, "adversary %s panicked: %v\n", t.name, r)
			}
		}()
		f()
	})
}

// identity opens a fresh endpoint, a node id never seen before, on
// loopback.
func identity(ctx context.Context) (*endpoint.Endpoint, error) {
	cfg := endpoint.DefaultConfig()
	cfg.SecretKey = endpoint.GenerateSecretKey()
	cfg.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.HandshakeTimeout = 5 * time.Second
	return endpoint.Open(ctx, cfg)
}

// dialVictim opens a fresh identity and dials the victim for alpn. The
// endpoint, also returned with an error, must be closed.
func (a *attack) dialVictim(ctx context.Context, alpn string) (*endpoint.Endpoint, *endpoint.Conn, error) {
	ep, err := identity(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn, err := ep.Dial(ctx, a.victim, alpn)
	return ep, conn, err
}

// pause waits d or until ctx ends, and reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// classify names how a stream operation ended.
func classify(err error) string {
	var se *quic.StreamError
	var ae *quic.ApplicationError
	var ne net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.As(err, &se):
		return "reset"
	case errors.As(err, &ae):
		return "conn-closed"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// awaitAnswer reads the victim's frames on st for at most wait, until an
// Abort (its reason), a Recon ("recon") or the end of the stream, and
// names what it saw.
func awaitAnswer(st *endpoint.Stream, wait time.Duration) string {
	st.SetReadDeadline(time.Now().Add(wait))
	var buf []byte
	chunk := make([]byte, 32<<10)
	var err error
	for {
		for {
			typ, body, n := readSyncFrame(buf)
			if n == 0 {
				break
			}
			buf = buf[n:]
			switch typ {
			case frameAbort:
				if len(body) > 0 {
					if r, ok := abortReasons[body[0]]; ok {
						return "abort-" + r
					}
				}
				return "abort"
			case frameRecon:
				return "recon"
			}
		}
		if len(buf) > 1<<20 {
			return "overlong"
		}
		if err != nil {
			return classify(err)
		}
		// The frames read with the stream's end are parsed first.
		var k int
		k, err = st.Read(chunk)
		buf = append(buf, chunk[:k]...)
	}
}

// endStream resets both directions of st.
func endStream(st *endpoint.Stream) {
	st.CancelRead(0)
	st.CancelWrite(0)
}

// randomEntry is an entry of ns at key with made-up content, unsigned.
func randomEntry(ns replica.NamespaceID, author replica.AuthorID, key string, ts uint64) replica.Entry {
	var h replica.Hash
	rand.Read(h[:])
	return replica.Entry{Namespace: ns, Author: author, Key: []byte(key),
		Record: replica.Record{Hash: h, Len: 100, Timestamp: ts}}
}

// badEntry returns the i-th of the entries hostile peers try to plant,
// and its kind:
//
//	forged:       the document's namespace, a made-up author, random signatures
//	foreign:      validly signed, but for another namespace
//	future:       forged, stamped a year ahead
//	rogue-future: validly signed with the document's secret, a year ahead
func (a *attack) badEntry(i int, foreign replica.NamespaceSecret, foreignAuthor replica.Author) (replica.SignedEntry, string) {
	now := uint64(time.Now().UnixMicro())
	year := uint64(365 * 24 * time.Hour / time.Microsecond)
	key := fmt.Sprintf("hostile/%d/%x", i, randomIDs(1)[0][:6])
	switch i % 4 {
	case 0:
		var author replica.AuthorID
		rand.Read(author[:])
		se := replica.SignedEntry{Entry: randomEntry(a.ns, author, key, now)}
		rand.Read(se.NamespaceSig[:])
		rand.Read(se.AuthorSig[:])
		return se, "forged"
	case 1:
		se, err := replica.Sign(foreign, foreignAuthor, randomEntry(foreign.ID(), foreignAuthor.ID(), key, now))
		if err != nil {
			panic(err)
		}
		return se, "foreign"
	case 2:
		var author replica.AuthorID
		rand.Read(author[:])
		se := replica.SignedEntry{Entry: randomEntry(a.ns, author, key, now+year)}
		rand.Read(se.NamespaceSig[:])
		rand.Read(se.AuthorSig[:])
		return se, "future"
	default:
		se, err := replica.Sign(a.rogue, a.rogueAuthor, randomEntry(a.ns, a.rogueAuthor.ID(), key, now+year))
		if err != nil {
			panic(err)
		}
		return se, "rogue-future"
	}
}

// garbage opens streams on the sync protocol and sends what no frame
// decoder should take: random bytes, a length far beyond the frame limit,
// a frame over 256 KiB, an unknown type, an Init of an unknown version,
// Entries before Init. Each stream is read for the victim's answer.
func (a *attack) garbage(ctx context.Context, workers int) {
	t := a.newTally("garbage")
	for range workers {
		a.run(t, func() {
			for ctx.Err() == nil {
				ep, conn, err := a.dialVictim(ctx, endpoint.ALPNSync)
				if err != nil {
					t.add("dial-failed", 1)
					if ep != nil {
						ep.Close()
					}
					pause(ctx, 100*time.Millisecond)
					continue
				}
				for i := 0; i < 200 && ctx.Err() == nil; i++ {
					var payload []byte
					kind := []string{"random", "huge-length", "oversized", "unknown-type", "bad-version", "entries-first"}[i%6]
					switch kind {
					case "random":
						payload = make([]byte, 64+i*37%4000)
						rand.Read(payload)
					case "huge-length":
						payload = append(binaryUvarint(1<<40), make([]byte, 1024)...)
					case "oversized":
						payload = syncFrame(frameRecon, make([]byte, 300<<10))
					case "unknown-type":
						payload = syncFrame(99, []byte("hello"))
					case "bad-version":
						body := append([]byte{7}, a.ns[:]...)
						payload = syncFrame(frameInit, append(body, idListMessage(nil)...))
					case "entries-first":
						var au replica.AuthorID
						rand.Read(au[:])
						se := replica.SignedEntry{Entry: randomEntry(a.ns, au, "x", 1)}
						payload = entriesFrame([]replica.SignedEntry{se})
					}
					st, err := conn.OpenStream(ctx)
					if err != nil {
						t.add("open-failed", 1)
						break
					}
					st.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := st.Write(payload); err != nil {
						t.add("write-"+classify(err), 1)
					}
					t.add("sent", 1)
					t.add(kind+"-"+awaitAnswer(st, 3*time.Second), 1)
					endStream(st)
				}
				ep.Close()
			}
		})
	}
}

// binaryUvarint is v as LEB128.
func binaryUvarint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// slowStreams holds streams open on the sync protocol from a few
// identities: perStream writes a stream's bytes and returns how it ended.
// Each identity keeps streams streams open, replacing those the victim
// ends.
func (a *attack) slowStreams(ctx context.Context, t *tally, identities, streams int, perStream func(st *endpoint.Stream) string) {
	if streams <= 0 {
		return
	}
	for range identities {
		a.run(t, func() {
			for ctx.Err() == nil {
				ep, conn, err := a.dialVictim(ctx, endpoint.ALPNSync)
				if err != nil {
					t.add("dial-failed", 1)
					if ep != nil {
						ep.Close()
					}
					pause(ctx, 200*time.Millisecond)
					continue
				}
				var wg sync.WaitGroup
				for range streams {
					wg.Go(func() {
						for ctx.Err() == nil && conn.Err() == nil {
							st, err := conn.OpenStream(ctx)
							if err != nil {
								t.add("open-failed", 1)
								pause(ctx, 200*time.Millisecond)
								continue
							}
							t.add("streams", 1)
							start := time.Now()
							// The attack's end resets the stream, so that no
							// read or write outlasts it.
							release := context.AfterFunc(ctx, func() { endStream(st) })
							how := perStream(st)
							if !release() {
								how = "held-to-end" // our reset, not the victim's
							}
							endStream(st)
							t.add("ended-"+how, 1)
							held := time.Since(start)
							t.add("held-ms", held.Milliseconds())
							if held < time.Second {
								// Refused at once: retry, but not in a
								// tight loop that would only measure
								// this process.
								pause(ctx, 100*time.Millisecond)
							}
						}
					})
				}
				wg.Wait()
				ep.Close()
			}
		})
	}
}

// watch waits until the victim ends st (it stops reading our side, or
// resets it) or ctx ends, and names which.
func watch(ctx context.Context, st *endpoint.Stream) string {
	select {
	case <-ctx.Done():
		return "held-to-end"
	case <-st.Context().Done():
		return "by-victim"
	}
}

// noInit opens streams that send a frame length and then nothing: a
// session that never gets its Init.
func (a *attack) noInit(ctx context.Context, identities, streams int) {
	t := a.newTally("no-init")
	a.slowStreams(ctx, t, identities, streams, func(st *endpoint.Stream) string {
		st.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write(binaryUvarint(100)); err != nil {
			return "write-" + classify(err)
		}
		return watch(ctx, st)
	})
}

// trickle sends a valid Init one byte per second.
func (a *attack) trickle(ctx context.Context, identities, streams int) {
	t := a.newTally("trickle")
	frame := initFrame(a.ns, idListMessage(nil))
	a.slowStreams(ctx, t, identities, streams, func(st *endpoint.Stream) string {
		for i := range frame {
			st.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := st.Write(frame[i : i+1]); err != nil {
				return "write-" + classify(err)
			}
			t.add("bytes", 1)
			select {
			case <-ctx.Done():
				return "held-to-end"
			case <-st.Context().Done():
				return "by-victim"
			case <-time.After(time.Second):
			}
		}
		return watch(ctx, st)
	})
}

// neverRead runs sessions, each from an identity of its own, that send a
// valid Init and then neither read nor write: each holds one of the
// victim's session slots until it gives up on them.
func (a *attack) neverRead(ctx context.Context, identities int) {
	t := a.newTally("never-read")
	frame := initFrame(a.ns, idListMessage(nil))
	a.slowStreams(ctx, t, identities, 1, func(st *endpoint.Stream) string {
		st.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write(frame); err != nil {
			return "write-" + classify(err)
		}
		return watch(ctx, st)
	})
}

// neverEnd runs sessions that never finish reconciling: the Init carries
// a first message listing as many made-up ids as a frame holds, and every
// answer is met with the same message again, so every round costs the
// victim a look-up of each id and the conversation could go on for ever.
func (a *attack) neverEnd(ctx context.Context, identities, ids int) {
	t := a.newTally("never-end")
	msg := idListMessage(randomIDs(ids))
	recon := syncFrame(frameRecon, msg)
	a.slowStreams(ctx, t, identities, 1, func(st *endpoint.Stream) string {
		st.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := st.Write(initFrame(a.ns, msg)); err != nil {
			return "write-" + classify(err)
		}
		for rounds := int64(1); ctx.Err() == nil; rounds++ {
			how := awaitAnswer(st, 30*time.Second)
			if how != "recon" {
				return how
			}
			t.add("rounds", 1)
			t.atLeast("most-rounds-in-a-session", rounds)
			st.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := st.Write(recon); err != nil {
				return "write-" + classify(err)
			}
			t.add("bytes", int64(len(recon)))
		}
		return "held-to-end"
	})
}

// forgeSync runs sessions that send Init and then Entries frames of
// forged, foreign and future entries (see badEntry), 16 a frame, until
// the victim ends the session.
func (a *attack) forgeSync(ctx context.Context, workers int) {
	t := a.newTally("forge-sync")
	foreign, _ := replica.NewNamespace(nil)
	foreignAuthor, _ := replica.NewAuthor(nil)
	for range workers {
		a.run(t, func() {
			i := 0
			for ctx.Err() == nil {
				ep, conn, err := a.dialVictim(ctx, endpoint.ALPNSync)
				if err != nil {
					t.add("dial-failed", 1)
					if ep != nil {
						ep.Close()
					}
					pause(ctx, 100*time.Millisecond)
					continue
				}
				st, err := conn.OpenStream(ctx)
				if err != nil {
					ep.Close()
					continue
				}
				t.add("sessions", 1)
				st.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, err = st.Write(initFrame(a.ns, idListMessage(nil)))
				for f := 0; f < 16 && err == nil; f++ {
					batch := make([]replica.SignedEntry, 16)
					for j := range batch {
						var kind string
						batch[j], kind = a.badEntry(i, foreign, foreignAuthor)
						t.add("sent-"+kind, 1)
						i++
					}
					_, err = st.Write(entriesFrame(batch))
				}
				if err != nil {
					t.add("write-"+classify(err), 1)
				}
				t.add("ended-"+awaitAnswerSkipRecon(st, 5*time.Second), 1)
				endStream(st)
				ep.Close()
			}
		})
	}
}

// awaitAnswerSkipRecon is awaitAnswer past the victim's Recon answers.
func awaitAnswerSkipRecon(st *endpoint.Stream, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		how := awaitAnswer(st, time.Until(deadline))
		if how != "recon" {
			return how
		}
	}
}

// gossipFlood sends ops as eager-push datagrams into the document's swarm
// from identities that never joined it: Puts of forged, foreign and
// future entries, SyncReports from random origins claiming news of random
// authors, ContentReady of random hashes from random origins.
func (a *attack) gossipFlood(ctx context.Context, identities int) {
	t := a.newTally("gossip-flood")
	foreign, _ := replica.NewNamespace(nil)
	foreignAuthor, _ := replica.NewAuthor(nil)
	for range identities {
		a.run(t, func() {
			i := 0
			for ctx.Err() == nil {
				ep, conn, err := a.dialVictim(ctx, endpoint.ALPNGossip)
				if err != nil {
					t.add("dial-failed", 1)
					if ep != nil {
						ep.Close()
					}
					pause(ctx, 100*time.Millisecond)
					continue
				}
				for ctx.Err() == nil && conn.Err() == nil {
					var origin [32]byte
					rand.Read(origin[:])
					var dg []byte
					var kind string
					switch i % 6 {
					case 0, 1:
						heads := make(map[replica.AuthorID]uint64, 24)
						now := uint64(time.Now().UnixMicro())
						for range 24 {
							var au replica.AuthorID
							rand.Read(au[:])
							heads[au] = now
						}
						dg, kind = gossipOp(a.topic, opSyncReport, origin, syncReportBody(heads)), "sync-report"
					case 2:
						var h [32]byte
						rand.Read(h[:])
						dg, kind = gossipOp(a.topic, opContentReady, origin, h[:]), "content-ready"
					default:
						se, k := a.badEntry(i, foreign, foreignAuthor)
						dg, kind = gossipOp(a.topic, opPut, origin, putBody(&se)), "put-"+k
					}
					i++
					switch err := conn.SendDatagram(dg); {
					case err == nil:
						t.add(kind, 1)
					case errors.Is(err, endpoint.ErrDatagramQueueFull):
						t.add("queue-full", 1)
						pause(ctx, time.Millisecond)
					default:
						t.add("send-failed", 1)
					}
				}
				ep.Close()
			}
		})
	}
}

// connFlood keeps identities fresh node ids connected to the victim, on
// the sync, gossip and content protocols in turn, each for hold, then
// replaced by a new id.
func (a *attack) connFlood(ctx context.Context, identities int, hold time.Duration) {
	t := a.newTally("conn-flood")
	alpns := []string{endpoint.ALPNSync, endpoint.ALPNGossip, endpoint.ALPNBlobs}
	for w := range identities {
		a.run(t, func() {
			// Spread the first handshakes over the first hold.
			if !pause(ctx, time.Duration(w)*hold/time.Duration(identities)) {
				return
			}
			for i := 0; ctx.Err() == nil; i++ {
				ep, conn, err := a.dialVictim(ctx, alpns[(w+i)%len(alpns)])
				switch {
				case err == nil:
					t.add("connected", 1)
					select {
					case <-ctx.Done():
					case <-conn.Done():
						t.add("closed-by-victim", 1)
					case <-time.After(hold):
					}
				case errors.Is(err, endpoint.ErrTooManyConns):
					t.add("refused-too-many", 1)
				case ctx.Err() == nil:
					t.add("failed", 1)
				}
				if ep != nil {
					ep.Close()
				}
				if err != nil {
					pause(ctx, 100*time.Millisecond)
				}
			}
		})
	}
}

// corruptProvider serves wrong bytes for any content the victim asks it
// for, and announces ContentReady in the document's swarm for the honest
// peer's latest entries, whose content the honest peer does not serve.
func (a *attack) corruptProvider(ctx context.Context) {
	t := a.newTally("corrupt-blobs")
	a.run(t, func() {
		ep, err := identity(ctx)
		if err != nil {
			t.add("open-failed", 1)
			return
		}
		defer ep.Close()
		lens := sync.Map{} // hash → len, of honest entries announced
		serve := endpoint.HandlerFunc(func(ctx context.Context, conn *endpoint.Conn) {
			var streams sync.WaitGroup
			defer streams.Wait()
			for {
				st, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				streams.Go(func() {
					defer endStream(st)
					st.SetReadDeadline(time.Now().Add(5 * time.Second))
					req, err := io.ReadAll(io.LimitReader(st, 8<<10))
					if err != nil {
						t.add("request-"+classify(err), 1)
						return
					}
					r, err := blobs.DecodeRequest(req, 4096, blobs.DefaultMaxRanges)
					if err != nil {
						t.add("request-malformed", 1)
						return
					}
					size := uint64(100)
					if v, ok := lens.Load(r.Hash); ok {
						size = v.(uint64)
					}
					// About as many bytes as the groups asked for: the
					// client refuses the first of them.
					var want uint64
					for _, rg := range r.Ranges {
						want += rg.Len() << (10 + r.GroupLog)
					}
					junk := make([]byte, min(want, size))
					rand.Read(junk)
					st.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := st.Write(blobsOK(size, junk)); err != nil {
						t.add("serve-"+classify(err), 1)
						return
					}
					st.Close()
					t.add("served-wrong", 1)
					t.add("bytes-wrong", int64(len(junk)))
				})
			}
		})
		if err := ep.Handle(endpoint.ALPNBlobs, serve); err != nil {
			t.add("handle-failed", 1)
			return
		}
		var conn *endpoint.Conn
		origin := ep.ID()
		// A receiver drops an op it has seen, so each hash is announced
		// once; recent lists entries the victim has held for a moment.
		announced := map[replica.Hash]bool{}
		for ctx.Err() == nil {
			if conn == nil || conn.Err() != nil {
				if conn, err = ep.Dial(ctx, a.victim, endpoint.ALPNGossip); err != nil {
					conn = nil
					t.add("dial-failed", 1)
					pause(ctx, 200*time.Millisecond)
					continue
				}
			}
			for _, r := range a.recent() {
				if announced[r.hash] {
					continue
				}
				announced[r.hash] = true
				lens.Store(r.hash, r.len)
				if err := conn.SendDatagram(gossipOp(a.topic, opContentReady, origin, r.hash[:])); err == nil {
					t.add("announced", 1)
				}
			}
			pause(ctx, 200*time.Millisecond)
		}
	})
}

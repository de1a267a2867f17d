package endpoint

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docsnode/docsnode/internal/testutil"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestAddrBookFreshestFirst(t *testing.T) {
	b := newAddrBook(8, 4)
	id := NodeID{1}
	b.learn(id, []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1")}, false)
	b.learn(id, []netip.AddrPort{ap("10.0.0.3:1"), ap("10.0.0.1:1")}, false)
	want := []netip.AddrPort{ap("10.0.0.3:1"), ap("10.0.0.1:1"), ap("10.0.0.2:1")}
	if got := b.lookup(id); !slices.Equal(got, want) {
		t.Fatalf("after two statements: %v, want %v", got, want)
	}
	// A connection from an address puts it first.
	b.learn(id, []netip.AddrPort{ap("10.0.0.2:1")}, true)
	want = []netip.AddrPort{ap("10.0.0.2:1"), ap("10.0.0.3:1"), ap("10.0.0.1:1")}
	if got := b.lookup(id); !slices.Equal(got, want) {
		t.Fatalf("after a connection: %v, want %v", got, want)
	}
	if got := b.lookup(NodeID{2}); got != nil {
		t.Fatalf("unknown peer: %v", got)
	}
}

func TestAddrBookBounds(t *testing.T) {
	b := newAddrBook(2, 3)
	id := NodeID{1}
	seen := ap("192.0.2.1:9")
	b.learn(id, []netip.AddrPort{seen}, true)
	// Hints beyond the per-peer bound push out older hints, never the
	// address the peer was seen at.
	var flood []netip.AddrPort
	for i := range MaxAddrs {
		flood = append(flood, netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1))
	}
	b.learn(id, flood, false)
	got := b.lookup(id)
	if len(got) != 3 || !slices.Equal(got[:2], flood[:2]) || got[2] != seen {
		t.Fatalf("after a flood of hints: %v, want the first two hints and %v", got, seen)
	}

	// The peer learned about least recently is forgotten first.
	b.learn(NodeID{2}, []netip.AddrPort{ap("10.0.0.2:1")}, false)
	b.learn(id, []netip.AddrPort{ap("10.0.0.1:2")}, false)
	b.learn(NodeID{3}, []netip.AddrPort{ap("10.0.0.3:1")}, false)
	if len(b.peers) != 2 || b.order.Len() != 2 {
		t.Fatalf("book holds %d peers (%d in order), bound 2", len(b.peers), b.order.Len())
	}
	if b.lookup(NodeID{2}) != nil {
		t.Error("the least recently learned peer was kept")
	}
	if b.lookup(id) == nil || b.lookup(NodeID{3}) == nil {
		t.Error("a recently learned peer was forgotten")
	}
}

// TestLearnAddrRefusesUndialable: stated addresses are hints from the
// network; none may make the endpoint dial a multicast, broadcast,
// unspecified or otherwise unusable address.
func TestLearnAddrRefusesUndialable(t *testing.T) {
	e := openTest(t) // an IPv4 socket
	id := GenerateSecretKey().Public()
	bad := []netip.AddrPort{
		ap("0.0.0.0:4000"),
		ap("127.0.0.1:0"),
		ap("224.0.0.1:4000"),
		ap("239.255.255.250:1900"),
		ap("255.255.255.255:4000"),
		ap("[::1]:4000"), // IPv6 from an IPv4 socket
		ap("[ff02::1]:4000"),
		ap("[fe80::1]:4000"),
		ap("[fe80::1%eth0]:4000"),
		{},
	}
	e.LearnAddr(NodeAddr{ID: id, Addrs: bad})
	if got, ok := e.KnownAddr(id); ok {
		t.Fatalf("learned %v from undialable addresses", got)
	}
	e.LearnAddr(NodeAddr{ID: e.ID(), Addrs: []netip.AddrPort{ap("127.0.0.1:4000")}})
	if got, ok := e.KnownAddr(e.ID()); ok {
		t.Fatalf("learned an address for its own id: %v", got)
	}
	good := ap("[::ffff:127.0.0.1]:4000")
	e.LearnAddr(NodeAddr{ID: id, Addrs: append(bad, good)})
	if got, ok := e.KnownAddr(id); !ok || !slices.Equal(got.Addrs, []netip.AddrPort{ap("127.0.0.1:4000")}) {
		t.Fatalf("KnownAddr = %v, %v; want the one usable address, unmapped", got, ok)
	}
}

func TestLearnFromIncomingConn(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNSync, h)
	// A stale address for the client, as a stored record might hold.
	stale := ap("127.0.0.1:9")
	server.LearnAddr(NodeAddr{ID: client.ID(), Addrs: []netip.AddrPort{stale}})

	if _, err := client.Dial(ctx, server.Addr(), ALPNSync); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	receive(t, accepted)
	got, ok := server.KnownAddr(client.ID())
	want := []netip.AddrPort{client.Addr().Addrs[0], stale}
	if !ok || !slices.Equal(got.Addrs, want) {
		t.Fatalf("server knows the client at %v, want %v (the connection's source first)", got, want)
	}
	// The dialler learns the address it reached the server on.
	if got, ok := client.KnownAddr(server.ID()); !ok || got.Addrs[0] != server.Addr().Addrs[0] {
		t.Fatalf("client knows the server at %v, want %v first", got, server.Addr().Addrs[0])
	}
}

func TestDialUsesLearnedAddr(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	mustHandle(t, server, ALPNSync, echo)

	// No address given: only a learned one can reach the server.
	if _, err := client.Dial(ctx, NodeAddr{ID: server.ID()}, ALPNSync); !errors.Is(err, ErrNoAddrs) {
		t.Fatalf("Dial with nothing known: err = %v, want ErrNoAddrs", err)
	}
	client.LearnAddr(server.Addr())
	conn, err := client.Dial(ctx, NodeAddr{ID: server.ID()}, ALPNSync)
	if err != nil {
		t.Fatalf("Dial a learned address: %v", err)
	}
	if got := roundTrip(t, ctx, conn, "learned"); got != "learned" {
		t.Errorf("echo = %q", got)
	}
}

// TestPeerRestartsOnNewPort: a peer the client has a cached connection to
// crashes (its connections are not closed) and comes back on another port
// with the same key. Once it connects to the client, the client drops and
// closes the connection to the old port at once, rather than at its idle
// timeout, and Dial reaches the new port even when given only the old one.
func TestPeerRestartsOnNewPort(t *testing.T) {
	ctx := testContext(t)
	key := GenerateSecretKey()
	long := func(c *Config) {
		// Idle timeouts far beyond the test's waits: only the endpoint
		// noticing the move can close the old connection in time.
		c.MaxIdleTimeout = time.Hour
		c.HandshakeTimeout = testTimeout
	}
	client := openTest(t, long)
	mustHandle(t, client, ALPNGossip, echo)

	mute := newMuteConn(t)
	old := openTest(t, long, func(c *Config) { c.SecretKey = key; c.PacketConn = mute })
	mustHandle(t, old, ALPNSync, echo)
	oldAddr := old.Addr()
	stale, err := client.Dial(ctx, oldAddr, ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if got := roundTrip(t, ctx, stale, "before"); got != "before" {
		t.Fatalf("echo = %q", got)
	}
	// The crash: nothing more leaves the old socket.
	mute.mute()
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	moved := openTest(t, long, func(c *Config) { c.SecretKey = key })
	mustHandle(t, moved, ALPNSync, echo)
	if moved.Addr().Addrs[0] == oldAddr.Addrs[0] {
		t.Fatal("the restarted node got the same port")
	}
	if stale.Err() != nil {
		t.Fatalf("the old connection closed before the node came back: %v", stale.Err())
	}
	// The restarted node connects to the client, as a sync or a gossip
	// join does.
	if _, err := moved.Dial(ctx, client.Addr(), ALPNGossip); err != nil {
		t.Fatalf("Dial from the restarted node: %v", err)
	}
	select {
	case <-stale.Done():
	case <-ctx.Done():
		t.Fatal("the connection to the old port is still open")
	}
	if c, ok := client.Cached(key.Public(), ALPNSync); ok {
		t.Fatalf("the cache holds a connection to %s", c.RemoteAddr())
	}
	conn, err := client.Dial(ctx, oldAddr, ALPNSync)
	if err != nil {
		t.Fatalf("Dial with the old address: %v", err)
	}
	if got, want := conn.RemoteAddr(), moved.Addr().Addrs[0]; got != want {
		t.Fatalf("Dial reached %s, want the new address %s", got, want)
	}
	if got := roundTrip(t, ctx, conn, "after"); got != "after" {
		t.Errorf("echo = %q", got)
	}
}

// TestSamePortOtherIPKept: a connection from the peer's port at another IP
// (a multi-homed peer) does not close the cached one.
func TestSamePortOtherIPKept(t *testing.T) {
	ctx := testContext(t)
	server := openTest(t, func(c *Config) { c.ListenAddr = ap("0.0.0.0:0") })
	mustHandle(t, server, ALPNSync, echo)
	client := openTest(t, func(c *Config) { c.ListenAddr = ap("0.0.0.0:0") })
	h, accepted := recorder()
	mustHandle(t, client, ALPNGossip, h)

	port := addrPortOf(server.pconn.LocalAddr()).Port()
	first, err := client.Dial(ctx, NodeAddr{ID: server.ID(), Addrs: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)}}, ALPNSync)
	if err != nil {
		// Linux routes all of 127.0.0.0/8 to the loopback interface.
		t.Fatalf("Dial 127.0.0.2: %v", err)
	}
	// The server's packets to the client's 127.0.0.1 leave from 127.0.0.1.
	cport := addrPortOf(client.pconn.LocalAddr()).Port()
	if _, err := server.Dial(ctx, NodeAddr{ID: client.ID(), Addrs: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), cport)}}, ALPNGossip); err != nil {
		t.Fatalf("Dial back: %v", err)
	}
	in := receive(t, accepted)
	if in.RemoteAddr().Addr() == first.RemoteAddr().Addr() {
		t.Fatalf("both connections use %s", in.RemoteAddr())
	}
	if err := first.Err(); err != nil {
		t.Fatalf("the cached connection was closed: %v", err)
	}
	if c, ok := client.Cached(server.ID(), ALPNSync); !ok || c != first {
		t.Fatal("the cached connection was dropped")
	}
}

// muteConn is a loopback UDP socket that can be made to drop everything
// it sends, as a crashed process does. Like gatedConn, it hides the UDP
// socket's batch and OOB methods.
type muteConn struct {
	net.PacketConn
	udp   *net.UDPConn
	muted atomic.Bool
}

func newMuteConn(t *testing.T) *muteConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	return &muteConn{PacketConn: c, udp: c}
}

func (m *muteConn) mute() { m.muted.Store(true) }

func (m *muteConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if m.muted.Load() {
		return len(p), nil
	}
	return m.PacketConn.WriteTo(p, addr)
}

func (m *muteConn) SetReadBuffer(n int) error  { return m.udp.SetReadBuffer(n) }
func (m *muteConn) SetWriteBuffer(n int) error { return m.udp.SetWriteBuffer(n) }

// TestDialUnderWayToOldPortIsLeft: a dial that was started while the peer
// was down, to its old port only, must not hold later Dials until its
// handshake times out once the peer has come back on a new port: they
// dial where the peer connected from.
func TestDialUnderWayToOldPortIsLeft(t *testing.T) {
	ctx := testContext(t)
	key := GenerateSecretKey()
	client := openTest(t, func(c *Config) { c.HandshakeTimeout = time.Hour })
	mustHandle(t, client, ALPNGossip, echo)

	old := openTest(t, func(c *Config) { c.SecretKey = key })
	oldAddr := old.Addr()
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The peer is down: this dial waits for an answer from the old port.
	first := make(chan error, 1)
	go func() {
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := client.Dial(dctx, oldAddr, ALPNSync)
		first <- err
	}()
	testutil.Eventually(t, testTimeout, func() bool {
		client.mu.Lock()
		defer client.mu.Unlock()
		return len(client.dials) == 1
	}, "the first dial is under way")

	moved := openTest(t, func(c *Config) { c.SecretKey = key })
	mustHandle(t, moved, ALPNSync, echo)
	if _, err := moved.Dial(ctx, client.Addr(), ALPNGossip); err != nil {
		t.Fatalf("Dial from the restarted node: %v", err)
	}
	// The client takes the connection in on its own time.
	testutil.Eventually(t, testTimeout, func() bool {
		_, ok := client.KnownAddr(key.Public())
		return ok
	}, "the client learns where the peer is")
	conn, err := client.Dial(ctx, oldAddr, ALPNSync)
	if err != nil {
		t.Fatalf("Dial after the peer came back: %v", err)
	}
	if got, want := conn.RemoteAddr(), moved.Addr().Addrs[0]; got != want {
		t.Fatalf("Dial reached %s, want the new address %s", got, want)
	}
	select {
	case err := <-first:
		t.Fatalf("the first dial ended (%v) before the second; the second waited for it", err)
	default:
	}
	if got := roundTrip(t, ctx, conn, "after"); got != "after" {
		t.Errorf("echo = %q", got)
	}
}

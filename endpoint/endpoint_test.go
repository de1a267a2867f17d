package endpoint

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests, so a bug fails the test
// instead of hanging it.
const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func openTest(t *testing.T, mutate ...func(*Config)) *Endpoint {
	t.Helper()
	cfg := TestConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// echo answers every stream with the bytes it received.
var echo = HandlerFunc(func(ctx context.Context, conn *Conn) {
	for {
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.Copy(s, s)
		s.Close()
	}
})

// recorder passes every accepted connection to the test and holds it open
// until the connection or the endpoint closes.
func recorder() (Handler, <-chan *Conn) {
	ch := make(chan *Conn, 16)
	return HandlerFunc(func(ctx context.Context, conn *Conn) {
		ch <- conn
		<-ctx.Done()
	}), ch
}

func mustHandle(t *testing.T, e *Endpoint, alpn string, h Handler) {
	t.Helper()
	if err := e.Handle(alpn, h); err != nil {
		t.Fatalf("Handle(%s): %v", alpn, err)
	}
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// roundTrip sends msg on a new stream and returns what comes back. It
// writes and reads at once: an echo of more than the flow-control windows
// would otherwise stall both sides.
func roundTrip(t *testing.T, ctx context.Context, c *Conn, msg string) string {
	t.Helper()
	s, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		s.SetDeadline(deadline)
	}
	written := make(chan error, 1)
	go func() {
		_, err := s.Write([]byte(msg))
		s.Close()
		written <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatalf("Write: %v", err)
	}
	return string(got)
}

func TestExchangeData(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	mustHandle(t, server, ALPNSync, echo)

	conn, err := client.Dial(ctx, server.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if conn.RemoteID() != server.ID() {
		t.Errorf("RemoteID = %s, want %s", conn.RemoteID().Short(), server.ID().Short())
	}
	if conn.ALPN() != ALPNSync {
		t.Errorf("ALPN = %q, want %q", conn.ALPN(), ALPNSync)
	}
	if got, want := conn.RemoteAddr(), server.Addr().Addrs[0]; got != want {
		t.Errorf("RemoteAddr = %s, want %s", got, want)
	}
	big := string(make([]byte, 1<<20))
	for _, msg := range []string{"hello", big} {
		if got := roundTrip(t, ctx, conn, msg); got != msg {
			t.Errorf("echo returned %d bytes, want %d", len(got), len(msg))
		}
	}
}

func TestAcceptorLearnsDiallerID(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNGossip, h)

	if _, err := client.Dial(ctx, server.Addr(), ALPNGossip); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	got := receive(t, accepted)
	if got.RemoteID() != client.ID() {
		t.Errorf("acceptor saw %s, want dialler %s", got.RemoteID().Short(), client.ID().Short())
	}
	if got.ALPN() != ALPNGossip {
		t.Errorf("acceptor ALPN = %q", got.ALPN())
	}
}

func TestDialWrongIDFails(t *testing.T) {
	ctx := testContext(t)
	server, impostor, honest := openTest(t), openTest(t), openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNSync, h)

	wrong := NodeAddr{ID: GenerateSecretKey().Public(), Addrs: server.Addr().Addrs}
	_, err := impostor.Dial(ctx, wrong, ALPNSync)
	if !errors.Is(err, ErrPeerIDMismatch) {
		t.Fatalf("Dial with wrong id: err = %v, want ErrPeerIDMismatch", err)
	}

	// A connection that got past the handshake would be queued for the
	// handler ahead of this one.
	if _, err := honest.Dial(ctx, server.Addr(), ALPNSync); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if got := receive(t, accepted); got.RemoteID() != honest.ID() {
		t.Errorf("handler reached by %s, want only %s", got.RemoteID().Short(), honest.ID().Short())
	}
	if impostor.connCount() != 0 {
		t.Errorf("failed dial left %d connections", impostor.connCount())
	}
}

func TestUnregisteredALPNRefused(t *testing.T) {
	ctx := testContext(t)
	bare, server, client := openTest(t), openTest(t), openTest(t)
	mustHandle(t, server, ALPNSync, echo)

	for _, tc := range []struct {
		name   string
		target *Endpoint
	}{{"no handlers at all", bare}, {"other protocol registered", server}} {
		_, err := client.Dial(ctx, tc.target.Addr(), ALPNBlobs)
		if !errors.Is(err, ErrProtocolRefused) {
			t.Errorf("%s: err = %v, want ErrProtocolRefused", tc.name, err)
		}
	}

	// Registering after Open takes effect for the next handshake.
	mustHandle(t, bare, ALPNBlobs, echo)
	conn, err := client.Dial(ctx, bare.Addr(), ALPNBlobs)
	if err != nil {
		t.Fatalf("Dial after Handle: %v", err)
	}
	if got := roundTrip(t, ctx, conn, "late"); got != "late" {
		t.Errorf("echo = %q", got)
	}
}

func TestHandleRejectsBadRegistrations(t *testing.T) {
	e := openTest(t)
	mustHandle(t, e, ALPNSync, echo)
	if err := e.Handle(ALPNSync, echo); !errors.Is(err, ErrDuplicateALPN) {
		t.Errorf("duplicate: err = %v", err)
	}
	for _, alpn := range []string{"", refuseAll, "has space", string(make([]byte, 256))} {
		if err := e.Handle(alpn, echo); !errors.Is(err, ErrBadALPN) {
			t.Errorf("Handle(%q): err = %v, want ErrBadALPN", alpn, err)
		}
	}
	if err := e.Handle(ALPNBlobs, nil); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestDialReusesAndRedials(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNSync, h)
	mustHandle(t, server, ALPNGossip, echo)

	first, err := client.Dial(ctx, server.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	again, err := client.Dial(ctx, server.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("second Dial: %v", err)
	}
	if again != first {
		t.Fatal("second Dial did not reuse the live connection")
	}
	other, err := client.Dial(ctx, server.Addr(), ALPNGossip)
	if err != nil {
		t.Fatalf("Dial other protocol: %v", err)
	}
	if other == first {
		t.Fatal("connections for different protocols were shared")
	}

	// The remote closes; the cached connection must not be handed out again.
	receive(t, accepted).Close()
	receive(t, first.Done())
	redialled, err := client.Dial(ctx, server.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("Dial after remote close: %v", err)
	}
	if redialled == first {
		t.Fatal("Dial returned the closed connection")
	}
	if err := redialled.Err(); err != nil {
		t.Fatalf("redialled connection is closed: %v", err)
	}
	if got := receive(t, accepted); got.RemoteID() != client.ID() {
		t.Errorf("redial reached the server as %s", got.RemoteID().Short())
	}
}

func TestConcurrentDialsShareHandshake(t *testing.T) {
	ctx := testContext(t)
	gate := newGatedConn(t)
	server := openTest(t, func(c *Config) { c.PacketConn = gate })
	client := openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNSync, h)

	// The server reads no packet until every Dial waits on the handshake,
	// so the calls are sure to overlap.
	const n = 8
	var waiting sync.WaitGroup
	waiting.Add(n)
	client.testHookDialWaiting = waiting.Done

	conns := make([]*Conn, n)
	errs := make([]error, n)
	var dialers sync.WaitGroup
	for i := range n {
		dialers.Go(func() { conns[i], errs[i] = client.Dial(ctx, server.Addr(), ALPNSync) })
	}
	waiting.Wait()
	gate.open()
	dialers.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Dial %d: %v", i, errs[i])
		}
		if conns[i] != conns[0] {
			t.Errorf("Dial %d returned a different connection", i)
		}
	}
	receive(t, accepted)
	// One more connection to the server proves the accept queue holds no
	// second handshake from the concurrent dials.
	if _, err := openTest(t).Dial(ctx, server.Addr(), ALPNSync); err != nil {
		t.Fatalf("probe Dial: %v", err)
	}
	if got := receive(t, accepted); got.RemoteID() == client.ID() {
		t.Error("concurrent Dials made more than one handshake")
	}
}

func TestDialTriesNextAddress(t *testing.T) {
	ctx := testContext(t)
	server, decoy, client := openTest(t), openTest(t), openTest(t)
	mustHandle(t, server, ALPNSync, echo)
	mustHandle(t, decoy, ALPNSync, echo)

	// A socket that never answers, and a node with the wrong key, come
	// before the right address.
	silent, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	addr := NodeAddr{ID: server.ID(), Addrs: []netip.AddrPort{
		addrPortOf(silent.LocalAddr()),
		decoy.Addr().Addrs[0],
		server.Addr().Addrs[0],
	}}
	// Waiting for the silent address to time out would take
	// HandshakeTimeout/2; staggered attempts must beat that by far.
	dialCtx, cancel := context.WithTimeout(ctx, client.cfg.HandshakeTimeout/2)
	defer cancel()
	conn, err := client.Dial(dialCtx, addr, ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if got, want := conn.RemoteAddr(), server.Addr().Addrs[0]; got != want {
		t.Errorf("connected to %s, want %s", got, want)
	}
	if got := roundTrip(t, ctx, conn, "x"); got != "x" {
		t.Errorf("echo = %q", got)
	}
}

func TestDialInputErrors(t *testing.T) {
	ctx := testContext(t)
	e := openTest(t)
	other := GenerateSecretKey().Public()
	if _, err := e.Dial(ctx, NodeAddr{ID: other}, ALPNSync); !errors.Is(err, ErrNoAddrs) {
		t.Errorf("no addrs: err = %v", err)
	}
	v6 := NodeAddr{ID: other, Addrs: []netip.AddrPort{netip.MustParseAddrPort("[::1]:4000")}}
	if _, err := e.Dial(ctx, v6, ALPNSync); !errors.Is(err, ErrNoAddrs) {
		t.Errorf("IPv6 only from an IPv4 socket: err = %v", err)
	}
	if _, err := e.Dial(ctx, e.Addr(), ALPNSync); !errors.Is(err, ErrDialSelf) {
		t.Errorf("self: err = %v", err)
	}
	if _, err := e.Dial(ctx, NodeAddr{ID: other, Addrs: e.Addr().Addrs}, ""); !errors.Is(err, ErrBadALPN) {
		t.Errorf("empty ALPN: err = %v", err)
	}
}

func TestMaxConns(t *testing.T) {
	ctx := testContext(t)
	a, b := openTest(t), openTest(t)
	mustHandle(t, a, ALPNSync, echo)
	mustHandle(t, b, ALPNSync, echo)
	client := openTest(t, func(c *Config) { c.MaxConns = 1 })

	first, err := client.Dial(ctx, a.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, err := client.Dial(ctx, b.Addr(), ALPNSync); !errors.Is(err, ErrTooManyConns) {
		t.Fatalf("Dial over the limit: err = %v, want ErrTooManyConns", err)
	}
	// The cached connection does not count twice, and a closed one frees
	// its slot.
	if _, err := client.Dial(ctx, a.Addr(), ALPNSync); err != nil {
		t.Fatalf("Dial cached: %v", err)
	}
	first.Close()
	if _, err := client.Dial(ctx, b.Addr(), ALPNSync); err != nil {
		t.Fatalf("Dial after close: %v", err)
	}
}

func TestCloseWithActiveStreams(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	reading := make(chan struct{}, 1)
	mustHandle(t, server, ALPNSync, HandlerFunc(func(ctx context.Context, conn *Conn) {
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		buf := make([]byte, 1)
		io.ReadFull(s, buf)
		reading <- struct{}{}
		io.Copy(io.Discard, s) // blocks until the connection dies
	}))
	conn, err := client.Dial(ctx, server.Addr(), ALPNSync)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	s, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	receive(t, reading)

	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- server.Close() }()
	if err := receive(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a handler blocked on a stream", d)
	}
	// The peer hears of it at once rather than after an idle timeout.
	receive(t, conn.Done())
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Error("stream still readable after the peer closed")
	}
	if err := client.Close(); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	goleak.VerifyNone(t)
}

func TestUseAfterClose(t *testing.T) {
	ctx := testContext(t)
	server := openTest(t)
	e := openTest(t)
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.Dial(ctx, server.Addr(), ALPNSync); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: err = %v", err)
	}
	if err := e.Handle(ALPNSync, echo); !errors.Is(err, ErrClosed) {
		t.Errorf("Handle after Close: err = %v", err)
	}
}

func TestAddrOfWildcardSocket(t *testing.T) {
	e := openTest(t, func(c *Config) { c.ListenAddr = netip.MustParseAddrPort("0.0.0.0:0") })
	addr := e.Addr()
	if addr.ID != e.ID() {
		t.Fatal("Addr has the wrong id")
	}
	if len(addr.Addrs) == 0 {
		t.Fatal("no addresses listed for a wildcard socket")
	}
	for _, ap := range addr.Addrs {
		if !ap.Addr().Is4() || ap.Port() == 0 {
			t.Errorf("unexpected address %s", ap)
		}
	}
	if _, err := addr.MarshalBinary(); err != nil {
		t.Errorf("Addr does not encode: %v", err)
	}
}

func (e *Endpoint) connCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.connCountLocked()
}

// gatedConn is a loopback UDP socket whose reads wait until open is called.
// It hides the UDP socket's batch and OOB methods, so that quic-go reads
// through ReadFrom.
type gatedConn struct {
	net.PacketConn
	udp      *net.UDPConn
	gate     chan struct{}
	openOnce sync.Once
}

func newGatedConn(t *testing.T) *gatedConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	return &gatedConn{PacketConn: c, udp: c, gate: make(chan struct{})}
}

func (g *gatedConn) open() { g.openOnce.Do(func() { close(g.gate) }) }

func (g *gatedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	<-g.gate
	return g.PacketConn.ReadFrom(b)
}

// SetReadDeadline opens the gate: quic-go sets one to stop its reader on
// Close, which must not wait for a gate a failed test never opened.
func (g *gatedConn) SetReadDeadline(t time.Time) error {
	g.open()
	return g.PacketConn.SetReadDeadline(t)
}

func (g *gatedConn) SetReadBuffer(n int) error  { return g.udp.SetReadBuffer(n) }
func (g *gatedConn) SetWriteBuffer(n int) error { return g.udp.SetWriteBuffer(n) }

func TestDualStackListener(t *testing.T) {
	ctx := testContext(t)
	server := openTest(t, func(c *Config) { c.ListenAddr = netip.MustParseAddrPort("[::]:0") })
	mustHandle(t, server, ALPNSync, echo)
	port := addrPortOf(server.pconn.LocalAddr()).Port()

	for _, tc := range []struct{ listen, target string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
	} {
		client := openTest(t, func(c *Config) { c.ListenAddr = netip.MustParseAddrPort(tc.listen) })
		target := NodeAddr{ID: server.ID(), Addrs: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(tc.target), port)}}
		conn, err := client.Dial(ctx, target, ALPNSync)
		if err != nil {
			t.Fatalf("Dial %s from %s: %v", target, tc.listen, err)
		}
		if got := roundTrip(t, ctx, conn, tc.target); got != tc.target {
			t.Errorf("echo = %q", got)
		}
	}
	for _, ap := range server.Addr().Addrs {
		if ap.Port() != port {
			t.Errorf("Addr lists %s, want port %d", ap, port)
		}
	}
}

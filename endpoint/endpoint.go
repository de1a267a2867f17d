package endpoint

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// The protocols docsnode speaks, one ALPN name each.
const (
	ALPNSync   = "docsnode/sync/1"
	ALPNGossip = "docsnode/gossip/1"
	ALPNBlobs  = "docsnode/blobs/1"
)

// refuseAll is offered by the server while no handler is registered. With
// an empty list TLS would accept any protocol, and no client offers this
// name (Handle and Dial refuse it), so the handshake fails the same way as
// for any other unregistered protocol.
const refuseAll = "\x00docsnode-no-protocols"

// Handler serves the connections accepted for one ALPN protocol.
//
// HandleConn runs in its own goroutine, which the endpoint owns and joins
// on Close. ctx is cancelled when the connection closes, which includes
// the endpoint closing, and HandleConn must then return promptly. When it
// returns, the endpoint closes conn.
type Handler interface {
	HandleConn(ctx context.Context, conn *Conn)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, conn *Conn)

// HandleConn calls f(ctx, conn).
func (f HandlerFunc) HandleConn(ctx context.Context, conn *Conn) { f(ctx, conn) }

// Endpoint is a node's QUIC endpoint: one UDP socket that accepts
// connections, routes them by ALPN to handlers, and dials peers by node id.
// Its methods are safe for concurrent use.
type Endpoint struct {
	cfg      Config
	id       NodeID
	cert     tls.Certificate
	pconn    net.PacketConn
	canReach func(netip.Addr) bool
	tr       *quic.Transport
	ln       *quic.Listener
	qconf    *quic.Config

	// serverTLS is the config offered to the next incoming handshake; it
	// is rebuilt whenever a handler is registered.
	serverTLS atomic.Pointer[tls.Config]

	// ctx is cancelled by Close; dials run under it.
	ctx    context.Context
	cancel context.CancelFunc

	// wg holds every goroutine the endpoint starts. wg.Go is only called
	// with mu held and closed false, so Close's Wait cannot race an Add.
	wg sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	handlers map[string]Handler
	conns    map[connKey]*Conn    // dialled connections, shared by Dial
	dials    map[connKey]*dialRun // dials in progress
	accepted map[*Conn]struct{}   // connections held by handlers
	book     *addrBook            // peers' current addresses

	closeOnce sync.Once
	closeErr  error

	// testHookDialWaiting, when set, runs in Dial once the call has
	// started or joined a dial and is about to wait for it.
	testHookDialWaiting func()
}

type connKey struct {
	id   NodeID
	alpn string
}

// dialRun is one dial shared by every Dial call for its key that arrives
// while it runs. conn and err are written before done is closed.
type dialRun struct {
	addrs []netip.AddrPort // what it tries
	done  chan struct{}
	conn  *Conn
	err   error
}

// Open binds the endpoint's UDP socket (or takes cfg.PacketConn) and starts
// accepting connections. Register handlers with Handle; until then every
// incoming handshake is refused. ctx bounds only the socket setup.
func Open(ctx context.Context, cfg Config) (*Endpoint, error) {
	cfg = cfg.withDefaults()
	pconn := cfg.PacketConn
	canReach := func(netip.Addr) bool { return true }
	if pconn == nil {
		// "udp" on the IPv6 wildcard gives a dual-stack socket; reachableFrom
		// relies on these choices.
		network := "udp4"
		if ip := cfg.ListenAddr.Addr(); ip.Is6() && ip.IsUnspecified() {
			network = "udp"
		} else if ip.Is6() {
			network = "udp6"
		}
		var lc net.ListenConfig
		pc, err := lc.ListenPacket(ctx, network, cfg.ListenAddr.String())
		if err != nil {
			return nil, fmt.Errorf("endpoint: listen on %s: %w", cfg.ListenAddr, err)
		}
		pconn = pc
		canReach = reachableFrom(cfg.ListenAddr.Addr())
	}

	cert, err := newCertificate(cfg.SecretKey)
	if err != nil {
		pconn.Close()
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	e := &Endpoint{
		cfg:      cfg,
		id:       cfg.SecretKey.Public(),
		cert:     cert,
		pconn:    pconn,
		canReach: canReach,
		qconf: &quic.Config{
			// quic-go allows twice the idle timeout for the whole handshake.
			HandshakeIdleTimeout:  cfg.HandshakeTimeout / 2,
			MaxIdleTimeout:        cfg.MaxIdleTimeout,
			KeepAlivePeriod:       cfg.KeepAlivePeriod,
			MaxIncomingStreams:    int64(cfg.MaxIncomingStreams),
			MaxIncomingUniStreams: int64(cfg.MaxIncomingStreams),
			EnableDatagrams:       true,
		},
		handlers: make(map[string]Handler),
		conns:    make(map[connKey]*Conn),
		dials:    make(map[connKey]*dialRun),
		accepted: make(map[*Conn]struct{}),
		book:     newAddrBook(cfg.MaxKnownPeers, cfg.MaxAddrsPerPeer),
	}
	e.serverTLS.Store(serverTLSConfig(cert, []string{refuseAll}))

	// A reset key derived from the node's secret stays the same across
	// restarts, so peers of a restarted node learn at once that their old
	// connections are gone instead of waiting for the idle timeout.
	resetKey := quic.StatelessResetKey(sha256.Sum256(append([]byte("docsnode endpoint stateless reset\x00"), cfg.SecretKey.SecretSeed()...)))
	e.tr = &quic.Transport{Conn: pconn, StatelessResetKey: &resetKey}

	listenTLS := serverTLSConfig(cert, []string{refuseAll})
	listenTLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return e.serverTLS.Load(), nil
	}
	ln, err := e.tr.Listen(listenTLS, e.qconf)
	if err != nil {
		e.tr.Close()
		pconn.Close()
		return nil, fmt.Errorf("endpoint: listen: %w", err)
	}
	e.ln = ln
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.mu.Lock()
	e.wg.Go(e.acceptLoop)
	e.mu.Unlock()
	return e, nil
}

// reachableFrom says which peer addresses a socket bound to local can send
// to: an IPv4 socket only IPv4, an IPv6 wildcard socket both families
// (dual stack), and a socket bound to one IPv6 address only IPv6.
func reachableFrom(local netip.Addr) func(netip.Addr) bool {
	switch {
	case local.Is4():
		return netip.Addr.Is4
	case local.IsUnspecified():
		return func(netip.Addr) bool { return true }
	default:
		return netip.Addr.Is6
	}
}

// ID is this node's id.
func (e *Endpoint) ID() NodeID { return e.id }

// SecretKey is this node's secret key, for example to persist a key that
// Open generated.
func (e *Endpoint) SecretKey() SecretKey { return e.cfg.SecretKey }

// Addr is this node's id and the addresses peers may dial it on. A socket
// bound to a wildcard address lists the host's interface addresses of the
// matching families, non-loopback first, at most MaxAddrs of them.
func (e *Endpoint) Addr() NodeAddr {
	local := addrPortOf(e.pconn.LocalAddr())
	if !local.Addr().IsUnspecified() {
		return NodeAddr{ID: e.id, Addrs: []netip.AddrPort{local}}
	}
	return NodeAddr{ID: e.id, Addrs: interfaceAddrs(local, reachableFrom(local.Addr()))}
}

func interfaceAddrs(local netip.AddrPort, keep func(netip.Addr) bool) []netip.AddrPort {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	for _, a := range ifAddrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipNet.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		// Link-local IPv6 needs a zone, which a NodeAddr cannot carry.
		if !keep(ip) || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, local.Port()))
	}
	slices.SortStableFunc(out, func(a, b netip.AddrPort) int {
		return cmp.Compare(boolInt(a.Addr().IsLoopback()), boolInt(b.Addr().IsLoopback()))
	})
	if len(out) > MaxAddrs {
		out = out[:MaxAddrs]
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkALPN enforces what TLS can carry, and printable ASCII so that
// protocol names read well in logs.
func checkALPN(alpn string) error {
	if len(alpn) == 0 || len(alpn) > 255 {
		return fmt.Errorf("%w: got %d bytes", ErrBadALPN, len(alpn))
	}
	for i := range len(alpn) {
		if alpn[i] < 0x21 || alpn[i] > 0x7e {
			return fmt.Errorf("%w: %q has a byte that is not printable ASCII", ErrBadALPN, alpn)
		}
	}
	return nil
}

// Handle registers h for connections that negotiate protocol alpn. It may
// be called at any time after Open; handshakes that arrive before a
// protocol is registered are refused. A protocol can be registered once.
func (e *Endpoint) Handle(alpn string, h Handler) error {
	if err := checkALPN(alpn); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("endpoint: nil handler for %s", alpn)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, ok := e.handlers[alpn]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicateALPN, alpn)
	}
	e.handlers[alpn] = h
	e.serverTLS.Store(serverTLSConfig(e.cert, slices.Sorted(maps.Keys(e.handlers))))
	return nil
}

func (e *Endpoint) acceptLoop() {
	for {
		qc, err := e.ln.Accept(e.ctx)
		if err != nil {
			return // Close cancelled ctx or closed the listener
		}
		e.serve(qc)
	}
}

// serve hands an accepted connection to its handler, or refuses it.
func (e *Endpoint) serve(qc *quic.Conn) {
	state := qc.ConnectionState().TLS
	var raw [][]byte
	for _, c := range state.PeerCertificates {
		raw = append(raw, c.Raw)
	}
	remote, err := nodeIDFromCert(raw)
	if err != nil {
		// VerifyPeerCertificate already refused such handshakes.
		qc.CloseWithError(CodeNormal, "bad certificate")
		return
	}
	conn := newConn(e, qc, remote)
	// Refused or not, the handshake proved where the peer is now.
	e.seenAt(conn)

	code, reason := e.admit(conn)
	if reason != "" {
		conn.CloseWithError(code, reason)
	}
}

// admit starts conn's handler, or says why conn is refused.
func (e *Endpoint) admit(conn *Conn) (quic.ApplicationErrorCode, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.handlers[conn.alpn]
	switch {
	case e.closed:
		return CodeEndpointClosed, "endpoint closed"
	case h == nil:
		return CodeNoHandler, "no handler for " + conn.alpn
	case e.atLimitLocked():
		return CodeTooManyConns, "too many connections"
	}
	e.accepted[conn] = struct{}{}
	e.wg.Go(func() {
		defer func() {
			conn.CloseWithError(CodeNormal, "")
			e.mu.Lock()
			delete(e.accepted, conn)
			e.mu.Unlock()
		}()
		h.HandleConn(conn.qc.Context(), conn)
	})
	return 0, ""
}

func (e *Endpoint) connCountLocked() int {
	return len(e.conns) + len(e.accepted) + len(e.dials)
}

// atLimitLocked reports whether MaxConns is reached. At the limit it first
// drops cached connections that have closed but whose watcher has not yet
// removed them.
func (e *Endpoint) atLimitLocked() bool {
	if e.connCountLocked() < e.cfg.MaxConns {
		return false
	}
	maps.DeleteFunc(e.conns, func(_ connKey, c *Conn) bool { return !c.live() })
	return e.connCountLocked() >= e.cfg.MaxConns
}

// Dial returns a connection to the node addr.ID for protocol alpn, proving
// that the peer holds addr.ID's key.
//
// A live connection from an earlier Dial for the same node and protocol is
// returned as is; one that has closed is dropped and a new one is dialled.
// Dials for the same node and protocol that overlap share one handshake,
// which uses the addresses of the call that started it: the peer's
// addresses this endpoint knows (KnownAddr), freshest first, then
// addr.Addrs. The handshake tries them in order, starting the next when
// one fails or after Config.DialStagger, and keeps the first that
// succeeds; it is bounded by Config.HandshakeTimeout and runs on if ctx
// ends first (so a later Dial may find it cached).
//
// Errors wrap ErrNoAddrs when no address is known or given,
// ErrPeerIDMismatch when an address answered with another node's key,
// ErrProtocolRefused when the peer does not serve alpn, ErrTooManyConns,
// ErrClosed, or ctx's error.
func (e *Endpoint) Dial(ctx context.Context, addr NodeAddr, alpn string) (*Conn, error) {
	if err := checkALPN(alpn); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("endpoint: dial %s: %w", addr.ID.Short(), err)
	}
	if addr.ID == e.id {
		return nil, ErrDialSelf
	}

	key := connKey{id: addr.ID, alpn: alpn}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if c, ok := e.conns[key]; ok {
		if c.live() {
			e.mu.Unlock()
			return c, nil
		}
		delete(e.conns, key)
	}
	run, ok := e.dials[key]
	if !ok {
		addrs := e.book.lookup(addr.ID)
		for _, ap := range addr.Addrs {
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if checkDialable(ap) == nil && e.canReach(ap.Addr()) && !slices.Contains(addrs, ap) {
				addrs = append(addrs, ap)
			}
		}
		if len(addrs) == 0 {
			e.mu.Unlock()
			return nil, fmt.Errorf("%w (%s; this endpoint listens on %s)", ErrNoAddrs, addr, e.pconn.LocalAddr())
		}
		if e.atLimitLocked() {
			e.mu.Unlock()
			return nil, fmt.Errorf("endpoint: dial %s: %w", addr.ID.Short(), ErrTooManyConns)
		}
		run = &dialRun{addrs: addrs, done: make(chan struct{})}
		e.dials[key] = run
		e.wg.Go(func() { e.runDial(key, addrs, run) })
	}
	e.mu.Unlock()

	if e.testHookDialWaiting != nil {
		e.testHookDialWaiting()
	}
	select {
	case <-run.done:
		return run.conn, run.err
	case <-ctx.Done():
		return nil, fmt.Errorf("endpoint: dial %s: %w", addr.ID.Short(), ctx.Err())
	}
}

// LearnAddr records addresses that node a.ID stated it may be reached on,
// or that others stated for it, ahead of those known before: Dial tries
// them first. They are hints: a Dial still proves the peer's key, and
// addresses that cannot name a remote UDP socket, multicast and broadcast
// addresses, and those this endpoint's socket cannot send to are dropped.
// The endpoint learns by itself the address each authenticated connection
// comes from, which outranks what was stated before it.
func (e *Endpoint) LearnAddr(a NodeAddr) {
	if a.ID == e.id || a.ID.IsZero() {
		return
	}
	addrs := make([]netip.AddrPort, 0, min(len(a.Addrs), MaxAddrs))
	for _, ap := range a.Addrs {
		if ap, ok := usableAddr(ap, e.canReach); ok && len(addrs) < MaxAddrs {
			addrs = append(addrs, ap)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.book.learn(a.ID, addrs, false)
}

// KnownAddr returns the addresses this endpoint knows for node id,
// freshest first: where it last connected from or was reached, and what
// was learned through LearnAddr. ok is false when none is known.
func (e *Endpoint) KnownAddr(id NodeID) (addr NodeAddr, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	addrs := e.book.lookup(id)
	return NodeAddr{ID: id, Addrs: addrs}, len(addrs) > 0
}

// seenAt records where conn's peer connected from, and closes the
// connections to and from that peer whose remote port differs. A node
// listens and dials on one UDP socket, so all its connections come from
// one port: one from another port means the node restarted on a new
// port (or its NAT mapped it anew), and the old connections lead to a
// socket that is gone. Unclosed, they would stay cached, swallowing
// sends, until their idle timeout. Connections from the same port at
// another IP are left alone: a multi-homed peer reaches different nodes
// from different IPs.
func (e *Endpoint) seenAt(conn *Conn) {
	ap, ok := usableAddr(conn.RemoteAddr(), e.canReach)
	if !ok {
		return
	}
	moved := func(c *Conn) bool {
		return c.remoteID == conn.remoteID && c.RemoteAddr().Port() != ap.Port()
	}
	var stale []*Conn
	e.mu.Lock()
	defer e.mu.Unlock()
	e.book.learn(conn.remoteID, []netip.AddrPort{ap}, true)
	// A dial under way that does not try where the peer is now would hold
	// every Dial to it until the handshake times out: later Dials start
	// afresh from the book, and that run ends on its own.
	for key, run := range e.dials {
		if key.id == conn.remoteID && !slices.Contains(run.addrs, ap) {
			delete(e.dials, key)
		}
	}
	for key, c := range e.conns {
		if moved(c) {
			delete(e.conns, key)
			stale = append(stale, c)
		}
	}
	for c := range e.accepted {
		if moved(c) {
			stale = append(stale, c)
		}
	}
	if len(stale) > 0 && !e.closed {
		e.wg.Go(func() {
			for _, c := range stale {
				c.CloseWithError(CodePeerMoved, "the peer connected from another port")
			}
		})
	}
}

// Cached returns the live connection to node id for protocol alpn that an
// earlier Dial made, without dialling: for callers that must not wait for
// a handshake.
func (e *Endpoint) Cached(id NodeID, alpn string) (*Conn, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.conns[connKey{id: id, alpn: alpn}]
	if !ok || !c.live() {
		return nil, false
	}
	return c, true
}

// spawn runs f on a goroutine that Close waits for, unless the endpoint
// is closed.
func (e *Endpoint) spawn(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Go(f)
	return true
}

// runDial performs one shared dial and publishes its result.
func (e *Endpoint) runDial(key connKey, addrs []netip.AddrPort, run *dialRun) {
	qc, err := e.dialAddrs(e.ctx, key.id, addrs, key.alpn)

	e.mu.Lock()
	if e.dials[key] == run {
		delete(e.dials, key) // else seenAt detached it
	}
	switch {
	case e.closed:
		run.err = ErrClosed
	case err != nil:
		run.err = fmt.Errorf("endpoint: dial %s: %w", key.id.Short(), err)
	default:
		c := newConn(e, qc, key.id)
		if old, ok := e.conns[key]; !ok || !old.live() {
			e.conns[key] = c // a detached run does not replace a newer connection
		}
		run.conn = c
		if ap, ok := usableAddr(c.RemoteAddr(), e.canReach); ok {
			e.book.learn(key.id, []netip.AddrPort{ap}, true)
		}
		// Drop the connection from the cache as soon as it dies, so that
		// MaxConns counts only live connections.
		e.wg.Go(func() {
			select {
			case <-c.Done():
			case <-e.ctx.Done(): // Close closes c
			}
			e.mu.Lock()
			if e.conns[key] == c {
				delete(e.conns, key)
			}
			e.mu.Unlock()
		})
	}
	e.mu.Unlock()
	if run.err != nil && qc != nil {
		qc.CloseWithError(CodeEndpointClosed, "endpoint closed")
	}
	close(run.done)
}

// Close closes every connection, stops accepting, waits for every handler
// and dial to return, and closes the transport and the socket. It is safe
// to call more than once; every call returns the first call's result after
// the endpoint has fully shut down.
func (e *Endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		open := slices.Collect(maps.Values(e.conns))
		open = slices.AppendSeq(open, maps.Keys(e.accepted))
		e.mu.Unlock()

		e.cancel()
		errLn := e.ln.Close()
		// Tell peers, so they need not wait for an idle timeout.
		var closing sync.WaitGroup
		for _, c := range open {
			closing.Go(func() { c.CloseWithError(CodeEndpointClosed, "endpoint closed") })
		}
		closing.Wait()
		e.wg.Wait()

		errTr := e.tr.Close()
		errConn := e.pconn.Close()
		if errors.Is(errConn, net.ErrClosed) {
			errConn = nil
		}
		if err := errors.Join(errLn, errTr, errConn); err != nil {
			e.closeErr = fmt.Errorf("endpoint: close: %w", err)
		}
	})
	return e.closeErr
}

package endpoint

import (
	"net"
	"net/netip"
	"time"
)

// Config configures an Endpoint. A zero field takes the default listed on
// it, so Config{} is a working configuration with a fresh identity.
type Config struct {
	// SecretKey is the node's identity. Default: a fresh key, so the node
	// gets a new id on every start. Persist SecretKey.SecretSeed to keep an id.
	SecretKey SecretKey

	// ListenAddr is the local UDP address of the node's one socket, used
	// both to accept and to dial. Default: 0.0.0.0:0 (all IPv4 interfaces,
	// a port the system picks); TestConfig uses 127.0.0.1:0. [::]:0 opens
	// a dual-stack socket that reaches IPv4 and IPv6 peers. An IPv4 socket
	// cannot dial IPv6 addresses, so Dial skips them. Ignored when
	// PacketConn is set.
	ListenAddr netip.AddrPort

	// PacketConn, when set, is used instead of opening a UDP socket, for
	// example a simulated network in tests. Open takes ownership: Close
	// closes it, and so does a failed Open. Default: nil.
	PacketConn net.PacketConn

	// KeepAlivePeriod is how often an otherwise idle connection sends a
	// keep-alive, so that it survives MaxIdleTimeout and NAT timeouts.
	// Default: 5s.
	KeepAlivePeriod time.Duration

	// MaxIdleTimeout closes a connection that has received nothing for
	// this long; the peer's value applies if smaller. It is also how long
	// a vanished peer's connection lingers in the dial cache. Default: 30s.
	MaxIdleTimeout time.Duration

	// HandshakeTimeout bounds one Dial across all of the peer's addresses,
	// and each accepted handshake. Default: 10s.
	HandshakeTimeout time.Duration

	// MaxIncomingStreams is how many bidirectional streams, and separately
	// how many unidirectional streams, a peer may have open towards us on
	// one connection at a time. Default: 256.
	MaxIncomingStreams int

	// MaxConns bounds the live connections this endpoint holds, dialled
	// (cached) and accepted together, including dials in progress. Dial
	// beyond it fails with ErrTooManyConns; an incoming connection beyond
	// it is closed straight after the handshake. Default: 1024.
	MaxConns int

	// DialStagger is how long Dial waits on one address before it also
	// tries the next, while earlier attempts keep running; a failed
	// attempt starts the next at once. Default: 250ms.
	DialStagger time.Duration

	// MaxQueuedDatagrams bounds the datagrams one connection holds for
	// sending (Conn.SendDatagram), beyond the 32 quic-go itself queues.
	// They wait only while the peer is slow or unreachable; beyond the
	// bound SendDatagram fails with ErrDatagramQueueFull. Default: 128.
	MaxQueuedDatagrams int

	// MaxKnownPeers bounds the peers whose current addresses the endpoint
	// remembers (see Endpoint.KnownAddr); learning about one more forgets
	// the peer learned about least recently. Default: 4096.
	MaxKnownPeers int

	// MaxAddrsPerPeer bounds the addresses remembered for one peer,
	// freshest first; older ones are forgotten, except the address the
	// peer last connected from. Default: 16 (MaxAddrs, what one NodeAddr
	// holds).
	MaxAddrsPerPeer int
}

// Defaults, as documented on Config.
const (
	DefaultKeepAlivePeriod    = 5 * time.Second
	DefaultMaxIdleTimeout     = 30 * time.Second
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultMaxIncomingStreams = 256
	DefaultMaxConns           = 1024
	DefaultDialStagger        = 250 * time.Millisecond
	DefaultMaxQueuedDatagrams = 128
	DefaultMaxKnownPeers      = 4096
	DefaultMaxAddrsPerPeer    = MaxAddrs
)

// DefaultListenAddr is the default Config.ListenAddr.
var DefaultListenAddr = netip.MustParseAddrPort("0.0.0.0:0")

// DefaultConfig is the profile for real use: every default filled in and a
// fresh secret key left to Open. Set SecretKey to keep a stable node id.
func DefaultConfig() Config {
	return Config{
		ListenAddr:         DefaultListenAddr,
		KeepAlivePeriod:    DefaultKeepAlivePeriod,
		MaxIdleTimeout:     DefaultMaxIdleTimeout,
		HandshakeTimeout:   DefaultHandshakeTimeout,
		MaxIncomingStreams: DefaultMaxIncomingStreams,
		MaxConns:           DefaultMaxConns,
		DialStagger:        DefaultDialStagger,
		MaxQueuedDatagrams: DefaultMaxQueuedDatagrams,
		MaxKnownPeers:      DefaultMaxKnownPeers,
		MaxAddrsPerPeer:    DefaultMaxAddrsPerPeer,
	}
}

// TestConfig is the profile for tests: loopback only, a fresh key, and
// short timeouts so that a broken test fails in seconds rather than hangs.
func TestConfig() Config {
	c := DefaultConfig()
	c.SecretKey = GenerateSecretKey()
	c.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	c.KeepAlivePeriod = time.Second
	c.MaxIdleTimeout = 5 * time.Second
	c.HandshakeTimeout = 3 * time.Second
	c.MaxConns = 64
	c.DialStagger = 50 * time.Millisecond
	return c
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.SecretKey.IsZero() {
		c.SecretKey = GenerateSecretKey()
	}
	if !c.ListenAddr.IsValid() {
		c.ListenAddr = DefaultListenAddr
	}
	if c.KeepAlivePeriod <= 0 {
		c.KeepAlivePeriod = DefaultKeepAlivePeriod
	}
	if c.MaxIdleTimeout <= 0 {
		c.MaxIdleTimeout = DefaultMaxIdleTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxIncomingStreams <= 0 {
		c.MaxIncomingStreams = DefaultMaxIncomingStreams
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.DialStagger <= 0 {
		c.DialStagger = DefaultDialStagger
	}
	if c.MaxQueuedDatagrams <= 0 {
		c.MaxQueuedDatagrams = DefaultMaxQueuedDatagrams
	}
	if c.MaxKnownPeers <= 0 {
		c.MaxKnownPeers = DefaultMaxKnownPeers
	}
	if c.MaxAddrsPerPeer <= 0 {
		c.MaxAddrsPerPeer = DefaultMaxAddrsPerPeer
	}
	return c
}

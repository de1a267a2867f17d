package gossip

import (
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Config configures a Router and every swarm it opens. A zero field takes
// the default listed on it, so Config{} is DefaultConfig().
//
// The membership fields map to memberlist's Config of the same meaning;
// their defaults are memberlist.DefaultLANConfig's, except the three timers
// below, which are slower: a node runs one swarm per live document, so
// each timer costs once per document, and nothing fast depends on them (a
// Put is pushed to neighbours at once; a missed one is found by
// reconciliation). Fields memberlist has that are not listed here keep
// DefaultLANConfig's values, except these fixed overrides:
//
//   - GossipInterval is zero, which turns memberlist's gossip timer off:
//     the swarm runs its own rounds, only while it has something to
//     spread (see GossipInterval below).
//   - Name is the node id in hex, so that the transport's dial can check
//     the peer's identity.
//   - Transport is the node's QUIC endpoint (a QUIC datagram per small
//     packet, a QUIC stream per larger one); UDPBufferSize is PacketSize,
//     since a packet is not bound by a UDP datagram here.
//   - ProtocolVersion is memberlist.ProtocolVersionMax: every member runs
//     this package, so there are no old peers to stay compatible with.
//   - EnableCompression is off: ops are mostly hashes and signatures, which
//     do not compress, and loopback or LAN bandwidth is not the limit.
//   - GossipToTheDeadTime is PushPullInterval, as memberlist's profiles do.
//   - DeadNodeReclaimTime is 1ns: a member declared dead (or left) that
//     comes back at another address, as a node restarted on a new port
//     does, is taken back at once, where memberlist's default refuses it
//     as a conflict until it has forgotten the dead member. A member's
//     name is its node id and every dial proves it, so a node cannot take
//     over another's name by claiming an address.
//   - Delegate, Events and Alive are the swarm's own, and Logger is Logger.
type Config struct {
	// GossipInterval is how often the swarm gossips while it has
	// something to spread: queued ops, which go to GossipNodes random
	// members each round until each has been sent its number of times
	// (RetransmitMult), and a membership change, after which the rounds
	// ping GossipNodes members to carry memberlist's queued alive or dead
	// message. No timer runs while there is nothing to spread; memberlist's
	// own gossip timer is off. Ops are pushed to neighbours at once; the
	// rounds are the backstop. Default: 1s (memberlist's LAN profile:
	// 200ms).
	GossipInterval time.Duration

	// GossipNodes is how many random members each gossip round reaches.
	// Default: 3.
	GossipNodes int

	// ProbeInterval is how often memberlist probes one random member for
	// failure detection. A crashed member is reported (NeighborDown) once
	// a probe of it fails and SuspicionMult × ProbeInterval have passed
	// without a refutation, longer in swarms of 10 or more, where the
	// wait starts at 6 times that and shortens as other members confirm.
	// A member that leaves (Leave) is reported at once, whatever the
	// interval. Every live document probes on its own, and one probe (a
	// ping and an ack, each a QUIC datagram) costs about 0.25 ms of CPU on
	// a 2-core machine: a node with 100 documents shared by 3 nodes spent
	// 1.5% of a core on probes at 5s. Default: 10s, so a crash is reported
	// after about a minute in a small swarm (memberlist's LAN profile:
	// 1s).
	ProbeInterval time.Duration

	// ProbeTimeout is how long a probe waits for an ack before it tries
	// indirect probes. Default: 500ms.
	ProbeTimeout time.Duration

	// SuspicionMult scales how long a suspected member has to refute
	// before it is declared dead (and NeighborDown sent). Default: 4.
	SuspicionMult int

	// RetransmitMult scales how many times a broadcast is gossiped:
	// RetransmitMult × ceil(log10(members+1)). Default: 4.
	RetransmitMult int

	// PushPullInterval is how often a member exchanges its full
	// membership state with another (anti-entropy for membership). It is
	// also how long dead members are still gossiped to, and how often lost
	// members are joined again. Default: 60s (memberlist's LAN profile:
	// 30s).
	PushPullInterval time.Duration

	// StreamTimeout bounds one memberlist stream: a join, a push/pull or a
	// fallback ping (memberlist's TCPTimeout). Default: 10s.
	StreamTimeout time.Duration

	// PacketSize is memberlist's packet budget (its UDPBufferSize): the
	// largest packet it builds, and so the largest op that can be gossiped.
	// An op over the budget (minus memberlist's framing, see MaxOpSize) is
	// not sent and is counted in Stats.OpsTooLarge. Received packets over
	// PacketSize are dropped. Default: 64 KiB, which fits a Put with the
	// largest key replica allows and a sync report of MaxReportAuthors.
	PacketSize int

	// MaxDatagramPacket is the largest memberlist packet sent in a QUIC
	// datagram; larger packets go on a QUIC stream of their own, as do
	// packets to a peer without datagram support. A datagram costs one
	// QUIC packet and no stream set-up, which is most of the cost of the
	// probes and acks every swarm exchanges while the node is idle. At
	// most endpoint.MaxDatagramSize minus the 33-byte stream header.
	// Default: that maximum, 1130 bytes; a negative value sends every
	// packet on a stream.
	MaxDatagramPacket int

	// PacketTimeout bounds sending one packet, dial included, and on the
	// receiving side reading an incoming stream's header, and a packet
	// stream whole: a stream that sends less by then is reset. Default: 5s.
	PacketTimeout time.Duration

	// MaxStreamsPerPeer bounds the incoming gossip streams handled at once
	// for one peer (node id), over all its connections, from their arrival
	// until their header is read and the stream handed to its swarm (a
	// packet read whole, a memberlist stream taken by memberlist). More
	// are reset at once and counted in Stats.StreamsRefused. A swarm opens
	// a stream only for a packet too large for a datagram and for
	// memberlist's joins and push/pulls, a few at a time per document;
	// a refused packet is lost as a UDP one would be. Default: 128.
	MaxStreamsPerPeer int

	// MaxPacketsInFlight bounds the packets one swarm is sending at once,
	// each on its own goroutine; packets beyond it are dropped, as UDP
	// would, and counted in Stats.PacketsDropped. Default: 256.
	MaxPacketsInFlight int

	// MaxStreamBytes bounds what one memberlist stream may read from a
	// peer. A push/pull holds about 400 bytes per member. Default: 8 MiB.
	MaxStreamBytes int64

	// EagerFanout is how many neighbours a published op is pushed to
	// directly, chosen at random when there are more. Receivers relay ops
	// through memberlist's broadcast queue only when the swarm has more
	// neighbours than this, as then the origin could not reach everyone
	// directly. Default: 32.
	EagerFanout int

	// QueueAllOps queues every published op for the gossip rounds. By
	// default an op the eager push sent to every member is not queued: a
	// push is then lost only with its QUIC datagram, which the live
	// layer's catch-up sessions repair (live.Config.CatchUpDelay), at
	// a fraction of the cost of sending every op to GossipNodes members
	// RetransmitMult times more. Ops that some member was not sent, and
	// those published while the swarm has no member, are always queued.
	QueueAllOps bool

	// MaxQueuedBroadcasts bounds the ops held in a swarm's broadcast
	// queue for retransmission; beyond it the most retransmitted are
	// dropped and counted in Stats.BroadcastsPruned. Default: 4096.
	MaxQueuedBroadcasts int

	// SeenCacheSize is how many recently received ops a swarm remembers
	// to drop duplicates. Default: 4096.
	SeenCacheSize int

	// InlineContent is the largest content a Put carries along with its
	// entry (Swarm.PutContent) when pushed to neighbours, so that they
	// need not fetch it. The gossip queue never holds content, so this
	// adds nothing to its memory. Default: 4 KiB; a negative value sends
	// entries alone.
	InlineContent int

	// InboxSize bounds received ops waiting for the swarm's goroutine;
	// beyond it they are dropped and counted in Stats.InboxDropped.
	// Default: 1024.
	InboxSize int

	// EventBuffer is the capacity of a swarm's Events channel. Events that
	// find it full are dropped and counted, and the consumer gets a Lagged
	// event once there is room. Default: 1024.
	EventBuffer int

	// PeerOpRate and PeerOpBurst are the budget of ops each sending node
	// gets, in ops per second and ops at once: a token bucket per node id
	// that handed this node the op, proved by its QUIC connection, not the
	// origin the op claims. The node's swarms share it. A new op (not in
	// the seen window) over the budget is dropped before it is decoded or
	// its signatures checked, and counted in Stats.OpsPeerLimited;
	// duplicates, which cost one hash, take no token. An honest member
	// sends about one new op per write of its own (and relays others' in
	// swarms larger than EagerFanout). Defaults: 5000 ops/s and 20000.
	PeerOpRate, PeerOpBurst int

	// NodeOpRate and NodeOpBurst are the budget of ops all senders share,
	// checked after a sender's own: it bounds what many senders together
	// cost. Ops over it are counted in Stats.OpsNodeLimited. Defaults:
	// 10000 ops/s and 40000, about a third of a core of signature checks.
	NodeOpRate, NodeOpBurst int

	// InvalidOpCost is the tokens an op that fails to decode, validate or
	// verify takes from its sender's budget on top of the one it took on
	// arrival, so that a sender of forged ops soon has its new ops
	// dropped unchecked: with the defaults, a sender of nothing but
	// invalid ops gets PeerOpRate/InvalidOpCost (50) checked a second once
	// its burst is spent. A budget may go into debt down to -PeerOpBurst.
	// An honest sender never sends an invalid op. Default: 100.
	InvalidOpCost int

	// MaxRateLimitedPeers bounds the senders whose budget the node
	// tracks; beyond it the least recently seen one is forgotten, and
	// starts again with a full bucket if it comes back. Default 4096.
	MaxRateLimitedPeers int

	// MaxMembers bounds the other members a swarm admits. memberlist's
	// alive messages are not signed: any member can gossip one for a
	// made-up node id, which stays a member until probes find it dead.
	// An alive message for a node that is not a member while MaxMembers
	// are is refused and counted in Stats.MembersRefused; the node can
	// join once a member has gone. Default 1024.
	MaxMembers int

	// Limits are the rules a received Put's entry must pass
	// (replica.Limits.ValidateRemote). Zero fields take replica's defaults.
	Limits replica.Limits
	// Now is the clock a received Put's timestamp is checked against
	// (Limits.MaxFutureShift). Default time.Now.
	Now func() time.Time

	// Logger receives memberlist's log lines at debug level. Default: none.
	Logger *slog.Logger
}

// Defaults, as documented on Config.
const (
	DefaultPacketSize          = 64 << 10
	DefaultMaxDatagramPacket   = endpoint.MaxDatagramSize - headerLen
	DefaultPacketTimeout       = 5 * time.Second
	DefaultMaxPacketsInFlight  = 256
	DefaultMaxStreamsPerPeer   = 128
	DefaultMaxStreamBytes      = 8 << 20
	DefaultEagerFanout         = 32
	DefaultMaxQueuedBroadcasts = 4096
	DefaultSeenCacheSize       = 4096
	DefaultInlineContent       = 4 << 10
	DefaultInboxSize           = 1024
	DefaultEventBuffer         = 1024
	DefaultGossipInterval      = time.Second
	DefaultProbeInterval       = 10 * time.Second
	DefaultPushPullInterval    = 60 * time.Second
	DefaultPeerOpRate          = 5000
	DefaultPeerOpBurst         = 20000
	DefaultNodeOpRate          = 10000
	DefaultNodeOpBurst         = 40000
	DefaultInvalidOpCost       = 100
	DefaultMaxRateLimitedPeers = 4096
	DefaultMaxMembers          = 1024
)

// DefaultConfig is the profile for real use: memberlist's LAN timings with
// slower gossip, probe and push/pull timers (see Config).
func DefaultConfig() Config {
	lan := memberlist.DefaultLANConfig()
	return Config{
		GossipInterval:      DefaultGossipInterval,
		GossipNodes:         lan.GossipNodes,
		ProbeInterval:       DefaultProbeInterval,
		ProbeTimeout:        lan.ProbeTimeout,
		SuspicionMult:       lan.SuspicionMult,
		RetransmitMult:      lan.RetransmitMult,
		PushPullInterval:    DefaultPushPullInterval,
		StreamTimeout:       lan.TCPTimeout,
		PacketSize:          DefaultPacketSize,
		MaxDatagramPacket:   DefaultMaxDatagramPacket,
		PacketTimeout:       DefaultPacketTimeout,
		MaxPacketsInFlight:  DefaultMaxPacketsInFlight,
		MaxStreamsPerPeer:   DefaultMaxStreamsPerPeer,
		MaxStreamBytes:      DefaultMaxStreamBytes,
		EagerFanout:         DefaultEagerFanout,
		MaxQueuedBroadcasts: DefaultMaxQueuedBroadcasts,
		SeenCacheSize:       DefaultSeenCacheSize,
		InlineContent:       DefaultInlineContent,
		InboxSize:           DefaultInboxSize,
		EventBuffer:         DefaultEventBuffer,
		PeerOpRate:          DefaultPeerOpRate,
		PeerOpBurst:         DefaultPeerOpBurst,
		NodeOpRate:          DefaultNodeOpRate,
		NodeOpBurst:         DefaultNodeOpBurst,
		InvalidOpCost:       DefaultInvalidOpCost,
		MaxRateLimitedPeers: DefaultMaxRateLimitedPeers,
		MaxMembers:          DefaultMaxMembers,
		Limits:              replica.DefaultLimits(),
	}
}

// TestConfig is the profile for tests on loopback: gossip every 20ms,
// probes every 200ms, push/pull every 2s and short timeouts, so that
// membership settles in a fraction of a second and a broken test fails in
// seconds. Probe timeouts stay well above loopback round trips, so that a
// busy machine running tests with -race does not see false failures.
func TestConfig() Config {
	c := DefaultConfig()
	c.GossipInterval = 20 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.StreamTimeout = 2 * time.Second
	c.PacketTimeout = 2 * time.Second
	return c
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.GossipInterval, d.GossipInterval)
	setDefault(&c.GossipNodes, d.GossipNodes)
	setDefault(&c.ProbeInterval, d.ProbeInterval)
	setDefault(&c.ProbeTimeout, d.ProbeTimeout)
	setDefault(&c.SuspicionMult, d.SuspicionMult)
	setDefault(&c.RetransmitMult, d.RetransmitMult)
	setDefault(&c.PushPullInterval, d.PushPullInterval)
	setDefault(&c.StreamTimeout, d.StreamTimeout)
	setDefault(&c.PacketSize, d.PacketSize)
	if c.MaxDatagramPacket == 0 {
		c.MaxDatagramPacket = d.MaxDatagramPacket
	}
	c.MaxDatagramPacket = min(c.MaxDatagramPacket, d.MaxDatagramPacket)
	setDefault(&c.PacketTimeout, d.PacketTimeout)
	setDefault(&c.MaxPacketsInFlight, d.MaxPacketsInFlight)
	setDefault(&c.MaxStreamsPerPeer, d.MaxStreamsPerPeer)
	setDefault(&c.MaxStreamBytes, d.MaxStreamBytes)
	setDefault(&c.EagerFanout, d.EagerFanout)
	setDefault(&c.MaxQueuedBroadcasts, d.MaxQueuedBroadcasts)
	setDefault(&c.SeenCacheSize, d.SeenCacheSize)
	if c.InlineContent == 0 {
		c.InlineContent = d.InlineContent
	}
	setDefault(&c.InboxSize, d.InboxSize)
	setDefault(&c.EventBuffer, d.EventBuffer)
	setDefault(&c.PeerOpRate, d.PeerOpRate)
	setDefault(&c.PeerOpBurst, d.PeerOpBurst)
	setDefault(&c.NodeOpRate, d.NodeOpRate)
	setDefault(&c.NodeOpBurst, d.NodeOpBurst)
	setDefault(&c.InvalidOpCost, d.InvalidOpCost)
	setDefault(&c.MaxRateLimitedPeers, d.MaxRateLimitedPeers)
	setDefault(&c.MaxMembers, d.MaxMembers)
	setDefault(&c.Limits.MaxKeyLen, d.Limits.MaxKeyLen)
	setDefault(&c.Limits.MaxFutureShift, d.Limits.MaxFutureShift)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// memberlist's framing around one user message in a gossip packet: the
// compound header, the per-message length and the user-message type byte
// (compoundHeaderOverhead, compoundOverhead and userMsgOverhead in its
// net.go; no label is configured).
const memberlistOpOverhead = 2 + 2 + 1

// MaxOpSize is the largest encoded op that memberlist can gossip under
// this configuration. Larger ops are counted in Stats.OpsTooLarge.
func (c Config) MaxOpSize() int {
	if c.PacketSize <= 0 {
		c.PacketSize = DefaultConfig().PacketSize
	}
	return c.PacketSize - memberlistOpOverhead
}

// memberlistConfig builds the memberlist configuration of one swarm; the
// caller sets Transport and the delegates.
func (c Config) memberlistConfig(name string) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = name
	mc.ProtocolVersion = memberlist.ProtocolVersionMax
	// The swarm's gossipLoop gossips, only while something is queued.
	mc.GossipInterval = 0
	mc.GossipNodes = c.GossipNodes
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval = c.PushPullInterval
	mc.GossipToTheDeadTime = c.PushPullInterval
	mc.DeadNodeReclaimTime = time.Nanosecond
	mc.TCPTimeout = c.StreamTimeout
	mc.UDPBufferSize = c.PacketSize
	mc.EnableCompression = false
	if c.Logger != nil {
		mc.Logger = slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug)
	} else {
		mc.Logger = log.New(io.Discard, "", 0)
	}
	return mc
}

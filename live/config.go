package live

import (
	"fmt"
	"time"

	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// SessionConfig bounds a sync session. A zero field takes the default listed on
// it (DefaultConfig), so SessionConfig{} works. Every limit applies to what the
// peer sends; a session that breaks one ends with an error, an
// Abort(Protocol) frame to the peer when the stream still works, and
// nothing invalid stored.
type SessionConfig struct {
	// MaxFrameSize is the largest frame (type and body) this side accepts
	// and the largest it writes; the reconciliation messages are bounded
	// by it too. Peers must use the same value, or the sender a smaller
	// one. Default 256 KiB; at least 16 KiB.
	MaxFrameSize int

	// Limits are the entry rules: key length (also enforced while
	// decoding) and clock skew. Default: the store's limits
	// (actor.Actor.Limits).
	Limits replica.Limits

	// SessionTimeout bounds a whole session. Default 5 minutes, which a
	// bootstrap of several million entries can exceed: raise it for those.
	SessionTimeout time.Duration

	// IdleTimeout ends a session in which no frame was read or written for
	// about this long (between one and two times it): a peer that stopped
	// reading, or stopped sending. Default 30 s.
	IdleTimeout time.Duration

	// MaxRounds, RoundsPerDoubling and BytesPerItemFactor bound what a
	// session costs by the size of the sets it has seen: this side's set,
	// the ids the peer listed during reconciliation, and the entries it
	// sent. With n items seen, l of them this side's, and an item's size
	// taken as the largest entry under Limits.MaxKeyLen plus its id
	// (about 4.4 KiB with 4 KiB keys),
	//
	//	rounds         ≤ MaxRounds + RoundsPerDoubling × log2(n+1) + 2 × ⌈32·l / MaxFrameSize⌉
	//	bytes received ≤ 16 × MaxFrameSize + BytesPerItemFactor × n × item size
	//
	// A session over the first ends with ErrTooManyRounds, over the
	// second with ErrTooManyBytes (and Abort(Protocol) to the peer).
	// Reconciliation takes about log16(n) rounds, plus one per frame of
	// ids when the sets differ much; the last term pays for the frames of
	// this side's ids, the logarithm for the peer's, which it could
	// inflate. Defaults 64, 8 and 2: a bootstrap of up to about 1.5
	// million entries into an empty set fits; raise MaxRounds for larger
	// ones.
	MaxRounds          int
	RoundsPerDoubling  int
	BytesPerItemFactor int

	// MaxBytes bounds the bytes a session reads and writes together.
	// Default 1 GiB: about 3 million entries of 16-byte keys. Raise it for
	// larger documents.
	MaxBytes int64

	// MaxEntriesPerFrame is the most entries one Entries frame may carry
	// (frames are also bounded by MaxFrameSize). Default 1024.
	MaxEntriesPerFrame int

	// MaxIDsPerWant is the most ids one Want frame may carry. Default 4096.
	MaxIDsPerWant int

	// InsertBatch is how many received entries go to the store in one
	// request. Default 2048.
	InsertBatch int

	// HostileFraction and HostileMinRefused decide when a peer is hostile:
	// once at least HostileMinRefused of its entries were refused (bad
	// signature, other namespace, timestamp too far ahead, bad shape) and
	// they are more than HostileFraction of all it sent, the session ends
	// with ErrHostile. Refused entries are never stored either way.
	// Defaults 0.5 and 32.
	HostileFraction   float64
	HostileMinRefused int

	// MaxSessions bounds the sessions a Server runs at once, and twice it
	// the streams it handles at once (sessions and streams still waiting
	// for Init); beyond them a newcomer preempts the stalest slot of the
	// peer holding the most, when that is fair, or is refused with
	// Abort(Busy) (see Server). Default 64.
	MaxSessions int

	// MaxSessionsPerPeer bounds the sessions a Server runs at once for
	// one peer (node id), and MaxStreamsPerPeer the streams it handles
	// for one peer; more are refused with Abort(Busy). A node syncs one
	// session per document with a peer, so a peer sharing many documents
	// with this node waits its turn beyond them. Defaults 8 and 16.
	MaxSessionsPerPeer int
	MaxStreamsPerPeer  int

	// InitTimeout is how long a Server waits for a new stream's Init; a
	// stream without one by then is reset and its slot freed. Default 5 s.
	InitTimeout time.Duration

	// Now is the clock that timestamps are checked against. Default time.Now.
	Now func() time.Time

	// Progress, when set, hears how a session is getting on, on the
	// session's goroutine, at most every ProgressInterval and once more at
	// its end: the Outcome so far, whose Wanted (the entries this side has
	// asked the peer for, which grows while reconciliation runs) and
	// Received say how far the transfer is. It must not block.
	Progress func(Outcome)
	// ProgressInterval is the least time between two Progress calls.
	// Default 100ms.
	ProgressInterval time.Duration
}

// Defaults, as documented on Config.
const (
	DefaultMaxFrameSize       = 256 << 10
	DefaultSessionTimeout     = 5 * time.Minute
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxRounds          = 64
	DefaultRoundsPerDoubling  = 8
	DefaultBytesPerItemFactor = 2
	DefaultMaxBytes           = 1 << 30
	DefaultMaxEntriesPerFrame = 1024
	DefaultMaxIDsPerWant      = 4096
	DefaultInsertBatch        = 2048
	DefaultHostileFraction    = 0.5
	DefaultHostileMinRefused  = 32
	DefaultMaxSessions        = 64
	DefaultMaxSessionsPerPeer = 8
	DefaultMaxStreamsPerPeer  = 16
	DefaultInitTimeout        = 5 * time.Second

	// MinFrameSize is the smallest MaxFrameSize: room for the largest
	// entry under the default key limit and for a reconciliation message.
	MinFrameSize = 16 << 10
)

// pipelineDepth is how many received Entries frames may wait for
// verification and insertion before this side stops reading.
const pipelineDepth = 4

// maxQueuedWants is how many Want frames an acceptor holds unanswered
// before it stops reading.
const maxQueuedWants = 4

// DefaultSessionConfig is the profile for real use, every default filled in.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		MaxFrameSize:       DefaultMaxFrameSize,
		SessionTimeout:     DefaultSessionTimeout,
		IdleTimeout:        DefaultIdleTimeout,
		MaxRounds:          DefaultMaxRounds,
		RoundsPerDoubling:  DefaultRoundsPerDoubling,
		BytesPerItemFactor: DefaultBytesPerItemFactor,
		MaxBytes:           DefaultMaxBytes,
		MaxEntriesPerFrame: DefaultMaxEntriesPerFrame,
		MaxIDsPerWant:      DefaultMaxIDsPerWant,
		InsertBatch:        DefaultInsertBatch,
		HostileFraction:    DefaultHostileFraction,
		HostileMinRefused:  DefaultHostileMinRefused,
		MaxSessions:        DefaultMaxSessions,
		MaxSessionsPerPeer: DefaultMaxSessionsPerPeer,
		MaxStreamsPerPeer:  DefaultMaxStreamsPerPeer,
		InitTimeout:        DefaultInitTimeout,
	}
}

// TestSessionConfig is the profile for tests: small frames and batches, so that
// small documents already take several frames and rounds, and short
// timeouts, so that a broken test fails in seconds.
func TestSessionConfig() SessionConfig {
	c := DefaultSessionConfig()
	c.MaxFrameSize = MinFrameSize
	c.SessionTimeout = 20 * time.Second
	c.IdleTimeout = 2 * time.Second
	c.MaxEntriesPerFrame = 16
	c.MaxIDsPerWant = 32
	c.InsertBatch = 24
	c.HostileMinRefused = 8
	c.MaxSessions = 8
	return c
}

// withDefaults fills zero fields; limits are the store's unless set.
func (c SessionConfig) withDefaults(storeLimits replica.Limits) SessionConfig {
	d := DefaultSessionConfig()
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.Limits == (replica.Limits{}) {
		c.Limits = storeLimits
	}
	d2 := replica.DefaultLimits()
	if c.Limits.MaxKeyLen <= 0 {
		c.Limits.MaxKeyLen = d2.MaxKeyLen
	}
	if c.Limits.MaxFutureShift <= 0 {
		c.Limits.MaxFutureShift = d2.MaxFutureShift
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = d.SessionTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxRounds <= 0 {
		c.MaxRounds = d.MaxRounds
	}
	if c.RoundsPerDoubling <= 0 {
		c.RoundsPerDoubling = d.RoundsPerDoubling
	}
	if c.BytesPerItemFactor <= 0 {
		c.BytesPerItemFactor = d.BytesPerItemFactor
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxEntriesPerFrame <= 0 {
		c.MaxEntriesPerFrame = d.MaxEntriesPerFrame
	}
	if c.MaxIDsPerWant <= 0 {
		c.MaxIDsPerWant = d.MaxIDsPerWant
	}
	if c.InsertBatch <= 0 {
		c.InsertBatch = d.InsertBatch
	}
	if c.HostileFraction <= 0 {
		c.HostileFraction = d.HostileFraction
	}
	if c.HostileMinRefused <= 0 {
		c.HostileMinRefused = d.HostileMinRefused
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = d.MaxSessions
	}
	if c.MaxSessionsPerPeer <= 0 {
		c.MaxSessionsPerPeer = d.MaxSessionsPerPeer
	}
	if c.MaxStreamsPerPeer <= 0 {
		c.MaxStreamsPerPeer = d.MaxStreamsPerPeer
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = d.InitTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 100 * time.Millisecond
	}
	return c
}

// maxEntryLen is the largest encoded entry with a key of keyLen bytes.
func maxEntryLen(keyLen int) int {
	return 32 + 32 + 10 + keyLen + 10 + 32 + 10 + 64 + 64
}

// frameOverhead is the most a frame adds around its payload: the length
// varint, the type, an entry or id count, and Init's version and namespace.
const frameOverhead = 10 + 1 + 10 + 33

// validate reports a Config (with defaults filled) that cannot work.
func (c SessionConfig) validate() error {
	switch {
	case c.MaxFrameSize < MinFrameSize:
		return fmt.Errorf("%w: MaxFrameSize is %d, want at least %d", ErrConfig, c.MaxFrameSize, MinFrameSize)
	case maxEntryLen(c.Limits.MaxKeyLen)+frameOverhead > c.MaxFrameSize:
		return fmt.Errorf("%w: MaxFrameSize %d cannot hold an entry with a key of Limits.MaxKeyLen (%d) bytes",
			ErrConfig, c.MaxFrameSize, c.Limits.MaxKeyLen)
	case 32*c.MaxIDsPerWant+frameOverhead > c.MaxFrameSize:
		return fmt.Errorf("%w: MaxIDsPerWant %d does not fit in MaxFrameSize %d (at most %d)",
			ErrConfig, c.MaxIDsPerWant, c.MaxFrameSize, (c.MaxFrameSize-frameOverhead)/32)
	case c.HostileFraction > 1:
		return fmt.Errorf("%w: HostileFraction is %v, want 0 to 1", ErrConfig, c.HostileFraction)
	}
	return nil
}

// reconConfig is the reconciliation configuration: its messages plus
// Init's header fit in one frame.
func (c SessionConfig) reconConfig() recon.Config {
	rc := recon.DefaultConfig()
	rc.MaxFrameSize = c.MaxFrameSize - frameOverhead
	return rc
}

package gossip

import (
	"container/list"
	"sync"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

// limitResult is what the rate limiter decided for one received op.
type limitResult uint8

const (
	allowed     limitResult = iota
	peerLimited             // the sender's budget is spent
	nodeLimited             // the budget all senders share is spent
)

// tokenBucket holds up to burst tokens and gains rate tokens a second.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// refill brings b's tokens up to now.
func (b *tokenBucket) refill(now time.Time, rate, burst float64) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*rate)
	}
	b.last = now
}

// rateLimiter is a router's budget for received ops: a token bucket per
// sending node (Config.PeerOpRate, PeerOpBurst), for at most
// MaxRateLimitedPeers senders, least recently seen forgotten first, and
// one bucket all senders share (NodeOpRate, NodeOpBurst). An op takes a
// token from both or from neither. Its methods are safe for concurrent
// use; each takes one short lock and allocates only for a new sender.
type rateLimiter struct {
	peerRate, peerBurst float64
	nodeRate, nodeBurst float64
	maxPeers            int

	mu    sync.Mutex
	node  tokenBucket
	peers map[endpoint.NodeID]*list.Element // of *peerBucket
	lru   list.List                         // front: most recently seen
}

type peerBucket struct {
	id endpoint.NodeID
	tokenBucket
}

func newRateLimiter(cfg Config) *rateLimiter {
	return &rateLimiter{
		peerRate: float64(cfg.PeerOpRate), peerBurst: float64(cfg.PeerOpBurst),
		nodeRate: float64(cfg.NodeOpRate), nodeBurst: float64(cfg.NodeOpBurst),
		maxPeers: cfg.MaxRateLimitedPeers,
		node:     tokenBucket{tokens: float64(cfg.NodeOpBurst)},
		peers:    make(map[endpoint.NodeID]*list.Element),
	}
}

// allow takes a token for one op from sender at local time now.
func (l *rateLimiter) allow(sender endpoint.NodeID, now time.Time) limitResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *peerBucket
	if el, ok := l.peers[sender]; ok {
		l.lru.MoveToFront(el)
		b = el.Value.(*peerBucket)
		b.refill(now, l.peerRate, l.peerBurst)
	} else {
		if len(l.peers) >= l.maxPeers {
			oldest := l.lru.Back()
			delete(l.peers, oldest.Value.(*peerBucket).id)
			l.lru.Remove(oldest)
		}
		b = &peerBucket{id: sender, tokenBucket: tokenBucket{tokens: l.peerBurst, last: now}}
		l.peers[sender] = l.lru.PushFront(b)
	}
	if b.tokens < 1 {
		return peerLimited
	}
	l.node.refill(now, l.nodeRate, l.nodeBurst)
	if l.node.tokens < 1 {
		return nodeLimited
	}
	b.tokens--
	l.node.tokens--
	return allowed
}

// tracked is how many senders' buckets the limiter holds.
func (l *rateLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}

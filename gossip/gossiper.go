package gossip

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip rounds. memberlist's own gossip timer is off (its GossipInterval
// is zero): it would fire every interval in every swarm, queue or no
// queue, and a node runs one swarm per live document, so an idle node
// would wake hundreds of times a second for nothing. Instead each swarm's
// gossipLoop runs a round every GossipInterval only while there is
// something to spread, and sleeps without a timer otherwise:
//
//   - Ops in the swarm's broadcast queue (queuing one wakes the loop). A
//     round sends each of up to GossipNodes random members the ops that
//     fit in PacketSize, packed as memberlist user messages into as few
//     packets as fit in a datagram (MaxDatagramPacket), until every op
//     has been sent its RetransmitMult-scaled number of times.
//   - A membership change: a member joined, changed or left, this node's
//     Leave included. memberlist then holds an alive or dead message in
//     its own queue, which the swarm cannot see or send. The loop runs
//     membershipRounds rounds, enough to send it that many times, in
//     which it pings (memberlist.Ping) the chosen members: memberlist
//     piggybacks its queued messages on every ping and ack, as it does on
//     its probes.
//
// Other membership messages (suspicions and their refutations) come with
// no event the swarm sees; they travel on probes, one every ProbeInterval
// per member, and on the acks to them.

// opQueue is the swarm's broadcast queue; queuing an op wakes the gossip
// loop.
type opQueue struct {
	memberlist.TransmitLimitedQueue
	queued chan struct{} // 1-buffered: a wake-up is pending
}

func newOpQueue(numNodes func() int, retransmitMult int) *opQueue {
	q := &opQueue{queued: make(chan struct{}, 1)}
	q.NumNodes = numNodes
	q.RetransmitMult = retransmitMult
	return q
}

// QueueBroadcast queues b and wakes the gossip loop.
func (q *opQueue) QueueBroadcast(b memberlist.Broadcast) {
	q.TransmitLimitedQueue.QueueBroadcast(b)
	select {
	case q.queued <- struct{}{}:
	default:
	}
}

// signalMembership wakes the gossip loop for membership rounds.
func (s *Swarm) signalMembership() {
	select {
	case s.membershipChanged <- struct{}{}:
	default:
	}
}

// gossipLoop runs a gossip round every GossipInterval while the queue
// holds ops or membership rounds are due, the first at once after a
// membership change, and no timer while there is nothing to send. At most
// one round's pings are under way at a time, and the loop returns once
// they have returned (each within ProbeTimeout).
func (s *Swarm) gossipLoop() {
	var (
		timer       = time.NewTimer(time.Hour)
		timerC      <-chan time.Time // nil while no round is due
		membership  int              // membership rounds left
		pings       sync.WaitGroup
		interval    = s.cfg.GossipInterval
		wakeOnQueue = s.queue.queued
	)
	timer.Stop()
	defer pings.Wait()
	defer timer.Stop()
	arm := func(after time.Duration) {
		if timerC == nil {
			timer.Reset(after)
			timerC = timer.C
			s.gossipArmed.Store(true)
		}
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-wakeOnQueue:
			// Published ops were pushed already; the queue is the
			// backstop, so its first round can wait.
			arm(interval)
		case <-s.membershipChanged:
			// Nothing else spreads a membership change; a Leave waits
			// for it.
			membership = s.membershipRounds()
			arm(0)
		case <-timerC:
			timerC = nil
			s.gossipArmed.Store(false)
			pings.Wait()
			if membership == 0 && s.queue.NumQueued() == 0 {
				continue
			}
			targets := s.gossipTargets()
			if len(targets) == 0 {
				// No one to tell. A member that comes up is a membership
				// change, which starts the rounds again.
				continue
			}
			for _, n := range targets {
				to := memberlist.Address{Addr: n.Address(), Name: n.Name}
				for _, pkt := range s.packOps(s.queue.GetBroadcasts(userMsgOverhead, s.cfg.PacketSize-compoundHeaderOverhead)) {
					s.t.WriteToAddress(pkt, to) // never waits; a lost packet is like a lost datagram
				}
				if membership > 0 {
					addr := &net.UDPAddr{IP: n.Addr, Port: int(n.Port)}
					// A ping without an ack only costs its wait; the probes
					// find out whether the member is gone.
					pings.Go(func() { s.ml.Ping(n.Name, addr) })
				}
			}
			membership = max(0, membership-1)
			// The next round checks again whether anything is left.
			arm(interval)
		}
	}
}

// membershipRounds is how many rounds send a membership message as often
// as memberlist's queue does before it drops it: RetransmitMult ×
// ceil(log10(nodes+1)) times, to up to GossipNodes members a round.
func (s *Swarm) membershipRounds() int {
	members := int(s.neighbours.Load())
	if members == 0 {
		// After this node's own Leave, or when it is alone; rounds then
		// find no target.
		members = 1
	}
	nodes := members + 1 // this node too, as memberlist counts
	limit := s.cfg.RetransmitMult * int(math.Ceil(math.Log10(float64(nodes+1))))
	perRound := min(s.cfg.GossipNodes, members)
	return (limit + perRound - 1) / perRound
}

// gossipTargets picks up to GossipNodes live neighbours at random.
func (s *Swarm) gossipTargets() []*memberlist.Node {
	s.mu.Lock()
	nodes := make([]*memberlist.Node, 0, len(s.members))
	for _, m := range s.members {
		nodes = append(nodes, m.node)
	}
	s.mu.Unlock()
	if len(nodes) > s.cfg.GossipNodes {
		rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		nodes = nodes[:s.cfg.GossipNodes]
	}
	return nodes
}

// memberlist's packet framing (its net.go and util.go). The message type
// numbers are part of memberlist's wire protocol, which only ever appends
// to them.
const (
	mlCompoundMsg = 7 // compoundMsg: count(1) lengths(2 each) messages
	mlUserMsg     = 8 // userMsg: the delegate's bytes follow

	// compoundHeaderOverhead: the type and count bytes of a compound
	// message.
	compoundHeaderOverhead = 2
	// userMsgOverhead: a message's length in a compound message and its
	// user message type byte.
	userMsgOverhead = 2 + 1
	// maxCompound is the most messages one compound message holds.
	maxCompound = 255
)

// packOps frames ops as memberlist user messages and packs them into as
// few packets as keep within MaxDatagramPacket (or PacketSize when
// datagrams are off); an op too large for that travels in a packet of its
// own, as a single user message. The receiver's memberlist hands each op
// to NotifyMsg.
func (s *Swarm) packOps(ops [][]byte) [][]byte {
	limit := s.cfg.MaxDatagramPacket
	if limit <= 0 {
		limit = s.cfg.PacketSize
	}
	var (
		packets [][]byte
		batch   [][]byte
		size    = compoundHeaderOverhead
	)
	flush := func() {
		switch len(batch) {
		case 0:
		case 1:
			packets = append(packets, appendUserMsg(nil, batch[0]))
		default:
			packets = append(packets, appendCompound(nil, batch))
		}
		batch, size = batch[:0], compoundHeaderOverhead
	}
	for _, op := range ops {
		if 1+len(op) > limit-compoundHeaderOverhead-2 {
			packets = append(packets, appendUserMsg(nil, op))
			continue
		}
		if size+userMsgOverhead+len(op) > limit || len(batch) == maxCompound {
			flush()
		}
		batch = append(batch, op)
		size += userMsgOverhead + len(op)
	}
	flush()
	return packets
}

func appendUserMsg(b, op []byte) []byte {
	b = append(b, mlUserMsg)
	return append(b, op...)
}

// appendCompound frames ops as one memberlist compound message of user
// messages.
func appendCompound(b []byte, ops [][]byte) []byte {
	b = append(b, mlCompoundMsg, byte(len(ops)))
	for _, op := range ops {
		b = binary.BigEndian.AppendUint16(b, uint16(1+len(op)))
	}
	for _, op := range ops {
		b = appendUserMsg(b, op)
	}
	return b
}

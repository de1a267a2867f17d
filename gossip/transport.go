package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/docsnode/docsnode/endpoint"
)

// packetSlack is what a received packet may exceed Config.PacketSize by
// before it is dropped: room for framing memberlist adds outside its own
// budget, should a later version add any.
const packetSlack = 1024

// packetQueue is how many received packets wait for memberlist's reader
// before more are dropped.
const packetQueue = 256

// flushGrace is how long Shutdown lets packets already handed to the
// transport finish before it cancels them. A Leave's last broadcast is
// among them; a send that is still dialling is not worth waiting for.
const flushGrace = 250 * time.Millisecond

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// transport carries one swarm's memberlist over the node's QUIC endpoint.
// A packet of up to MaxDatagramPacket bytes is one QUIC datagram, a larger
// one a QUIC stream of its own, and every memberlist stream is one QUIC
// stream; each starts with the swarm's header, and the Router hands
// incoming ones to the transport of their topic.
//
// Node names are node ids, so WriteToAddress and DialAddressTimeout know
// whom they dial and the endpoint checks the peer proves that id.
// WriteToAddress never waits for the network: a datagram on a connection
// already open is queued with the endpoint, and any other packet is sent
// on its own goroutine, dropped when MaxPacketsInFlight are under way.
type transport struct {
	ep     *endpoint.Endpoint
	topic  topicID
	cfg    Config
	lookup func(endpoint.NodeID) (endpoint.NodeAddr, bool)
	// receiveOp takes each op a received packet carries, with the node
	// that sent the packet.
	receiveOp func(from endpoint.NodeID, op []byte)
	stats     *counters

	// testHookSent, when set, sees every packet sent, header included,
	// and whether it went in a datagram.
	testHookSent atomic.Pointer[func(pkt []byte, datagram bool)]

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	slots    chan struct{} // one token per packet being sent

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc

	// wg holds the packet senders. wg.Go is only called with mu held and
	// closed false, so Shutdown's Wait cannot race an Add.
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  map[*streamConn]struct{} // open memberlist streams
}

func newTransport(ep *endpoint.Endpoint, topic topicID, cfg Config, lookup func(endpoint.NodeID) (endpoint.NodeAddr, bool),
	receiveOp func(endpoint.NodeID, []byte), stats *counters) *transport {
	t := &transport{
		ep:        ep,
		topic:     topic,
		cfg:       cfg,
		lookup:    lookup,
		receiveOp: receiveOp,
		stats:     stats,
		packetCh:  make(chan *memberlist.Packet, packetQueue),
		streamCh:  make(chan net.Conn),
		slots:     make(chan struct{}, cfg.MaxPacketsInFlight),
		conns:     make(map[*streamConn]struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// FinalAdvertiseAddr ignores memberlist's configured address: a member is
// reached at its endpoint's address. Every address the endpoint has is in
// the node's meta; memberlist carries the first.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	addrs := t.ep.Addr().Addrs
	if len(addrs) == 0 {
		return nil, 0, errors.New("gossip: the endpoint has no address to advertise")
	}
	ap := addrs[0]
	return net.IP(ap.Addr().AsSlice()), int(ap.Port()), nil
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *transport) StreamCh() <-chan net.Conn           { return t.streamCh }

// WriteTo is memberlist's name-less send; every send of memberlist v0.7
// names its target, so this only fails.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// resolve turns memberlist's address into a NodeAddr: the node id from
// the name, memberlist's address, then the member's addresses from its
// meta or Join. The endpoint's Dial tries the addresses it knows for the
// id first (where the node last connected from, or was last reached), so
// a member that restarted on a new port is reached there: memberlist
// keeps the old address of a node it holds alive, refusing an alive
// message with another address as a conflict.
func (t *transport) resolve(a memberlist.Address) (endpoint.NodeAddr, error) {
	if a.Name == "" {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: no node name for %s; the transport dials by node id", a.Addr)
	}
	id, err := endpoint.ParseNodeID(a.Name)
	if err != nil {
		return endpoint.NodeAddr{}, fmt.Errorf("gossip: member name: %w", err)
	}
	to := endpoint.NodeAddr{ID: id}
	if ap, err := netip.ParseAddrPort(a.Addr); err == nil {
		to.Addrs = append(to.Addrs, ap)
	}
	if known, ok := t.lookup(id); ok {
		for _, ap := range known.Addrs {
			if !slices.Contains(to.Addrs, ap) {
				to.Addrs = append(to.Addrs, ap)
			}
		}
	}
	return to, nil
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	to, err := t.resolve(a)
	if err != nil {
		return time.Time{}, err
	}
	pkt := appendHeader(make([]byte, 0, headerLen+len(b)), t.topic, kindPacket)
	pkt = append(pkt, b...)
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return time.Time{}, ErrClosed
	}
	if conn, ok := t.ep.Cached(to.ID, endpoint.ALPNGossip); ok {
		switch err := t.sendDatagram(conn, pkt); {
		case err == nil:
			return time.Now(), nil
		case errors.Is(err, endpoint.ErrDatagramQueueFull):
			// Like a full socket buffer: the packet is lost.
			t.stats.packetsDropped.Add(1)
			return time.Now(), nil
		}
		// Too large for a datagram, or the connection is gone: send it
		// on a stream, dialling again if need be.
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return time.Time{}, ErrClosed
	}
	select {
	case t.slots <- struct{}{}:
	default:
		// Like a full socket buffer: the packet is lost, not waited for.
		t.stats.packetsDropped.Add(1)
		return time.Now(), nil
	}
	t.wg.Go(func() {
		defer func() { <-t.slots }()
		if err := t.sendPacket(to, pkt); err != nil {
			t.stats.packetsFailed.Add(1)
		}
	})
	return time.Now(), nil
}

// errNotDatagram: the packet is over MaxDatagramPacket.
var errNotDatagram = errors.New("gossip: packet too large for a datagram")

// sendDatagram queues pkt as a datagram on conn, if it is small enough.
// sendOp sends a gossip op straight to node id's swarm, in a datagram on
// the open connection to it, past both memberlists: an eager push then
// costs the receiver no memberlist packet handling and two fewer
// goroutine hand-offs. It reports false when it cannot (no connection yet,
// datagrams off, or an op too large for one), and the caller sends the op
// through memberlist instead.
func (t *transport) sendOp(id endpoint.NodeID, op []byte) bool {
	if len(op) > t.cfg.MaxDatagramPacket {
		return false
	}
	conn, ok := t.ep.Cached(id, endpoint.ALPNGossip)
	if !ok {
		return false
	}
	pkt := appendHeader(make([]byte, 0, headerLen+len(op)), t.topic, kindOp)
	pkt = append(pkt, op...)
	switch err := conn.SendDatagram(pkt); {
	case err == nil:
		t.sent(pkt, true)
		return true
	case errors.Is(err, endpoint.ErrDatagramQueueFull):
		// Like a full socket buffer: the op is lost, and the catch-up
		// after the burst repairs it.
		t.stats.packetsDropped.Add(1)
		return true
	}
	return false
}

func (t *transport) sendDatagram(conn *endpoint.Conn, pkt []byte) error {
	if len(pkt)-headerLen > t.cfg.MaxDatagramPacket {
		return errNotDatagram
	}
	if err := conn.SendDatagram(pkt); err != nil {
		return err
	}
	t.sent(pkt, true)
	return nil
}

func (t *transport) sent(pkt []byte, datagram bool) {
	if hook := t.testHookSent.Load(); hook != nil {
		(*hook)(pkt, datagram)
	}
}

// sendPacket dials the peer and sends pkt in a datagram, or on a stream
// when it is too large for one.
func (t *transport) sendPacket(to endpoint.NodeAddr, pkt []byte) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.PacketTimeout)
	defer cancel()
	conn, err := t.ep.Dial(ctx, to, endpoint.ALPNGossip)
	if err != nil {
		return err
	}
	switch err := t.sendDatagram(conn, pkt); {
	case err == nil:
		return nil
	case errors.Is(err, endpoint.ErrDatagramQueueFull):
		t.stats.packetsDropped.Add(1)
		return nil
	}
	t.sent(pkt, false)
	st, err := conn.OpenStream(ctx)
	if err != nil {
		return err
	}
	// The peer never answers on a packet stream.
	st.CancelRead(codeDone)
	deadline, _ := ctx.Deadline()
	st.SetWriteDeadline(deadline)
	if _, err := st.Write(pkt); err != nil {
		st.CancelWrite(codeDone)
		return err
	}
	return st.Close()
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	to, err := t.resolve(a)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	conn, err := t.ep.Dial(ctx, to, endpoint.ALPNGossip)
	if err != nil {
		return nil, err
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := t.track(st, conn)
	if !ok {
		return nil, ErrClosed
	}
	// The peer learns of the stream with its first bytes: send the header
	// now, so its Router can route the stream before memberlist writes.
	deadline, _ := ctx.Deadline()
	st.SetWriteDeadline(deadline)
	if _, err := st.Write(appendHeader(nil, t.topic, kindStream)); err != nil {
		c.Close()
		return nil, err
	}
	st.SetWriteDeadline(time.Time{})
	return c, nil
}

// track wraps st for memberlist and remembers it, so that Shutdown can
// close it. It fails once the transport is shut down, and then resets st.
func (t *transport) track(st *endpoint.Stream, conn *endpoint.Conn) (*streamConn, bool) {
	c := newStreamConn(st, conn, t.cfg.MaxStreamBytes, t.untrack)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		st.CancelRead(codeDone)
		st.CancelWrite(codeDone)
		return nil, false
	}
	t.conns[c] = struct{}{}
	return c, true
}

func (t *transport) untrack(c *streamConn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// receivePacket reads one packet stream whose header the Router read.
func (t *transport) receivePacket(conn *endpoint.Conn, st *endpoint.Stream) {
	st.CancelWrite(codeDone)
	st.SetReadDeadline(time.Now().Add(t.cfg.PacketTimeout))
	limit := t.cfg.PacketSize + packetSlack
	buf, err := io.ReadAll(io.LimitReader(st, int64(limit)+1))
	switch {
	case err != nil:
		st.CancelRead(codeDone)
		t.stats.packetsDropped.Add(1)
		return
	case len(buf) > limit:
		st.CancelRead(codeTooLarge)
		t.stats.packetsDropped.Add(1)
		return
	}
	t.deliver(conn, buf)
}

// receiveDatagram hands a packet that arrived in a datagram, its header
// stripped by the Router, to memberlist.
func (t *transport) receiveDatagram(conn *endpoint.Conn, buf []byte) {
	if len(buf) > t.cfg.PacketSize+packetSlack {
		t.stats.packetsDropped.Add(1)
		return
	}
	t.deliver(conn, buf)
}

// deliver hands the ops a received packet carries to the swarm, with the
// node the connection proves sent them, and queues the rest for
// memberlist, or drops it when memberlist is packetQueue packets behind.
// memberlist thus never sees an op: its NotifyMsg would not say who sent
// it.
func (t *transport) deliver(conn *endpoint.Conn, buf []byte) {
	ops, rest, ok := splitOps(buf)
	if !ok {
		t.stats.packetsDropped.Add(1)
		return
	}
	for _, op := range ops {
		t.receiveOp(conn.RemoteID(), op)
	}
	if rest == nil {
		return
	}
	pkt := &memberlist.Packet{
		Buf:       rest,
		From:      net.UDPAddrFromAddrPort(conn.RemoteAddr()),
		Timestamp: time.Now(),
	}
	select {
	case t.packetCh <- pkt:
	default:
		t.stats.packetsDropped.Add(1)
	}
}

// receiveStream hands a memberlist stream whose header the Router read to
// memberlist's listener, waiting at most StreamTimeout for it.
func (t *transport) receiveStream(ctx context.Context, conn *endpoint.Conn, st *endpoint.Stream) {
	c, ok := t.track(st, conn)
	if !ok {
		return
	}
	timer := time.NewTimer(t.cfg.StreamTimeout)
	defer timer.Stop()
	select {
	case t.streamCh <- c:
	case <-t.ctx.Done():
		c.Close()
	case <-ctx.Done():
		c.Close()
	case <-timer.C:
		c.Close()
	}
}

// Shutdown stops sending and receiving: no new packets or streams, packets
// under way get flushGrace to finish, and open streams are closed. It
// returns once every sender has returned.
func (t *transport) Shutdown() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	open := slices.Collect(maps.Keys(t.conns))
	t.mu.Unlock()

	sent := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(sent)
	}()
	grace := time.NewTimer(flushGrace)
	select {
	case <-sent:
	case <-grace.C:
	}
	grace.Stop()
	t.cancel()
	for _, c := range open {
		c.Close()
	}
	<-sent
	return nil
}

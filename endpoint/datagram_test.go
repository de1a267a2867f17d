package endpoint

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestDatagramRoundTrip(t *testing.T) {
	ctx := testContext(t)
	server, client := openTest(t), openTest(t)
	h, accepted := recorder()
	mustHandle(t, server, ALPNGossip, h)

	conn, err := client.Dial(ctx, server.Addr(), ALPNGossip)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if got, ok := client.Cached(server.ID(), ALPNGossip); !ok || got != conn {
		t.Fatalf("Cached = %v, %v; want the dialled connection", got, ok)
	}
	if _, ok := client.Cached(server.ID(), ALPNSync); ok {
		t.Error("Cached found a connection for a protocol never dialled")
	}
	in := receive(t, accepted)

	// The largest datagram fits; datagrams arrive in order on loopback.
	msgs := [][]byte{[]byte("first"), bytes.Repeat([]byte{7}, MaxDatagramSize)}
	for _, m := range msgs {
		if err := conn.SendDatagram(m); err != nil {
			t.Fatalf("SendDatagram(%d bytes): %v", len(m), err)
		}
	}
	for _, want := range msgs {
		got, err := in.ReceiveDatagram(ctx)
		if err != nil {
			t.Fatalf("ReceiveDatagram: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("received %d bytes, want %d", len(got), len(want))
		}
	}

	if err := conn.SendDatagram(make([]byte, MaxDatagramSize+1)); !errors.Is(err, ErrDatagramTooLarge) {
		t.Errorf("SendDatagram over MaxDatagramSize: err = %v, want ErrDatagramTooLarge", err)
	}
	conn.Close()
	if err := conn.SendDatagram([]byte("late")); err == nil {
		t.Error("SendDatagram on a closed connection succeeded")
	}
}

// blackhole is a packet conn whose writes vanish once dropping is set, as
// if the peer had become unreachable.
type blackhole struct {
	net.PacketConn
	dropping atomic.Bool
}

func (b *blackhole) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.dropping.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, addr)
}

// TestDatagramsToUnreachablePeerNeverBlock fills the queues of a
// connection whose peer no longer answers: quic-go's own queue stops
// draining and would block its SendDatagram, but ours fails fast once
// MaxQueuedDatagrams wait, and Close still returns.
func TestDatagramsToUnreachablePeerNeverBlock(t *testing.T) {
	ctx := testContext(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hole := &blackhole{PacketConn: pc}
	server := openTest(t)
	client := openTest(t, func(c *Config) {
		c.PacketConn = hole
		c.MaxQueuedDatagrams = 4
	})
	h, _ := recorder()
	mustHandle(t, server, ALPNGossip, h)
	conn, err := client.Dial(ctx, server.Addr(), ALPNGossip)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	hole.dropping.Store(true)

	// Keep sending, giving the sender goroutine every chance to drain
	// the queue: only the congestion window, quic-go's queue of 32 and
	// our 4 can ever be taken, and no call waits.
	accepted, full := 0, 0
	for range 10_000 {
		switch err := conn.SendDatagram(make([]byte, MaxDatagramSize)); {
		case err == nil:
			accepted++
		case errors.Is(err, ErrDatagramQueueFull):
			full++
			runtime.Gosched()
		default:
			t.Fatalf("SendDatagram: %v", err)
		}
	}
	if full == 0 || accepted > 1000 {
		t.Fatalf("%d datagrams taken and %d refused for an unreachable peer; want the queue to fill and stay full", accepted, full)
	}
	t.Logf("%d datagrams taken, %d refused", accepted, full)
	if err := client.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

package gossip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

// streamPair returns the two ends of one QUIC stream between two fresh
// endpoints: the dialler's and the acceptor's.
func streamPair(t *testing.T) (*endpoint.Conn, *endpoint.Stream, *endpoint.Conn, *endpoint.Stream) {
	t.Helper()
	ctx := testContext(t)
	open := func() *endpoint.Endpoint {
		ep, err := endpoint.Open(ctx, endpoint.TestConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		return ep
	}
	server, client := open(), open()
	type accepted struct {
		conn *endpoint.Conn
		st   *endpoint.Stream
	}
	got := make(chan accepted, 1)
	server.Handle(endpoint.ALPNGossip, endpoint.HandlerFunc(func(ctx context.Context, conn *endpoint.Conn) {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		got <- accepted{conn, st}
		<-ctx.Done()
	}))
	conn, err := client.Dial(ctx, server.Addr(), endpoint.ALPNGossip)
	if err != nil {
		t.Fatal(err)
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte{0}) // the peer learns of the stream with its first byte
	select {
	case a := <-got:
		var first [1]byte
		if _, err := io.ReadFull(a.st, first[:]); err != nil {
			t.Fatal(err)
		}
		return conn, st, a.conn, a.st
	case <-ctx.Done():
		t.Fatal("no stream accepted")
	}
	return nil, nil, nil, nil
}

func TestStreamConnReadBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sent    int
		wantErr error
	}{
		{"within", 10, nil},
		{"over", 11, errStreamTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, conn, in := streamPair(t)
			c := newStreamConn(in, conn, 10, nil)
			defer c.Close()
			if _, err := out.Write(bytes.Repeat([]byte{1}, tc.sent)); err != nil {
				t.Fatal(err)
			}
			out.Close()
			got, err := io.ReadAll(c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("read %d of %d bytes: err = %v, want %v", len(got), tc.sent, err, tc.wantErr)
			}
			if len(got) > 10 || (tc.wantErr == nil && len(got) != tc.sent) {
				t.Fatalf("read %d of %d bytes with a budget of 10", len(got), tc.sent)
			}
		})
	}
}

func TestOversizePacketDropped(t *testing.T) {
	nodes := newTestNodes(t, 2, func(c *Config) { c.PacketSize = 1024 })
	doc := newTestDoc(t)
	s := nodes[0].open(t, doc.id())
	ctx := testContext(t)
	conn, err := nodes[1].ep.Dial(ctx, nodes[0].ep.Addr(), endpoint.ALPNGossip)
	if err != nil {
		t.Fatal(err)
	}
	st, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pkt := appendHeader(nil, topicOf(doc.id()), kindPacket)
	pkt = append(pkt, make([]byte, 1024+packetSlack+1)...)
	st.Write(pkt) // may fail once the peer stops reading
	st.Close()
	eventually(t, "the packet to be dropped", func() bool { return s.Stats().PacketsDropped == 1 })
}

// TestStreamsPerPeerCapped: a peer that opens more streams than
// MaxStreamsPerPeer and never finishes their headers has the excess reset
// at once, not after the header timeout, and the node still takes its
// other streams.
func TestStreamsPerPeerCapped(t *testing.T) {
	const limit, opened = 4, 10
	nodes := newTestNodes(t, 2, func(c *Config) {
		c.PacketTimeout = time.Minute // longer than the test waits
		c.MaxStreamsPerPeer = limit
	})
	ctx := testContext(t)
	conn, err := nodes[1].ep.Dial(ctx, nodes[0].ep.Addr(), endpoint.ALPNGossip)
	if err != nil {
		t.Fatal(err)
	}
	var reset atomic.Int32
	var wg sync.WaitGroup
	var held []*endpoint.Stream
	for range opened {
		st, err := conn.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte{0}) // a header's first byte, and no more
		held = append(held, st)
		wg.Go(func() {
			if _, err := st.Read(make([]byte, 1)); err != nil {
				reset.Add(1)
			}
		})
	}
	eventually(t, "the streams over the limit to be reset", func() bool { return reset.Load() == opened-limit })
	if got := nodes[0].r.Stats().StreamsRefused; got != opened-limit {
		t.Fatalf("StreamsRefused = %d, want %d", got, opened-limit)
	}
	for _, st := range held {
		st.CancelRead(0)
		st.CancelWrite(0)
	}
	wg.Wait()
}

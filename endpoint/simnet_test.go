package endpoint

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
)

// TestSimnetVirtualTime runs two endpoints over quic-go's simulated network
// inside a synctest bubble: no sockets, and time advances only when every
// goroutine waits, so the latency below costs no wall-clock time and the
// timings are exact.
func TestSimnetVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const oneWay = 40 * time.Millisecond
		network := &simnet.Simnet{Router: &simnet.PerfectRouter{}}
		link := simnet.NodeBiDiLinkSettings{Latency: oneWay}
		// simnet routes on the raw IP bytes, and the endpoint dials the
		// 4-byte form of an IPv4 address, so register that form.
		serverConn := network.NewEndpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1).To4(), Port: 7000}, link)
		clientConn := network.NewEndpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2).To4(), Port: 7000}, link)
		if err := network.Start(); err != nil {
			t.Fatal(err)
		}
		defer network.Close()

		open := func(pc net.PacketConn) *Endpoint {
			cfg := TestConfig()
			cfg.PacketConn = pc
			e, err := Open(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return e
		}
		server, client := open(serverConn), open(clientConn)
		defer client.Close()
		defer server.Close()
		mustHandle(t, server, ALPNSync, echo)

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		conn, err := client.Dial(ctx, server.Addr(), ALPNSync)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		handshake := time.Since(start)
		if got := roundTrip(t, ctx, conn, "over simnet"); got != "over simnet" {
			t.Fatalf("echo = %q", got)
		}
		total := time.Since(start)
		t.Logf("virtual time: handshake %v, stream round trip %v", handshake, total-handshake)

		// The handshake takes one round trip; the echo at least one more.
		rtt := 2 * oneWay
		if handshake < rtt || handshake > 2*rtt {
			t.Errorf("handshake took %v of virtual time, want one RTT (%v)", handshake, rtt)
		}
		if total-handshake < rtt {
			t.Errorf("stream round trip took %v, want at least %v", total-handshake, rtt)
		}
		if conn.RemoteID() != server.ID() {
			t.Error("wrong remote id over simnet")
		}

		if err := client.Close(); err != nil {
			t.Errorf("client Close: %v", err)
		}
		if err := server.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
}

package blobs

import (
	"bytes"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
)

// fetching is how many fetches srv holds a slot for.
func fetching(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.fetches.Len()
}

// holdStreams opens n streams from ep to the server, each with one byte
// of a request that never completes, and returns them.
func holdStreams(t *testing.T, ep *endpoint.Endpoint, to endpoint.NodeAddr, n int) []*endpoint.Stream {
	t.Helper()
	conn, err := ep.Dial(ctxT(t), to, endpoint.ALPNBlobs)
	if err != nil {
		t.Fatal(err)
	}
	var out []*endpoint.Stream
	for range n {
		st, err := conn.OpenStream(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte{ProtocolVersion}); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// lockoutServer is a content server with small limits and a long request
// timeout, so that held streams keep their slots for the test's length.
func lockoutServer(t *testing.T) *server {
	t.Helper()
	s := &server{ep: openEndpoint(t), store: openStore(t, 1<<20), entries: &entryTable{}}
	s.srv = NewServer(s.store, s.entries, ServerConfig{MaxKeyLen: 4096, MaxFetches: 4, MaxFetchesPerPeer: 2, RequestTimeout: time.Minute})
	if err := s.ep.Handle(endpoint.ALPNBlobs, s.srv); err != nil {
		t.Fatal(err)
	}
	return s
}

func honestFetch(t *testing.T, srv *server) {
	t.Helper()
	content := bytes.Repeat([]byte("honest "), 1000)
	se := srv.hold(t, "honest", content)
	client := openEndpoint(t)
	if _, err := Fetch(ctxT(t), client, srv.ep.Addr(), openStore(t, 1<<20), RefOf(se.Namespace, &se), 5*time.Second); err != nil {
		t.Fatalf("honest fetch: %v (server %+v)", err, srv.srv.Stats())
	}
}

// TestFetchLockoutOnePeer: one peer holds more streams than the server
// has fetch slots, each with a request it never finishes. An honest
// peer's fetch must still be served.
func TestFetchLockoutOnePeer(t *testing.T) {
	srv := lockoutServer(t)
	attacker := openEndpoint(t)
	held := holdStreams(t, attacker, srv.ep.Addr(), 6)
	testutil.Eventually(t, 10*time.Second, func() bool { return fetching(srv.srv) >= 2 }, "the attacker's streams are served")
	honestFetch(t, srv)
	if st := srv.srv.Stats(); st.PeerBusy != 4 {
		t.Fatalf("stats %+v, want the 4 streams over the per-peer limit refused", st)
	}
	for _, st := range held {
		st.CancelWrite(0)
		st.CancelRead(0)
	}
}

// TestFetchLockoutSybils: more peers than the server has fetch slots each
// hold one stream with a request they never finish. An honest peer's
// fetch must still be served.
func TestFetchLockoutSybils(t *testing.T) {
	srv := lockoutServer(t)
	var held []*endpoint.Stream
	for range 5 {
		held = append(held, holdStreams(t, openEndpoint(t), srv.ep.Addr(), 1)...)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return fetching(srv.srv) == 4 }, "the Sybils' streams are served")
	honestFetch(t, srv)
	if st := srv.srv.Stats(); st.Preempted == 0 || st.Served != 1 {
		t.Fatalf("stats %+v, want stalled fetches preempted for the honest one", st)
	}
	for _, st := range held {
		st.CancelWrite(0)
		st.CancelRead(0)
	}
}

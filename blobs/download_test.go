package blobs

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
)

// lyingProvider serves honest slices of content but corrupts every group
// whose index is 1 mod 4, and counts what it sent.
func lyingProvider(t *testing.T, content []byte) (*liar, *endpoint.Endpoint) {
	l := &liar{answer: func(req Request) []byte {
		return okResponse(uint64(len(content)), encodeSlices(t, content, req.GroupLog, req.Ranges, func(i uint64, g []byte) {
			if i%4 == 1 {
				g[len(g)/2] ^= 0x10
			}
		}))
	}}
	ep := openEndpoint(t)
	if err := ep.Handle(endpoint.ALPNBlobs, l); err != nil {
		t.Fatal(err)
	}
	return l, ep
}

// TestDownloadLyingProvider: one of three providers corrupts groups. The
// download completes from the other two, the liar is dropped at its first
// bad group, after one request, and what is stored is the content.
func TestDownloadLyingProvider(t *testing.T) {
	content := blobOfSize(3<<20+123, 11) // 193 groups of 16 KiB
	a, b := newServer(t), newServer(t)
	se := a.hold(t, "k", content)
	b.store.Put(bytes.NewReader(content))
	b.entries.add(se)
	l, liarEP := lyingProvider(t, content)
	ref := RefOf(se.Namespace, &se)

	store := openStore(t, 64<<20)
	client := openEndpoint(t)
	provs := []Provider{{liarEP.Addr(), ref}, {a.ep.Addr(), ref}, {b.ep.Addr(), ref}}
	res, err := Download(ctxT(t), client, store, se.Hash, se.Len, provs, DownloadConfig{MinPiece: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(se.Hash)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get: %v", err)
	}
	liarRes := res.Providers[0]
	var eg *errGroup
	if liarRes.ID != liarEP.ID() || !PeerFault(liarRes.Err) || !errors.As(liarRes.Err, &eg) {
		t.Fatalf("the liar's result %+v", liarRes)
	}
	if liarRes.Requests != 1 || len(l.asked()) != 1 {
		t.Fatalf("the liar was asked %d times", len(l.asked()))
	}
	// Its first piece starts at a group 0 mod 4 or later: it is caught at
	// the first group 1 mod 4, within two groups and their proofs.
	if max := 2*uint64(16<<10) + 64*20 + 16; liarRes.Received > max {
		t.Fatalf("%d bytes taken from the liar, more than two groups", liarRes.Received)
	}
	for _, r := range res.Providers[1:] {
		if r.Err != nil || r.Received == 0 {
			t.Fatalf("honest provider %+v", r)
		}
	}
}

// TestDownloadResumesAfterRestart: a download cut off part way leaves a
// bitfield; after the store is reopened the next download fetches only
// the missing groups, from another provider.
func TestDownloadResumesAfterRestart(t *testing.T) {
	content := blobOfSize(4<<20, 12) // 256 groups
	slow := newServer(t)
	slow.srv.pace = newPacer(1 << 20) // 1 MiB/s: about 4 s for the whole
	se := slow.hold(t, "k", content)
	ref := RefOf(se.Namespace, &se)
	dir := t.TempDir()
	o := Options{MaxSize: 64 << 20, FlushInterval: 10 * time.Millisecond}
	store, err := OpenOptions(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	client := openEndpoint(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := Download(ctx, client, store, se.Hash, se.Len, []Provider{{slow.ep.Addr(), ref}}, DownloadConfig{})
		done <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return slow.srv.Stats().BytesSent > 3<<19 },
		"1.5 MiB of the blob sent")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	if store, err = OpenOptions(dir, o); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := store.BeginFetch(se.Hash, se.Len)
	if err != nil {
		t.Fatal(err)
	}
	held := p.Held()
	p.Close()
	// What was sent less what was in flight or not yet written when the
	// download was cut off.
	if held < 1<<19 || held >= se.Len {
		t.Fatalf("%d bytes held after the restart", held)
	}
	fast := newServer(t)
	fast.hold(t, "k", content)
	fast.entries.add(se)
	res, err := Download(ctxT(t), client, store, se.Hash, se.Len, []Provider{{fast.ep.Addr(), ref}}, DownloadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	missing := se.Len - held
	proofs := newTree(se.Len, DefaultGroupLog).outboardSize()
	refetched := int64(res.Received) - int64(missing)
	t.Logf("held %d of %d bytes after the restart; received %d, %d over the missing bytes (proofs and headers at most %d)", held, se.Len, res.Received, refetched, proofs)
	if refetched < 0 || uint64(refetched) > proofs+16*uint64(res.Providers[0].Requests) {
		t.Fatalf("received %d bytes for %d missing: content fetched again", res.Received, missing)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get: %v", err)
	}
}

// TestDownloadSlowProvider: with a fast provider and one paced to 256
// KiB/s, the fast one sends most of the blob: pieces follow measured
// rates, and the fast one takes over the rest of the slow one's piece.
func TestDownloadSlowProvider(t *testing.T) {
	content := blobOfSize(6<<20, 13)
	fast, slow := newServer(t), newServer(t)
	se := fast.hold(t, "k", content)
	slow.store.Put(bytes.NewReader(content))
	slow.entries.add(se)
	slow.srv.pace = newPacer(256 << 10)
	ref := RefOf(se.Namespace, &se)
	store := openStore(t, 64<<20)
	res, err := Download(ctxT(t), openEndpoint(t), store, se.Hash, se.Len,
		[]Provider{{slow.ep.Addr(), ref}, {fast.ep.Addr(), ref}}, DownloadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get: %v", err)
	}
	slowRes, fastRes := res.Providers[0], res.Providers[1]
	t.Logf("slow sent %d bytes in %d requests, fast %d in %d; %d pieces taken over", slowRes.Received, slowRes.Requests, fastRes.Received, fastRes.Requests, res.Stolen)
	if fastRes.Received < 3*se.Len/4 || res.Stolen == 0 {
		t.Fatalf("the fast provider sent %d of %d bytes, %d pieces taken over", fastRes.Received, se.Len, res.Stolen)
	}
}

// TestDownloadMoreProviders: providers learnt while a download runs join
// it: a download that starts with a slow peer and one that does not hold
// the blob takes most of it from a fast peer More reports later.
func TestDownloadMoreProviders(t *testing.T) {
	content := blobOfSize(4<<20, 14)
	fast, slow, empty := newServer(t), newServer(t), newServer(t)
	se := fast.hold(t, "k", content)
	slow.store.Put(bytes.NewReader(content))
	slow.entries.add(se)
	slow.srv.pace = newPacer(256 << 10)
	ref := RefOf(se.Namespace, &se)
	store := openStore(t, 64<<20)
	calls := 0
	more := func() []Provider {
		calls++
		// The same peers again, and the fast one from the second call.
		provs := []Provider{{slow.ep.Addr(), ref}, {empty.ep.Addr(), ref}}
		if calls >= 2 {
			provs = append(provs, Provider{fast.ep.Addr(), ref})
		}
		return provs
	}
	res, err := Download(ctxT(t), openEndpoint(t), store, se.Hash, se.Len,
		[]Provider{{empty.ep.Addr(), ref}, {slow.ep.Addr(), ref}},
		DownloadConfig{More: more, MoreInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.Get(se.Hash); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Get: %v", err)
	}
	if len(res.Providers) != 3 {
		t.Fatalf("providers %+v, want each of the three once", res.Providers)
	}
	if res.Top() != fast.ep.ID() || !errors.Is(res.Providers[0].Err, ErrNotFound) {
		t.Fatalf("results %+v: want the fast peer on top, the empty one not found", res.Providers)
	}
}

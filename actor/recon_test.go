package actor

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// recomputed returns the summary of a freshly built index over the store's items.
func recomputed(t *rapid.T, s *replica.Store, ns replica.NamespaceID) SetSummary {
	var items []recon.Item
	for it, err := range s.Items(ns) {
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, recon.Item{Timestamp: it.Timestamp, ID: it.ID})
	}
	x := recon.BuildIndex(items)
	return SetSummary{Count: x.Len(), Fingerprint: x.Fingerprint(0, x.Len())}
}

// TestIndexFollowsTheStore applies random remote inserts (tombstones and
// superseded versions included) and checks that the live index always
// equals an index rebuilt from the store, before and after a reopen.
func TestIndexFollowsTheStore(t *testing.T) {
	secret, _ := replica.NewNamespace(nil)
	authors := make([]replica.Author, 2)
	for i := range authors {
		authors[i], _ = replica.NewAuthor(nil)
	}
	cache := map[string]replica.SignedEntry{}
	sign := func(author int, key string, tomb bool, v string, ts uint64) replica.SignedEntry {
		id := fmt.Sprint(author, key, tomb, v, ts)
		if se, ok := cache[id]; ok {
			return se
		}
		r := replica.Record{Hash: replica.HashContent([]byte(v)), Len: uint64(len(v)), Timestamp: ts}
		if tomb {
			r = replica.Record{Hash: replica.EmptyHash, Timestamp: ts}
		}
		se := testutil.MustSign(secret, authors[author], replica.Entry{Key: []byte(key), Record: r})
		cache[id] = se
		return se
	}
	ctx := context.Background()
	root := t.TempDir()
	run := 0
	rapid.Check(t, func(t *rapid.T) {
		run++
		dir := fmt.Sprintf("%s/%d", root, run)
		store, err := replica.OpenStore(dir, replica.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := Open(store, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ImportDoc(ctx, replica.ReadCapability(secret.ID())); err != nil {
			t.Fatal(err)
		}
		ops := rapid.IntRange(1, 40).Draw(t, "ops")
		for i := range ops {
			if rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("summary%d", i)) == 0 {
				if _, err := a.Summary(ctx, secret.ID()); err != nil { // builds the index mid-way
					t.Fatal(err)
				}
			}
			n := rapid.IntRange(1, 4).Draw(t, fmt.Sprintf("batch%d", i))
			batch := make([]replica.SignedEntry, n)
			for j := range batch {
				key := rapid.SampledFrom([]string{"a", "ab", "abc", "b"}).Draw(t, "key")
				tomb := rapid.IntRange(0, 4).Draw(t, "tomb") == 0
				batch[j] = sign(rapid.IntRange(0, 1).Draw(t, "author"), key, tomb,
					rapid.SampledFrom([]string{"x", "y"}).Draw(t, "v"), rapid.Uint64Range(1, 8).Draw(t, "ts"))
			}
			if _, err := a.InsertRemote(ctx, secret.ID(), batch, replica.PeerID{1}); err != nil {
				t.Fatal(err)
			}
		}
		live, err := a.Summary(ctx, secret.ID())
		if err != nil {
			t.Fatal(err)
		}
		if want := recomputed(t, store, secret.ID()); live != want {
			t.Fatalf("live index %+v, rebuilt from the store %+v", live, want)
		}
		if n, err := store.Count(secret.ID()); err != nil || n != live.Count {
			t.Fatalf("store count %d (%v), index %d", n, err, live.Count)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		store, err = replica.OpenStore(dir, replica.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, err = Open(store, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		reopened, err := a.Summary(ctx, secret.ID())
		if err != nil || reopened != live {
			t.Fatalf("after reopen: %+v (%v), before %+v", reopened, err, live)
		}
	})
}

// TestReconSessionsBetweenActors reconciles two actors' copies of a document
// through ReconSession and checks have/need against the true difference.
func TestReconSessionsBetweenActors(t *testing.T) {
	ctx := context.Background()
	x, y := openMem(t, Config{}), openMem(t, Config{})
	secret, _ := replica.NewNamespace(nil)
	author, _ := replica.NewAuthor(nil)
	for _, a := range []*Actor{x, y} {
		if _, err := a.ImportDoc(ctx, replica.WriteCapability(secret)); err != nil {
			t.Fatal(err)
		}
	}
	var onlyX, onlyY []replica.EntryID
	for i := range 300 {
		se := testutil.MustSign(secret, author, replica.Entry{Key: fmt.Appendf(nil, "k%03d", i), Record: replica.Record{Hash: replica.HashContent([]byte{byte(i)}), Len: 1, Timestamp: uint64(1000 + i)}})
		switch {
		case i%50 == 7:
			onlyX = append(onlyX, se.ID())
			x.InsertRemote(ctx, secret.ID(), []replica.SignedEntry{se}, replica.PeerID{})
		case i%50 == 9:
			onlyY = append(onlyY, se.ID())
			y.InsertRemote(ctx, secret.ID(), []replica.SignedEntry{se}, replica.PeerID{})
		default:
			x.InsertRemote(ctx, secret.ID(), []replica.SignedEntry{se}, replica.PeerID{})
			y.InsertRemote(ctx, secret.ID(), []replica.SignedEntry{se}, replica.PeerID{})
		}
	}
	ini, err := x.NewReconSession(ctx, secret.ID(), recon.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := y.NewReconSession(ctx, secret.ID(), recon.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ini.Initiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var have, need [][32]byte
	for rounds := 0; msg != nil; rounds++ {
		if rounds > 10 {
			t.Fatal("reconciliation does not converge")
		}
		r, err := resp.Reconcile(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ini.Reconcile(ctx, r.Reply)
		if err != nil {
			t.Fatal(err)
		}
		have, need = append(have, res.Have...), append(need, res.Need...)
		msg = res.Reply
	}
	sortIDs := func(ids [][32]byte) []replica.EntryID {
		out := make([]replica.EntryID, len(ids))
		for i := range ids {
			out[i] = ids[i]
		}
		slices.SortFunc(out, func(a, b replica.EntryID) int { return slices.Compare(a[:], b[:]) })
		return out
	}
	slices.SortFunc(onlyX, func(a, b replica.EntryID) int { return slices.Compare(a[:], b[:]) })
	slices.SortFunc(onlyY, func(a, b replica.EntryID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(sortIDs(have), onlyX) || !slices.Equal(sortIDs(need), onlyY) {
		t.Fatalf("have %d / need %d, want %d / %d", len(have), len(need), len(onlyX), len(onlyY))
	}
	entries, err := x.EntriesByID(ctx, secret.ID(), have)
	if err != nil || len(entries) != len(have) {
		t.Fatalf("EntriesByID: %d entries, %v", len(entries), err)
	}
	if _, err := y.InsertRemote(ctx, secret.ID(), entries, replica.PeerID{}); err != nil {
		t.Fatal(err)
	}
	wanted, err := y.EntriesByID(ctx, secret.ID(), need)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.InsertRemote(ctx, secret.ID(), wanted, replica.PeerID{}); err != nil {
		t.Fatal(err)
	}
	sx, _ := x.Summary(ctx, secret.ID())
	sy, _ := y.Summary(ctx, secret.ID())
	if sx != sy || sx.Count != 300 {
		t.Fatalf("after the transfer: %+v vs %+v", sx, sy)
	}
}

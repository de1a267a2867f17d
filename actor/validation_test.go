package actor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docsnode/docsnode/internal/testutil"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// snapshot describes everything the actor stores that a refused call
// could change: documents, authors and, per document, every entry
// (tombstones included, with their signatures), heads, sync peers and
// download policy.
func snapshot(t *testing.T, a *Actor) string {
	t.Helper()
	ctx := context.Background()
	docs, err := a.Docs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	authors, err := a.Authors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("docs %v\nauthors %v\n", docs, authors)
	for _, d := range docs {
		for se, err := range a.Query(ctx, d.ID(), replica.Query{IncludeTombstones: true}) {
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%s %s %q %+v %x %x\n", d.ID().Short(), se.Author.Short(), se.Key, se.Record, se.NamespaceSig, se.AuthorSig)
		}
		heads, err := a.Heads(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		peers, err := a.SyncPeers(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		policy, err := a.DownloadPolicy(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("heads %v peers %v policy %+v\n", heads, peers, policy)
	}
	return out
}

// noEvent fails when sub has an event queued.
func noEvent(t *testing.T, sub *Subscription, after string) {
	t.Helper()
	select {
	case ev := <-sub.C():
		t.Fatalf("%s: event %+v", after, ev)
	default:
	}
}

// TestLocalWriteRefusesEmptyValue checks that a local write whose record
// has the tombstone form (an empty value) is refused with ErrEmptyValue,
// alone or in a batch, on batched and durable documents, and stores and
// emits nothing; that DeletePrefix still deletes; and that a tombstone
// from a peer is still accepted.
func TestLocalWriteRefusesEmptyValue(t *testing.T) {
	for _, d := range []replica.Durability{replica.Batched, replica.Durable} {
		t.Run(d.String(), func(t *testing.T) {
			a := openMem(t, Config{})
			ctx := context.Background()
			ns, author := newDocAndAuthor(t, a, d)
			for _, k := range []string{"pre/a", "pre/b", "other"} {
				set(t, a, ns, author, k, "value of "+k)
			}
			sub, err := a.Subscribe(ctx, ns)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			before := snapshot(t, a)

			empty := replica.HashContent(nil)
			if _, _, err := a.InsertLocal(ctx, ns, author, []byte("pre/"), empty, 0); !errors.Is(err, replica.ErrEmptyValue) {
				t.Fatalf("InsertLocal of an empty value: %v, want ErrEmptyValue", err)
			}
			if _, _, err := a.InsertLocal(ctx, ns, author, []byte(""), replica.EmptyHash, 0); !errors.Is(err, replica.ErrEmptyValue) {
				t.Fatalf("InsertLocal of an empty value at the empty key: %v, want ErrEmptyValue", err)
			}
			batch := []LocalWrite{
				{Key: []byte("new"), Hash: replica.HashContent([]byte("x")), Len: 1},
				{Key: []byte("pre/"), Hash: replica.EmptyHash, Len: 0},
			}
			if _, _, err := a.InsertLocalMany(ctx, ns, author, batch); !errors.Is(err, replica.ErrEmptyValue) {
				t.Fatalf("InsertLocalMany with an empty value: %v, want ErrEmptyValue", err)
			}
			if after := snapshot(t, a); after != before {
				t.Fatalf("refused writes changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			noEvent(t, sub, "refused writes")

			// DeletePrefix is the way to write a tombstone.
			tomb, out, err := a.DeletePrefix(ctx, ns, author, []byte("pre/"))
			if err != nil || !tomb.IsTombstone() || out.Removed != 2 {
				t.Fatalf("DeletePrefix: %+v, %+v, %v", tomb, out, err)
			}
			if _, err := a.Get(ctx, ns, author.ID(), []byte("other")); err != nil {
				t.Fatalf("the delete reached outside its prefix: %v", err)
			}

			// A tombstone from the network is still accepted.
			secretCap, _ := a.Doc(ctx, ns)
			secret, _ := secretCap.Capability.Secret()
			remote := testutil.MustSign(secret, author, replica.Entry{Key: []byte("oth"), Record: replica.Record{
				Hash: replica.EmptyHash, Timestamp: uint64(time.Now().Add(time.Minute).UnixMicro()),
			}})
			outs, err := a.InsertRemote(ctx, ns, []replica.SignedEntry{remote}, replica.PeerID{9})
			if err != nil || !outs[0].Inserted || outs[0].Removed != 1 {
				t.Fatalf("remote tombstone: %+v, %v", outs, err)
			}
		})
	}
}

// TestZeroKeysAreErrors calls every Actor method that takes a key or an id
// with the zero value and checks that each returns an error, never panics,
// and changes nothing stored.
func TestZeroKeysAreErrors(t *testing.T) {
	a := openMem(t, Config{})
	ctx := context.Background()
	ns, author := newDocAndAuthor(t, a, replica.Durable)
	se := set(t, a, ns, author, "k", "v")
	var (
		zeroNS       replica.NamespaceID
		zeroSecret   replica.NamespaceSecret
		zeroAuthor   replica.Author
		zeroAuthorID replica.AuthorID
		notAPoint    = replica.NamespaceID{2}
	)
	foreign := se
	foreign.Namespace = zeroNS
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"ImportDoc read zero id", func() error { _, err := a.ImportDoc(ctx, replica.ReadCapability(zeroNS)); return err }, replica.ErrInvalidKey},
		{"ImportDoc read id not a point", func() error { _, err := a.ImportDoc(ctx, replica.ReadCapability(notAPoint)); return err }, replica.ErrInvalidKey},
		{"ImportDoc write zero secret", func() error { _, err := a.ImportDoc(ctx, replica.WriteCapability(zeroSecret)); return err }, replica.ErrInvalidKey},
		{"ImportDoc zero capability", func() error { _, err := a.ImportDoc(ctx, replica.Capability{}); return err }, replica.ErrMalformed},
		{"PutDoc zero id", func() error {
			_, err := a.PutDoc(ctx, replica.DocInfo{Capability: replica.ReadCapability(zeroNS), Durability: replica.Durable})
			return err
		}, replica.ErrInvalidKey},
		{"SetDurability", func() error { return a.SetDurability(ctx, zeroNS, replica.Durable) }, replica.ErrNotFound},
		{"Doc", func() error { _, err := a.Doc(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"DropDoc", func() error { return a.DropDoc(ctx, zeroNS) }, replica.ErrNotFound},
		{"ImportAuthor", func() error { return a.ImportAuthor(ctx, zeroAuthor) }, replica.ErrInvalidKey},
		{"Author", func() error { _, err := a.Author(ctx, zeroAuthorID); return err }, replica.ErrNotFound},
		{"DeleteAuthor", func() error { return a.DeleteAuthor(ctx, zeroAuthorID) }, replica.ErrNotFound},
		{"Get zero namespace", func() error { _, err := a.Get(ctx, zeroNS, author.ID(), []byte("k")); return err }, replica.ErrNotFound},
		{"Get zero author", func() error { _, err := a.Get(ctx, ns, zeroAuthorID, []byte("k")); return err }, replica.ErrNotFound},
		{"Heads", func() error { _, err := a.Heads(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"Count", func() error { _, err := a.Count(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"Query", func() error {
			for _, err := range a.Query(ctx, zeroNS, replica.Query{}) {
				return err
			}
			return nil
		}, replica.ErrNotFound},
		{"AddSyncPeer zero namespace", func() error { return a.AddSyncPeer(ctx, zeroNS, replica.PeerID{1}) }, replica.ErrNotFound},
		{"AddSyncPeer zero peer", func() error { return a.AddSyncPeer(ctx, ns, replica.PeerID{}) }, replica.ErrInvalidKey},
		{"SyncPeers", func() error { _, err := a.SyncPeers(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"SetDownloadPolicy", func() error { return a.SetDownloadPolicy(ctx, zeroNS, replica.DownloadPolicy{}) }, replica.ErrNotFound},
		{"DownloadPolicy", func() error { _, err := a.DownloadPolicy(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"InsertLocal zero namespace", func() error {
			_, _, err := a.InsertLocal(ctx, zeroNS, author, []byte("k"), replica.HashContent([]byte("x")), 1)
			return err
		}, replica.ErrNotFound},
		{"InsertLocal zero author", func() error {
			_, _, err := a.InsertLocal(ctx, ns, zeroAuthor, []byte("k"), replica.HashContent([]byte("x")), 1)
			return err
		}, replica.ErrInvalidKey},
		{"InsertLocalMany zero author", func() error {
			_, _, err := a.InsertLocalMany(ctx, ns, zeroAuthor, []LocalWrite{{Key: []byte("k"), Hash: replica.HashContent([]byte("x")), Len: 1}, {Key: []byte("l"), Hash: replica.HashContent([]byte("y")), Len: 1}})
			return err
		}, replica.ErrInvalidKey},
		{"DeletePrefix zero namespace", func() error { _, _, err := a.DeletePrefix(ctx, zeroNS, author, []byte("k")); return err }, replica.ErrNotFound},
		{"DeletePrefix zero author", func() error { _, _, err := a.DeletePrefix(ctx, ns, zeroAuthor, []byte("k")); return err }, replica.ErrInvalidKey},
		{"InsertRemote zero namespace", func() error {
			_, err := a.InsertRemote(ctx, zeroNS, []replica.SignedEntry{foreign}, replica.PeerID{1})
			return err
		}, replica.ErrNotFound},
		{"NewReconSession", func() error { _, err := a.NewReconSession(ctx, zeroNS, recon.Config{}); return err }, replica.ErrNotFound},
		{"Summary", func() error { _, err := a.Summary(ctx, zeroNS); return err }, replica.ErrNotFound},
		{"EntriesByID", func() error { _, err := a.EntriesByID(ctx, zeroNS, [][32]byte{se.ID()}); return err }, replica.ErrNotFound},
		{"Subscribe", func() error { _, err := a.Subscribe(ctx, zeroNS); return err }, replica.ErrNotFound},
	}
	before := snapshot(t, a)
	for _, c := range cases {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return c.call()
		}()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if after := snapshot(t, a); after != before {
		t.Fatalf("refused calls changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	docs, _ := a.Docs(ctx)
	if !slices.EqualFunc(docs, []replica.NamespaceID{ns}, func(d replica.DocInfo, id replica.NamespaceID) bool { return d.ID() == id }) {
		t.Fatalf("documents: %v", docs)
	}
}

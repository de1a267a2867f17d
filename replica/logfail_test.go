package replica

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestLogFailureIsReturned: pebble reports a failed write-ahead log
// through its Logger's Fatalf. The store must return that failure from
// the commit or sync that found it and from every write after, not end
// the process, and must not publish a failed commit's documents.
func TestLogFailureIsReturned(t *testing.T) {
	faults := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	s, err := OpenStore("", StoreOptions{FS: errorfs.Wrap(vfs.NewMem(), faults)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, g := newFixture(1, 1), newFixture(2, 1)
	putDoc(t, s, f)
	insert(t, s, f.entry(0, "a", "1", 10))
	if err := s.SyncWAL(); err != nil {
		t.Fatal(err)
	}

	faults.On()
	// Without sync the record only joins the log's buffer: the commit
	// cannot see the failure yet.
	insert(t, s, f.entry(0, "b", "1", 11))
	txn := s.NewTxn()
	if _, err := txn.PutDoc(DocInfo{Capability: WriteCapability(g.ns)}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(true); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("commit with sync over a failing log: %v, want the injected error", err)
	}
	if _, err := s.Doc(g.id()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the failed commit's document is visible: %v", err)
	}
	if err := s.SyncWAL(); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("SyncWAL after the failure: %v", err)
	}
	faults.Off()
	// The failure stays, though the disk works again: the log lost records.
	txn = s.NewTxn()
	if err := txn.PutAuthor(f.authors[0]); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(false); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("commit after the failure: %v", err)
	}
}

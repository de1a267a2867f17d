package replica_test

import (
	"fmt"

	"github.com/docsnode/docsnode/replica"
)

// A document and an author sign an entry; another node verifies it before
// storing it, and last-writer-wins decides between two versions.
func Example() {
	doc, _ := replica.NewNamespace(nil)
	me, _ := replica.NewAuthor(nil)
	value := []byte("world")
	older, _ := replica.Sign(doc, me, replica.Entry{Key: []byte("hello"), Record: replica.Record{Hash: replica.HashContent(value), Len: uint64(len(value)), Timestamp: 1}})
	newer, _ := replica.Sign(doc, me, replica.Entry{Key: []byte("hello"), Record: replica.Record{Hash: replica.HashContent(nil), Len: 0, Timestamp: 2}})

	store, _ := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	defer store.Close()
	txn := store.NewTxn()
	txn.PutDoc(replica.DocInfo{Capability: replica.ReadCapability(doc.ID())})
	for _, se := range []replica.SignedEntry{newer, older} { // arrival order does not matter
		if err := store.Limits().ValidateRemote(&se, doc.ID(), se.Time()); err != nil {
			fmt.Println("refused:", err)
			continue
		}
		out, _ := txn.Insert(&se, nil)
		fmt.Printf("timestamp %d: inserted=%v (%v)\n", se.Timestamp, out.Inserted, out.Reason)
	}
	txn.Commit(false)
	got, _ := store.Get(doc.ID(), me.ID(), []byte("hello"))
	fmt.Println("stored is a tombstone:", got.IsTombstone())
	// Output:
	// timestamp 2: inserted=true (inserted)
	// timestamp 1: inserted=false (superseded)
	// stored is a tombstone: true
}

package gossip_test

import (
	"context"
	"fmt"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/gossip"
	"github.com/docsnode/docsnode/replica"
)

// Two nodes on loopback join a document's swarm; a Put on one reaches the
// other.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	open := func() (*endpoint.Endpoint, *gossip.Router) {
		ep, err := endpoint.Open(ctx, endpoint.TestConfig())
		if err != nil {
			panic(err)
		}
		r, err := gossip.NewRouter(ep, gossip.TestConfig())
		if err != nil {
			panic(err)
		}
		return ep, r
	}
	epA, routerA := open()
	defer epA.Close()
	defer routerA.Close()
	epB, routerB := open()
	defer epB.Close()
	defer routerB.Close()

	ns, _ := replica.NewNamespace(nil)
	author, _ := replica.NewAuthor(nil)
	swarmA, _ := routerA.Open(ns.ID())
	swarmB, _ := routerB.Open(ns.ID())
	if _, err := swarmB.Join(ctx, []endpoint.NodeAddr{epA.Addr()}); err != nil {
		panic(err)
	}

	for ev := range swarmB.Events() {
		switch ev := ev.(type) {
		case gossip.NeighborUp:
			fmt.Println("b sees a:", ev.Node.ID == epA.ID())
			entry, err := replica.Sign(ns, author, replica.Entry{
				Key:    []byte("greeting"),
				Record: replica.Record{Hash: replica.HashContent([]byte("hi")), Len: 2, Timestamp: uint64(time.Now().UnixMicro())},
			})
			if err != nil {
				panic(err)
			}
			if err := swarmA.Put(entry); err != nil {
				panic(err)
			}
		case gossip.OpPut:
			fmt.Printf("b got %q from a: %v\n", ev.Entry.Key, ev.From == epA.ID())
			swarmB.Close() // ends the loop
		}
	}
	// Output:
	// b sees a: true
	// b got "greeting" from a: true
}

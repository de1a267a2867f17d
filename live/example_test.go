package live_test

import (
	"context"
	"fmt"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/live"
	"github.com/docsnode/docsnode/replica"
)

// node is a store actor behind a QUIC endpoint; errors are ignored to keep
// the example short.
func node(ctx context.Context) (*actor.Actor, *endpoint.Endpoint) {
	store, _ := replica.OpenStore("", replica.StoreOptions{InMemory: true})
	act, _ := actor.Open(store, actor.Config{})
	ep, _ := endpoint.Open(ctx, endpoint.TestConfig())
	return act, ep
}

// Bob serves his documents; Alice, who holds the same document, syncs it
// with him. Both end with the union of their entries.
func ExampleSync() {
	ctx := context.Background()
	alice, aliceEP := node(ctx)
	bob, bobEP := node(ctx)
	defer alice.Close()
	defer bob.Close()
	defer aliceEP.Close()
	defer bobEP.Close()

	bobEP.Handle(endpoint.ALPNSync, live.NewServer(bob, live.DefaultSessionConfig(), nil))

	doc, _ := alice.CreateDoc(ctx, replica.Batched)
	bob.ImportDoc(ctx, doc)
	author, _ := alice.CreateAuthor(ctx)
	for _, k := range []string{"a", "b", "c"} {
		alice.InsertLocal(ctx, doc.ID(), author, []byte(k), replica.HashContent([]byte(k)), 1)
	}
	bob.InsertLocal(ctx, doc.ID(), author, []byte("d"), replica.HashContent([]byte("d")), 1)

	out, err := live.Sync(ctx, aliceEP, alice, bobEP.Addr(), doc.ID(), live.DefaultSessionConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("sent %d, received %d, equal %v\n", out.Sent, out.Received, out.Equal)
	// Output: sent 3, received 1, equal true
}

package ticket_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// A read ticket for a document held by a node on 127.0.0.1, and back.
func Example() {
	// Fixed seeds keep the output stable; real code uses
	// replica.NewNamespace and the endpoint's own key.
	doc := replica.NamespaceFromSeed([32]byte{1})
	key, err := endpoint.SecretKeyFromSeed(make([]byte, 32))
	if err != nil {
		log.Fatal(err)
	}
	node := endpoint.NodeAddr{
		ID:    key.Public(),
		Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4919")},
	}

	t, err := ticket.New(replica.ReadCapability(doc.ID()), node)
	if err != nil {
		log.Fatal(err)
	}
	text, err := t.ExportText()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("prefix:", text[:len(ticket.Prefix)])

	joined, err := ticket.Parse(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same ticket:", joined.Equal(t))
	fmt.Println("capability:", joined.Capability.Kind())
	fmt.Println("document:", joined.Capability.ID() == doc.ID())
	fmt.Println("node:", joined.Nodes[0].Addrs)
	// Output:
	// prefix: doc
	// same ticket: true
	// capability: read
	// document: true
	// node: [127.0.0.1:4919]
}

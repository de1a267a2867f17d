package endpoint_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/docsnode/docsnode/endpoint"
)

// Two endpoints on loopback: one echoes every stream, the other dials it by
// node id and sends one message.
func Example() {
	ctx := context.Background()

	server, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	err = server.Handle(endpoint.ALPNSync, endpoint.HandlerFunc(func(ctx context.Context, conn *endpoint.Conn) {
		for {
			stream, err := conn.AcceptStream(ctx)
			if err != nil {
				return // the connection or the endpoint closed
			}
			io.Copy(stream, stream)
			stream.Close()
		}
	}))
	if err != nil {
		log.Fatal(err)
	}

	client, err := endpoint.Open(ctx, endpoint.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	conn, err := client.Dial(ctx, server.Addr(), endpoint.ALPNSync)
	if err != nil {
		log.Fatal(err)
	}
	stream, err := conn.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	stream.Write([]byte("hello"))
	stream.Close() // end of our side; the echo ends its side in turn
	reply, err := io.ReadAll(stream)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from the node we dialled: %v\n", reply, conn.RemoteID() == server.ID())
	// Output: hello from the node we dialled: true
}

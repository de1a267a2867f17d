package blobs

import (
	"context"
	"io"
	"testing"

	"github.com/docsnode/docsnode/endpoint"
)

// rawSender answers every stream with 256 MiB of zeros: QUIC alone.
type rawSender struct{}

func (rawSender) HandleConn(ctx context.Context, conn *endpoint.Conn) {
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.ReadAll(st)
		buf := make([]byte, 64<<10)
		for sent := 0; sent < 256<<20; sent += len(buf) {
			st.Write(buf)
		}
		st.Close()
	}
}

// BenchmarkRawStream: 256 MiB over one QUIC stream of the endpoint on
// loopback, with nothing read, hashed or written on either side: the
// ceiling BenchmarkFetchOneStream is measured against.
func BenchmarkRawStream(b *testing.B) {
	srv := openEndpoint(b)
	if err := srv.Handle(endpoint.ALPNBlobs, rawSender{}); err != nil {
		b.Fatal(err)
	}
	client := openEndpoint(b)
	b.SetBytes(256 << 20)
	for range b.N {
		conn, err := client.Dial(ctxT(b), srv.Addr(), endpoint.ALPNBlobs)
		if err != nil {
			b.Fatal(err)
		}
		st, err := conn.OpenStream(ctxT(b))
		if err != nil {
			b.Fatal(err)
		}
		st.Write([]byte{1})
		st.Close()
		if n, err := io.Copy(io.Discard, st); n != 256<<20 {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}

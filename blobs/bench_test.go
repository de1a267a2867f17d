package blobs

import (
	"io"
	"math/rand/v2"
	"testing"

	"github.com/docsnode/docsnode/replica"
)

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	r *rand.ChaCha8
	n int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n)]
	p.r.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

// BenchmarkDownload: one verified download of a 256 MiB blob from one
// peer (providers=1) or three (providers=3) over QUIC on loopback.
func BenchmarkDownload(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "providers=1", 3: "providers=3"}[n], func(b *testing.B) {
			const size = 256 << 20
			var provs []Provider
			var se0 replica.SignedEntry
			for i := range n {
				srv := newServer(b)
				h, _, err := srv.store.Put(&patternReader{rand.NewChaCha8([32]byte{1}), size})
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					se0 = signedHash(b, "k", h, size)
				}
				srv.entries.add(se0)
				provs = append(provs, Provider{srv.ep.Addr(), RefOf(se0.Namespace, &se0)})
			}
			client := openEndpoint(b)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				store := openStore(b, 1<<30)
				if _, err := Download(ctxT(b), client, store, se0.Hash, se0.Len, provs, DownloadConfig{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				store.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFetchOneStream: the same blob from one peer in one request.
func BenchmarkFetchOneStream(b *testing.B) {
	const size = 256 << 20
	srv := newServer(b)
	h, _, err := srv.store.Put(&patternReader{rand.NewChaCha8([32]byte{1}), size})
	if err != nil {
		b.Fatal(err)
	}
	se := signedHash(b, "k", h, size)
	srv.entries.add(se)
	client := openEndpoint(b)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		store := openStore(b, 1<<30)
		if _, err := Fetch(ctxT(b), client, srv.ep.Addr(), store, RefOf(se.Namespace, &se), 0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		store.Close()
		b.StartTimer()
	}
}

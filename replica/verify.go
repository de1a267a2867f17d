package replica

import (
	"crypto/ed25519"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hdevalence/ed25519consensus"
)

// VerifyBatch checks both signatures of every entry and returns one error per
// entry (nil when both verify). It uses batch verification under the same
// ZIP-215 rules as SignedEntry.Verify and spreads the work over all cores.
// When a batch fails, its entries are checked one by one to find the culprits.
func VerifyBatch(entries []SignedEntry) []error {
	errs := make([]error, len(entries))
	parallel(len(entries), 64, func(lo, hi int) { verifyChunk(entries[lo:hi], errs[lo:hi]) })
	return errs
}

// parallel calls fn on consecutive chunks of [0, n) of at most chunk items,
// on up to GOMAXPROCS goroutines, and returns when all are done.
func parallel(n, chunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		for lo := 0; lo < n; lo += chunk {
			fn(lo, min(lo+chunk, n))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		})
	}
	wg.Wait()
}

func verifyChunk(entries []SignedEntry, errs []error) {
	if len(entries) == 1 {
		errs[0] = entries[0].Verify()
		return
	}
	bv := ed25519consensus.NewPreallocatedBatchVerifier(2 * len(entries))
	buf := make([]byte, 0, 64*len(entries))
	for i := range entries {
		se := &entries[i]
		start := len(buf)
		buf = se.AppendSigningBytes(buf)
		msg := buf[start:len(buf):len(buf)]
		bv.Add(ed25519.PublicKey(se.Namespace[:]), msg, se.NamespaceSig[:])
		bv.Add(ed25519.PublicKey(se.Author[:]), msg, se.AuthorSig[:])
	}
	if bv.Verify() {
		return
	}
	for i := range entries {
		errs[i] = entries[i].Verify()
	}
}

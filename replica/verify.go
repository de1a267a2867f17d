package replica

import (
	"crypto/ed25519"
	"runtime"
	"sync"

	"github.com/hdevalence/ed25519consensus"
)

// VerifyBatch checks both signatures of every entry and returns one error per
// entry (nil when both verify). It uses batch verification under the same
// ZIP-215 rules as SignedEntry.Verify and spreads the work over all cores.
// When a batch fails, its entries are checked one by one to find the culprits.
func VerifyBatch(entries []SignedEntry) []error {
	errs := make([]error, len(entries))
	if len(entries) == 0 {
		return errs
	}
	const chunk = 64
	workers := min(runtime.GOMAXPROCS(0), (len(entries)+chunk-1)/chunk)
	if workers <= 1 {
		verifyChunk(entries, errs)
		return errs
	}
	var wg sync.WaitGroup
	next := make(chan int, (len(entries)+chunk-1)/chunk)
	for lo := 0; lo < len(entries); lo += chunk {
		next <- lo
	}
	close(next)
	for range workers {
		wg.Go(func() {
			for lo := range next {
				hi := min(lo+chunk, len(entries))
				verifyChunk(entries[lo:hi], errs[lo:hi])
			}
		})
	}
	wg.Wait()
	return errs
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

package replica

import (
	"crypto/rand"
	"fmt"
	"runtime"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/sync/errgroup"
)

// VerifyBatch checks both signatures of every entry and returns one error per
// entry (nil when both verify). It uses batch verification under the same
// ZIP-215 rules as SignedEntry.Verify and spreads the work over all cores;
// a failed batch still reports which signatures are bad.
func VerifyBatch(entries []SignedEntry) []error {
	errs := make([]error, len(entries))
	// A document's entries share one namespace key and few authors: expand
	// each distinct key once (decompressing a point costs about as much as
	// a third of a verification) and share it, read-only, across workers.
	keys := make(map[[IDLen]byte]*voi.ExpandedPublicKey)
	for i := range entries {
		for _, pub := range [][IDLen]byte{entries[i].Namespace, entries[i].Author} {
			if _, ok := keys[pub]; !ok && len(keys) < maxExpandedKeys {
				// A key that does not decode stays nil and fails below.
				keys[pub], _ = voi.NewExpandedPublicKey(voi.PublicKey(pub[:]))
			}
		}
	}
	parallel(len(entries), 64, func(lo, hi int) { verifyChunk(entries[lo:hi], errs[lo:hi], keys) })
	return errs
}

// maxExpandedKeys bounds the expanded-key cache of one VerifyBatch call;
// keys beyond it are verified without expansion.
const maxExpandedKeys = 1024

// parallel calls fn on consecutive chunks of [0, n) of at most chunk items,
// on up to GOMAXPROCS goroutines, and returns when all are done.
func parallel(n, chunk int, fn func(lo, hi int)) {
	if n <= chunk {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for lo := 0; lo < n; lo += chunk {
		g.Go(func() error {
			fn(lo, min(lo+chunk, n))
			return nil
		})
	}
	g.Wait()
}

func verifyChunk(entries []SignedEntry, errs []error, keys map[[IDLen]byte]*voi.ExpandedPublicKey) {
	bv := voi.NewBatchVerifierWithCapacity(2 * len(entries))
	buf := make([]byte, 0, 128*len(entries))
	add := func(pub [IDLen]byte, msg []byte, sig *[64]byte) {
		if x := keys[pub]; x != nil {
			bv.AddExpandedWithOptions(x, msg, sig[:], zip215)
		} else {
			bv.AddWithOptions(voi.PublicKey(pub[:]), msg, sig[:], zip215)
		}
	}
	for i := range entries {
		se := &entries[i]
		start := len(buf)
		buf = se.AppendSigningBytes(buf)
		msg := buf[start:len(buf):len(buf)]
		add(se.Namespace, msg, &se.NamespaceSig)
		add(se.Author, msg, &se.AuthorSig)
	}
	if ok, valid := bv.Verify(rand.Reader); !ok {
		for i := range entries {
			switch {
			case !valid[2*i]:
				errs[i] = fmt.Errorf("%w: namespace signature on key %q", ErrBadSignature, truncKey(entries[i].Key))
			case !valid[2*i+1]:
				errs[i] = fmt.Errorf("%w: author signature on key %q", ErrBadSignature, truncKey(entries[i].Key))
			}
		}
	}
}

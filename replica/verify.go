package replica

import (
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"runtime"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	"golang.org/x/sync/errgroup"
)

// VerifyBatch checks both signatures of every entry and returns one error per
// entry (nil when both verify). It accepts exactly the signatures that
// SignedEntry.Verify accepts (ZIP-215, cofactored) and spreads the work over
// all cores; a failed batch still reports which signatures are bad.
//
// All entries of a document share one namespace key, and most share a few
// authors. The batch equation groups the terms of each distinct key, so a
// chunk of n entries costs one multi-scalar multiplication over its 2n R
// points plus one point per distinct key, where a generic batch verifier
// multiplies 4n points. See verifyChunk.
func VerifyBatch(entries []SignedEntry) []error {
	errs := make([]error, len(entries))
	keys := make(map[[IDLen]byte]*batchKey)
	for i := range entries {
		for _, pub := range [...][IDLen]byte{entries[i].Namespace, entries[i].Author} {
			if _, ok := keys[pub]; !ok && len(keys) < maxBatchKeys {
				keys[pub] = decodeBatchKey(pub)
			}
		}
	}
	parallel(len(entries), verifyChunkSize, func(lo, hi int) { verifyChunk(entries[lo:hi], errs[lo:hi], keys) })
	return errs
}

const (
	// maxBatchKeys bounds the decoded keys of one VerifyBatch call; the
	// entries of keys beyond it are verified one by one.
	maxBatchKeys = 1024
	// verifyChunkSize is the number of entries per multi-scalar
	// multiplication. Larger chunks amortise better (Pippenger's method)
	// but a bad signature sends the whole chunk to single verification.
	verifyChunkSize = 256
)

// batchKey is a public key decoded once per VerifyBatch call, read-only
// across workers. point is nil when the key does not decode.
type batchKey struct {
	point *curve.ExpandedEdwardsPoint
}

// decodeBatchKey decodes pub under the ZIP-215 rules: non-canonical
// encodings and small-order points are allowed.
func decodeBatchKey(pub [IDLen]byte) *batchKey {
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(pub[:]); err != nil {
		return &batchKey{}
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return &batchKey{}
	}
	return &batchKey{point: curve.NewExpandedEdwardsPoint(&p)}
}

var expandedBasepoint = curve.NewExpandedEdwardsPoint(curve.ED25519_BASEPOINT_POINT)

// parallel calls fn on consecutive chunks of [0, n) of at most chunk items,
// on up to GOMAXPROCS goroutines, and returns when all are done.
func parallel(n, chunk int, fn func(lo, hi int)) {
	if n <= chunk {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	// Split evenly so no worker is left with a small tail.
	chunks := (n + chunk - 1) / chunk
	size := (n + chunks - 1) / chunks
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for lo := 0; lo < n; lo += size {
		g.Go(func() error {
			fn(lo, min(lo+size, n))
			return nil
		})
	}
	g.Wait()
}

// verifyChunk checks the signatures of entries with one randomised batch
// equation. Each valid signature (R, s) by key A over message M satisfies
// [8]([s]B - R - [k]A) = 0 with k = SHA-512(R || A || M), the cofactored
// ZIP-215 equation. With independent random 128-bit z per signature the
// chunk checks
//
//	[8]( [-Σ z·s]B + Σ [z]R + Σ_A [Σ_{sigs by A} z·k]A ) = 0
//
// which holds when every signature is valid and fails otherwise except with
// probability about 2^-128. Grouping the k terms by key is what makes this
// cheaper than a generic batch. A signature that cannot be decoded is
// reported at once and left out; when the equation fails, every remaining
// signature is checked on its own with the single-signature path, so the
// result never depends on the batch.
func verifyChunk(entries []SignedEntry, errs []error, keys map[[IDLen]byte]*batchKey) {
	n := 2 * len(entries)
	var (
		zs      = make([]scalar.Scalar, n)
		zptrs   = make([]*scalar.Scalar, 0, n)
		rs      = make([]curve.EdwardsPoint, n)
		rptrs   = make([]*curve.EdwardsPoint, 0, n)
		bcoeff  scalar.Scalar
		acoeffs = make(map[*batchKey]*scalar.Scalar, 4)
		batched = make([]bool, n) // signature j is in the equation
		single  = make([]bool, n) // signature j must be checked alone
		randBuf = make([]byte, 16*n)
		msgBuf  = make([]byte, 0, 128)
		digest  [64]byte
		zbytes  [32]byte
		h       = sha512.New()
	)
	if _, err := rand.Read(randBuf); err != nil {
		panic("replica: no randomness for batch verification: " + err.Error())
	}
	bad := func(i int, which string) {
		if errs[i] == nil {
			errs[i] = fmt.Errorf("%w: %s signature on key %q", ErrBadSignature, which, truncKey(entries[i].Key))
		}
	}
	for i := range entries {
		se := &entries[i]
		msgBuf = se.AppendSigningBytes(msgBuf[:0])
		for side, pub := range [...]*[IDLen]byte{(*[IDLen]byte)(&se.Namespace), (*[IDLen]byte)(&se.Author)} {
			j := 2*i + side
			sig := &se.NamespaceSig
			if side == 1 {
				sig = &se.AuthorSig
			}
			key := keys[*pub]
			if key == nil {
				single[j] = true // beyond maxBatchKeys
				continue
			}
			var s scalar.Scalar
			var rc curve.CompressedEdwardsY
			if key.point == nil || !scalar.ScMinimalVartime(sig[32:]) {
				bad(i, sideName[side])
				continue
			}
			if _, err := rc.SetBytes(sig[:32]); err != nil {
				bad(i, sideName[side])
				continue
			}
			if _, err := rs[j].SetCompressedY(&rc); err != nil {
				bad(i, sideName[side])
				continue
			}
			if _, err := s.SetBytesModOrder(sig[32:]); err != nil {
				bad(i, sideName[side])
				continue
			}
			h.Reset()
			h.Write(sig[:32])
			h.Write(pub[:])
			h.Write(msgBuf)
			h.Sum(digest[:0])
			var k scalar.Scalar
			if _, err := k.SetBytesModOrderWide(digest[:]); err != nil {
				bad(i, sideName[side])
				continue
			}
			copy(zbytes[:16], randBuf[16*j:16*j+16])
			z := &zs[j]
			if _, err := z.SetBytesModOrder(zbytes[:]); err != nil {
				panic("replica: 128-bit scalar out of range")
			}
			var t scalar.Scalar
			bcoeff.Add(&bcoeff, t.Mul(z, &s))
			ac := acoeffs[key]
			if ac == nil {
				ac = new(scalar.Scalar)
				acoeffs[key] = ac
			}
			ac.Add(ac, t.Mul(z, &k))
			rptrs = append(rptrs, &rs[j])
			batched[j] = true
		}
	}
	if len(rptrs) > 0 {
		var negB scalar.Scalar
		negB.Neg(&bcoeff)
		staticScalars := []*scalar.Scalar{&negB}
		staticPoints := []*curve.ExpandedEdwardsPoint{expandedBasepoint}
		for key, ac := range acoeffs {
			staticScalars = append(staticScalars, ac)
			staticPoints = append(staticPoints, key.point)
		}
		for j := range batched {
			if batched[j] {
				zptrs = append(zptrs, &zs[j])
			}
		}
		var sum curve.EdwardsPoint
		sum.ExpandedMultiscalarMulVartime(staticScalars, staticPoints, zptrs, rptrs)
		if !sum.IsSmallOrder() {
			for j := range batched {
				single[j] = single[j] || batched[j]
			}
		}
	}
	for j, alone := range single {
		if !alone {
			continue
		}
		i, side := j/2, j%2
		se := &entries[i]
		msgBuf = se.AppendSigningBytes(msgBuf[:0])
		pub, sig := [IDLen]byte(se.Namespace), se.NamespaceSig
		if side == 1 {
			pub, sig = [IDLen]byte(se.Author), se.AuthorSig
		}
		if !verify(pub, msgBuf, sig) {
			bad(i, sideName[side])
		}
	}
}

var sideName = [2]string{"namespace", "author"}

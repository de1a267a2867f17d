package ticket

import (
	"testing"

	"filippo.io/edwards25519"
	"pgregory.net/rapid"
)

// TestPublicKeyProblemMatchesEdwards25519 checks the point decoding that
// publicKeyProblem relies on against an independent implementation: a key
// is rejected as "not a point" exactly when filippo.io/edwards25519 cannot
// decode it, and as small-order exactly when [8]P is the identity.
func TestPublicKeyProblemMatchesEdwards25519(t *testing.T) {
	check := func(t rapid.TB, k [32]byte) {
		problem := publicKeyProblem(k)
		p, err := new(edwards25519.Point).SetBytes(k[:])
		switch {
		case err != nil:
			if problem != "is not a point on the Ed25519 curve" {
				t.Fatalf("%x: edwards25519 says %v, publicKeyProblem says %q", k, err, problem)
			}
		case new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1:
			if problem != "is a point of small order, which no secret key has" {
				t.Fatalf("%x: small-order point, publicKeyProblem says %q", k, problem)
			}
		default:
			if problem != "" {
				t.Fatalf("%x: valid point, publicKeyProblem says %q", k, problem)
			}
		}
	}
	// The notAPoint of the external tests, the encodings of the small-order
	// points (both signs of x where x is 0), and y = p-1, p, p+1 (the last
	// two non-canonical).
	fixed := [][32]byte{{2}, {}, {1}, {1, 31: 0x80}, {31: 0x80}}
	for _, low := range []byte{0xec, 0xed, 0xee} {
		var k [32]byte
		k[0] = low
		for i := 1; i < 31; i++ {
			k[i] = 0xff
		}
		k[31] = 0x7f
		fixed = append(fixed, k)
	}
	for _, k := range fixed {
		check(t, k)
	}
	var smallOrder int
	for _, k := range fixed {
		if publicKeyProblem(k) == "is a point of small order, which no secret key has" {
			smallOrder++
		}
	}
	if smallOrder < 3 {
		t.Fatalf("only %d of the fixed keys are small-order points", smallOrder)
	}
	rapid.Check(t, func(t *rapid.T) {
		check(t, [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key")))
	})
}

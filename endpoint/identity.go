package endpoint

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
)

// NodeID names a node: it is the node's Ed25519 public key. Every QUIC
// connection proves the peer holds the matching secret key, so a NodeID is
// what a dialler checks and what an acceptor learns.
type NodeID [32]byte

// ParseNodeID parses the 64 hex characters that NodeID.String produces.
// Upper-case hex is accepted too.
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	if len(s) != 2*len(id) {
		return NodeID{}, fmt.Errorf("%w: got %d characters", ErrBadNodeID, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return NodeID{}, fmt.Errorf("%w: %v", ErrBadNodeID, err)
	}
	return id, nil
}

// String returns the id as 64 lowercase hex characters.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 10 hex characters, for logs and user output.
// It is not unique enough to identify a node.
func (id NodeID) Short() string { return id.String()[:10] }

// IsZero reports whether id is the zero value, which names no node.
func (id NodeID) IsZero() bool { return id == NodeID{} }

// MarshalText implements encoding.TextMarshaler (lowercase hex).
func (id NodeID) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, id[:]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *NodeID) UnmarshalText(b []byte) error {
	parsed, err := ParseNodeID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// SecretKey is a node's Ed25519 secret key. Its zero value holds no key.
// String and GoString never print key material.
type SecretKey struct {
	priv ed25519.PrivateKey
}

// GenerateSecretKey returns a fresh random secret key.
func GenerateSecretKey() SecretKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("endpoint: generate ed25519 key: " + err.Error())
	}
	return SecretKey{priv: priv}
}

// SecretKeyFromSeed rebuilds a secret key from the 32-byte seed that
// SecretKey.Seed returns.
func SecretKeyFromSeed(seed []byte) (SecretKey, error) {
	if len(seed) != ed25519.SeedSize {
		return SecretKey{}, fmt.Errorf("%w: got %d bytes", ErrBadSeed, len(seed))
	}
	return SecretKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns a copy of the 32-byte seed, the form in which to store the
// key. It returns nil for the zero SecretKey.
func (k SecretKey) Seed() []byte {
	if k.IsZero() {
		return nil
	}
	return k.priv.Seed()
}

// Public returns the node id that belongs to this key.
func (k SecretKey) Public() NodeID {
	var id NodeID
	if !k.IsZero() {
		copy(id[:], k.priv.Public().(ed25519.PublicKey))
	}
	return id
}

// IsZero reports whether k holds no key.
func (k SecretKey) IsZero() bool { return len(k.priv) == 0 }

// String names the key by its public half only.
func (k SecretKey) String() string {
	if k.IsZero() {
		return "SecretKey(none)"
	}
	return "SecretKey(" + k.Public().Short() + ")"
}

// GoString keeps %#v from printing key material.
func (k SecretKey) GoString() string { return k.String() }

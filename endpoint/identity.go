package endpoint

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/docsnode/docsnode/internal/redact"
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
// No printing, logging or marshalling method shows key material: SecretSeed
// is the one way to export it.
type SecretKey struct {
	// Sealed in a closure: fmt prints a func as an address whatever the
	// verb and depth, so a struct holding a SecretKey in an unexported
	// field (where fmt cannot call Format) prints no key bytes either.
	priv func() ed25519.PrivateKey
}

func sealKey(priv ed25519.PrivateKey) SecretKey {
	return SecretKey{priv: func() ed25519.PrivateKey { return priv }}
}

// GenerateSecretKey returns a fresh random secret key.
func GenerateSecretKey() SecretKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("endpoint: generate ed25519 key: " + err.Error())
	}
	return sealKey(priv)
}

// SecretKeyFromSeed rebuilds a secret key from the 32-byte seed that
// SecretKey.SecretSeed returns.
func SecretKeyFromSeed(seed []byte) (SecretKey, error) {
	if len(seed) != ed25519.SeedSize {
		return SecretKey{}, fmt.Errorf("%w: got %d bytes", ErrBadSeed, len(seed))
	}
	return sealKey(ed25519.NewKeyFromSeed(seed)), nil
}

// SecretSeed exports a copy of the 32-byte seed, the form in which to
// store the key. It returns nil for the zero SecretKey.
func (k SecretKey) SecretSeed() []byte {
	if k.IsZero() {
		return nil
	}
	return k.priv().Seed()
}

// signer returns the key for TLS; nil for the zero SecretKey.
func (k SecretKey) signer() ed25519.PrivateKey {
	if k.IsZero() {
		return nil
	}
	return k.priv()
}

// Public returns the node id that belongs to this key.
func (k SecretKey) Public() NodeID {
	var id NodeID
	if !k.IsZero() {
		copy(id[:], k.priv().Public().(ed25519.PublicKey))
	}
	return id
}

// IsZero reports whether k holds no key.
func (k SecretKey) IsZero() bool { return k.priv == nil }

// String names the key by its public half only.
func (k SecretKey) String() string {
	if k.IsZero() {
		return "SecretKey(none)"
	}
	return "SecretKey(" + k.Public().Short() + ", " + redact.Marker + ")"
}

// GoString keeps %#v from printing key material.
func (k SecretKey) GoString() string { return k.String() }

// Format writes the same as String for every verb, %x and %d included.
func (k SecretKey) Format(f fmt.State, verb rune) { redact.Format(f, verb, k.String()) }

// LogValue logs the same as String.
func (k SecretKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText writes the same as String, so that JSON or text encoding of
// a value that holds the key does not export it.
func (k SecretKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

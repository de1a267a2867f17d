package replica

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/docsnode/docsnode/internal/redact"
)

// IDLen is the length of every public id: namespace, author and node ids
// are Ed25519 public keys.
const IDLen = 32

// SeedLen is the length of an exported secret: the Ed25519 seed.
const SeedLen = ed25519.SeedSize

// NamespaceID is a document's id: the public half of its namespace key. It is
// also the document's read capability.
type NamespaceID [IDLen]byte

// AuthorID identifies a writer: the public half of its author key.
type AuthorID [IDLen]byte

// String returns the id as lowercase hex.
func (id NamespaceID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 10 hex characters of the id.
func (id NamespaceID) Short() string { return id.String()[:10] }

// String returns the id as lowercase hex.
func (id AuthorID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 10 hex characters of the id.
func (id AuthorID) Short() string { return id.String()[:10] }

// MarshalText implements encoding.TextMarshaler (lowercase hex).
func (id NamespaceID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *NamespaceID) UnmarshalText(b []byte) error {
	v, err := ParseNamespaceID(string(b))
	*id = v
	return err
}

// MarshalText implements encoding.TextMarshaler (lowercase hex).
func (id AuthorID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *AuthorID) UnmarshalText(b []byte) error {
	v, err := ParseAuthorID(string(b))
	*id = v
	return err
}

// ParseNamespaceID parses 64 hex characters.
func ParseNamespaceID(s string) (NamespaceID, error) {
	var id NamespaceID
	err := parseHex32(s, (*[32]byte)(&id), "namespace id")
	return id, err
}

// ParseAuthorID parses 64 hex characters.
func ParseAuthorID(s string) (AuthorID, error) {
	var id AuthorID
	err := parseHex32(s, (*[32]byte)(&id), "author id")
	return id, err
}

// Validate reports, wrapping ErrInvalidKey, whether id cannot be a
// document id: the zero id, or 32 bytes that are not the public half of
// any Ed25519 key pair (see AuthorID.Validate).
func (id NamespaceID) Validate() error { return checkPublicKey(id, "namespace id") }

// Validate reports, wrapping ErrInvalidKey, whether id cannot be an author
// id: the zero id, bytes that are not a point on the Ed25519 curve, or a
// point of small order. No secret key has a small-order public key, and
// under the ZIP-215 rules anyone can forge a signature for one. Keys are
// decoded as the verifier decodes them, so an id that passes is one
// signatures can be checked against.
func (id AuthorID) Validate() error { return checkPublicKey(id, "author id") }

func checkPublicKey(k [IDLen]byte, what string) error {
	if k == [IDLen]byte{} {
		return fmt.Errorf("%w: zero %s", ErrInvalidKey, what)
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY((*curve.CompressedEdwardsY)(&k)); err != nil {
		return fmt.Errorf("%w: %s %x… is not a point on the Ed25519 curve", ErrInvalidKey, what, k[:5])
	}
	if p.IsSmallOrder() {
		return fmt.Errorf("%w: %s %x… is a point of small order, which no secret key has", ErrInvalidKey, what, k[:5])
	}
	return nil
}

func parseHex32(s string, out *[32]byte, what string) error {
	if len(s) != 2*32 {
		return fmt.Errorf("%w: %s must be 64 hex characters, got %d", ErrInvalidKey, what, len(s))
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return fmt.Errorf("%w: %s is not hex: %v", ErrInvalidKey, what, err)
	}
	return nil
}

// keyPair is the shared part of NamespaceSecret and Author.
//
// The private key is sealed in a closure: fmt prints a func as an address
// whatever the verb and depth, so a struct that holds a key in an
// unexported field (where fmt cannot call the key's Format) prints no key
// bytes either. (A pointer would not do: %s of one reaches its target.)
type keyPair struct {
	priv func() ed25519.PrivateKey // nil for the zero key
	pub  [IDLen]byte
}

func keyPairFromSeed(seed []byte) keyPair {
	priv := ed25519.NewKeyFromSeed(seed)
	var kp keyPair
	kp.priv = func() ed25519.PrivateKey { return priv }
	copy(kp.pub[:], priv[SeedLen:])
	return kp
}

func newKeyPair(r io.Reader) (keyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	var seed [SeedLen]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return keyPair{}, fmt.Errorf("generate key: %w", err)
	}
	return keyPairFromSeed(seed[:]), nil
}

// ok reports whether kp holds a key: false for the zero Author or
// NamespaceSecret.
func (kp keyPair) ok() bool { return kp.priv != nil }

// check returns an error wrapping ErrInvalidKey when kp holds no key.
func (kp keyPair) check(what string) error {
	if !kp.ok() {
		return fmt.Errorf("%w: %s holds no key", ErrInvalidKey, what)
	}
	return nil
}

// seed returns the key's seed; the zero array when kp holds no key.
func (kp keyPair) seed() [SeedLen]byte {
	var s [SeedLen]byte
	if kp.ok() {
		copy(s[:], kp.priv()[:SeedLen])
	}
	return s
}

// text is the seed as hex, or "" when kp holds no key, so that the text of
// the zero key does not parse as a real one.
func (kp keyPair) text() string {
	if !kp.ok() {
		return ""
	}
	seed := kp.seed()
	return hex.EncodeToString(seed[:])
}

// describe names the key by its type and the short form of its public
// half, never by its secret.
func (kp keyPair) describe(typ string) string {
	if !kp.ok() {
		return typ + "(none)"
	}
	return typ + "(" + hex.EncodeToString(kp.pub[:5]) + ", " + redact.Marker + ")"
}

// NamespaceSecret is a document's private key: the write capability.
type NamespaceSecret struct{ kp keyPair }

// NewNamespace generates a namespace key from r (crypto/rand when nil).
func NewNamespace(r io.Reader) (NamespaceSecret, error) {
	kp, err := newKeyPair(r)
	return NamespaceSecret{kp}, err
}

// NamespaceFromSeed derives the namespace key from its 32-byte seed.
func NamespaceFromSeed(seed [SeedLen]byte) NamespaceSecret {
	return NamespaceSecret{keyPairFromSeed(seed[:])}
}

// ID returns the public half, the document id.
func (s NamespaceSecret) ID() NamespaceID { return s.kp.pub }

// SecretSeed exports the secret's 32-byte seed: whoever holds it can write
// to the document. The zero NamespaceSecret has none: SecretSeed returns
// the zero array (check IsZero first).
func (s NamespaceSecret) SecretSeed() [SeedLen]byte { return s.kp.seed() }

// IsZero reports whether s holds no key.
func (s NamespaceSecret) IsZero() bool { return s.kp.priv == nil }

// Sign signs msg with the namespace key. The zero NamespaceSecret holds no
// key: Sign returns an error wrapping ErrInvalidKey.
func (s NamespaceSecret) Sign(msg []byte) ([64]byte, error) {
	if err := s.kp.check("namespace secret"); err != nil {
		return [64]byte{}, err
	}
	return sign(s.kp.priv(), msg), nil
}

// ExportSecret exports the secret as 64 lowercase hex characters of its
// seed; the zero NamespaceSecret as "", which ParseNamespaceSecret refuses.
// It is the one way to the secret's text: String and the other printing
// and marshalling methods redact it.
func (s NamespaceSecret) ExportSecret() string { return s.kp.text() }

// String names the secret by its document id's short form and says that
// the secret was left out: "NamespaceSecret(0123456789, secret redacted)".
func (s NamespaceSecret) String() string { return s.kp.describe("NamespaceSecret") }

// GoString returns the same as String, so %#v does not print the key.
func (s NamespaceSecret) GoString() string { return s.String() }

// Format writes the same as String for every verb, %x and %d included.
func (s NamespaceSecret) Format(f fmt.State, verb rune) { redact.Format(f, verb, s.String()) }

// LogValue logs the same as String.
func (s NamespaceSecret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText writes the same as String, so that JSON or text encoding of
// a value that holds the secret does not export it.
func (s NamespaceSecret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseNamespaceSecret imports a secret exported by
// NamespaceSecret.ExportSecret.
func ParseNamespaceSecret(s string) (NamespaceSecret, error) {
	var seed [SeedLen]byte
	if err := parseHex32(s, &seed, "namespace secret"); err != nil {
		return NamespaceSecret{}, err
	}
	return NamespaceFromSeed(seed), nil
}

// Author is a writer's private key.
type Author struct{ kp keyPair }

// NewAuthor generates an author key from r (crypto/rand when nil).
func NewAuthor(r io.Reader) (Author, error) {
	kp, err := newKeyPair(r)
	return Author{kp}, err
}

// AuthorFromSeed derives the author key from its 32-byte seed.
func AuthorFromSeed(seed [SeedLen]byte) Author { return Author{keyPairFromSeed(seed[:])} }

// ID returns the public half.
func (a Author) ID() AuthorID { return a.kp.pub }

// SecretSeed exports the author's 32-byte seed: whoever holds it can sign
// as the author. The zero Author has none: SecretSeed returns the zero
// array (check IsZero first).
func (a Author) SecretSeed() [SeedLen]byte { return a.kp.seed() }

// IsZero reports whether a holds no key.
func (a Author) IsZero() bool { return a.kp.priv == nil }

// Sign signs msg with the author key. The zero Author holds no key: Sign
// returns an error wrapping ErrInvalidKey.
func (a Author) Sign(msg []byte) ([64]byte, error) {
	if err := a.kp.check("author"); err != nil {
		return [64]byte{}, err
	}
	return sign(a.kp.priv(), msg), nil
}

// ExportSecret exports the author as 64 lowercase hex characters of its
// seed; the zero Author as "", which ParseAuthor refuses. It is the one way
// to the secret's text: String and the other printing and marshalling
// methods redact it.
func (a Author) ExportSecret() string { return a.kp.text() }

// String names the author by its id's short form and says that the secret
// was left out: "Author(0123456789, secret redacted)".
func (a Author) String() string { return a.kp.describe("Author") }

// GoString returns the same as String, so %#v does not print the key.
func (a Author) GoString() string { return a.String() }

// Format writes the same as String for every verb, %x and %d included.
func (a Author) Format(f fmt.State, verb rune) { redact.Format(f, verb, a.String()) }

// LogValue logs the same as String.
func (a Author) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalText writes the same as String, so that JSON or text encoding of
// a value that holds the author does not export its secret.
func (a Author) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// ParseAuthor imports an author exported by Author.ExportSecret.
func ParseAuthor(s string) (Author, error) {
	var seed [SeedLen]byte
	if err := parseHex32(s, &seed, "author secret"); err != nil {
		return Author{}, err
	}
	return AuthorFromSeed(seed), nil
}

// sign uses curve25519-voi, whose fixed-base multiplication is about twice as
// fast as the standard library's here; Ed25519 signing is deterministic, so
// the signatures are the same bytes either way.
func sign(priv ed25519.PrivateKey, msg []byte) [64]byte {
	var sig [64]byte
	copy(sig[:], voi.Sign(voi.PrivateKey(priv), msg))
	return sig
}

// zip215 is the one verification rule set: ZIP-215, for single and batch
// verification alike, so every node accepts exactly the same signatures
// whichever path checked them.
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// verify checks sig over msg under the ZIP-215 rules.
func verify(pub [IDLen]byte, msg []byte, sig [64]byte) bool {
	return voi.VerifyWithOptions(voi.PublicKey(pub[:]), msg, sig[:], zip215)
}

// CapabilityKind says whether a capability allows writing.
type CapabilityKind uint8

const (
	// Read capability: the namespace id. Entries can be received and served.
	Read CapabilityKind = 1
	// Write capability: the namespace secret. Entries can also be signed.
	Write CapabilityKind = 2
)

func (k CapabilityKind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("capability(%d)", uint8(k))
}

// Capability is what a node holds of a document: its id (Read) or its
// secret (Write). The zero value is invalid. It prints, logs and marshals
// as text without the secret; ExportBinary exports it.
type Capability struct {
	kind   CapabilityKind
	id     NamespaceID
	secret NamespaceSecret
}

// ReadCapability returns the read capability for id.
func ReadCapability(id NamespaceID) Capability { return Capability{kind: Read, id: id} }

// WriteCapability returns the write capability held by secret.
func WriteCapability(secret NamespaceSecret) Capability {
	return Capability{kind: Write, id: secret.ID(), secret: secret}
}

// Kind returns Read or Write.
func (c Capability) Kind() CapabilityKind { return c.kind }

// ID returns the document id.
func (c Capability) ID() NamespaceID { return c.id }

// Secret returns the namespace secret of a write capability.
func (c Capability) Secret() (NamespaceSecret, bool) { return c.secret, c.kind == Write }

// ReadOnly returns the read capability for the same document.
func (c Capability) ReadOnly() Capability { return ReadCapability(c.id) }

// Merge combines two capabilities for the same document. The result is the
// stronger of the two: merging can upgrade Read to Write but never downgrade.
func (c Capability) Merge(other Capability) (Capability, error) {
	if c.id != other.id {
		return c, fmt.Errorf("%w: %s and %s", ErrNamespaceMismatch, c.id.Short(), other.id.Short())
	}
	if other.kind > c.kind {
		return other, nil
	}
	return c, nil
}

// capabilityLen is the encoded length: kind byte and 32 bytes of id or seed.
const capabilityLen = 1 + 32

// Validate reports whether c can name a document: a known kind, a write
// capability that holds a namespace secret, and a read capability whose id
// passes NamespaceID.Validate. The errors wrap ErrMalformed (kind) or
// ErrInvalidKey.
func (c Capability) Validate() error {
	switch c.kind {
	case Read:
		return c.id.Validate()
	case Write:
		// The id is derived from the secret, so it is a valid key.
		return c.secret.kp.check("write capability's namespace secret")
	}
	return fmt.Errorf("%w: capability kind %d", ErrMalformed, c.kind)
}

// checkStorable is the part of Validate that the store needs: a known kind,
// a secret for a write capability (without one, the encoding would decode
// to another document) and an id that is not zero.
func (c Capability) checkStorable() error {
	switch c.kind {
	case Read:
		if c.id == (NamespaceID{}) {
			return fmt.Errorf("%w: zero namespace id", ErrInvalidKey)
		}
		return nil
	case Write:
		return c.secret.kp.check("write capability's namespace secret")
	}
	return fmt.Errorf("%w: capability kind %d", ErrMalformed, c.kind)
}

// String names the capability by its kind and its document id's short
// form: "Capability(read, 0123456789)", or for a write capability
// "Capability(write, 0123456789, secret redacted)".
func (c Capability) String() string {
	switch c.kind {
	case Read:
		return "Capability(read, " + c.id.Short() + ")"
	case Write:
		return "Capability(write, " + c.id.Short() + ", " + redact.Marker + ")"
	}
	return "Capability(" + c.kind.String() + ")"
}

// GoString returns the same as String, so %#v does not print the key.
func (c Capability) GoString() string { return c.String() }

// Format writes the same as String for every verb, %x and %d included.
func (c Capability) Format(f fmt.State, verb rune) { redact.Format(f, verb, c.String()) }

// LogValue logs the same as String.
func (c Capability) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalText writes the same as String, so that JSON or text encoding of
// a value that holds the capability does not export a secret.
func (c Capability) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ExportBinary encodes the capability as its kind byte followed by the
// namespace id (Read) or the secret's seed (Write): the encoding of a write
// capability holds the document's secret. It refuses an unknown kind
// (ErrMalformed) and a write capability that holds no secret
// (ErrInvalidKey): its encoding would decode to another document.
func (c Capability) ExportBinary() ([]byte, error) {
	if c.kind == Write {
		if err := c.secret.kp.check("write capability's namespace secret"); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, capabilityLen)
	switch c.kind {
	case Read:
		out = append(append(out, byte(Read)), c.id[:]...)
	case Write:
		seed := c.secret.SecretSeed()
		out = append(append(out, byte(Write)), seed[:]...)
	default:
		return nil, fmt.Errorf("%w: capability kind %d", ErrMalformed, c.kind)
	}
	return out, nil
}

// UnmarshalCapability decodes a capability written by ExportBinary.
func UnmarshalCapability(b []byte) (Capability, error) {
	if len(b) != capabilityLen {
		return Capability{}, fmt.Errorf("%w: capability is %d bytes, want %d", ErrMalformed, len(b), capabilityLen)
	}
	var k [32]byte
	copy(k[:], b[1:])
	switch CapabilityKind(b[0]) {
	case Read:
		return ReadCapability(k), nil
	case Write:
		return WriteCapability(NamespaceFromSeed(k)), nil
	}
	return Capability{}, fmt.Errorf("%w: unknown capability kind %d", ErrMalformed, b[0])
}

package ticket

import (
	"encoding/base32"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/oasisprotocol/curve25519-voi/curve"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/redact"
	"github.com/docsnode/docsnode/replica"
)

// Prefix starts the text form of every document ticket.
const Prefix = "doc"

// Version is the format version written as the first byte of a ticket.
const Version = 1

// MaxNodes bounds the nodes in one ticket, both when encoding and when
// decoding untrusted input. A joining node needs only one that answers.
const MaxNodes = 8

const (
	capabilityLen = 1 + 32 // kind byte, then namespace id or seed
	nodeHeaderLen = 32 + 1 // node id, then the address count
	// maxNodeLen is the longest endpoint.NodeAddr: MaxAddrs IPv6
	// addresses of 19 bytes each.
	maxNodeLen = nodeHeaderLen + endpoint.MaxAddrs*19
	// maxBinaryLen is the longest ticket: version, capability, node count
	// and MaxNodes of the longest node addresses.
	maxBinaryLen = 1 + capabilityLen + 1 + MaxNodes*maxNodeLen
)

// b32 is RFC 4648 base32 in lowercase without padding: it survives URLs,
// shells and double-click selection, and reads less like shouting.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// maxTextLen is the length of the text form of the longest ticket.
var maxTextLen = len(Prefix) + b32.EncodedLen(maxBinaryLen)

// DocTicket is what a node needs to join a document: a capability for it
// (the document id to read, or its secret to write as well) and the
// addresses of nodes that hold it.
//
// A DocTicket built with New or decoded by Parse is valid. Its fields are
// exported for reading; a ticket assembled by hand is checked when encoded.
//
// A write ticket holds the document's secret. It prints, logs and formats
// without it, and MarshalText and MarshalBinary refuse it (ErrSecret), so
// that it leaves only through ExportText or ExportBinary. A read ticket
// holds no secret: its String is its text form.
type DocTicket struct {
	Capability replica.Capability
	Nodes      []endpoint.NodeAddr
}

// New returns a ticket for capability c and nodes, after checking the rules
// that Parse enforces: a read or write capability with a valid key, 1 to
// MaxNodes nodes, each with a valid node id and dialable addresses. The
// ticket holds its own copy of nodes.
func New(c replica.Capability, nodes ...endpoint.NodeAddr) (DocTicket, error) {
	t := DocTicket{Capability: c, Nodes: cloneNodes(nodes)}
	if _, err := t.appendBinary(nil); err != nil {
		return DocTicket{}, err
	}
	return t, nil
}

// ReadOnly returns a copy of t that carries the read capability only, so
// that it can be shared without giving away the right to write.
func (t DocTicket) ReadOnly() DocTicket {
	return DocTicket{Capability: t.Capability.ReadOnly(), Nodes: cloneNodes(t.Nodes)}
}

// Equal reports whether t and u hold the same capability and the same
// nodes in the same order.
func (t DocTicket) Equal(u DocTicket) bool {
	a, b := t.Capability, u.Capability
	if a.Kind() != b.Kind() || a.ID() != b.ID() {
		return false
	}
	if sa, ok := a.Secret(); ok {
		sb, _ := b.Secret()
		if sa.SecretSeed() != sb.SecretSeed() {
			return false
		}
	}
	return slices.EqualFunc(t.Nodes, u.Nodes, func(x, y endpoint.NodeAddr) bool {
		return x.ID == y.ID && slices.Equal(x.Addrs, y.Addrs)
	})
}

// appendBinary appends the binary form of t (see ExportBinary) to b. It
// fails, leaving b as it was, if t breaks a rule that New enforces.
func (t DocTicket) appendBinary(b []byte) ([]byte, error) {
	if err := checkCapability(t.Capability); err != nil {
		return b, err
	}
	switch n := len(t.Nodes); {
	case n == 0:
		return b, fmt.Errorf("%w: give at least one node address", ErrNoNodes)
	case n > MaxNodes:
		return b, fmt.Errorf("%w: %d nodes, at most %d allowed", ErrTooManyNodes, n, MaxNodes)
	}
	capBytes, err := t.Capability.ExportBinary()
	if err != nil {
		return b, fmt.Errorf("%w: %w", ErrUnknownCapability, err)
	}
	out := append(b, Version)
	out = append(out, capBytes...)
	out = append(out, byte(len(t.Nodes)))
	for i, node := range t.Nodes {
		if err := checkNodeID(i, node.ID); err != nil {
			return b, err
		}
		if out, err = node.AppendBinary(out); err != nil {
			return b, fmt.Errorf("%w: node %d (%s): %w", ErrBadNodeAddr, i, node.ID.Short(), err)
		}
	}
	return out, nil
}

// ExportBinary returns the binary form of t, the document's secret
// included for a write ticket:
//
//	version     1 byte, Version
//	capability  33 bytes, as replica.Capability.ExportBinary: kind (1 read,
//	            2 write), then the namespace id or the namespace secret's seed
//	node count  1 byte, 1 to MaxNodes
//	nodes       each as endpoint.NodeAddr.AppendBinary
//
// It fails if t breaks a rule that New enforces.
func (t DocTicket) ExportBinary() ([]byte, error) { return t.appendBinary(nil) }

// MarshalBinary implements encoding.BinaryMarshaler for read tickets, as
// ExportBinary. A write ticket is refused with ErrSecret.
func (t DocTicket) MarshalBinary() ([]byte, error) {
	if t.Capability.Kind() == replica.Write {
		return nil, ErrSecret
	}
	return t.ExportBinary()
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It accepts exactly
// what ExportBinary writes, with no trailing bytes, and leaves t unchanged
// on error.
func (t *DocTicket) UnmarshalBinary(b []byte) error {
	decoded, err := decodeBinary(b)
	if err != nil {
		return err
	}
	*t = decoded
	return nil
}

// String returns the text form of a read ticket. A write ticket holds the
// document's secret, so String describes it instead:
// "DocTicket(write, 0123456789, 1 node, secret redacted)"; ExportText gives
// its text. For a ticket that cannot be encoded String returns a
// description of the problem. Parse rejects both descriptions.
func (t DocTicket) String() string {
	text, err := t.exportText()
	if err != nil {
		return "<invalid DocTicket: " + err.Error() + ">"
	}
	if t.Capability.Kind() == replica.Write {
		nodes := "nodes"
		if len(t.Nodes) == 1 {
			nodes = "node"
		}
		return fmt.Sprintf("DocTicket(write, %s, %d %s, %s)", t.Capability.ID().Short(), len(t.Nodes), nodes, redact.Marker)
	}
	return string(text)
}

// GoString returns the same as String, so %#v does not print a secret.
func (t DocTicket) GoString() string { return t.String() }

// Format writes the same as String for every verb, %x and %d included.
func (t DocTicket) Format(f fmt.State, verb rune) { redact.Format(f, verb, t.String()) }

// LogValue logs the same as String.
func (t DocTicket) LogValue() slog.Value { return slog.StringValue(t.String()) }

// ExportText returns the text form: "doc" followed by the binary form (see
// ExportBinary) in lowercase unpadded base32. The text of a write ticket
// holds the document's secret: hand it only to whom may write.
func (t DocTicket) ExportText() (string, error) {
	text, err := t.exportText()
	return string(text), err
}

func (t DocTicket) exportText() ([]byte, error) {
	bin, err := t.appendBinary(make([]byte, 0, maxBinaryLen))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(Prefix)+b32.EncodedLen(len(bin)))
	out = append(out, Prefix...)
	return b32.AppendEncode(out, bin), nil
}

// MarshalText implements encoding.TextMarshaler for read tickets, as
// ExportText. A write ticket is refused with ErrSecret, so that JSON or
// text encoding of a value that holds one does not export its secret.
func (t DocTicket) MarshalText() ([]byte, error) {
	if t.Capability.Kind() == replica.Write {
		return nil, ErrSecret
	}
	return t.exportText()
}

// UnmarshalText implements encoding.TextUnmarshaler; see Parse. It leaves t
// unchanged on error.
func (t *DocTicket) UnmarshalText(text []byte) error {
	decoded, err := Parse(string(text))
	if err != nil {
		return err
	}
	*t = decoded
	return nil
}

// Parse decodes the text form that ExportText writes. Letters may be in either
// case, and whitespace around the ticket is ignored; whitespace inside it is
// not.
func Parse(s string) (DocTicket, error) {
	s = strings.TrimSpace(s)
	if len(s) < len(Prefix) || !strings.EqualFold(s[:len(Prefix)], Prefix) {
		return DocTicket{}, fmt.Errorf("%w: %s; check that the whole ticket was copied", ErrPrefix, describeStart(s))
	}
	if len(s) > maxTextLen {
		return DocTicket{}, fmt.Errorf("%w: %d characters, at most %d; check that only one ticket was pasted, or %s",
			ErrTooLong, len(s), maxTextLen, askAgain)
	}
	body := strings.ToLower(s[len(Prefix):])
	// Checked here because the decoder skips newlines, and so that the
	// error can point at the character.
	for i := 0; i < len(body); i++ {
		if c := body[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return DocTicket{}, fmt.Errorf("%w: character %d is %q, only letters and digits 2-7 are allowed; %s",
				ErrBadBase32, len(Prefix)+i+1, c, askAgain)
		}
	}
	// 1, 3 or 6 characters past a multiple of 8 encode no whole byte; the
	// decoder would drop them silently.
	switch len(body) % 8 {
	case 1, 3, 6:
		return DocTicket{}, fmt.Errorf("%w: %d characters after %q is not a length base32 can have; was some of it lost in copying? %s",
			ErrBadBase32, len(body), Prefix, askAgain)
	}
	bin, err := b32.DecodeString(body)
	if err != nil {
		return DocTicket{}, fmt.Errorf("%w: %v; %s", ErrBadBase32, err, askAgain)
	}
	// The last character may carry bits beyond the last byte. Requiring
	// them to be zero keeps one text per ticket (up to case).
	if b32.EncodeToString(bin) != body {
		return DocTicket{}, fmt.Errorf("%w: the last character does not end a base32 text; %s", ErrBadBase32, askAgain)
	}
	return decodeBinary(bin)
}

// decodeBinary decodes the binary form of a ticket from untrusted input.
func decodeBinary(b []byte) (DocTicket, error) {
	if len(b) == 0 {
		return DocTicket{}, fmt.Errorf("%w: it is empty; %s", ErrTruncated, askAgain)
	}
	if b[0] != Version {
		return DocTicket{}, fmt.Errorf("%w: version %d, this build reads version %d; upgrade docsnode if the sender runs a newer one, or %s",
			ErrUnknownVersion, b[0], Version, askAgain)
	}
	rest := b[1:]
	if len(rest) < capabilityLen+1 {
		return DocTicket{}, fmt.Errorf("%w: %d bytes, need at least %d; %s", ErrTruncated, len(b), 1+capabilityLen+1, askAgain)
	}
	if k := replica.CapabilityKind(rest[0]); k != replica.Read && k != replica.Write {
		return DocTicket{}, fmt.Errorf("%w: kind %d is neither read (%d) nor write (%d); %s",
			ErrUnknownCapability, k, replica.Read, replica.Write, askAgain)
	}
	c, err := replica.UnmarshalCapability(rest[:capabilityLen])
	if err != nil {
		return DocTicket{}, fmt.Errorf("%w: %w; %s", ErrUnknownCapability, err, askAgain)
	}
	if err := checkCapability(c); err != nil {
		return DocTicket{}, fmt.Errorf("%w; %s", err, askAgain)
	}
	rest = rest[capabilityLen:]
	n := int(rest[0])
	rest = rest[1:]
	switch {
	case n == 0:
		return DocTicket{}, fmt.Errorf("%w: it has no node addresses; %s", ErrNoNodes, askAgain)
	case n > MaxNodes:
		return DocTicket{}, fmt.Errorf("%w: %d nodes, at most %d allowed; %s", ErrTooManyNodes, n, MaxNodes, askAgain)
	}
	t := DocTicket{Capability: c, Nodes: make([]endpoint.NodeAddr, 0, n)}
	for i := range n {
		if len(rest) < nodeHeaderLen {
			return DocTicket{}, fmt.Errorf("%w: node %d of %d is cut short; %s", ErrTruncated, i, n, askAgain)
		}
		node, after, err := endpoint.DecodeNodeAddr(rest)
		if err != nil {
			return DocTicket{}, fmt.Errorf("%w: node %d: %w; %s", ErrBadNodeAddr, i, err, askAgain)
		}
		if err := checkNodeID(i, node.ID); err != nil {
			return DocTicket{}, fmt.Errorf("%w; %s", err, askAgain)
		}
		t.Nodes = append(t.Nodes, node)
		rest = after
	}
	if len(rest) != 0 {
		return DocTicket{}, fmt.Errorf("%w: %d bytes after the last node; %s", ErrTrailingBytes, len(rest), askAgain)
	}
	return t, nil
}

// checkCapability checks what a ticket's capability must satisfy beyond
// its encoding: a known kind, and a key that can belong to a document.
func checkCapability(c replica.Capability) error {
	switch c.Kind() {
	case replica.Read:
		if problem := publicKeyProblem(c.ID()); problem != "" {
			return fmt.Errorf("%w: document id %s %s", ErrInvalidKey, c.ID().Short(), problem)
		}
	case replica.Write:
		// The id is derived from the seed, so it is always a valid key.
		if s, _ := c.Secret(); s.IsZero() {
			return fmt.Errorf("%w: write capability holds no namespace secret", ErrInvalidKey)
		}
	default:
		return fmt.Errorf("%w: %s", ErrUnknownCapability, c.Kind())
	}
	return nil
}

func checkNodeID(i int, id endpoint.NodeID) error {
	if problem := publicKeyProblem(id); problem != "" {
		return fmt.Errorf("%w: node %d id %s %s", ErrInvalidKey, i, id.Short(), problem)
	}
	return nil
}

// publicKeyProblem says why k cannot be the public half of an Ed25519 key
// pair, or returns "" if it can. It decodes k as the ZIP-215 verifier in
// replica does, so a key that passes is one signatures can be checked
// against. It also rejects the small-order points (the all-zero id among
// them): no secret key has one, and under ZIP-215 anyone can forge a
// signature for one.
func publicKeyProblem(k [32]byte) string {
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY((*curve.CompressedEdwardsY)(&k)); err != nil {
		return "is not a point on the Ed25519 curve"
	}
	if p.IsSmallOrder() {
		return "is a point of small order, which no secret key has"
	}
	return ""
}

// describeStart names what s starts with, for ErrPrefix.
func describeStart(s string) string {
	const show = 8
	switch {
	case s == "":
		return "the text is empty"
	case len(s) > show:
		return fmt.Sprintf("it starts with %q", s[:show]+"...")
	}
	return fmt.Sprintf("got %q", s)
}

func cloneNodes(nodes []endpoint.NodeAddr) []endpoint.NodeAddr {
	if nodes == nil {
		return nil
	}
	out := make([]endpoint.NodeAddr, len(nodes))
	for i, n := range nodes {
		out[i] = endpoint.NodeAddr{ID: n.ID, Addrs: slices.Clone(n.Addrs)}
	}
	return out
}

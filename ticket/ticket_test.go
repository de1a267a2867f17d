package ticket_test

import (
	"bytes"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// allSentinels lists every sentinel, so that tests can check an error
// matches its own and no other.
var allSentinels = []error{
	ticket.ErrPrefix, ticket.ErrTooLong, ticket.ErrBadBase32, ticket.ErrUnknownVersion,
	ticket.ErrTruncated, ticket.ErrUnknownCapability, ticket.ErrInvalidKey, ticket.ErrNoNodes,
	ticket.ErrTooManyNodes, ticket.ErrBadNodeAddr, ticket.ErrTrailingBytes,
}

// notAPoint is 32 bytes that decode to no point on the Ed25519 curve (y = 2
// has no x); TestPublicKeyProblemMatchesEdwards25519 checks it against an
// independent implementation.
var notAPoint = [32]byte{2}

func nodeID(t rapid.TB, seed byte) endpoint.NodeID {
	t.Helper()
	key, err := endpoint.SecretKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return key.Public()
}

func node(t rapid.TB, seed byte, addrs ...string) endpoint.NodeAddr {
	t.Helper()
	n := endpoint.NodeAddr{ID: nodeID(t, seed)}
	for _, a := range addrs {
		n.Addrs = append(n.Addrs, netip.MustParseAddrPort(a))
	}
	return n
}

func namespace(seed byte) replica.NamespaceSecret {
	return replica.NamespaceFromSeed([32]byte{seed, 0xd0, 0xc5})
}

func mustNew(t rapid.TB, c replica.Capability, nodes ...endpoint.NodeAddr) ticket.DocTicket {
	t.Helper()
	tk, err := ticket.New(c, nodes...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tk
}

func mustBinary(t rapid.TB, tk ticket.DocTicket) []byte {
	t.Helper()
	b, err := tk.ExportBinary()
	if err != nil {
		t.Fatalf("ExportBinary: %v", err)
	}
	return b
}

func mustText(t rapid.TB, tk ticket.DocTicket) string {
	t.Helper()
	s, err := tk.ExportText()
	if err != nil {
		t.Fatalf("ExportText: %v", err)
	}
	return s
}

// text is the text form of arbitrary bytes, valid ticket or not.
func text(bin []byte) string {
	return ticket.Prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(bin))
}

// checkRoundTrip encodes tk in both forms and checks that each decodes to
// an equal ticket, in upper case and with surrounding whitespace too.
func checkRoundTrip(t rapid.TB, tk ticket.DocTicket) {
	t.Helper()
	s := mustText(t, tk)
	if !strings.HasPrefix(s, "doc") || s != strings.ToLower(s) {
		t.Fatalf("text form %q is not lowercase with the doc prefix", s)
	}
	for _, in := range []string{s, strings.ToUpper(s), " \t" + s + "\r\n", "Doc" + s[3:]} {
		got, err := ticket.Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !got.Equal(tk) {
			t.Fatalf("Parse(%q) = %+v, want %+v", in, got, tk)
		}
	}

	bin := mustBinary(t, tk)
	var fromBin ticket.DocTicket
	if err := fromBin.UnmarshalBinary(bin); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if !fromBin.Equal(tk) {
		t.Fatalf("binary round trip = %+v, want %+v", fromBin, tk)
	}
	if again := mustBinary(t, fromBin); !bytes.Equal(again, bin) {
		t.Fatalf("re-encoding changed the bytes:\n%x\n%x", bin, again)
	}
}

func TestRoundTrip(t *testing.T) {
	doc := namespace(1)
	read, write := replica.ReadCapability(doc.ID()), replica.WriteCapability(doc)
	var many []endpoint.NodeAddr
	for i := range ticket.MaxNodes {
		n := node(t, byte(10+i))
		for j := range endpoint.MaxAddrs {
			n.Addrs = append(n.Addrs, netip.AddrPortFrom(
				netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i*16 + j + 1)}), uint16(65535-j)))
		}
		many = append(many, n)
	}
	tests := []struct {
		name string
		tk   ticket.DocTicket
	}{
		{"read ipv4", mustNew(t, read, node(t, 1, "127.0.0.1:4919"))},
		{"write ipv4", mustNew(t, write, node(t, 1, "192.0.2.7:1"))},
		{"read ipv6", mustNew(t, read, node(t, 2, "[2001:db8::1]:65535"))},
		{"write ipv6 and ipv4", mustNew(t, write, node(t, 2, "[::1]:4919", "10.1.2.3:4920"))},
		{"ipv4-mapped ipv6 stays ipv6", mustNew(t, read, node(t, 3, "[::ffff:10.0.0.1]:7"))},
		{"node without addresses", mustNew(t, read, node(t, 3))},
		{"several nodes", mustNew(t, write,
			node(t, 1, "127.0.0.1:1"), node(t, 2, "[fe80::1]:2"), node(t, 3, "198.51.100.1:3", "[2001:db8::2]:4"))},
		{"largest ticket", mustNew(t, write, many...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRoundTrip(t, tt.tk) })
	}
}

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tk := genTicket().Draw(t, "ticket")
		checkRoundTrip(t, tk)
	})
}

func genAddrPort() *rapid.Generator[netip.AddrPort] {
	return rapid.Custom(func(t *rapid.T) netip.AddrPort {
		var ip netip.Addr
		if rapid.Bool().Draw(t, "v6") {
			ip = netip.AddrFrom16([16]byte(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "ip6")))
		} else {
			ip = netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "ip4")))
		}
		if ip.IsUnspecified() {
			ip = ip.Next()
		}
		return netip.AddrPortFrom(ip, rapid.Uint16Min(1).Draw(t, "port"))
	})
}

func genTicket() *rapid.Generator[ticket.DocTicket] {
	return rapid.Custom(func(t *rapid.T) ticket.DocTicket {
		doc := replica.NamespaceFromSeed([32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "namespace seed")))
		c := replica.ReadCapability(doc.ID())
		if rapid.Bool().Draw(t, "write") {
			c = replica.WriteCapability(doc)
		}
		n := rapid.IntRange(1, ticket.MaxNodes).Draw(t, "nodes")
		nodes := make([]endpoint.NodeAddr, n)
		for i := range nodes {
			key, err := endpoint.SecretKeyFromSeed(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "node seed"))
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = endpoint.NodeAddr{
				ID:    key.Public(),
				Addrs: rapid.SliceOfN(genAddrPort(), 0, endpoint.MaxAddrs).Draw(t, "addrs"),
			}
		}
		tk, err := ticket.New(c, nodes...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return tk
	})
}

// rawNode encodes a node address by hand, so that tests can write ones
// that AppendBinary refuses to.
func rawNode(id [32]byte, tag byte, ip []byte, port uint16) []byte {
	b := append(id[:], 1, tag)
	b = append(b, ip...)
	return binary.BigEndian.AppendUint16(b, port)
}

// rawTicket assembles a ticket's bytes field by field.
func rawTicket(version, kind byte, key [32]byte, count byte, nodes ...[]byte) []byte {
	b := append([]byte{version, kind}, key[:]...)
	b = append(b, count)
	for _, n := range nodes {
		b = append(b, n...)
	}
	return b
}

// binaryErrorCases are malformed binary forms and the sentinel each must
// produce, through UnmarshalBinary and through Parse of its text form.
func binaryErrorCases(t rapid.TB) []struct {
	name string
	bin  []byte
	want error
} {
	doc := namespace(1).ID()
	goodNode := mustBinary(t, mustNew(t, replica.ReadCapability(doc), node(t, 1, "127.0.0.1:4919")))[35:]
	tooMany := make([][]byte, ticket.MaxNodes+1)
	for i := range tooMany {
		tooMany[i] = goodNode
	}
	var identity [32]byte
	identity[0] = 1
	good := rawTicket(ticket.Version, byte(replica.Read), doc, 1, goodNode)
	return []struct {
		name string
		bin  []byte
		want error
	}{
		{"empty", nil, ticket.ErrTruncated},
		{"version only", good[:1], ticket.ErrTruncated},
		{"cut in capability", good[:20], ticket.ErrTruncated},
		{"cut before node", good[:35], ticket.ErrTruncated},
		{"cut in node id", good[:50], ticket.ErrTruncated},
		{"cut in address", good[:len(good)-1], ticket.ErrBadNodeAddr},
		{"version 0", rawTicket(0, byte(replica.Read), doc, 1, goodNode), ticket.ErrUnknownVersion},
		{"version 2", rawTicket(2, byte(replica.Read), doc, 1, goodNode), ticket.ErrUnknownVersion},
		{"capability kind 0", rawTicket(1, 0, doc, 1, goodNode), ticket.ErrUnknownCapability},
		{"capability kind 3", rawTicket(1, 3, doc, 1, goodNode), ticket.ErrUnknownCapability},
		{"document id not a point", rawTicket(1, byte(replica.Read), notAPoint, 1, goodNode), ticket.ErrInvalidKey},
		{"document id zero", rawTicket(1, byte(replica.Read), [32]byte{}, 1, goodNode), ticket.ErrInvalidKey},
		{"document id identity", rawTicket(1, byte(replica.Read), identity, 1, goodNode), ticket.ErrInvalidKey},
		{"no nodes", rawTicket(1, byte(replica.Read), doc, 0), ticket.ErrNoNodes},
		{"too many nodes", rawTicket(1, byte(replica.Read), doc, ticket.MaxNodes+1, tooMany...), ticket.ErrTooManyNodes},
		{"count 255", rawTicket(1, byte(replica.Read), doc, 255, goodNode), ticket.ErrTooManyNodes},
		{"node id not a point", rawTicket(1, byte(replica.Read), doc, 1,
			rawNode(notAPoint, 4, []byte{127, 0, 0, 1}, 80)), ticket.ErrInvalidKey},
		{"node id zero", rawTicket(1, byte(replica.Write), doc, 1,
			rawNode([32]byte{}, 4, []byte{127, 0, 0, 1}, 80)), ticket.ErrInvalidKey},
		{"port 0", rawTicket(1, byte(replica.Read), doc, 1,
			rawNode(nodeID(t, 1), 4, []byte{127, 0, 0, 1}, 0)), ticket.ErrBadNodeAddr},
		{"unknown address tag", rawTicket(1, byte(replica.Read), doc, 1,
			rawNode(nodeID(t, 1), 5, []byte{127, 0, 0, 1}, 80)), ticket.ErrBadNodeAddr},
		{"one node missing", rawTicket(1, byte(replica.Read), doc, 2, goodNode), ticket.ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ticket.ErrTrailingBytes},
		{"trailing node", rawTicket(1, byte(replica.Read), doc, 1, goodNode, goodNode), ticket.ErrTrailingBytes},
	}
}

// checkSentinel checks that err matches want and no other sentinel, and
// that it tells a user what to do.
func checkSentinel(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, other := range allSentinels {
		if other != want && errors.Is(err, other) {
			t.Errorf("error %v also matches %v", err, other)
		}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "ticket: ") {
		t.Errorf("error %q lacks the package prefix", msg)
	}
	if !strings.Contains(msg, "ticket") || !(strings.Contains(msg, "new ticket") || strings.Contains(msg, "copied")) {
		t.Errorf("error %q does not say what to do", msg)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range binaryErrorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var got ticket.DocTicket
			checkSentinel(t, got.UnmarshalBinary(tc.bin), tc.want)
			_, err := ticket.Parse(text(tc.bin))
			checkSentinel(t, err, tc.want)
		})
	}
}

func TestBadNodeAddrWrapsEndpointError(t *testing.T) {
	bin := rawTicket(1, byte(replica.Read), namespace(1).ID(), 1, rawNode(nodeID(t, 1), 4, []byte{0, 0, 0, 0}, 80))
	_, err := ticket.Parse(text(bin))
	if !errors.Is(err, ticket.ErrBadNodeAddr) || !errors.Is(err, endpoint.ErrBadNodeAddr) {
		t.Fatalf("error %v, want both ticket and endpoint ErrBadNodeAddr", err)
	}
}

func TestParseTextErrors(t *testing.T) {
	valid := mustNew(t, replica.ReadCapability(namespace(1).ID()), node(t, 1, "127.0.0.1:4919")).String()
	validV6 := mustNew(t, replica.ReadCapability(namespace(1).ID()), node(t, 1, "[::1]:4919")).String()
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ticket.ErrPrefix},
		{"blank", " \n\t", ticket.ErrPrefix},
		{"short", "do", ticket.ErrPrefix},
		{"other ticket kind", "blob" + valid[3:], ticket.ErrPrefix},
		{"hex id", strings.Repeat("ab", 32), ticket.ErrPrefix},
		{"prefix only", "doc", ticket.ErrTruncated},
		{"digit 1", valid[:10] + "1" + valid[11:], ticket.ErrBadBase32},
		{"digit 0", valid[:10] + "0" + valid[11:], ticket.ErrBadBase32},
		{"padding", valid + "=", ticket.ErrBadBase32},
		{"inner space", valid[:10] + " " + valid[10:], ticket.ErrBadBase32},
		{"inner newline", valid[:10] + "\n" + valid[10:], ticket.ErrBadBase32},
		{"non-ascii", valid[:10] + "é" + valid[12:], ticket.ErrBadBase32},
		{"length 1 mod 8", "doca", ticket.ErrBadBase32},
		{"cut to a length base32 cannot have", cutToBadLength(valid), ticket.ErrBadBase32},
		{"bits past the last byte", lastCharPlusOne(validV6), ticket.ErrBadBase32},
		{"too long", "doc" + strings.Repeat("a", 100_000), ticket.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ticket.Parse(tt.in)
			checkSentinel(t, err, tt.want)
		})
	}
}

// cutToBadLength drops characters from the end of a ticket until what
// follows the prefix is 1, 3 or 6 characters past a multiple of 8, which
// no bytes encode to.
func cutToBadLength(s string) string {
	for {
		switch (len(s) - len(ticket.Prefix)) % 8 {
		case 1, 3, 6:
			return s
		}
		s = s[:len(s)-1]
	}
}

// lastCharPlusOne changes the last character of a ticket whose length
// leaves unused bits in it, so that one of those bits is set.
func lastCharPlusOne(s string) string {
	if (len(s)-len(ticket.Prefix))%8 == 0 {
		panic("no unused bits in the last character of " + s)
	}
	last := s[len(s)-1]
	next := last + 1
	if last == 'z' {
		next = '2'
	}
	return s[:len(s)-1] + string(next)
}

func TestCaseInsensitive(t *testing.T) {
	tk := mustNew(t, replica.WriteCapability(namespace(7)), node(t, 1, "[2001:db8::7]:4919"), node(t, 2, "127.0.0.1:4919"))
	s := mustText(t, tk)
	mixed := []byte(s)
	for i := range mixed {
		if i%3 == 0 {
			mixed[i] = strings.ToUpper(string(mixed[i]))[0]
		}
	}
	for _, in := range []string{strings.ToUpper(s), string(mixed), "\n  " + strings.ToUpper(s) + "  \n"} {
		got, err := ticket.Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !got.Equal(tk) {
			t.Fatalf("Parse(%q) gave a different ticket", in)
		}
		if mustText(t, got) != s {
			t.Fatalf("ExportText after Parse(%q) = %q, want %q", in, mustText(t, got), s)
		}
	}
}

func TestReadOnlyDropsSecret(t *testing.T) {
	doc := namespace(9)
	w := mustNew(t, replica.WriteCapability(doc), node(t, 1, "127.0.0.1:4919"))
	seed := doc.SecretSeed()
	if !bytes.Contains(mustBinary(t, w), seed[:]) {
		t.Fatal("write ticket does not carry the secret")
	}

	r := w.ReadOnly()
	if r.Capability.Kind() != replica.Read || r.Capability.ID() != doc.ID() {
		t.Fatalf("ReadOnly capability = %v %s, want read %s", r.Capability.Kind(), r.Capability.ID().Short(), doc.ID().Short())
	}
	if _, ok := r.Capability.Secret(); ok {
		t.Fatal("ReadOnly ticket still has a secret")
	}
	if bytes.Contains(mustBinary(t, r), seed[:]) {
		t.Fatal("read-only ticket's bytes contain the secret seed")
	}
	parsed, err := ticket.Parse(r.String())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Capability.Kind() != replica.Read || !parsed.Equal(r) {
		t.Fatalf("read-only ticket parsed as %v", parsed.Capability.Kind())
	}
	if w.Equal(r) {
		t.Fatal("write and read-only tickets compare equal")
	}

	// The copy shares nothing with the original.
	r.Nodes[0].Addrs[0] = netip.MustParseAddrPort("10.0.0.1:1")
	if w.Capability.Kind() != replica.Write || w.Nodes[0].Addrs[0].String() != "127.0.0.1:4919" {
		t.Fatalf("ReadOnly changed the original: %v %v", w.Capability.Kind(), w.Nodes[0].Addrs)
	}
}

func TestNewValidates(t *testing.T) {
	read := replica.ReadCapability(namespace(1).ID())
	good := node(t, 1, "127.0.0.1:4919")
	var tooMany []endpoint.NodeAddr
	for i := range ticket.MaxNodes + 1 {
		tooMany = append(tooMany, node(t, byte(i+1), "127.0.0.1:4919"))
	}
	var manyAddrs endpoint.NodeAddr
	manyAddrs.ID = good.ID
	for i := range endpoint.MaxAddrs + 1 {
		manyAddrs.Addrs = append(manyAddrs.Addrs, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(i+1)))
	}
	tests := []struct {
		name  string
		c     replica.Capability
		nodes []endpoint.NodeAddr
		want  error
	}{
		{"zero capability", replica.Capability{}, []endpoint.NodeAddr{good}, ticket.ErrUnknownCapability},
		{"write without secret", replica.WriteCapability(replica.NamespaceSecret{}), []endpoint.NodeAddr{good}, ticket.ErrInvalidKey},
		{"document id not a point", replica.ReadCapability(notAPoint), []endpoint.NodeAddr{good}, ticket.ErrInvalidKey},
		{"document id zero", replica.ReadCapability(replica.NamespaceID{}), []endpoint.NodeAddr{good}, ticket.ErrInvalidKey},
		{"no nodes", read, nil, ticket.ErrNoNodes},
		{"too many nodes", read, tooMany, ticket.ErrTooManyNodes},
		{"node id zero", read, []endpoint.NodeAddr{{Addrs: good.Addrs}}, ticket.ErrInvalidKey},
		{"node id not a point", read, []endpoint.NodeAddr{good, {ID: notAPoint, Addrs: good.Addrs}}, ticket.ErrInvalidKey},
		{"port 0", read, []endpoint.NodeAddr{node(t, 1, "127.0.0.1:0")}, ticket.ErrBadNodeAddr},
		{"unspecified ip", read, []endpoint.NodeAddr{node(t, 1, "[::]:1")}, ticket.ErrBadNodeAddr},
		{"ipv6 zone", read, []endpoint.NodeAddr{node(t, 1, "[fe80::1%eth0]:1")}, ticket.ErrBadNodeAddr},
		{"too many addresses", read, []endpoint.NodeAddr{manyAddrs}, ticket.ErrBadNodeAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ticket.New(tt.c, tt.nodes...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
			// A ticket assembled by hand breaks the same rule when encoded.
			hand := ticket.DocTicket{Capability: tt.c, Nodes: tt.nodes}
			if _, err := hand.ExportText(); !errors.Is(err, tt.want) {
				t.Fatalf("ExportText: %v, want %v", err, tt.want)
			}
			if s := hand.String(); !strings.HasPrefix(s, "<invalid DocTicket: ") {
				t.Fatalf("String of an invalid ticket = %q", s)
			}
			if _, err := ticket.Parse(hand.String()); err == nil {
				t.Fatal("the String of an invalid ticket parses")
			}
		})
	}
}

func TestNewCopiesNodes(t *testing.T) {
	nodes := []endpoint.NodeAddr{node(t, 1, "127.0.0.1:4919")}
	tk := mustNew(t, replica.ReadCapability(namespace(1).ID()), nodes...)
	nodes[0].Addrs[0] = netip.MustParseAddrPort("10.0.0.1:1")
	nodes[0].ID = nodeID(t, 2)
	if tk.Nodes[0].ID != nodeID(t, 1) || tk.Nodes[0].Addrs[0].String() != "127.0.0.1:4919" {
		t.Fatalf("ticket changed with the caller's slice: %v", tk.Nodes[0])
	}
}

func TestUnmarshalLeavesTicketOnError(t *testing.T) {
	tk := mustNew(t, replica.ReadCapability(namespace(1).ID()), node(t, 1, "127.0.0.1:4919"))
	before := tk
	if err := tk.UnmarshalText([]byte("docxyz")); err == nil {
		t.Fatal("UnmarshalText accepted garbage")
	}
	if err := tk.UnmarshalBinary([]byte{1, 2, 3}); err == nil {
		t.Fatal("UnmarshalBinary accepted garbage")
	}
	if !tk.Equal(before) {
		t.Fatal("a failed unmarshal changed the ticket")
	}
}

func TestJSON(t *testing.T) {
	type invite struct {
		Ticket ticket.DocTicket `json:"ticket"`
	}
	in := invite{mustNew(t, replica.ReadCapability(namespace(3).ID()), node(t, 1, "[2001:db8::1]:4919"))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ticket":"` + mustText(t, in.Ticket) + `"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
	var out invite
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Ticket.Equal(in.Ticket) {
		t.Fatal("JSON round trip changed the ticket")
	}
	// A write ticket is not marshalled: its secret leaves only on purpose.
	w := invite{mustNew(t, replica.WriteCapability(namespace(3)), node(t, 1, "[2001:db8::1]:4919"))}
	if b, err := json.Marshal(w); !errors.Is(err, ticket.ErrSecret) {
		t.Fatalf("JSON of a write ticket = %s, %v; want ErrSecret", b, err)
	}
	if _, err := w.Ticket.MarshalBinary(); !errors.Is(err, ticket.ErrSecret) {
		t.Fatalf("MarshalBinary of a write ticket: %v; want ErrSecret", err)
	}
	err = json.Unmarshal([]byte(`{"ticket":"blob123"}`), &out)
	if !errors.Is(err, ticket.ErrPrefix) {
		t.Fatalf("JSON with a bad ticket: %v, want ErrPrefix", err)
	}
}

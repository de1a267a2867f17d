package ticket_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// seedTickets are valid tickets of each shape, for the fuzz corpora.
func seedTickets(t testing.TB) []ticket.DocTicket {
	doc := namespace(1)
	return []ticket.DocTicket{
		mustNew(t, replica.ReadCapability(doc.ID()), node(t, 1, "127.0.0.1:4919")),
		mustNew(t, replica.WriteCapability(doc), node(t, 2, "[2001:db8::1]:4919", "192.0.2.1:1")),
		mustNew(t, replica.ReadCapability(doc.ID()), node(t, 1), node(t, 2, "[::ffff:10.0.0.1]:2"), node(t, 3, "10.0.0.3:3")),
	}
}

// checkKnownError fails unless err wraps one of the package's sentinels.
func checkKnownError(t *testing.T, err error) {
	t.Helper()
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no ticket sentinel", err)
}

// FuzzParse checks that Parse never panics, that every error is one of the
// sentinels, and that whatever parses re-encodes to the canonical text,
// which parses to an equal ticket.
func FuzzParse(f *testing.F) {
	for _, tk := range seedTickets(f) {
		s := mustText(f, tk)
		f.Add(s)
		f.Add(strings.ToUpper(s))
		f.Add(" " + s[:len(s)/2] + "\n")
	}
	for _, tc := range binaryErrorCases(f) {
		f.Add(text(tc.bin))
	}
	f.Add("")
	f.Add("doc")
	f.Add("blobaaaa")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ticket.Parse(s)
		if err != nil {
			checkKnownError(t, err)
			return
		}
		if n := len(tk.Nodes); n < 1 || n > ticket.MaxNodes {
			t.Fatalf("parsed a ticket with %d nodes", n)
		}
		canonical := mustText(t, tk)
		if canonical != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("Parse(%q) re-encodes to %q, not the trimmed lowercase input", s, canonical)
		}
		again, err := ticket.Parse(canonical)
		if err != nil {
			t.Fatalf("re-encoded ticket %q does not parse: %v", canonical, err)
		}
		if !again.Equal(tk) {
			t.Fatalf("re-encoded ticket %q parses to a different ticket", canonical)
		}
		ro := tk.ReadOnly()
		if ro.Capability.Kind() != replica.Read || ro.Capability.ID() != tk.Capability.ID() {
			t.Fatalf("ReadOnly gave a %v capability for %s", ro.Capability.Kind(), ro.Capability.ID().Short())
		}
		if tk.Capability.Kind() == replica.Read && mustText(t, ro) != canonical {
			t.Fatalf("ReadOnly of a read ticket changed it")
		}
	})
}

// FuzzDecodeBinary checks that UnmarshalBinary never panics, that every
// error is one of the sentinels, and that the encoding is canonical:
// whatever decodes re-encodes to exactly the input bytes.
func FuzzDecodeBinary(f *testing.F) {
	for _, tk := range seedTickets(f) {
		f.Add(mustBinary(f, tk))
	}
	for _, tc := range binaryErrorCases(f) {
		f.Add(tc.bin)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tk ticket.DocTicket
		if err := tk.UnmarshalBinary(b); err != nil {
			checkKnownError(t, err)
			return
		}
		again, err := tk.ExportBinary()
		if err != nil {
			t.Fatalf("decoded ticket does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\nin  %x\nout %x", b, again)
		}
		parsed, err := ticket.Parse(mustText(t, tk))
		if err != nil || !parsed.Equal(tk) {
			t.Fatalf("text form of a decoded ticket: %v", err)
		}
	})
}

package main

import (
	"strings"
	"testing"
)

// TestCLIRefusals runs the built binary against one daemon: every refused
// command exits 1 with its reason on stderr and nothing on stdout, and
// leaves the stored entries as they were. Covered: an empty value (which
// would be a prefix delete), unknown documents, a malformed document id, a
// malformed ticket and a value over the daemon's limit.
func TestCLIRefusals(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	d := startDaemon(t, bin, dir, "--max-value-bytes", "1024")
	doc := mustCLI(t, bin, dir, "doc", "new")
	for _, kv := range [][2]string{{"pre/a", "1"}, {"pre/b", "2"}, {"other", "3"}} {
		mustCLI(t, bin, dir, "doc", "set", doc, kv[0], kv[1])
	}
	before := mustCLI(t, bin, dir, "--json", "doc", "keys", doc)
	unknown := strings.Repeat("ab", 32)
	big := strings.Repeat("x", 2048)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"doc", "set", doc, "pre/", ""}, "empty value"},
		{[]string{"doc", "set", doc, "pre/a", ""}, "doc del"},
		{[]string{"doc", "get", unknown, "k"}, "no document " + unknown},
		{[]string{"doc", "keys", unknown}, "no document " + unknown},
		{[]string{"--json", "doc", "keys", unknown, "pre/"}, "no document " + unknown},
		{[]string{"doc", "set", unknown, "k", "v"}, "no document " + unknown},
		{[]string{"doc", "del", unknown, "k"}, "no document " + unknown},
		{[]string{"doc", "share", unknown, "read"}, "no document " + unknown},
		{[]string{"doc", "keys", "not-a-doc-id"}, "bad_doc_id"},
		{[]string{"doc", "join", "garbage"}, "bad_ticket"},
		{[]string{"doc", "set", doc, "big", big}, "too_large"},
	} {
		out, errOut, code := runCLI(t, bin, dir, c.args...)
		if code != exitError || out != "" || !strings.Contains(errOut, c.want) {
			t.Fatalf("docsnode %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.args, code, out, errOut, c.want)
		}
	}
	if after := mustCLI(t, bin, dir, "--json", "doc", "keys", doc); after != before {
		t.Fatalf("keys after the refused commands:\n%s\nwere:\n%s", after, before)
	}
	if ls := mustCLI(t, bin, dir, "doc", "ls"); strings.Contains(ls, unknown) || !strings.Contains(ls, doc) {
		t.Fatalf("doc ls after the refused commands = %q", ls)
	}
	if _, errOut, code := runCLI(t, bin, dir, "frobnicate"); code != exitUsage {
		t.Fatalf("an unknown command: exit %d: %s", code, errOut)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
}

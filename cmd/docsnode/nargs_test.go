package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestNargsMessage: a wrong argument count names the command once (the
// error printer adds the program's name) and counts in good English.
func TestNargsMessage(t *testing.T) {
	root := &cobra.Command{Use: "docsnode"}
	author := &cobra.Command{Use: "author"}
	export := &cobra.Command{Use: "export"}
	keys := &cobra.Command{Use: "keys"}
	root.AddCommand(author)
	author.AddCommand(export, keys)
	for _, tc := range []struct {
		cmd      *cobra.Command
		min, max int
		args     []string
		want     string
	}{
		{export, 1, 1, nil, "author export takes 1 argument, got 0 (see --help)"},
		{keys, 1, 2, []string{"a", "b", "c"}, "author keys takes 1 to 2 arguments, got 3 (see --help)"},
		{export, 3, 3, []string{"a"}, "author export takes 3 arguments, got 1 (see --help)"},
	} {
		err := nargs(tc.min, tc.max)(tc.cmd, tc.args)
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if err := nargs(1, 2)(keys, []string{"a"}); err != nil {
		t.Errorf("1 of 1 to 2: %v", err)
	}
}

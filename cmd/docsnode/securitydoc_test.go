package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// notLimits are start's flags that choose a mode or a place, not a bound.
var notLimits = map[string]bool{
	"ephemeral": true, "api-allow-remote": true, "listen": true, "log-format": true, "log-level": true,
}

// TestSecurityDocListsEveryLimit: docs/security.md lists every limit
// start takes, each with the default start shows, so that the threat
// model's table cannot fall behind a new flag or a changed default.
func TestSecurityDocListsEveryLimit(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag -> its table row
	for line := range strings.SplitSeq(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `--"), "`")
		rows[name] = line
	}
	n := 0
	startCmd(&globals{}).Flags().VisitAll(func(fl *pflag.Flag) {
		if notLimits[fl.Name] {
			return
		}
		n++
		row, ok := rows[fl.Name]
		if !ok {
			t.Errorf("docs/security.md has no row for --%s (default %s)", fl.Name, fl.DefValue)
			return
		}
		if !strings.Contains(row, "| "+fl.DefValue+" |") {
			t.Errorf("docs/security.md: --%s shows another default than %s: %s", fl.Name, fl.DefValue, row)
		}
	})
	if n < 50 {
		t.Fatalf("only %d limit flags", n)
	}
}

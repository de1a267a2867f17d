package main

import (
	"strings"
	"testing"
)

// TestParseSize: binary and decimal units in any case, plain bytes, and
// clear refusals of what is not a size.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB": 1 << 30, "64MiB": 64 << 20, "512kib": 512 << 10, "3 MiB": 3 << 20,
		"1000": 1000, "7B": 7, "2MB": 2_000_000, "1gb": 1_000_000_000, "10k": 10_000,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1.5GiB", "-1MiB", "12parsecs", "99999999999TiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestParseBlobFlags: the defaults, and the combinations the scenario
// refuses with a reason.
func TestParseBlobFlags(t *testing.T) {
	f, err := parseBlobFlags(nil)
	if err != nil || f.size != 64<<20 || f.providers != 1 || f.throttle != 0 || f.liar {
		t.Fatalf("defaults: %+v, %v", f, err)
	}
	f, err = parseBlobFlags([]string{"-size", "1GiB", "-providers", "3", "-throttle", "10MiB"})
	if err != nil || f.size != 1<<30 || f.providers != 3 || f.throttle != 10<<20 {
		t.Fatalf("1GiB, 3 providers, 10MiB/s: %+v, %v", f, err)
	}
	if f, err := parseBlobFlags([]string{"-size", "2GiB"}); err != nil || f.size != 2<<30 {
		t.Fatalf("2GiB: %+v, %v", f, err)
	}
	if f, err := parseBlobFlags([]string{"-liar", "-providers", "2"}); err != nil || !f.liar || f.providers != 2 {
		t.Fatalf("-liar -providers 2: %+v, %v", f, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-size", "0"}, "want 1 byte"},
		{[]string{"-size", "lots"}, "-size"},
		{[]string{"-providers", "0"}, "-providers"},
		{[]string{"-throttle", "1MiB"}, "-providers 2 or more"},
		{[]string{"-providers", "3", "-throttle", "0"}, "above 0"},
		{[]string{"extra"}, "unexpected"},
	} {
		_, err := parseBlobFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

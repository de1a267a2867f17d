package testutil

import (
	"fmt"
	"testing"
	"time"
)

type fakeTB struct{ failed string }

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestEventually(t *testing.T) {
	n := 0
	var ok fakeTB
	Eventually(&ok, time.Second, func() bool { n++; return n == 3 }, "three calls")
	if ok.failed != "" || n != 3 {
		t.Fatalf("Eventually: failed %q after %d calls, want success after 3", ok.failed, n)
	}
	var bad fakeTB
	Eventually(&bad, 20*time.Millisecond, func() bool { return false }, "never %s", "true")
	if bad.failed == "" {
		t.Fatal("Eventually did not fail on a condition that never holds")
	}
}

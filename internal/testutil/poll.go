// Package testutil holds helpers shared by docsnode's tests.
package testutil

import (
	"fmt"
	"time"
)

// TB is the part of testing.TB that Eventually uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// PollInterval is how often Eventually checks its condition.
const PollInterval = 5 * time.Millisecond

// Eventually checks cond every PollInterval until it returns true, and
// fails the test when it has not within timeout. It is the one way tests
// outside a synctest bubble wait for a state that has no event to wait on;
// what has an event waits on the event.
func Eventually(t TB, timeout time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// Poll checks cond every PollInterval until it returns true, or returns an
// error after timeout. It is Eventually for code that is not a test (a
// benchmark, a helper process).
func Poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v", timeout)
		}
		time.Sleep(PollInterval)
	}
}

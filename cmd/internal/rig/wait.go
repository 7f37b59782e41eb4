package rig

import (
	"testing"
	"time"
)

// Patience bounds every wait of the rig: how long something that must happen may take on a busy
// machine with -race. No test asserts how long anything took.
const Patience = 60 * time.Second

// Until waits until cond holds, looking every 20 ms, and fails the test after Patience.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	UntilWithin(t, Patience, what, cond)
}

// UntilWithin is Until with another bound, for waits that may legitimately be long.
func UntilWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// Within waits until cond holds, looking every 20 ms, for at most limit, and reports whether it
// held: for waits whose end the test judges itself.
func Within(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

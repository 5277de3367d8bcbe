// Package testwait lets tests wait for a condition instead of sleeping for
// a time that stands for it.
package testwait

import (
	"testing"
	"time"
)

// Eventually checks cond until it holds, and fails the test with msg if it
// still does not after timeout. Checks start 10 ms apart and slow down to
// 250 ms, so a quick condition is seen at once and a slow one is not
// hammered.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting until %s", timeout, msg)
		}
		time.Sleep(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
}

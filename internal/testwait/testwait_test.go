package testwait

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var checks atomic.Int32
	Eventually(t, 5*time.Second, func() bool { return checks.Add(1) == 3 }, "the third check")
	if n := checks.Load(); n != 3 {
		t.Fatalf("checked %d times, want 3", n)
	}
}

func TestEventuallyFailsWhenTheConditionNeverHolds(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine, as it ends a test
		defer close(done)
		Eventually(rec, 50*time.Millisecond, func() bool { return false }, "never")
	}()
	<-done
	if rec.msg != "gave up after 50ms waiting until never" {
		t.Fatalf("failure message %q", rec.msg)
	}
}

// recorder keeps the failure message instead of failing the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

package kubetest

import (
	"strings"
	"testing"
	"time"
)

func TestWaitForNamesAnExitedProcessWithTheEndOfItsLog(t *testing.T) {
	t.Parallel()
	p, err := startProcess(t.TempDir(), "broken", "/bin/sh", "-c", "echo starting; echo 'bad flag --nope' >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(p, time.Minute, func() bool { return false })
	if err == nil {
		t.Fatal("waitFor returned nil for a process that exited")
	}
	for _, want := range []string{"broken exited (exit status 3)", "starting", "bad flag --nope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

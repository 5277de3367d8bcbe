package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// killDevServer SIGKILLs the dev server from inside its container, as the
// kernel's OOM killer or a stray command would.
const killDevServer = `
const fs = require('fs')
for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
  try {
    if (fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').startsWith('node\0/opt/studio/bin/dev.mjs')) process.kill(+pid, 'SIGKILL')
  } catch {}
}`

func TestWatchReportsCrashesOnly(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	exits := watch(t, d)

	stopped, _, _ := startProject(t, d, "static", "/")
	killed, _, _ := startProject(t, d, "static", "/")
	broken, dir := newProject(t, d, "vanilla-vite")
	ctx := testContext(t)

	if err := d.Stop(ctx, stopped); err != nil {
		t.Fatal(err)
	}

	if _, err := d.Exec(ctx, killed, []string{"node", "-e", killDevServer}, 10*time.Second, 0); err != nil {
		t.Fatal(err)
	}

	// A config that throws stops Vite at start-up; WaitReady says why.
	if err := os.WriteFile(filepath.Join(dir, "vite.config.js"), []byte("throw new Error('broken config for the test')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, broken); err != nil {
		t.Fatal(err)
	}
	_, err := d.WaitReady(ctx, broken, "/", nil)
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Exit.ExitCode != 1 || !strings.Contains(err.Error(), "broken config for the test") {
		t.Errorf("WaitReady of a crashing dev server: %v, want an ExitError with code 1 and the error", err)
	}

	want := map[string]func(Exit) bool{
		killed: func(e Exit) bool { return e.ExitCode == 137 && e.Reason() == "killed by signal 9" },
		broken: func(e Exit) bool {
			return e.ExitCode == 1 && strings.Contains(strings.Join(e.LogTail, "\n"), "broken config for the test")
		},
	}
	// Events arrive in order: had the stop been reported, it would have come
	// before the crashes.
	for len(want) > 0 {
		select {
		case e := <-exits:
			if e.ProjectID == stopped {
				t.Errorf("a requested stop was reported as a crash: %+v", e)
			}
			if ok, expected := want[e.ProjectID]; expected {
				if !ok(e) {
					t.Errorf("project %s: unexpected report %+v (%s)", e.ProjectID, e, e.Reason())
				}
				delete(want, e.ProjectID)
			}
		case <-ctx.Done():
			t.Fatalf("no exit reported for %v", want)
		}
	}
}

// watch runs d.Watch for the test's lifetime and collects what it reports.
func watch(t *testing.T, d *Docker) <-chan Exit {
	ctx, cancel := context.WithCancel(context.Background())
	exits := make(chan Exit, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := d.Watch(ctx, func(e Exit) { exits <- e }); err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	// Watch subscribes from the moment it starts; let it.
	time.Sleep(100 * time.Millisecond)
	return exits
}

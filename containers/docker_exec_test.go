package containers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _, _ := startProject(t, d, "static", "/")

	tests := []struct {
		name      string
		argv      []string
		timeout   time.Duration
		outputCap int
		want      ExecResult
		maxTime   time.Duration
	}{
		{
			name: "exit code",
			argv: []string{"node", "-e", "process.exit(3)"},
			want: ExecResult{ExitCode: 3},
		},
		{
			name: "argv reaches the program untouched, no shell",
			argv: []string{"echo", "$HOME; echo injected", "*"},
			want: ExecResult{Output: "$HOME; echo injected *\n"},
		},
		{
			name: "runs as the project user in /app",
			argv: []string{"node", "-e", "console.log(process.getuid(), process.cwd())"},
			want: ExecResult{Output: "1000 /app\n"},
		},
		{
			name: "stderr is part of the output",
			argv: []string{"node", "-e", "console.error('to stderr')"},
			want: ExecResult{Output: "to stderr\n"},
		},
		{
			name: "unknown command",
			argv: []string{"no-such-command"},
			want: ExecResult{ExitCode: 127, Output: "timeout: failed to run command 'no-such-command': No such file or directory\n"},
		},
		{
			name:    "timeout",
			argv:    []string{"sleep", "30"},
			timeout: 300 * time.Millisecond,
			want:    ExecResult{ExitCode: 124, TimedOut: true},
			maxTime: 5 * time.Second,
		},
		{
			name: "timeout kills what ignores SIGTERM",
			// The shell ignores SIGTERM from its first instruction on (node
			// could still be starting on a busy machine when the timeout fires).
			argv:    []string{"sh", "-c", "trap '' TERM; while :; do sleep 1; done"},
			timeout: time.Second,
			want:    ExecResult{ExitCode: 137, TimedOut: true},
			maxTime: 8 * time.Second,
		},
		{
			name:      "output cap",
			argv:      []string{"node", "-e", "process.stdout.write('x'.repeat(200000))"},
			outputCap: 1000,
			want:      ExecResult{Output: strings.Repeat("x", 1000), Truncated: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := d.Exec(testContext(t), projectID, tt.argv, tt.timeout, tt.outputCap)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.want.ExitCode || res.Output != tt.want.Output ||
				res.Truncated != tt.want.Truncated || res.TimedOut != tt.want.TimedOut {
				t.Errorf("Exec(%q) = exit %d truncated %v timed out %v output %.200q\nwant exit %d truncated %v timed out %v output %.200q",
					tt.argv, res.ExitCode, res.Truncated, res.TimedOut, res.Output,
					tt.want.ExitCode, tt.want.Truncated, tt.want.TimedOut, tt.want.Output)
			}
			if tt.maxTime > 0 && res.Duration > tt.maxTime {
				t.Errorf("took %v, want under %v", res.Duration, tt.maxTime)
			}
		})
	}
}

func TestExecNeedsARunningContainer(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _ := newProject(t, d, "static")
	ctx := testContext(t)

	if _, err := d.Exec(ctx, projectID, []string{"true"}, 0, 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Exec in a created container: %v, want ErrNotRunning", err)
	}
	if err := d.Remove(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, projectID, []string{"true"}, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Exec without a container: %v, want ErrNotFound", err)
	}
}

// A studio run by another user (here: files owned by uid 1234) gets a
// container that runs as that user, so the dev server and the user's
// commands can write the project.
func TestContainerRunsAsTheProjectFolderOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the folder to another uid")
	}
	d := testDocker(t, Options{})
	projectID, dir := newProject(t, d, "static")
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 1234, 1234)
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if err := d.Remove(ctx, projectID); err != nil { // made before the chown
		t.Fatal(err)
	}
	if _, err := d.Ensure(ctx, Spec{ProjectID: projectID, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	res, err := d.Exec(ctx, projectID, []string{"sh", "-c", "id -u && touch /app/x && echo wrote"}, 30*time.Second, 0)
	if err != nil || res.ExitCode != 0 || res.Output != "1234\nwrote\n" {
		t.Fatalf("exec = %+v, %v; want uid 1234 and a write to /app", res, err)
	}
	info, err := os.Stat(filepath.Join(dir, "x"))
	if err != nil || info.Sys().(*syscall.Stat_t).Uid != 1234 {
		t.Fatalf("the new file: %v, %v; want it owned by 1234", info, err)
	}
}

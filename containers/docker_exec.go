package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// killGrace is how long a timed-out command has to exit on SIGTERM before
// it is killed.
const killGrace = 2 * time.Second

// Exec runs argv in the project's running container.
//
// The engine cannot kill an exec'd process, so the timeout is enforced inside
// the container by coreutils' timeout(1), which runs argv directly (no shell
// parses it) and signals the command's whole process group.
func (d *Docker) Exec(ctx context.Context, projectID string, argv []string, timeout time.Duration, outputCap int) (ExecResult, error) {
	if outputCap <= 0 {
		outputCap = DefaultOutputCap
	}
	out := &CappedBuffer{Limit: outputCap}
	res, err := d.ExecStream(ctx, projectID, argv, timeout, out)
	res.Output, res.Truncated = out.String(), out.Truncated
	return res, err
}

// ExecStream is Exec with the output written to out as it comes.
func (d *Docker) ExecStream(ctx context.Context, projectID string, argv []string, timeout time.Duration, out io.Writer) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("exec: empty command")
	}
	name, err := containerName(projectID)
	if err != nil {
		return ExecResult{}, err
	}
	cmd := TimeoutArgv(argv, timeout)

	// No User: a command runs as the container's own user, the owner of the
	// project folder (containerConfig).
	created, err := d.cli(ctx).ContainerExecCreate(ctx, name, container.ExecOptions{
		WorkingDir:   appDir,
		Cmd:          cmd,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, d.execErr(projectID, err)
	}
	start := time.Now()
	attached, err := d.cli(ctx).ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, d.execErr(projectID, err)
	}
	defer attached.Close()
	stop := context.AfterFunc(ctx, func() { attached.Close() })
	defer stop()

	_, copyErr := stdcopy.StdCopy(out, out, attached.Reader)
	if ctx.Err() != nil {
		return ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, ctx.Err())
	}
	if copyErr != nil {
		return ExecResult{}, fmt.Errorf("exec in project %s: read output: %w", projectID, copyErr)
	}
	code, err := d.execExitCode(ctx, created.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, err)
	}

	res := ExecResult{ExitCode: code, Duration: time.Since(start)}
	res.TimedOut = TimedOut(timeout, code, res.Duration)
	return res, nil
}

// execExitCode waits for the engine to record the exit code, which can lag
// a moment behind the end of the output stream.
func (d *Docker) execExitCode(ctx context.Context, execID string) (int, error) {
	for delay := time.Millisecond; ; delay *= 2 {
		info, err := d.cli(ctx).ContainerExecInspect(ctx, execID)
		if err != nil {
			return 0, engineErr(err)
		}
		if !info.Running {
			return info.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(delay, 100*time.Millisecond)):
		}
	}
}

func (d *Docker) execErr(projectID string, err error) error {
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("exec in project %s: %w", projectID, ErrNotFound)
	case cerrdefs.IsConflict(err): // "container ... is not running"
		return fmt.Errorf("exec in project %s: %w", projectID, ErrNotRunning)
	}
	return fmt.Errorf("exec in project %s: %w", projectID, engineErr(err))
}

// TimeoutArgv wraps argv in coreutils' timeout(1), which runs argv directly
// (no shell parses it) and signals the command's whole process group: an
// engine cannot kill a process it exec'd, so the limit is kept inside the
// container. A zero duration turns timeout(1) off but keeps its behaviour
// for a missing program (exit 127 and a one-line message) the same.
func TimeoutArgv(argv []string, timeout time.Duration) []string {
	limit := max(timeout, 0)
	return append([]string{"timeout", "--kill-after=" + seconds(killGrace), seconds(limit)}, argv...)
}

// TimedOut tells whether a command run under TimeoutArgv was stopped at
// its timeout: timeout(1) exits 124 after SIGTERM worked, 137 after it had
// to KILL.
func TimedOut(timeout time.Duration, code int, ran time.Duration) bool {
	return timeout > 0 && (code == 124 || code == 137) && ran >= timeout
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// CappedBuffer keeps the first Limit bytes written to it and discards the
// rest, so a chatty command cannot exhaust studio's memory but is never
// blocked on a full pipe either. It is safe for concurrent writers (an
// engine may deliver stdout and stderr on two goroutines).
type CappedBuffer struct {
	Limit     int
	Truncated bool

	mu  sync.Mutex
	buf []byte
}

func (b *CappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.Limit - len(b.buf)
	if len(p) > room {
		b.Truncated = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
	} else {
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

// String returns the kept output without a character cut in half at the cap.
func (b *CappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf
	if b.Truncated {
		for i := 0; i < utf8.UTFMax-1 && len(out) > 0; i++ {
			r, size := utf8.DecodeLastRune(out)
			if r != utf8.RuneError || size != 1 {
				break
			}
			out = out[:len(out)-1]
		}
	}
	return string(out)
}

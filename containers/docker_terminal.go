package containers

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// Terminal starts a login shell on a TTY in the project's running
// container, as the project user in /app. ctx bounds the shell's life.
func (d *Docker) Terminal(ctx context.Context, projectID string, size TermSize) (Terminal, error) {
	name, err := containerName(projectID)
	if err != nil {
		return nil, err
	}
	argv, env := TerminalCommand()
	created, err := d.cli(ctx).ContainerExecCreate(ctx, name, container.ExecOptions{
		User:         TerminalUser,
		WorkingDir:   appDir,
		Cmd:          argv,
		Env:          env,
		Tty:          true,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return nil, d.execErr(projectID, err)
	}
	attached, err := d.cli(ctx).ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: true})
	if err != nil {
		return nil, d.execErr(projectID, err)
	}
	resize := func(ctx context.Context, s TermSize) error {
		err := d.cli(ctx).ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: uint(s.Rows), Width: uint(s.Cols)})
		if err != nil {
			return fmt.Errorf("resize terminal in project %s: %w", projectID, engineErr(err))
		}
		return nil
	}
	detach := func() error { attached.Close(); return nil }
	hangup := func(pid int) { d.hangup(projectID, pid) }
	stop := context.AfterFunc(ctx, attached.Close)
	t, err := NewShellTerminal(attached.Reader, attached.Conn, resize, detach, hangup)
	if err != nil {
		stop()
		return nil, fmt.Errorf("terminal in project %s: %w", projectID, err)
	}
	if size.Cols > 0 && size.Rows > 0 {
		_ = t.Resize(ctx, size) // the shell is up; a failed resize leaves it at 80x24
	}
	return t, nil
}

// hangup ends a terminal's shell; the container may be gone already.
func (d *Docker) hangup(projectID string, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), HangupTimeout)
	defer cancel()
	_, _ = d.Exec(ctx, projectID, HangupArgv(pid), HangupTimeout, 0)
}

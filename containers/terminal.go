package containers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"studio/containers/image"
)

// TermSize is a terminal's width and height in character cells.
type TermSize struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// Terminal is an interactive shell on a TTY in a project's container. Read
// is what the TTY prints, Write is what the person types, and Close hangs
// the shell up (SIGHUP to it and its jobs).
type Terminal interface {
	io.ReadWriteCloser
	Resize(ctx context.Context, size TermSize) error
}

// TerminalUser is who a terminal's shell runs as: the project user, the
// owner of /app, never root.
var TerminalUser = strconv.Itoa(image.ProjectUID) + ":" + strconv.Itoa(image.ProjectGID)

// terminalArgv starts a login shell in a way that tells studio its pid
// first: an engine cannot signal a process it exec'd, so Close hangs the
// shell up with kill, run by another exec.
var terminalArgv = []string{"/bin/sh", "-c",
	`cd /app 2>/dev/null; echo "$$"; if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l`}

// terminalEnv: the history goes to /tmp, the one writable place besides
// the project's own files.
var terminalEnv = []string{"TERM=xterm-256color", "HISTFILE=/tmp/.sh_history"}

// TerminalCommand is the argv and environment an engine runs a terminal's
// shell with.
func TerminalCommand() (argv, env []string) {
	return append([]string(nil), terminalArgv...), append([]string(nil), terminalEnv...)
}

// HangupTimeout bounds the kill that ends a terminal's shell.
const HangupTimeout = 10 * time.Second

// shellStartTimeout bounds the wait for a new shell's first line.
const shellStartTimeout = 30 * time.Second

// ShellTerminal is a Terminal over the streams an engine attached to a TTY
// exec of TerminalCommand.
type ShellTerminal struct {
	out    *bufio.Reader
	in     io.Writer
	resize func(context.Context, TermSize) error
	detach func() error // closes the streams
	hangup func(pid int)
	pid    int
	once   sync.Once
}

// NewShellTerminal reads the shell's pid from the first line of out and
// wraps the streams. hangup signals the shell when the terminal closes;
// detach then closes the streams.
func NewShellTerminal(out io.Reader, in io.Writer, resize func(context.Context, TermSize) error,
	detach func() error, hangup func(pid int)) (*ShellTerminal, error) {
	t := &ShellTerminal{out: bufio.NewReader(out), in: in, resize: resize, detach: detach, hangup: hangup}
	stuck := time.AfterFunc(shellStartTimeout, func() { _ = detach() })
	line, err := t.out.ReadString('\n')
	stuck.Stop()
	if err != nil {
		_ = detach()
		return nil, fmt.Errorf("start shell: %w", err)
	}
	t.pid, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil || t.pid <= 1 {
		_ = detach()
		return nil, fmt.Errorf("start shell: unexpected first line %q", line)
	}
	return t, nil
}

func (t *ShellTerminal) Read(p []byte) (int, error)  { return t.out.Read(p) }
func (t *ShellTerminal) Write(p []byte) (int, error) { return t.in.Write(p) }

// Resize changes the TTY's size; the shell gets SIGWINCH.
func (t *ShellTerminal) Resize(ctx context.Context, size TermSize) error {
	if size.Cols == 0 || size.Rows == 0 {
		return fmt.Errorf("resize terminal: %dx%d is not a size", size.Cols, size.Rows)
	}
	return t.resize(ctx, size)
}

// Close hangs up the shell, which passes SIGHUP on to its jobs, and
// closes the streams.
func (t *ShellTerminal) Close() error {
	var err error
	t.once.Do(func() {
		t.hangup(t.pid)
		err = t.detach()
	})
	return err
}

// HangupArgv is the command that hangs up the shell with pid: the shell's
// kill builtin, as the image need not have a kill(1).
func HangupArgv(pid int) []string {
	return []string{"/bin/sh", "-c", `kill -HUP "$1"`, "sh", strconv.Itoa(pid)}
}

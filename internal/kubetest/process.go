package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one program the cluster runs, with its output in a log file
// under the cluster's folder so a failure can quote it.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the program has exited
	err  error         // its exit status, valid once done is closed
}

// startProcess runs path with args, stdout and stderr to dir/logs/name.log.
// The program gets SIGKILL if the test binary dies first, so a crashed test
// leaves no control plane behind.
func startProcess(dir, name, path string, args ...string) (*process, error) {
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logs, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(path, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the program has stopped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL if the program is still there after
// grace. It only ever signals the pid it started.
func (p *process) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// failure describes why the program is not serving: its exit status if it
// exited, and the end of its log.
func (p *process) failure(what error) error {
	state := "is running"
	if p.exited() {
		state = fmt.Sprintf("exited (%v)", p.err)
	}
	return fmt.Errorf("%s %s: %w\n--- last lines of %s ---\n%s", p.name, state, what, p.log, tail(p.log, 30))
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// run runs a short helper command and returns its error with its output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var errGaveUp = errors.New("gave up waiting")

// waitFor checks ready until it returns true, p exits, or timeout passes.
// Checks start 20 ms apart and slow down to 250 ms.
func waitFor(p *process, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	pause := 20 * time.Millisecond
	for !ready() {
		if p != nil && p.exited() {
			return p.failure(errors.New("exited before it was ready"))
		}
		if time.Now().After(deadline) {
			if p != nil {
				return p.failure(fmt.Errorf("%w after %s", errGaveUp, timeout))
			}
			return fmt.Errorf("%w after %s", errGaveUp, timeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
	return nil
}

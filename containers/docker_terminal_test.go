package containers

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"studio/internal/testwait"
)

// screen collects what a terminal prints.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	testwait.Eventually(t, 20*time.Second, func() bool { return strings.Contains(s.String(), want) },
		"the terminal printed "+want)
}

func TestDockerTerminal(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _, _ := startProject(t, d, "static", "/")
	ctx := testContext(t)

	term, err := d.Terminal(ctx, projectID, TermSize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	out := &screen{}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(out, term) }()

	if _, err := io.WriteString(term, "echo \"uid=$(id -u) cwd=$(pwd) size=$(stty size)\"\n"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "uid=1000 cwd=/app size=30 100")

	if err := term.Resize(ctx, TermSize{Cols: 120, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(term, "echo \"now=$(stty size)\"\n")
	out.waitFor(t, "now=40 120")

	// Close hangs up the shell and what runs in it.
	_, _ = io.WriteString(term, "sleep 4321\n")
	running := func() bool {
		res, err := d.Exec(ctx, projectID, []string{"sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"}, 5*time.Second, 0)
		return err == nil && strings.Contains(res.Output, "sleep 4321")
	}
	testwait.Eventually(t, 10*time.Second, running, "sleep runs in the terminal")
	if err := term.Close(); err != nil {
		t.Fatal(err)
	}
	<-copied
	testwait.Eventually(t, 10*time.Second, func() bool { return !running() }, "closing the terminal ended its jobs")
}

func TestDockerTerminalNeedsARunningContainer(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _ := newProject(t, d, "static")
	if _, err := d.Terminal(testContext(t), projectID, TermSize{}); err == nil {
		t.Fatal("a terminal opened in a container that is not running")
	}
}

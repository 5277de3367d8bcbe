package terminal

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/internal/testwait"
)

// echoShell prints back what it is sent, like a TTY in cooked mode.
type echoShell struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	closed chan struct{}
}

func newEchoShell() *echoShell {
	r, w := io.Pipe()
	return &echoShell{r: r, w: w, closed: make(chan struct{})}
}

func (e *echoShell) Read(p []byte) (int, error)  { return e.r.Read(p) }
func (e *echoShell) Write(p []byte) (int, error) { return e.w.Write(p) }
func (e *echoShell) Close() error {
	close(e.closed)
	return e.w.Close()
}
func (e *echoShell) Resize(context.Context, containers.TermSize) error { return nil }

func opener(shell *echoShell) Opener {
	return func(context.Context) (containers.Terminal, error) { return shell, nil }
}

func key(id string) Key { return Key{Owner: uuid.New(), Project: uuid.New(), ID: id} }

func read(t *testing.T, c *Client, want string) {
	t.Helper()
	got := ""
	deadline := time.After(5 * time.Second)
	for !strings.Contains(got, want) {
		select {
		case p, ok := <-c.Output:
			if !ok {
				t.Fatalf("output closed (%s) before %q; got %q", c.Reason(), want, got)
			}
			got += string(p)
		case <-deadline:
			t.Fatalf("no %q in %q", want, got)
		}
	}
}

func TestReattachReplaysTheScrollback(t *testing.T) {
	t.Parallel()
	m := NewManager(Options{})
	k := key("tab-1")
	shell := newEchoShell()
	s, err := m.Session(k, opener(shell))
	if err != nil {
		t.Fatal(err)
	}
	c, replay, err := s.Attach()
	if err != nil || len(replay) != 0 {
		t.Fatalf("first attach: %q, %v", replay, err)
	}
	_, _ = c.Write([]byte("first line\n"))
	read(t, c, "first line")
	c.Detach()

	again, err := m.Session(k, func(context.Context) (containers.Terminal, error) {
		return nil, errors.New("a reconnect must not start another shell")
	})
	if err != nil || again != s {
		t.Fatalf("reconnect found %p, %v; want the session %p", again, err, s)
	}
	c2, replay, err := again.Attach()
	if err != nil || string(replay) != "first line\n" {
		t.Fatalf("replay %q, %v", replay, err)
	}
	_, _ = c2.Write([]byte("second\n"))
	read(t, c2, "second")

	// A second window takes the session over.
	c3, _, _ := s.Attach()
	if _, ok := <-c2.Output; ok || !strings.Contains(c2.Reason(), "another window") {
		t.Fatalf("the first window stays attached (%q)", c2.Reason())
	}
	s.Close()
	<-shell.closed
	if _, ok := <-c3.Output; ok {
		t.Fatal("output open after close")
	}
}

func TestScrollbackIsBounded(t *testing.T) {
	t.Parallel()
	r := ring{limit: 100}
	for i := 0; i < 50; i++ {
		r.write([]byte("0123456789\n"))
	}
	b := r.bytes()
	if len(b) > 100 || !strings.HasPrefix(string(b), "0123456789\n") {
		t.Fatalf("scrollback %d bytes: %q", len(b), b)
	}
}

func TestIdleAndDetachedSessionsEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   Options
		detach bool
	}{
		{"idle", Options{Idle: 100 * time.Millisecond}, false},
		{"detached", Options{Detached: 100 * time.Millisecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewManager(tc.opts)
			shell := newEchoShell()
			s, _ := m.Session(key("a"), opener(shell))
			c, _, err := s.Attach()
			if err != nil {
				t.Fatal(err)
			}
			if tc.detach {
				c.Detach()
			}
			testwait.Eventually(t, 5*time.Second, func() bool {
				select {
				case <-shell.closed:
					return true
				default:
					return false
				}
			}, "the shell is hung up")
			if _, _, err := s.Attach(); !errors.Is(err, ErrEnded) {
				t.Fatalf("attach to an ended session: %v", err)
			}
		})
	}
}

func TestSessionLimits(t *testing.T) {
	t.Parallel()
	m := NewManager(Options{PerUser: 1})
	k := key("one")
	if _, err := m.Session(Key{Owner: k.Owner, Project: k.Project, ID: "bad id!"}, opener(newEchoShell())); !errors.Is(err, ErrBadID) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := m.Session(k, opener(newEchoShell())); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Session(Key{Owner: k.Owner, Project: k.Project, ID: "two"}, opener(newEchoShell())); !errors.Is(err, ErrTooMany) {
		t.Fatalf("second session: %v", err)
	}
	if _, err := m.Session(key("two"), opener(newEchoShell())); err != nil {
		t.Fatalf("another person's session: %v", err)
	}
}

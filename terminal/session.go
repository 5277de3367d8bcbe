package terminal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"studio/containers"
)

// clientBuffer is how many chunks of output wait for a slow websocket
// before it is dropped (the page reconnects and gets the scrollback).
const clientBuffer = 256

// ErrEnded: the session's shell is gone.
var ErrEnded = errors.New("the terminal has ended")

// Detached is the Reason of a client that detached itself.
const Detached = "detached"

// Session is one shell and the end of what it printed. At most one client
// (a websocket) shows it at a time; a new one takes over.
type Session struct {
	m      *Manager
	key    Key
	open   Opener
	ctx    context.Context
	cancel context.CancelFunc

	started  sync.Once
	startErr error
	term     containers.Terminal

	mu         sync.Mutex
	scrollback ring
	client     *Client
	lastUse    time.Time
	detachedAt time.Time
	ended      string // why, once the session has ended
	timer      *time.Timer
}

func newSession(m *Manager, key Key, open Opener) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	s := &Session{m: m, key: key, open: open, ctx: ctx, cancel: cancel,
		scrollback: ring{limit: m.opts.Scrollback}, lastUse: now, detachedAt: now}
	s.timer = time.AfterFunc(m.opts.Detached, s.check)
	return s
}

// Client is a websocket's view of a session.
type Client struct {
	s *Session
	// Output carries what the shell prints; it is closed when the client
	// is detached (Reason says why).
	Output chan []byte
	reason string
}

// Attach starts the shell if it has not started, and makes c the
// session's client, detaching the one before it. replay is the
// scrollback, which Output continues without a gap.
func (s *Session) Attach() (c *Client, replay []byte, err error) {
	s.started.Do(s.start)
	if s.startErr != nil {
		return nil, nil, s.startErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != "" {
		return nil, nil, fmt.Errorf("%w: %s", ErrEnded, s.ended)
	}
	s.dropClient("The terminal was opened in another window.")
	c = &Client{s: s, Output: make(chan []byte, clientBuffer)}
	s.client = c
	s.lastUse = time.Now()
	s.timer.Reset(0) // check: an attached session ends only when idle
	return c, s.scrollback.bytes(), nil
}

func (s *Session) start() {
	s.term, s.startErr = s.open(s.ctx)
	if s.startErr != nil {
		s.end(s.startErr.Error())
		return
	}
	go s.pump()
}

// pump copies the shell's output into the scrollback and to the client.
func (s *Session) pump() {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.term.Read(buf)
		if n > 0 {
			s.printed(bytes.Clone(buf[:n]))
		}
		if err != nil {
			s.end("The shell exited.")
			return
		}
	}
}

func (s *Session) printed(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scrollback.write(p)
	s.lastUse = time.Now()
	if s.client == nil {
		return
	}
	select {
	case s.client.Output <- p:
	default:
		s.dropClient("The connection could not keep up with the terminal's output.")
	}
}

// dropClient detaches the client, if any; the caller holds s.mu.
func (s *Session) dropClient(reason string) {
	if s.client == nil {
		return
	}
	s.client.reason = reason
	close(s.client.Output)
	s.client = nil
	s.detachedAt = time.Now()
	s.timer.Reset(0) // check: the session may now outlive no client only so long
}

// check ends the session once it has been idle or without a client too
// long, and otherwise sets the timer for the next moment it may be.
func (s *Session) check() {
	s.mu.Lock()
	var deadline time.Time
	why := ""
	if idle := s.m.opts.Idle; idle > 0 {
		deadline = s.lastUse.Add(idle)
		why = fmt.Sprintf("The terminal was closed after %s without use.", idle)
	}
	if s.client == nil {
		if d := s.detachedAt.Add(s.m.opts.Detached); deadline.IsZero() || d.Before(deadline) {
			deadline, why = d, "The terminal was closed after nobody had it open for a while."
		}
	}
	wait := time.Until(deadline)
	if deadline.IsZero() || wait > 0 {
		if !deadline.IsZero() && s.ended == "" {
			s.timer.Reset(wait)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.end(why)
}

// end hangs up the shell and forgets the session.
func (s *Session) end(why string) {
	s.mu.Lock()
	if s.ended != "" {
		s.mu.Unlock()
		return
	}
	s.ended = why
	s.dropClient(why)
	s.timer.Stop()
	s.mu.Unlock()
	s.m.forget(s.key, s)
	s.cancel()
	if s.term != nil {
		_ = s.term.Close()
	}
}

// Ended tells whether the session's shell is gone.
func (s *Session) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended != ""
}

// Close hangs up the session's shell: the person closed its tab.
func (s *Session) Close() { s.end("The terminal was closed.") }

// Write sends what the person typed to the shell.
func (c *Client) Write(p []byte) (int, error) {
	s := c.s
	s.mu.Lock()
	if s.client != c {
		s.mu.Unlock()
		return 0, ErrEnded
	}
	s.lastUse = time.Now()
	s.mu.Unlock()
	return s.term.Write(p)
}

// Resize changes the size of the session's terminal.
func (c *Client) Resize(ctx context.Context, size containers.TermSize) error {
	return c.s.term.Resize(ctx, size)
}

// Detach leaves the session running for a reconnect.
func (c *Client) Detach() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		s.dropClient(Detached)
	}
}

// Reason says why Output was closed.
func (c *Client) Reason() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.reason
}

// Session is the session c shows.
func (c *Client) Session() *Session { return c.s }

// ring keeps the last limit bytes written to it.
type ring struct {
	limit int
	buf   []byte
}

func (r *ring) write(p []byte) {
	r.buf = append(r.buf, p...)
	if len(r.buf) > 2*r.limit { // compact now and then, not on every write
		r.buf = append(r.buf[:0], r.buf[len(r.buf)-r.limit:]...)
	}
}

// bytes is a copy of the last limit bytes; when older output was cut off,
// it starts at a line's beginning, so a replay does not begin in the middle
// of a line or an escape sequence.
func (r *ring) bytes() []byte {
	b := r.buf
	if len(b) > r.limit {
		b = b[len(b)-r.limit:]
		if i := bytes.IndexByte(b[:min(len(b), 4<<10)], '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return bytes.Clone(b)
}

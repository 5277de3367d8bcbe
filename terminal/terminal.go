// Package terminal keeps the shell sessions of the workspace's terminal.
// A session outlives the websocket that shows it for a while, keeping the
// end of what its shell printed, so a page that reconnects (a reload, a
// dropped network) finds its shell and its scrollback again; a session
// that nobody uses for long is hung up.
package terminal

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"

	"studio/containers"
)

// Options bound the sessions.
type Options struct {
	// Idle hangs up a session whose shell neither read nor printed
	// anything for this long (STUDIO_TERMINAL_IDLE); 0 = never.
	Idle time.Duration
	// Detached hangs up a session that no websocket has shown for this long.
	Detached time.Duration
	// Scrollback is how many bytes of output a reconnect replays.
	Scrollback int
	// PerUser is how many sessions one person may hold on this replica.
	PerUser int
}

// Defaults for the options left zero, except Idle.
const (
	DefaultDetached   = 5 * time.Minute
	DefaultScrollback = 256 << 10
	DefaultPerUser    = 8
)

var (
	// ErrTooMany: the person holds every session they may.
	ErrTooMany = errors.New("too many terminals are open")
	// ErrBadID: a session id that is not one a client would make.
	ErrBadID = errors.New("a terminal session id is 1 to 64 letters, digits, '-' or '_'")
)

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID tells whether id can name a session.
func ValidID(id string) bool { return validID.MatchString(id) }

// Key names a session: a client's id for it, within one person's project,
// so nobody reaches another person's shell by guessing an id.
type Key struct {
	Owner   uuid.UUID
	Project uuid.UUID
	ID      string
}

// Opener starts the shell of a new session; ctx bounds the shell's life.
type Opener func(ctx context.Context) (containers.Terminal, error)

// Manager holds the sessions of one studio replica.
type Manager struct {
	opts     Options
	mu       sync.Mutex
	sessions map[Key]*Session
}

// NewManager returns a Manager with opts, defaults filled in.
func NewManager(opts Options) *Manager {
	if opts.Detached <= 0 {
		opts.Detached = DefaultDetached
	}
	if opts.Scrollback <= 0 {
		opts.Scrollback = DefaultScrollback
	}
	if opts.PerUser <= 0 {
		opts.PerUser = DefaultPerUser
	}
	return &Manager{opts: opts, sessions: map[Key]*Session{}}
}

// Session finds the session named by key or makes one whose shell open
// starts. A new session's shell starts on its first Attach.
func (m *Manager) Session(key Key, open Opener) (*Session, error) {
	if !ValidID(key.ID) {
		return nil, ErrBadID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[key]; s != nil {
		return s, nil
	}
	n := 0
	for k := range m.sessions {
		if k.Owner == key.Owner {
			n++
		}
	}
	if n >= m.opts.PerUser {
		return nil, ErrTooMany
	}
	s := newSession(m, key, open)
	m.sessions[key] = s
	return s, nil
}

// Close hangs up every session.
func (m *Manager) Close() {
	m.mu.Lock()
	all := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	m.mu.Unlock()
	for _, s := range all {
		s.end("studio is shutting down")
	}
}

func (m *Manager) forget(key Key, s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions[key] == s {
		delete(m.sessions, key)
	}
}

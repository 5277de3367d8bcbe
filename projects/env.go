package projects

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"studio/auth"
	"studio/db"
)

// Sealer encrypts secrets at rest (auth.Keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) (string, error)
	Open(sealed string, aad []byte) ([]byte, error)
}

// Bounds on a project's environment.
const (
	MaxEnvVars     = 100
	MaxEnvNameLen  = 128
	MaxEnvValueLen = 32 << 10
	maxEnvTotal    = 256 << 10 // sealed bytes of all of a project's values
)

// Errors about environment variables a person can act on.
var (
	ErrEnvName      = errors.New("a variable's name is capital letters, digits and _, not starting with a digit, at most 128 characters")
	ErrEnvValue     = fmt.Errorf("a value may be at most %d KiB and hold no NUL character", MaxEnvValueLen>>10)
	ErrEnvTooMany   = fmt.Errorf("a project may have at most %d variables, %d KiB in all", MaxEnvVars, maxEnvTotal>>10)
	ErrEnvNotFound  = errors.New("there is no such variable")
	ErrNoSealer     = errors.New("this studio cannot keep secrets: it has no secret key")
	errEnvUnsealed  = errors.New("a variable could not be decrypted")
	envNamePattern  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	reservedEnv     = []string{"HOME", "HOST", "HOSTNAME", "PORT", "PATH", "PWD", "SHELL", "USER", "TERM", "NODE_ENV", "NODE_OPTIONS", "NODE_PATH"}
	reservedEnvPfxs = []string{"STUDIO_", "NPM_CONFIG_"}
)

// ErrEnvReserved names a variable studio or the runtime sets itself.
type ErrEnvReserved struct{ Name string }

func (e ErrEnvReserved) Error() string {
	return e.Name + " is set by studio's runtime for the dev server; choose another name"
}

// EnvVar is what a browser may know of a variable: never its value.
type EnvVar struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CheckEnvName tells whether name may be a project's variable.
func CheckEnvName(name string) error {
	if len(name) > MaxEnvNameLen || !envNamePattern.MatchString(name) {
		return ErrEnvName
	}
	if slices.Contains(reservedEnv, name) || slices.ContainsFunc(reservedEnvPfxs, func(p string) bool { return strings.HasPrefix(name, p) }) {
		return ErrEnvReserved{name}
	}
	return nil
}

// ListEnv lists the project's variables, without values.
func (h *Handle) ListEnv(ctx context.Context) ([]EnvVar, error) {
	rows, err := h.s.q.ListProjectEnvVars(ctx, h.p.ID)
	if err != nil {
		return nil, fmt.Errorf("list variables of project %s: %w", h.p.ID, err)
	}
	out := make([]EnvVar, 0, len(rows))
	for _, r := range rows {
		out = append(out, EnvVar{Name: r.Name, UpdatedAt: r.UpdatedAt})
	}
	return out, nil
}

// SetEnv seals and stores a variable; the dev server sees it from its
// next start.
func (h *Handle) SetEnv(ctx context.Context, name, value string) (EnvVar, error) {
	if err := CheckEnvName(name); err != nil {
		return EnvVar{}, err
	}
	if len(value) > MaxEnvValueLen || strings.ContainsRune(value, 0) {
		return EnvVar{}, ErrEnvValue
	}
	if h.s.opts.Sealer == nil {
		return EnvVar{}, ErrNoSealer
	}
	sealed, err := h.s.opts.Sealer.Seal([]byte(value), auth.ProjectEnvAAD(h.p.ID, name))
	if err != nil {
		return EnvVar{}, fmt.Errorf("seal variable: %w", err)
	}
	var row db.ProjectEnvVar
	err = db.InTx(ctx, h.s.pool, func(q *db.Queries) error {
		// One writer at a time per project, so two saves cannot both pass
		// the bounds.
		if _, err := q.LockProjectForEnv(ctx, h.p.ID); err != nil {
			return err
		}
		n, err := q.CountProjectEnvVars(ctx, db.CountProjectEnvVarsParams{ProjectID: h.p.ID, ExceptName: name})
		if err != nil {
			return err
		}
		if n.Count >= MaxEnvVars || n.SealedSize+int64(len(sealed)) > maxEnvTotal {
			return ErrEnvTooMany
		}
		row, err = q.UpsertProjectEnvVar(ctx, db.UpsertProjectEnvVarParams{ProjectID: h.p.ID, Name: name, Value: sealed})
		return err
	})
	if err != nil {
		if errors.Is(err, ErrEnvTooMany) {
			return EnvVar{}, err
		}
		return EnvVar{}, fmt.Errorf("save variable of project %s: %w", h.p.ID, err)
	}
	return EnvVar{Name: row.Name, UpdatedAt: row.UpdatedAt}, nil
}

// DeleteEnv removes a variable.
func (h *Handle) DeleteEnv(ctx context.Context, name string) error {
	n, err := h.s.q.DeleteProjectEnvVar(ctx, db.DeleteProjectEnvVarParams{ProjectID: h.p.ID, Name: name})
	if err != nil {
		return fmt.Errorf("delete variable of project %s: %w", h.p.ID, err)
	}
	if n == 0 {
		return ErrEnvNotFound
	}
	return nil
}

// env is the project's variables, opened, as NAME=value sorted by name.
func (s *Service) env(ctx context.Context, id uuid.UUID) ([]string, error) {
	rows, err := s.q.ListProjectEnvVars(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("variables of project %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if s.opts.Sealer == nil {
		return nil, ErrNoSealer
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		plain, err := s.opts.Sealer.Open(r.Value, auth.ProjectEnvAAD(id, r.Name))
		if err != nil {
			return nil, fmt.Errorf("%w: %s of project %s", errEnvUnsealed, r.Name, id)
		}
		out = append(out, r.Name+"="+string(plain))
	}
	return out, nil
}

// masked hides the values of the project's variables in what rc reads,
// line by line, so no log studio shows holds a secret.
func (s *Service) masked(ctx context.Context, id uuid.UUID, rc io.ReadCloser) io.ReadCloser {
	env, err := s.env(ctx, id)
	if err != nil {
		s.log.Warn("cannot mask variables in logs", "project", id, "err", err)
		rc.Close()
		return io.NopCloser(strings.NewReader("studio: the logs are hidden: the project's variables could not be read\n"))
	}
	m := newMasker(env)
	if m == nil {
		return rc
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if _, err := pw.Write(append(m.mask(sc.Bytes()), '\n')); err != nil {
				return
			}
		}
		pw.CloseWithError(sc.Err())
	}()
	return struct {
		io.Reader
		io.Closer
	}{pr, closers{pr, rc}}
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		x.Close()
	}
	return nil
}

// masker replaces secret values with ••••. Values shorter than
// minMasked are left alone: masking "1" would garble every line.
type masker struct{ values [][]byte }

const minMasked = 4

func newMasker(env []string) *masker {
	var m masker
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		if len(v) >= minMasked {
			m.values = append(m.values, []byte(v))
		}
	}
	if len(m.values) == 0 {
		return nil
	}
	// Longest first, so a value containing another is hidden whole.
	slices.SortFunc(m.values, func(a, b []byte) int { return len(b) - len(a) })
	return &m
}

var maskedValue = []byte("••••")

func (m *masker) mask(line []byte) []byte {
	for _, v := range m.values {
		line = bytes.ReplaceAll(line, v, maskedValue)
	}
	return line
}

// RecentLogs is the dev server's last tail lines, without following, with
// the project's variables masked (for agents, whose context goes to a
// model provider).
func (h *Handle) RecentLogs(ctx context.Context, tail int) (io.ReadCloser, error) {
	rc, err := h.s.rt.Logs(ctx, h.p.ID.String(), tail, false)
	if err != nil {
		return nil, err
	}
	return h.s.masked(ctx, h.p.ID, rc), nil
}

package projects_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/containers"
	"studio/db"
	"studio/db/dbtest"
	"studio/events"
	"studio/internal/testwait"
	"studio/projects"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// stack is a project service on a real database and Docker engine, with
// its own instance label so reconcile never touches other tests' containers.
type stack struct {
	t           *testing.T
	pool        *pgxpool.Pool
	rt          *containers.Docker
	svc         *projects.Service
	user        uuid.UUID
	root        string // project folders live in root/<id>
	checkpoints string // checkpoint folders live in checkpoints/<id>
	opts        projects.Options
}

func newStack(t *testing.T, mutate ...func(*projects.Options)) *stack {
	t.Helper()
	pool := dbtest.New(t)
	rt, err := containers.NewDockerWith(containers.Options{Instance: "test-" + uuid.NewString()[:8], Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Ping(context.Background()); err != nil {
		t.Fatalf("these tests need a running Docker engine: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	opts := projects.Options{
		Root:         filepath.Join(dir, "projects"),
		Checkpoints:  filepath.Join(dir, "checkpoints"),
		MaxProjects:  10,
		MaxRunning:   5,
		ReadyTimeout: 60 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}
	for _, m := range mutate {
		m(&opts)
	}
	bus := events.New(pool, slog.New(slog.DiscardHandler))
	svc := projects.New(pool, rt, bus, opts)
	s := &stack{t: t, pool: pool, rt: rt, svc: svc, root: opts.Root, checkpoints: opts.Checkpoints, opts: opts}
	u, err := db.New(pool).CreateUser(context.Background(), db.CreateUserParams{Email: uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	s.user = u.ID
	t.Cleanup(func() {
		svc.Close()
		ctx := context.Background()
		managed, _ := rt.ListManaged(ctx)
		for _, m := range managed {
			_ = rt.Remove(ctx, m.ProjectID)
		}
		rt.Close()
	})
	return s
}

// waitStatus polls until the project reaches want (or fails the test).
func (s *stack) waitStatus(id uuid.UUID, want db.ProjectStatus) db.Project {
	s.t.Helper()
	var p db.Project
	var err error
	defer func() { // runs after a failed wait too, to say where it stopped
		if s.t.Failed() {
			s.t.Logf("project %s: status %q (reason %q, err %v)", id, p.Status, p.StatusReason, err)
		}
	}()
	testwait.Eventually(s.t, 90*time.Second, func() bool {
		p, err = s.svc.Get(context.Background(), s.user, id)
		return err == nil && p.Status == want
	}, "project "+id.String()+" is "+string(want))
	return p
}

// open is the stack user's handle on one of their projects.
func (s *stack) open(id uuid.UUID) *projects.Handle {
	s.t.Helper()
	h, err := s.svc.Open(context.Background(), s.user, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// dir is the folder of a project's files.
func (s *stack) dir(id uuid.UUID) string { return filepath.Join(s.root, id.String()) }

// admin makes an administrator account.
func (s *stack) admin() uuid.UUID {
	s.t.Helper()
	u, err := db.New(s.pool).CreateUser(context.Background(), db.CreateUserParams{Email: "admin-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "admin"})
	if err != nil {
		s.t.Fatal(err)
	}
	return u.ID
}

func (s *stack) create(name, template string) db.Project {
	s.t.Helper()
	p, err := s.svc.Create(context.Background(), s.user, name, template)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// testClock is the time moved forward by the test.
type testClock struct{ ahead atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *testClock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }

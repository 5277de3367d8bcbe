package projects_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/db"
	"studio/events"
	"studio/projects"
)

func get(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func TestCreateServesThenDeleteRemovesEverything(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("My App!", "react-vite")
	if p.Status != db.ProjectStatusInitializing || p.Slug != "my-app" {
		t.Fatalf("new project: status %q slug %q", p.Status, p.Slug)
	}
	active := s.waitStatus(p.ID, db.ProjectStatusActive)
	if active.HostPort == 0 || active.URL == "" || active.ContainerID == "" {
		t.Fatalf("active project lacks its endpoint: %+v", active)
	}
	ep, err := s.rt.Endpoint(ctx, p.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if code := get(t, "http://"+ep+"/src/main.tsx"); code != 200 {
		t.Fatalf("entry module: %d", code)
	}
	evs, _ := s.open(p.ID).EventsAfter(ctx, 0)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind+":"+string(e.Data))
	}
	if len(evs) < 5 {
		t.Fatalf("progress events: %v", kinds)
	}

	if err := s.svc.Delete(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Get(ctx, s.user, p.ID); !errors.Is(err, projects.ErrNotFound) {
		t.Fatalf("row after delete: %v", err)
	}
	if _, err := os.Stat(s.dir(p.ID)); !os.IsNotExist(err) {
		t.Fatalf("files after delete: %v", err)
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != "missing" {
		t.Fatalf("container after delete: %s", st.State)
	}
	// Deleting again is a clean not-found.
	if err := s.svc.Delete(ctx, s.user, p.ID); !errors.Is(err, projects.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestValidationLimitsAndOwnership(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.MaxProjects = 2; o.MaxRunning = 1 })
	ctx := context.Background()
	if _, err := s.svc.Create(ctx, s.user, "x", "cobol"); !errors.Is(err, projects.ErrUnknownTemplate) {
		t.Fatalf("unknown template: %v", err)
	}
	for _, bad := range []string{"", "   ", string(make([]byte, 61)), "line\nbreak"} {
		if _, err := s.svc.Create(ctx, s.user, bad, "static"); !errors.Is(err, projects.ErrNameInvalid) {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	a := s.create("api", "static") // reserved slug
	if a.Slug == "api" {
		t.Fatal("a reserved slug was handed out")
	}
	if _, err := s.svc.Create(ctx, s.user, "second", "static"); !errors.Is(err, projects.ErrRunningLimit) {
		t.Fatalf("running limit: %v", err)
	}
	s.waitStatus(a.ID, db.ProjectStatusActive)
	if _, err := s.svc.Stop(ctx, s.user, a.ID); err != nil {
		t.Fatal(err)
	}
	b := s.create("api", "static")
	if b.Slug == a.Slug {
		t.Fatal("two projects share a slug")
	}
	if _, err := s.svc.Create(ctx, s.user, "third", "static"); !errors.Is(err, projects.ErrProjectLimit) {
		t.Fatalf("project limit: %v", err)
	}
	stranger := uuid.New()
	if _, err := s.svc.Get(ctx, stranger, a.ID); !errors.Is(err, projects.ErrNotFound) {
		t.Fatalf("another user's get: %v", err)
	}
	for name, f := range map[string]func() error{
		"stop":   func() error { _, err := s.svc.Stop(ctx, stranger, a.ID); return err },
		"start":  func() error { _, err := s.svc.Start(ctx, stranger, a.ID); return err },
		"rename": func() error { _, err := s.svc.Rename(ctx, stranger, a.ID, "mine"); return err },
		"delete": func() error { return s.svc.Delete(ctx, stranger, a.ID) },
	} {
		if err := f(); !errors.Is(err, projects.ErrNotFound) {
			t.Errorf("another user's %s: %v", name, err)
		}
	}
	s.waitStatus(b.ID, db.ProjectStatusActive)
}

func TestStartStopRacesEndConsistent(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("racer", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				s.svc.Stop(ctx, s.user, p.ID)
			} else {
				s.svc.Restart(ctx, s.user, p.ID)
			}
		})
	}
	wg.Wait()
	// Whatever won, the row and the container agree once things settle.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cur, _ := s.svc.Get(ctx, s.user, p.ID)
		st, _ := s.rt.Status(ctx, p.ID.String())
		running := st.State == "running"
		if (cur.Status == db.ProjectStatusActive && running) || (cur.Status == db.ProjectStatusStopped && !running) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	cur, _ := s.svc.Get(ctx, s.user, p.ID)
	st, _ := s.rt.Status(ctx, p.ID.String())
	t.Fatalf("row %q and container %q disagree", cur.Status, st.State)
}

func TestCrashBecomesErrorAndRestartRecovers(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.svc.Run(ctx)
	p := s.create("crashy", "vanilla-vite")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	// SIGKILL the dev server from inside, as the OOM killer would.
	kill := `for (const pid of require('fs').readdirSync('/proc').filter(d => /^\d+$/.test(d))) {
  try { if (require('fs').readFileSync('/proc/' + pid + '/cmdline', 'utf8').startsWith('node\0/opt/studio/bin/dev.mjs')) process.kill(+pid, 'SIGKILL') } catch {}
}`
	if _, err := s.rt.Exec(ctx, p.ID.String(), []string{"node", "-e", kill}, 10*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	failed := s.waitStatus(p.ID, db.ProjectStatusError)
	if !contains(failed.StatusReason, "killed by signal 9") {
		t.Fatalf("reason %q does not say how it died", failed.StatusReason)
	}
	if _, err := s.svc.Start(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(p.ID, db.ProjectStatusActive)
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.StaleAfter = time.Second })
	ctx := context.Background()
	p := s.create("survivor", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)

	// An active project whose container vanished is started again.
	if err := s.rt.Remove(ctx, p.ID.String()); err != nil {
		t.Fatal(err)
	}
	// An orphan container (its row is gone) is removed.
	orphan := s.create("orphan", "static")
	s.waitStatus(orphan.ID, db.ProjectStatusActive)
	if _, err := s.pool.Exec(ctx, "DELETE FROM projects WHERE id = $1", orphan.ID); err != nil {
		t.Fatal(err)
	}
	// A creation abandoned by a replica that died mid-way is resumed.
	abandoned := s.create("abandoned", "static")
	s.waitStatus(abandoned.ID, db.ProjectStatusActive)
	s.rt.Remove(ctx, abandoned.ID.String())
	if _, err := s.pool.Exec(ctx, "UPDATE projects SET status = 'initializing', updated_at = now() - interval '1 hour' WHERE id = $1", abandoned.ID); err != nil {
		t.Fatal(err)
	}

	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(p.ID, db.ProjectStatusActive)
	s.waitStatus(abandoned.ID, db.ProjectStatusActive)
	if st, _ := s.rt.Status(ctx, orphan.ID.String()); st.State != "missing" {
		t.Fatalf("orphan container still %s", st.State)
	}
	// Two replicas reconciling at once do not trip over each other.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := s.svc.Reconcile(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestHibernateAndWake(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.IdleTimeout = time.Second })
	ctx := context.Background()
	p := s.create("sleepy", "react-vite")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	time.Sleep(1100 * time.Millisecond)
	if err := s.svc.HibernateIdle(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(p.ID, db.ProjectStatusHibernated)
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State == "running" {
		t.Fatal("a hibernated project's container still runs")
	}
	if err := s.svc.Wake(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	woken := s.waitStatus(p.ID, db.ProjectStatusActive)
	ep, _ := s.rt.Endpoint(ctx, p.ID.String())
	if code := get(t, "http://"+ep+"/src/main.tsx"); code != 200 || woken.HostPort == 0 {
		t.Fatalf("woken project: %d", code)
	}
	// Files survive hibernation.
	if _, err := os.Stat(s.dir(p.ID) + "/src/App.tsx"); err != nil {
		t.Fatal(err)
	}
}

func TestDevServerThatNeverStartsIsAnError(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.ReadyTimeout = 20 * time.Second })
	ctx := context.Background()
	p := s.create("broken", "vanilla-vite")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	if _, err := s.svc.Stop(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	// Break the dev server's config, then start.
	if err := os.WriteFile(s.dir(p.ID)+"/vite.config.js", []byte("this is not javascript"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Start(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	failed := s.waitStatus(p.ID, db.ProjectStatusError)
	if failed.StatusReason == "" {
		t.Fatal("no reason given")
	}
	t.Logf("reason: %s", failed.StatusReason)
}

func TestEngineDownIsAClearError(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	down, err := containers.NewDockerWith(containers.Options{Host: "unix:///nonexistent/docker.sock", Instance: "test-down"})
	if err != nil {
		t.Fatal(err)
	}
	svc := projects.New(s.pool, down, events.New(s.pool, nil), projects.Options{Root: t.TempDir(), Checkpoints: t.TempDir()})
	defer svc.Close()
	p, err := svc.Create(context.Background(), s.user, "offline", "static")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		cur, _ := svc.Get(context.Background(), s.user, p.ID)
		if cur.Status == db.ProjectStatusError {
			if !contains(cur.StatusReason, "engine") {
				t.Fatalf("reason %q does not name the engine", cur.StatusReason)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("a project on an unreachable engine did not fail")
}

func TestResumeAfterAKilledStudio(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("interrupted", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	// As if studio was killed between creating the row and the container.
	s.rt.Remove(ctx, p.ID.String())
	s.pool.Exec(ctx, "UPDATE projects SET status = 'initializing' WHERE id = $1", p.ID)
	sole := projects.New(s.pool, s.rt, events.New(s.pool, nil), projects.Options{
		Root: s.dir(p.ID) + "/..", Checkpoints: t.TempDir(), SoleInstance: true,
	})
	defer sole.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sole.Run(runCtx)
	s.waitStatus(p.ID, db.ProjectStatusActive)
}

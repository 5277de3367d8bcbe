package projects_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/db"
	"studio/projects"
)

// live counts the owner's projects that run or are coming up.
func (s *stack) live() int {
	s.t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(),
		"SELECT count(*) FROM projects WHERE owner_id = $1 AND status IN ('initializing', 'active')", s.user).Scan(&n)
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// stoppedRows adds n stopped projects of the stack's user, straight in
// the database (their files are copied on first start).
func (s *stack) stoppedRows(n int) []uuid.UUID {
	s.t.Helper()
	var ids []uuid.UUID
	for i := range n {
		p, err := db.New(s.pool).CreateProject(context.Background(), db.CreateProjectParams{
			OwnerID: s.user, Name: fmt.Sprintf("row %d", i), Slug: "row-" + uuid.NewString()[:8], Template: "static",
		})
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.pool.Exec(context.Background(), "UPDATE projects SET status = 'stopped' WHERE id = $1", p.ID); err != nil {
			s.t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

// race runs f for every id at once and returns the projects that passed;
// every refusal must be the running limit, with its figure.
func (s *stack) race(ids []uuid.UUID, f func(ctx context.Context, id uuid.UUID) error) []uuid.UUID {
	s.t.Helper()
	var (
		mu     sync.Mutex
		passed []uuid.UUID
		start  sync.WaitGroup
		wg     sync.WaitGroup
	)
	start.Add(1)
	for _, id := range ids {
		wg.Go(func() {
			start.Wait()
			err := f(context.Background(), id)
			switch {
			case err == nil:
				mu.Lock()
				passed = append(passed, id)
				mu.Unlock()
			case !errors.Is(err, projects.ErrRunningLimit) || !strings.Contains(err.Error(), "you already run 2 projects"):
				s.t.Errorf("refusal %v, want the running limit with its figure", err)
			}
		})
	}
	start.Done()
	wg.Wait()
	return passed
}

func (s *stack) stopAll(ids []uuid.UUID) {
	s.t.Helper()
	for _, id := range ids {
		s.waitStatus(id, db.ProjectStatusActive)
		if _, err := s.svc.Stop(context.Background(), s.user, id); err != nil {
			s.t.Fatal(err)
		}
	}
}

func TestRunningLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.MaxRunning = 2; o.MaxProjects = 0 })
	ctx := context.Background()

	var created []uuid.UUID
	var mu sync.Mutex
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			p, err := s.svc.Create(ctx, s.user, fmt.Sprintf("new %d", i), "static")
			if errors.Is(err, projects.ErrRunningLimit) {
				refused.Add(1)
				return
			} else if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			created = append(created, p.ID)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(created) != 2 || refused.Load() != 18 || s.live() != 2 {
		t.Fatalf("20 creates: %d created, %d refused, %d live; want 2, 18, 2", len(created), refused.Load(), s.live())
	}
	s.stopAll(created)

	ids := append(s.stoppedRows(18), created...)
	started := s.race(ids, func(ctx context.Context, id uuid.UUID) error {
		_, err := s.svc.Start(ctx, s.user, id)
		return err
	})
	if len(started) != 2 || s.live() != 2 {
		t.Fatalf("20 starts: %d started, %d live; want 2", len(started), s.live())
	}
	s.stopAll(started)

	woken := s.race(ids, s.svc.Wake)
	if len(woken) != 2 || s.live() != 2 {
		t.Fatalf("20 wakes: %d woken, %d live; want 2", len(woken), s.live())
	}
	var others []uuid.UUID
	for _, id := range ids {
		if id != woken[0] && id != woken[1] {
			others = append(others, id)
		}
	}
	restarted := s.race(others, func(ctx context.Context, id uuid.UUID) error {
		_, err := s.svc.Restart(ctx, s.user, id)
		return err
	})
	if len(restarted) != 0 || s.live() != 2 {
		t.Fatalf("18 restarts over the limit: %d passed, %d live; want 0, 2", len(restarted), s.live())
	}
	// A project already running restarts without counting twice.
	s.waitStatus(woken[0], db.ProjectStatusActive)
	if _, err := s.svc.Restart(ctx, s.user, woken[0]); err != nil {
		t.Fatalf("restart of a running project at the limit: %v", err)
	}
	s.waitStatus(woken[0], db.ProjectStatusActive)
	s.waitStatus(woken[1], db.ProjectStatusActive)
}

func TestAdminStopHoldsUntilAnExplicitStart(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("held", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)

	h, err := s.svc.OpenAsAdmin(ctx, projects.Admin{ID: s.admin()}, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := h.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Status != db.ProjectStatusStopped || !stopped.HeldByAdmin || stopped.StatusReason != "stopped by an administrator" {
		t.Fatalf("after an admin stop: status %q held %v reason %q", stopped.Status, stopped.HeldByAdmin, stopped.StatusReason)
	}
	if err := s.svc.Wake(ctx, p.ID); !errors.Is(err, projects.ErrHeldByAdmin) {
		t.Fatalf("wake of a held project: %v", err)
	}
	s.svc.Revive(ctx, p.ID)
	if cur, _ := s.svc.Get(ctx, s.user, p.ID); cur.Status != db.ProjectStatusStopped || !cur.HeldByAdmin {
		t.Fatalf("after a wake and a revive: status %q held %v", cur.Status, cur.HeldByAdmin)
	}
	started, err := s.svc.Start(ctx, s.user, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if started.HeldByAdmin || started.Status != db.ProjectStatusInitializing {
		t.Fatalf("the owner's start: status %q held %v", started.Status, started.HeldByAdmin)
	}
	s.waitStatus(p.ID, db.ProjectStatusActive)
}

func TestDisabledOwnerNeverStarts(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("owner gone", "static")
	running := s.create("still running", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	s.waitStatus(running.ID, db.ProjectStatusActive)
	if _, err := s.svc.Stop(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.New(s.pool).DisableUser(ctx, s.user); err != nil {
		t.Fatal(err)
	}
	// The minute loop stops what a disabled owner still runs.
	if err := s.svc.StopDisabledOwners(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := s.waitStatus(running.ID, db.ProjectStatusStopped)
	if stopped.StatusReason != "the owner's account is disabled" {
		t.Fatalf("reason %q", stopped.StatusReason)
	}
	if st, _ := s.rt.Status(ctx, running.ID.String()); st.State == "running" {
		t.Fatal("a disabled owner's container still runs")
	}
	for name, f := range map[string]func() error{
		"wake":    func() error { return s.svc.Wake(ctx, p.ID) },
		"start":   func() error { _, err := s.svc.Start(ctx, s.user, p.ID); return err },
		"restart": func() error { _, err := s.svc.Restart(ctx, s.user, p.ID); return err },
		"create":  func() error { _, err := s.svc.Create(ctx, s.user, "another", "static"); return err },
	} {
		if err := f(); !errors.Is(err, projects.ErrOwnerDisabled) {
			t.Errorf("%s for a disabled owner: %v", name, err)
		}
	}
	if cur, _ := s.svc.Get(ctx, s.user, p.ID); cur.Status != db.ProjectStatusStopped {
		t.Fatalf("status %q, want stopped", cur.Status)
	}
}

func TestDiskQuota(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.ProjectDisk = 1 << 20 })
	ctx := context.Background()
	p := s.create("full", "static")
	p = s.waitStatus(p.ID, db.ProjectStatusActive)

	if _, err := s.open(p.ID).WriteFile(ctx, "half.bin", make([]byte, 512<<10), ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.open(p.ID).WriteFile(ctx, "more.bin", make([]byte, 600<<10), "")
	var quota *projects.QuotaError
	if !errors.As(err, &quota) || !errors.Is(err, projects.ErrDiskQuota) {
		t.Fatalf("a write past the quota: %v", err)
	}
	if want := "more than the 1 MiB allowed"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "would use 1.") {
		t.Fatalf("message %q lacks the figures", err.Error())
	}
	// Replacing a file with a smaller one is always allowed.
	if _, err := s.open(p.ID).WriteFile(ctx, "half.bin", []byte("small"), ""); err != nil {
		t.Fatal(err)
	}

	// The container fills the folder behind studio's back.
	res, err := s.rt.Exec(ctx, p.ID.String(), []string{"sh", "-c", "head -c 2097152 /dev/zero > /app/grown.bin"}, 20*time.Second, 0)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("write inside the container: %v %+v", err, res)
	}
	if err := s.svc.EnforceDiskQuota(ctx); err != nil {
		t.Fatal(err)
	}
	failed := s.waitStatus(p.ID, db.ProjectStatusError)
	if want := "the project's files use 2 MiB, more than the 1 MiB allowed; remove files to start it again"; failed.StatusReason != want {
		t.Fatalf("reason %q, want %q", failed.StatusReason, want)
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State == "running" {
		t.Fatal("a project over its quota still runs")
	}
	if _, err := s.svc.Start(ctx, s.user, p.ID); !errors.Is(err, projects.ErrDiskQuota) {
		t.Fatalf("start over the quota: %v", err)
	}
	if err := s.open(p.ID).DeleteFile(ctx, "grown.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Start(ctx, s.user, p.ID); err != nil {
		t.Fatalf("start once under the quota: %v", err)
	}
	s.waitStatus(p.ID, db.ProjectStatusActive)
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1 << 10: "1 KiB", 1 << 20: "1 MiB", 2 << 30: "2 GiB",
		2<<30 + 100<<20: "2.1 GiB", 1536 << 10: "1.5 MiB",
	} {
		if got := projects.HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// Checkpoints live outside the project's folder; they are kept within the
// quota by dropping the oldest, so checkpointing rewritten files cannot
// fill the disk.
func TestCheckpointsStayWithinTheQuota(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(o *projects.Options) { o.ProjectDisk = 1 << 20 })
	ctx := context.Background()
	p := s.create("snapshots", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	h := s.open(p.ID)
	for i := range 4 {
		content := make([]byte, 400<<10)
		rand.Read(content)
		if _, err := h.WriteFile(ctx, "data.bin", content, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Checkpoint(ctx, fmt.Sprintf("round %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	used := dirBytes(t, filepath.Join(s.checkpoints, p.ID.String()))
	if used > 1<<20+64<<10 { // the blobs, and the folders that hold them
		t.Fatalf("the checkpoints take %d bytes, more than the 1 MiB quota", used)
	}
	list, err := h.ListCheckpoints(ctx)
	if err != nil || len(list) == 0 || list[0].Label != "round 3" {
		t.Fatalf("the newest checkpoint is kept: %+v %v", list, err)
	}
	if len(list) == 4 {
		t.Fatal("no checkpoint was dropped")
	}
	if _, err := h.RestoreCheckpoint(ctx, list[len(list)-1].ID); err != nil {
		t.Fatalf("the oldest kept checkpoint restores: %v", err)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

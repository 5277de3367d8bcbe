package projects_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/db"
	"studio/events"
	"studio/internal/testwait"
	"studio/projects"
)

// pooled is a stack whose service keeps a warm pool of sizes, running
// (refill, reconcile, exit watcher) until the test ends.
func pooled(t *testing.T, sizes map[string]int, mutate ...func(*projects.Options)) *stack {
	t.Helper()
	s := newStack(t, append([]func(*projects.Options){func(o *projects.Options) {
		o.Pool = projects.PoolOptions{Sizes: sizes, Version: "test-v1"}
		o.MaxProjects, o.MaxRunning = 30, 30
	}}, mutate...)...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the stack's own clean-up closes the service
	go s.svc.Run(ctx)
	return s
}

// waitPool waits until template's pool holds ready slots.
func (s *stack) waitPool(template string, ready int) {
	s.t.Helper()
	var last []projects.PoolTemplate
	testwait.Eventually(s.t, 120*time.Second, func() bool {
		last, _ = s.svc.PoolStatus(context.Background())
		for _, pt := range last {
			if pt.Template == template && pt.Ready == ready && pt.Warming == 0 {
				return true
			}
		}
		return false
	}, "the "+template+" pool is ready")
}

// body fetches url and returns its status and body.
func body(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// cpuShares is what the engine gives the container of a project.
func cpuShares(t *testing.T, id uuid.UUID) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.HostConfig.CPUShares}}", "studio-"+id.String()).Output()
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

func TestPoolServesTwoOfTwentyConcurrentCreatesAndRefills(t *testing.T) {
	t.Parallel()
	s := pooled(t, map[string]int{"static": 2})
	s.waitPool("static", 2)
	slots, err := db.New(s.pool).ListPoolSlots(context.Background())
	if err != nil || len(slots) != 2 {
		t.Fatalf("slots: %v %+v", err, slots)
	}
	for _, slot := range slots {
		if got := cpuShares(t, slot.ID); got != "64" {
			t.Errorf("an idle slot runs at CPU shares %s, want 64 (below user work)", got)
		}
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []db.Project
	)
	for i := range 20 {
		wg.Go(func() {
			p, err := s.svc.Create(context.Background(), s.user, "app "+string(rune('a'+i)), "static")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			created = append(created, p)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	hits := map[uuid.UUID]bool{}
	for _, p := range created {
		if p.Status == db.ProjectStatusActive {
			hits[p.ID] = true
		}
	}
	if len(hits) != 2 {
		t.Fatalf("%d creates were served from a pool of 2", len(hits))
	}
	for _, slot := range slots {
		if !hits[slot.ID] {
			t.Errorf("slot %s was not given to exactly one project", slot.ID)
		}
	}
	// Every project serves its own files, from its own container.
	ctx := context.Background()
	seen := map[string]bool{}
	for _, p := range created {
		active := s.waitStatus(p.ID, db.ProjectStatusActive)
		if seen[active.Upstream] {
			t.Fatalf("two projects share the dev server at %s", active.Upstream)
		}
		seen[active.Upstream] = true
		if _, err := s.open(p.ID).WriteFile(ctx, "mine.txt", []byte(p.ID.String()), ""); err != nil {
			t.Fatal(err)
		}
		testwait.Eventually(t, 10*time.Second, func() bool {
			code, got := body(t, "http://"+active.Upstream+"/mine.txt")
			return code == 200 && got == p.ID.String()
		}, "project "+p.Slug+" serves its own file")
		if got := cpuShares(t, p.ID); hits[p.ID] && got != "1024" {
			t.Errorf("claimed project %s runs at CPU shares %s, want 1024", p.Slug, got)
		}
	}
	stats, _ := s.svc.PoolStatus(ctx)
	if len(stats) != 1 || stats[0].Hits != 2 || stats[0].Misses != 18 {
		t.Errorf("pool stats %+v, want 2 hits and 18 misses", stats)
	}
	// The pool fills up again, and never above its size.
	s.waitPool("static", 2)
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM pool_slots").Scan(&n); err != nil || n != 2 {
		t.Fatalf("pool slots after refill: %d %v", n, err)
	}
}

func TestClaimedProjectLivesLikeAColdOne(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	s := pooled(t, map[string]int{"react-vite": 1}, func(o *projects.Options) {
		o.IdleTimeout = time.Hour
		o.Now = clock.Now
	})
	s.waitPool("react-vite", 1)
	ctx := context.Background()
	p := s.create("Instant", "react-vite")
	if p.Status != db.ProjectStatusActive || p.Upstream == "" || p.URL == "" || p.ContainerID == "" {
		t.Fatalf("a pool hit answers with an active project: %+v", p)
	}
	evs, _ := s.open(p.ID).EventsAfter(ctx, 0)
	for _, e := range evs {
		if e.Kind == "progress" {
			t.Errorf("a pool hit reported progress: %s", e.Data)
		}
	}
	// Its files are the template's, under its own folder; an edit is
	// served at once.
	if code, _ := body(t, "http://"+p.Upstream+"/src/main.tsx"); code != 200 {
		t.Fatalf("entry module: %d", code)
	}
	if _, err := s.open(p.ID).WriteFile(ctx, "src/App.tsx", []byte("export default function App() { return <h1>claimed</h1> }\n"), ""); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool {
		_, got := body(t, "http://"+p.Upstream+"/src/App.tsx")
		return strings.Contains(got, "claimed")
	}, "the dev server serves the edit")

	// Stop, start: the same container, its files kept.
	if _, err := s.svc.Stop(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Start(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	again := s.waitStatus(p.ID, db.ProjectStatusActive)
	if again.ContainerID != p.ContainerID {
		t.Errorf("start made a new container (%s, was %s): the claimed one should do", again.ContainerID, p.ContainerID)
	}
	if _, got := body(t, "http://"+again.Upstream+"/src/App.tsx"); !strings.Contains(got, "claimed") {
		t.Errorf("the edit is gone after stop and start")
	}
	// Hibernate when idle, wake on use.
	clock.Advance(2 * time.Hour)
	if err := s.svc.HibernateIdle(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(p.ID, db.ProjectStatusHibernated)
	if err := s.svc.Wake(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(p.ID, db.ProjectStatusActive)
	// Reconcile leaves it alone; the pool made a new slot meanwhile.
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitPool("react-vite", 1)
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != containers.StateRunning {
		t.Fatalf("reconcile left the claimed project %s", st.State)
	}
	// Delete takes everything.
	if err := s.svc.Delete(ctx, s.user, p.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != containers.StateMissing {
		t.Errorf("container after delete: %s", st.State)
	}
	if _, err := os.Stat(s.dir(p.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files after delete: %v", err)
	}
}

// slowToRaise is the Docker runtime failing to give a claimed container
// back its CPU share, as a studio killed right after a claim's commit
// would leave it.
type slowToRaise struct {
	*containers.Docker
	fail bool
}

func (r *slowToRaise) SetLowPriority(ctx context.Context, id string, low bool) error {
	if !low && r.fail {
		return errors.New("studio was killed here")
	}
	return r.Docker.SetLowPriority(ctx, id, low)
}

func TestPoolReconcileFinishesClaimsAndDiscardsWhatItCannotUse(t *testing.T) {
	t.Parallel()
	s := pooled(t, map[string]int{"static": 1}, func(o *projects.Options) { o.StaleAfter = time.Second })
	s.waitPool("static", 1)
	ctx := context.Background()
	q := db.New(s.pool)

	// A claim whose studio died after the commit: the project is active
	// on the slot's container, still at the pool's CPU share, and its slot
	// row says claimed. Another replica's reconcile finishes it.
	raiser := &slowToRaise{Docker: s.rt, fail: true}
	dying := projects.New(s.pool, raiser, events.New(s.pool, slog.New(slog.DiscardHandler)), s.opts)
	p, err := dying.Create(ctx, s.user, "half claimed", "static")
	dying.Close()
	if err != nil || p.Status != db.ProjectStatusActive {
		t.Fatalf("claim: %v %+v", err, p)
	}
	if slot, err := q.GetPoolSlot(ctx, p.ID); err != nil || slot.State != "claimed" || cpuShares(t, p.ID) != "64" {
		t.Fatalf("the half-done claim: %v %+v", err, slot)
	}
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.GetPoolSlot(ctx, p.ID); err == nil {
		t.Error("reconcile left the claimed slot's row")
	}
	if got := cpuShares(t, p.ID); got != "1024" {
		t.Errorf("reconcile left the claimed project at CPU shares %s", got)
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != containers.StateRunning {
		t.Errorf("the claimed project is %s", st.State)
	}

	// A slot of another version (a new runtime image), a slot left warming
	// by a studio that is gone, and a container whose slot row is gone are
	// all removed; the pool is made up again with a current slot.
	s.waitPool("static", 1)
	slots, _ := q.ListPoolSlots(ctx)
	old := slots[0].ID
	if _, err := s.pool.Exec(ctx, "UPDATE pool_slots SET version = 'older' WHERE id = $1", old); err != nil {
		t.Fatal(err)
	}
	stale := uuid.New()
	if _, err := s.pool.Exec(ctx, "INSERT INTO pool_slots (id, template, version, updated_at) VALUES ($1, 'static', 'test-v1', now() - interval '1 hour')", stale); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{old, stale} {
		if st, _ := s.rt.Status(ctx, id.String()); st.State != containers.StateMissing {
			t.Errorf("slot %s still has a container (%s)", id, st.State)
		}
		if _, err := os.Stat(s.dir(id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("slot %s still has its folder", id)
		}
		if _, err := q.GetPoolSlot(ctx, id); err == nil {
			t.Errorf("slot %s is still in the pool", id)
		}
	}
	s.waitPool("static", 1)
	slots, _ = q.ListPoolSlots(ctx)
	if _, err := s.pool.Exec(ctx, "DELETE FROM pool_slots WHERE id = $1", slots[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.rt.Status(ctx, slots[0].ID.String()); st.State != containers.StateMissing {
		t.Errorf("a container with neither a slot nor a project is %s", st.State)
	}

	// A ready slot whose dev server died is not given to a create.
	s.waitPool("static", 1)
	slots, _ = q.ListPoolSlots(ctx)
	if err := exec.Command("docker", "kill", "studio-"+slots[0].ID.String()).Run(); err != nil {
		t.Fatal(err)
	}
	cold := s.create("after a death", "static")
	if cold.ID == slots[0].ID || cold.Status != db.ProjectStatusInitializing {
		t.Errorf("a dead slot was claimed: %+v", cold)
	}
	s.waitStatus(cold.ID, db.ProjectStatusActive)
	s.waitPool("static", 1)
}

func TestARefusedCreateLeavesTheSlotInThePool(t *testing.T) {
	t.Parallel()
	s := pooled(t, map[string]int{"static": 1}, func(o *projects.Options) { o.MaxProjects = 1 })
	s.waitPool("static", 1)
	ctx := context.Background()
	first := s.create("first", "static")
	if first.Status != db.ProjectStatusActive {
		t.Fatalf("the first create missed the pool: %s", first.Status)
	}
	s.waitPool("static", 1)
	before, _ := db.New(s.pool).ListPoolSlots(ctx)
	if _, err := s.svc.Create(ctx, s.user, "second", "static"); !errors.Is(err, projects.ErrProjectLimit) {
		t.Fatalf("a create past the limit: %v", err)
	}
	after, _ := db.New(s.pool).ListPoolSlots(ctx)
	if len(before) != 1 || len(after) != 1 || after[0].ID != before[0].ID || after[0].State != "ready" {
		t.Fatalf("the refused create took the slot: before %+v, after %+v", before, after)
	}
}

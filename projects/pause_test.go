package projects_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/db"
	"studio/projects"
)

// pausing is the options of a service that pauses after 5 minutes and
// hibernates after 30, on the test's clock.
func pausing(clock *testClock) func(*projects.Options) {
	return func(o *projects.Options) {
		o.PauseAfter, o.IdleTimeout, o.Now = 5*time.Minute, 30*time.Minute, clock.Now
	}
}

// paused reports whether the project's row and its container are paused.
func (s *stack) paused(id uuid.UUID) (row, container bool) {
	s.t.Helper()
	ctx := context.Background()
	p, err := db.New(s.pool).GetProject(ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := s.rt.Status(ctx, id.String())
	if err != nil {
		s.t.Fatal(err)
	}
	return p.PausedAt != nil, st.Paused
}

func (s *stack) eventKinds(id uuid.UUID) []string {
	s.t.Helper()
	evs, err := s.open(id).EventsAfter(context.Background(), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestPauseIdlePausesOnlyIdleActiveProjectsAndTouchResumes(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	s := pooled(t, map[string]int{"static": 1}, pausing(clock))
	ctx := context.Background()
	s.waitPool("static", 1)
	p := s.create("idle", "static") // claims the slot
	s.waitStatus(p.ID, db.ProjectStatusActive)
	s.waitPool("static", 1)
	starting, err := db.New(s.pool).CreateProject(ctx, db.CreateProjectParams{OwnerID: s.user, Name: "starting", Slug: "starting-" + uuid.NewString()[:8], Template: "static"})
	if err != nil {
		t.Fatal(err)
	}

	if err := s.svc.PauseIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if row, c := s.paused(p.ID); row || c {
		t.Fatalf("a project just used was paused (row %v, container %v)", row, c)
	}

	clock.Advance(6 * time.Minute)
	if err := s.svc.PauseIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if row, c := s.paused(p.ID); !row || !c {
		t.Fatalf("an idle project: row paused %v, container paused %v; want both", row, c)
	}
	if cur, _ := db.New(s.pool).GetProject(ctx, starting.ID); cur.PausedAt != nil {
		t.Fatal("an initializing project was paused")
	}
	slots, err := db.New(s.pool).ListPoolSlots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		if st, _ := s.rt.Status(ctx, slot.ID.String()); st.Paused {
			t.Fatalf("pool slot %s was paused", slot.ID)
		}
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != containers.StateRunning {
		t.Fatalf("a paused container is %s, want running", st.State)
	}
	// Reconcile leaves a project paused on purpose alone.
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if row, c := s.paused(p.ID); !row || !c {
		t.Fatalf("after reconcile: row paused %v, container paused %v; want both", row, c)
	}

	s.svc.Touch(ctx, p.ID)
	if row, c := s.paused(p.ID); row || c {
		t.Fatalf("after Touch: row paused %v, container paused %v; want neither", row, c)
	}
	ep, err := s.rt.Endpoint(ctx, p.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if code := get(t, "http://"+ep+"/"); code != 200 {
		t.Fatalf("a resumed dev server answered %d", code)
	}
	kinds := s.eventKinds(p.ID)
	if !contains(strings.Join(kinds, " "), "paused resumed") {
		t.Fatalf("events %v, want paused then resumed", kinds)
	}

	// Paused again, then hibernated: the stop thaws it first.
	clock.Advance(6 * time.Minute)
	if err := s.svc.PauseIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if row, c := s.paused(p.ID); !row || !c {
		t.Fatalf("paused again: row %v, container %v", row, c)
	}
	clock.Advance(30 * time.Minute)
	if err := s.svc.HibernateIdle(ctx); err != nil {
		t.Fatal(err)
	}
	hib := s.waitStatus(p.ID, db.ProjectStatusHibernated)
	if hib.PausedAt != nil {
		t.Fatal("a hibernated project is still marked paused")
	}
	if st, _ := s.rt.Status(ctx, p.ID.String()); st.State != containers.StateStopped || st.Paused {
		t.Fatalf("a hibernated paused project's container: %+v", st)
	}
}

func TestReconcileThawsAStrayFreeze(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	s := newStack(t, pausing(clock))
	ctx := context.Background()
	p := s.create("frozen", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	before, _ := s.rt.Status(ctx, p.ID.String())
	// Frozen behind studio's back (or by a studio killed before it thawed).
	if err := s.rt.Pause(ctx, p.ID.String()); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := s.rt.Status(ctx, p.ID.String())
	if after.Paused || after.State != containers.StateRunning || !after.StartedAt.Equal(before.StartedAt) {
		t.Fatalf("after reconcile: %+v; want the same container thawed (started %s)", after, before.StartedAt)
	}
	if cur := s.waitStatus(p.ID, db.ProjectStatusActive); cur.PausedAt != nil {
		t.Fatal("the row says paused")
	}
	if code := get(t, "http://"+after.Endpoint+"/"); code != 200 {
		t.Fatalf("the thawed dev server answered %d", code)
	}
}

func TestResumeRacingHibernateLeavesAStoppedUnpausedProject(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	s := newStack(t, pausing(clock))
	ctx := context.Background()
	p := s.create("racy", "static")
	s.waitStatus(p.ID, db.ProjectStatusActive)
	for round := range 3 {
		clock.Advance(6 * time.Minute)
		if err := s.svc.PauseIdle(ctx); err != nil {
			t.Fatal(err)
		}
		if row, c := s.paused(p.ID); !row || !c {
			t.Fatalf("round %d: row paused %v, container paused %v", round, row, c)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := s.svc.Resume(ctx, p.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := s.svc.Hibernate(ctx, p.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		cur := s.waitStatus(p.ID, db.ProjectStatusHibernated)
		st, _ := s.rt.Status(ctx, p.ID.String())
		if cur.PausedAt != nil || st.Paused || st.State != containers.StateStopped {
			t.Fatalf("round %d: row paused at %v, container %+v; want hibernated, stopped, not paused", round, cur.PausedAt, st)
		}
		if err := s.svc.Wake(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(p.ID, db.ProjectStatusActive)
	}
}

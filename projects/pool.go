package projects

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/containers"
	"studio/db"
)

// PoolOptions configures the warm pool: containers started ahead of time,
// one per slot, from a fresh copy of a template, so a create of that
// template is answered with a project that already serves.
//
// A slot is made under the id the project that claims it will have: its
// container's name and labels, its network and its bind-mounted folder
// (Root/<id>) are a project's from the start, so a claim changes no
// container (Docker can change neither labels nor a mount's source) and the
// claimed project is in every way one that was started cold. A slot holds
// nothing but the template until it is claimed.
type PoolOptions struct {
	// Sizes is how many ready slots to keep per template id; a template
	// missing or at 0 has no pool.
	Sizes map[string]int
	// Version names what a slot was made with (the runtime image and the
	// templates); a slot of another version is never claimed and is
	// replaced.
	Version string
}

// Slot states, as the pool_slots table spells them.
const (
	slotWarming    = "warming"
	slotReady      = "ready"
	slotClaimed    = "claimed"
	slotDiscarding = "discarding"
)

// poolRetry is how long a template whose slot failed to warm waits before
// the next try, so a missing image does not spin.
const poolRetry = 30 * time.Second

// claimSlot takes a ready slot of template for a project being created in
// tx, or returns nil: no pool for it, or none ready. A slot whose container
// is no longer running is set aside for discarding (in the same
// transaction) and the next one tried.
func (s *Service) claimSlot(ctx context.Context, q *db.Queries, template string) (*db.PoolSlot, []uuid.UUID, error) {
	if s.opts.Pool.Sizes[template] <= 0 {
		return nil, nil, nil
	}
	var dead []uuid.UUID
	for range 3 {
		slot, err := q.ClaimPoolSlot(ctx, db.ClaimPoolSlotParams{Template: template, Version: s.opts.Pool.Version})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, dead, nil
		}
		if err != nil {
			return nil, dead, fmt.Errorf("claim a pool slot: %w", err)
		}
		st, err := s.rt.Status(ctx, slot.ID.String())
		if err == nil && st.State == containers.StateRunning && st.Endpoint == slot.Upstream {
			return &slot, dead, nil
		}
		if err := q.SetPoolSlotDiscarding(ctx, slot.ID); err != nil {
			return nil, dead, err
		}
		dead = append(dead, slot.ID)
	}
	return nil, dead, nil
}

// activateClaimed makes the project inserted under a claimed slot's id
// active on the slot's running container, in the claim's transaction.
func (s *Service) activateClaimed(ctx context.Context, q *db.Queries, p db.Project, slot db.PoolSlot) (db.Project, error) {
	return q.MarkProjectActive(ctx, db.MarkProjectActiveParams{
		ID: p.ID, ContainerID: slot.ContainerID, HostPort: slot.HostPort, Upstream: slot.Upstream,
		URL: s.opts.URLFor(p.Slug), Started: p.UpdatedAt,
	})
}

// finishClaim ends a claim once its project is committed: the container
// gets its full share of the CPU and the slot row goes. Reconcile repeats
// it for a claim whose studio died before.
func (s *Service) finishClaim(ctx context.Context, id uuid.UUID) error {
	if pr, ok := s.rt.(containers.Prioritizer); ok {
		// A project deleted since has no container to raise.
		if err := pr.SetLowPriority(ctx, id.String(), false); err != nil && !errors.Is(err, containers.ErrNotFound) {
			return err
		}
	}
	if err := s.q.DeletePoolSlot(ctx, id); err != nil {
		return err
	}
	s.refillPool()
	return nil
}

// countCreate records a create as a pool hit or miss, for /admin.
func (s *Service) countCreate(ctx context.Context, template string, hit bool) {
	count := s.q.CountPoolMiss
	if hit {
		count = s.q.CountPoolHit
	}
	if err := count(ctx, template); err != nil {
		s.log.Warn("count a pool hit or miss", "err", err)
	}
}

// refillPool asks the refill loop to look at the pool again.
func (s *Service) refillPool() {
	select {
	case s.poolWake <- struct{}{}:
	default:
	}
}

// runPool keeps every template's pool at its size until ctx ends: at once,
// after each claim, and every poolRetry besides. It makes one slot at a
// time, the templates taking turns, at a low CPU priority.
func (s *Service) runPool(ctx context.Context) {
	if len(s.opts.Pool.Sizes) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.bg, cancel) // Close ends it too
	defer stop()
	templates := slices.Sorted(maps.Keys(s.opts.Pool.Sizes))
	failedAt := map[string]time.Time{}
	tick := time.NewTicker(poolRetry)
	defer tick.Stop()
	for ctx.Err() == nil {
		made := false
		for _, t := range templates {
			if ctx.Err() != nil || time.Since(failedAt[t]) < poolRetry {
				continue
			}
			slot, ok, err := s.reserveSlot(ctx, t)
			if err != nil || !ok {
				if err != nil && ctx.Err() == nil {
					s.log.Warn("reserve a pool slot", "template", t, "err", err)
				}
				continue
			}
			if err := s.warmSlot(ctx, slot); err != nil {
				if ctx.Err() != nil {
					return // shutting down: reconcile discards the half-made slot
				}
				failedAt[t] = time.Now()
				s.log.Warn("a pool slot did not start", "template", t, "err", err)
				s.discardSlot(ctx, slot.ID)
				continue
			}
			made = true
		}
		if made {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.poolWake:
		case <-tick.C:
		}
	}
}

// reserveSlot adds a warming slot to template's pool if it is below its
// size, counting every replica's slots.
func (s *Service) reserveSlot(ctx context.Context, template string) (db.PoolSlot, bool, error) {
	var slot db.PoolSlot
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if err := q.LockPoolTemplate(ctx, template); err != nil {
			return err
		}
		var err error
		slot, err = q.ReservePoolSlot(ctx, db.ReservePoolSlotParams{
			ID: uuid.New(), Template: template, Version: s.opts.Pool.Version, Size: int32(s.opts.Pool.Sizes[template]),
		})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.PoolSlot{}, false, nil
	}
	return slot, err == nil, err
}

// warmSlot makes the slot's folder and container exactly as a project's,
// starts it at a low CPU priority, waits for its dev server and loads its
// first page and every module of it once, then offers it for claiming.
func (s *Service) warmSlot(ctx context.Context, slot db.PoolSlot) error {
	s.warming.Store(slot.ID, true)
	defer s.warming.Delete(slot.ID)
	id := slot.ID.String()
	dir := s.dir(slot.ID)
	if err := s.copyFiles(ctx, db.Project{ID: slot.ID, Template: slot.Template}); err != nil {
		return err
	}
	st, err := s.rt.Ensure(ctx, containers.Spec{ProjectID: id, Dir: dir})
	if err != nil {
		return err
	}
	if pr, ok := s.rt.(containers.Prioritizer); ok {
		if err := pr.SetLowPriority(ctx, id, true); err != nil {
			return err
		}
	}
	if err := s.rt.Start(ctx, id); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	endpoint, err := s.rt.WaitReady(readyCtx, id, "/", nil)
	if err != nil {
		return err
	}
	if err := warmUp(readyCtx, endpoint); err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(endpoint)
	hostPort, _ := strconv.Atoi(port)
	_, err = s.q.MarkPoolSlotReady(ctx, db.MarkPoolSlotReadyParams{
		ID: slot.ID, ContainerID: st.ContainerID, HostPort: int32(hostPort), Upstream: endpoint,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("the slot was discarded while it warmed")
	}
	return err
}

// discardSlot takes a slot that is not claimed out of the pool: it is
// marked first, so no create claims it, then its container, network and
// folder go, then its row. A failure is logged; reconcile tries again.
func (s *Service) discardSlot(ctx context.Context, id uuid.UUID) {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.q.DiscardPoolSlot(ctx, id); err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			s.log.Warn("discard a pool slot", "slot", id, "err", err)
		}
		return // claimed meanwhile, or gone
	}
	if err := s.rt.Remove(ctx, id.String()); err != nil {
		s.log.Warn("remove a pool slot's container", "slot", id, "err", err)
		return
	}
	if err := os.RemoveAll(s.dir(id)); err != nil {
		s.log.Warn("remove a pool slot's folder", "slot", id, "err", err)
		return
	}
	if err := s.q.DeletePoolSlot(ctx, id); err != nil {
		s.log.Warn("forget a pool slot", "slot", id, "err", err)
	}
	s.refillPool()
}

// discardAbandonedSlots discards, at the start of the only studio on its
// database, every slot a studio that was killed left warming.
func (s *Service) discardAbandonedSlots(ctx context.Context) {
	slots, err := s.q.ListPoolSlots(ctx)
	if err != nil {
		s.log.Warn("discard abandoned pool slots", "err", err)
		return
	}
	for _, slot := range slots {
		if slot.State == slotWarming || slot.State == slotDiscarding {
			s.discardSlot(ctx, slot.ID)
		}
	}
}

// reconcilePool repairs the pool after a crash, a kill or a change of
// configuration: claims a dead studio left half-done are finished; slots
// of another version, of a template no longer pooled, beyond their
// template's size, whose container stopped, or left warming or discarding
// by a studio that is gone, are discarded.
func (s *Service) reconcilePool(ctx context.Context) error {
	slots, err := s.q.ListPoolSlots(ctx)
	if err != nil {
		return err
	}
	ready := map[string]int{}
	for _, slot := range slots {
		if _, mine := s.warming.Load(slot.ID); mine {
			continue
		}
		stale := time.Since(slot.UpdatedAt) > s.opts.StaleAfter
		switch slot.State {
		case slotClaimed:
			if err := s.finishClaim(ctx, slot.ID); err != nil {
				s.log.Warn("finish a pool claim", "slot", slot.ID, "err", err)
			}
		case slotWarming, slotDiscarding:
			if stale {
				s.log.Info("discarding a pool slot left half-made", "slot", slot.ID)
				s.discardSlot(ctx, slot.ID)
			}
		case slotReady:
			ready[slot.Template]++
			st, err := s.rt.Status(ctx, slot.ID.String())
			if err != nil {
				continue
			}
			if slot.Version != s.opts.Pool.Version || ready[slot.Template] > s.opts.Pool.Sizes[slot.Template] ||
				st.State != containers.StateRunning || st.Endpoint != slot.Upstream {
				s.log.Info("discarding a pool slot", "slot", slot.ID, "template", slot.Template, "container", st.State)
				s.discardSlot(ctx, slot.ID)
			}
		}
	}
	return nil
}

// PoolTemplate is one template's pool, for the administrator.
type PoolTemplate struct {
	Template string
	Size     int
	Ready    int
	Warming  int
	Hits     int64
	Misses   int64
	// IdleMemory is what its ready slots' containers hold, when the
	// engine can tell.
	IdleMemory uint64
}

// PoolStatus reports every template's pool and its hits and misses.
func (s *Service) PoolStatus(ctx context.Context) ([]PoolTemplate, error) {
	slots, err := s.q.ListPoolSlots(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := s.q.ListPoolStats(ctx)
	if err != nil {
		return nil, err
	}
	byTemplate := map[string]*PoolTemplate{}
	get := func(t string) *PoolTemplate {
		if byTemplate[t] == nil {
			byTemplate[t] = &PoolTemplate{Template: t, Size: s.opts.Pool.Sizes[t]}
		}
		return byTemplate[t]
	}
	for t := range s.opts.Pool.Sizes {
		get(t)
	}
	var measure []uuid.UUID
	for _, slot := range slots {
		pt := get(slot.Template)
		switch slot.State {
		case slotReady:
			pt.Ready++
			measure = append(measure, slot.ID)
		case slotWarming:
			pt.Warming++
		}
	}
	template := map[uuid.UUID]string{}
	for _, slot := range slots {
		template[slot.ID] = slot.Template
	}
	if engine, ok := s.rt.(interface {
		Usage(ctx context.Context, projectID string) (containers.Usage, error)
	}); ok {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, id := range measure {
			wg.Go(func() {
				if u, err := engine.Usage(ctx, id.String()); err == nil {
					mu.Lock()
					get(template[id]).IdleMemory += u.MemoryBytes
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	for _, st := range stats {
		pt := get(st.Template)
		pt.Hits, pt.Misses = st.Hits, st.Misses
	}
	out := make([]PoolTemplate, 0, len(byTemplate))
	for _, t := range slices.Sorted(maps.Keys(byTemplate)) {
		out = append(out, *byTemplate[t])
	}
	return out, nil
}

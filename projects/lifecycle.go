package projects

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"studio/containers"
	"studio/db"
)

// Run keeps containers and rows in step until ctx ends: it reconciles at
// once and then every minute, pauses and later hibernates idle projects,
// stops projects whose files grew past the disk quota and those of
// disabled owners, and turns a container that dies into an error the user
// can read.
func (s *Service) Run(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			err := s.rt.Watch(ctx, func(e containers.Exit) { s.exited(ctx, e) })
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("container exit watcher stopped; restarting it", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	if s.opts.SoleInstance {
		s.resumeAbandoned(ctx)
		s.discardAbandonedSlots(ctx)
	}
	s.wg.Go(func() { s.runPool(ctx) })
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconcile", "err", err)
		}
		if err := s.HibernateIdle(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("hibernate idle projects", "err", err)
		}
		if err := s.PauseIdle(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("pause idle projects", "err", err)
		}
		if err := s.EnforceDiskQuota(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("enforce the disk quota", "err", err)
		}
		if err := s.StopDisabledOwners(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("stop the projects of disabled owners", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// exited marks a project whose container died by itself; a pool slot's is
// discarded, and made again.
func (s *Service) exited(ctx context.Context, e containers.Exit) {
	id, err := uuid.Parse(e.ProjectID)
	if err != nil {
		return
	}
	if slot, err := s.q.GetPoolSlot(ctx, id); err == nil && slot.State != slotClaimed {
		s.log.Warn("a pool slot's dev server stopped", "slot", id, "reason", e.Reason())
		s.discardSlot(ctx, id)
		return
	}
	if _, err := s.transition(ctx, id, db.ProjectStatusError, e.String(), db.ProjectStatusActive, db.ProjectStatusInitializing); err == nil {
		s.log.Warn("a project's dev server stopped", "project", id, "reason", e.Reason())
	}
}

// Reconcile repairs what a crash, a kill or another replica left behind:
// containers with neither a project nor a pool slot are removed; active
// projects without a running container are started again; abandoned
// creations, half-finished deletions and the pool's half-done claims are
// finished. Every step is a guarded transition, so replicas reconciling
// together do each thing once.
func (s *Service) Reconcile(ctx context.Context) error {
	if err := s.reconcilePool(ctx); err != nil {
		return fmt.Errorf("reconcile the pool: %w", err)
	}
	s.clearStaging()
	managed, err := s.rt.ListManaged(ctx)
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, st := range managed {
		id, err := uuid.Parse(st.ProjectID)
		if err == nil {
			// The slot first: a claim turns a slot into a project in one
			// transaction, and keeps the slot's row until it is finished,
			// so a container being claimed is always found as one or the
			// other.
			if _, err := s.q.GetPoolSlot(ctx, id); err == nil {
				if st.Paused {
					s.thawStray(ctx, id) // a slot is never paused
				}
				continue
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			_, err = s.q.GetProject(ctx, id)
		}
		if errors.Is(err, pgx.ErrNoRows) || (err != nil && id == uuid.Nil) {
			s.log.Info("removing a container with no project", "project", st.ProjectID)
			if err := s.rt.Remove(ctx, st.ProjectID); err != nil {
				s.log.Warn("remove orphan container", "project", st.ProjectID, "err", err)
			}
			continue
		}
		// A paused container runs: it is thawed, not restarted.
		running[st.ProjectID] = st.State == containers.StateRunning
		if st.Paused {
			s.thawStray(ctx, id)
		}
	}
	rows, err := s.q.ListProjectsByStatus(ctx, statusNames(db.ProjectStatusActive, db.ProjectStatusInitializing, db.ProjectStatusDeleting))
	if err != nil {
		return err
	}
	for _, p := range rows {
		switch p.Status {
		case db.ProjectStatusActive:
			if !running[p.ID.String()] {
				s.log.Info("restarting an active project whose container is gone", "project", p.ID)
				_, err := s.restartFrom(ctx, p.ID, db.ProjectStatusActive)
				s.settleRefused(ctx, p.ID, err)
				if err != nil && !errors.Is(err, ErrBusy) {
					s.log.Warn("restart project", "project", p.ID, "err", err)
				}
			}
		case db.ProjectStatusInitializing:
			s.mu.Lock()
			mine := s.active[p.ID]
			s.mu.Unlock()
			if mine || time.Since(p.UpdatedAt) < s.opts.StaleAfter {
				continue
			}
			// Whoever was starting it is gone: start it again.
			stale := pgtype.Interval{Microseconds: s.opts.StaleAfter.Microseconds(), Valid: true}
			if _, err := s.q.ClaimStaleProject(ctx, db.ClaimStaleProjectParams{ID: p.ID, Stale: stale}); err == nil {
				s.log.Info("resuming the start of an abandoned project", "project", p.ID)
				s.provisionLater(p.ID)
			}
		case db.ProjectStatusDeleting:
			if err := s.finishDelete(ctx, p); err != nil {
				s.log.Warn("finish deleting project", "project", p.ID, "err", err)
			}
		}
	}
	return s.q.PruneProjectEvents(ctx)
}

// resumeAbandoned restarts every creation a killed studio left half-done.
func (s *Service) resumeAbandoned(ctx context.Context) {
	rows, err := s.q.ListProjectsByStatus(ctx, statusNames(db.ProjectStatusInitializing))
	if err != nil {
		s.log.Warn("resume abandoned projects", "err", err)
		return
	}
	for _, p := range rows {
		s.log.Info("resuming the start of a project interrupted by the last shutdown", "project", p.ID)
		s.provisionLater(p.ID)
	}
}

// HibernateIdle stops active projects nobody used for IdleTimeout.
func (s *Service) HibernateIdle(ctx context.Context) error {
	if s.opts.IdleTimeout <= 0 {
		return nil
	}
	idle, err := s.q.ListIdleProjects(ctx, s.opts.Now().Add(-s.opts.IdleTimeout))
	if err != nil {
		return err
	}
	for _, p := range idle {
		if err := s.Hibernate(ctx, p.ID); err != nil && !errors.Is(err, ErrBusy) {
			s.log.Warn("hibernate project", "project", p.ID, "err", err)
			continue
		}
		s.log.Info("hibernated an idle project", "project", p.ID)
	}
	return nil
}

// stagingMaxAge: an import's staging folder older than this was left by a
// studio that stopped mid-import (an import takes minutes at most).
const stagingMaxAge = time.Hour

// clearStaging removes the staging folders of imports that never
// finished.
func (s *Service) clearStaging() {
	dir := filepath.Join(s.opts.Root, ".staging")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > stagingMaxAge {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				s.log.Warn("remove an abandoned import", "dir", e.Name(), "err", err)
			}
		}
	}
}

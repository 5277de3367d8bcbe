package projects

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/containers"
	"studio/db"
)

// Two-stage idle: an active project nobody used for PauseAfter has its
// container frozen (memory kept, no CPU), and any use thaws it at once;
// one unused for IdleTimeout is hibernated as before. The row's paused_at
// says which projects are frozen. It is set before the container is
// frozen and cleared before it is thawed, so a request that races a pause
// always thaws what the pause froze; the container lock keeps a pause
// from racing this replica's stops, restarts and deletes.

// pauser is the runtime's Pauser, nil when it cannot pause (Kubernetes)
// or pausing is off.
func (s *Service) pauser() containers.Pauser {
	if s.opts.PauseAfter <= 0 {
		return nil
	}
	p, _ := s.rt.(containers.Pauser)
	return p
}

// PauseIdle freezes the containers of active projects nobody used for
// PauseAfter. Pool slots are no projects and are never paused.
func (s *Service) PauseIdle(ctx context.Context) error {
	pz := s.pauser()
	if pz == nil {
		return nil
	}
	before := s.opts.Now().Add(-s.opts.PauseAfter)
	idle, err := s.q.ListProjectsToPause(ctx, before)
	if err != nil {
		return err
	}
	for _, p := range idle {
		if err := s.pause(ctx, pz, p.ID, before); err != nil {
			s.log.Warn("pause project", "project", p.ID, "err", err)
		}
	}
	return nil
}

// pause freezes one project's container if it is still active, unpaused
// and unused since before.
func (s *Service) pause(ctx context.Context, pz containers.Pauser, id uuid.UUID, before time.Time) error {
	unlock := s.lockContainer(id)
	defer unlock()
	p, err := s.q.PauseProject(ctx, db.PauseProjectParams{ID: id, IdleBefore: before})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // used, stopped or paused meanwhile
	} else if err != nil {
		return err
	}
	if err := pz.Pause(ctx, id.String()); err != nil {
		// Not frozen: the row must not say it is.
		if terr := s.q.ClearProjectPause(ctx, id); terr != nil {
			s.log.Warn("clear a failed pause", "project", id, "err", terr)
		}
		return fmt.Errorf("pause the container: %w", err)
	}
	// A request on another replica may have ended the pause between the
	// row and the freeze, and thawed a container not yet frozen: look
	// again, and thaw it if so.
	if cur, err := s.q.GetProject(ctx, id); err != nil || cur.PausedAt == nil {
		if err := pz.Unpause(ctx, id.String()); err != nil {
			return fmt.Errorf("thaw a container resumed while it was paused: %w", err)
		}
		return nil
	}
	s.log.Info("paused an idle project", "project", id)
	s.record(ctx, p, "paused", map[string]any{"paused": true})
	return nil
}

// Resume records use of the project, postponing its pause and its
// hibernation, and thaws its container first if it was paused: a request
// that calls it may go to the dev server as soon as it returns.
func (s *Service) Resume(ctx context.Context, id uuid.UUID) error {
	wasPaused, err := s.q.TouchProject(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !wasPaused) {
		return nil
	} else if err != nil {
		return fmt.Errorf("resume project %s: %w", id, err)
	}
	pz, _ := s.rt.(containers.Pauser)
	if pz == nil {
		return nil
	}
	unlock := s.lockContainer(id)
	defer unlock()
	if err := pz.Unpause(ctx, id.String()); err != nil && !errors.Is(err, containers.ErrNotFound) {
		return fmt.Errorf("resume project %s: %w", id, err)
	}
	if p, err := s.q.GetProject(ctx, id); err == nil {
		s.record(ctx, p, "resumed", map[string]any{"paused": false})
	}
	return nil
}

// Touch is Resume for callers that go on whatever happens (a failed thaw
// is logged; the request then meets a dev server that does not answer).
func (s *Service) Touch(ctx context.Context, id uuid.UUID) {
	if err := s.Resume(ctx, id); err != nil {
		s.log.Warn("touch project", "project", id, "err", err)
	}
}

// thawStray thaws a frozen container whose project is not paused: a
// studio killed between ending a pause and thawing, or anything else
// that froze it. A frozen dev server whose row says it runs would never
// answer, and nothing else would thaw it.
func (s *Service) thawStray(ctx context.Context, id uuid.UUID) {
	pz, _ := s.rt.(containers.Pauser)
	if pz == nil {
		return
	}
	unlock := s.lockContainer(id)
	defer unlock()
	if p, err := s.q.GetProject(ctx, id); err == nil && p.Status == db.ProjectStatusActive && p.PausedAt != nil {
		return // paused on purpose
	}
	s.log.Info("thawing a paused container whose project is not paused", "project", id)
	if err := pz.Unpause(ctx, id.String()); err != nil {
		s.log.Warn("thaw a stray paused container", "project", id, "err", err)
	}
}

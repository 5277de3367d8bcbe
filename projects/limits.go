package projects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// Refusals of a start, each with the reason a person reads.
var (
	ErrOwnerDisabled = errors.New("the owner's account is disabled, so its projects cannot start")
	ErrHeldByAdmin   = errors.New("an administrator stopped this project; its owner can start it again")
)

// reasonStoppedByAdmin is the status reason of an administrator's stop.
const reasonStoppedByAdmin = "stopped by an administrator"

// RunningLimitError says how many projects the owner may run at once.
type RunningLimitError struct{ Max int }

func (e *RunningLimitError) Error() string {
	noun := "projects"
	if e.Max == 1 {
		noun = "project"
	}
	return fmt.Sprintf("you already run %d %s, the most allowed; stop one first", e.Max, noun)
}

func (e *RunningLimitError) Is(target error) bool { return target == ErrRunningLimit }

// Refused reports whether err is a start studio will not make (a limit,
// a disabled owner, an administrator's hold, the disk quota) rather than
// a failure.
func Refused(err error) bool {
	for _, r := range []error{ErrRunningLimit, ErrOwnerDisabled, ErrHeldByAdmin, ErrDiskQuota} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// startWithinLimits moves a project from one of from into initializing
// when its owner may run it. The owner's row is locked first, so the count
// of running projects and the change are one step for every request of
// that owner, on every replica. clearHold is an explicit start by the
// owner (or an administrator), which lifts an administrator's stop; a
// wake does not.
func (s *Service) startWithinLimits(ctx context.Context, id uuid.UUID, clearHold bool, from ...db.ProjectStatus) (db.Project, error) {
	if err := s.checkDiskBeforeStart(id); err != nil {
		return db.Project{}, err
	}
	var p db.Project
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		cur, err := q.GetProject(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		disabled, err := q.LockProjectOwner(ctx, cur.OwnerID)
		if err != nil {
			return fmt.Errorf("lock the owner of %s: %w", cur.Slug, err)
		}
		p, err = q.StartProjectWithinLimits(ctx, db.StartProjectWithinLimitsParams{
			ID: id, FromStatuses: statusNames(from...), ClearHold: clearHold, MaxRunning: int32(s.opts.MaxRunning),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return s.whyNotStarted(ctx, q, id, disabled, clearHold, from)
		}
		return err
	})
	if err != nil {
		return db.Project{}, err
	}
	s.record(ctx, p, "status", map[string]any{"status": p.Status})
	return p, nil
}

// whyNotStarted names the guard a refused start met, read under the
// owner's lock so the answer is the one the statement saw.
func (s *Service) whyNotStarted(ctx context.Context, q *db.Queries, id uuid.UUID, ownerDisabled, clearHold bool, from []db.ProjectStatus) error {
	cur, err := q.GetProject(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	switch {
	case !slices.Contains(from, cur.Status):
		return ErrBusy
	case ownerDisabled:
		return ErrOwnerDisabled
	case cur.HeldByAdmin && !clearHold:
		return ErrHeldByAdmin
	}
	return &RunningLimitError{Max: s.opts.MaxRunning}
}

// createWithinLimits inserts a project under its owner's lock, so neither
// the project count nor the running count can be passed by two requests.
// The project takes a claimed pool slot's id, or arg.ID when it names one
// (files written ahead), or a new one.
func (s *Service) createWithinLimits(ctx context.Context, arg db.CreateProjectWithinLimitsParams, usePool bool) (p db.Project, claimed bool, err error) {
	arg.MaxProjects, arg.MaxRunning = int32(s.opts.MaxProjects), int32(s.opts.MaxRunning)
	var dead []uuid.UUID
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		claimed, dead = false, nil
		disabled, err := q.LockProjectOwner(ctx, arg.OwnerID)
		if err != nil {
			return fmt.Errorf("lock the owner: %w", err)
		}
		// A ready pool slot's id becomes the project's; the slot goes back
		// to the pool if the project is refused and the transaction undone.
		var slot *db.PoolSlot
		if usePool {
			var gone []uuid.UUID
			slot, gone, err = s.claimSlot(ctx, q, arg.Template)
			dead = gone
			if err != nil {
				return err
			}
		}
		if usePool {
			arg.ID = nil
		}
		if slot != nil {
			arg.ID = &slot.ID
		}
		p, err = q.CreateProjectWithinLimits(ctx, arg)
		if err == nil && slot != nil {
			p, err = s.activateClaimed(ctx, q, p, *slot)
			claimed = err == nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if disabled {
			return ErrOwnerDisabled
		}
		counts, err := q.CountProjectsByOwner(ctx, arg.OwnerID)
		if err != nil {
			return err
		}
		if s.opts.MaxProjects > 0 && int(counts.Total) >= s.opts.MaxProjects {
			return ErrProjectLimit
		}
		return &RunningLimitError{Max: s.opts.MaxRunning}
	})
	if err == nil {
		for _, id := range dead {
			s.wg.Go(func() { s.discardSlot(s.bg, id) })
		}
	}
	return p, claimed, err
}

// stopHeld is an administrator's stop: the project stays stopped, whatever
// wakes it, until an explicit start.
func (s *Service) stopHeld(ctx context.Context, id uuid.UUID) (db.Project, error) {
	defer s.lockContainer(id)()
	p, err := s.q.StopProjectByAdmin(ctx, db.StopProjectByAdminParams{ID: id, Reason: reasonStoppedByAdmin})
	if p, err = s.settle(ctx, id, p, err); err != nil {
		return db.Project{}, err
	}
	if err := s.rt.Stop(ctx, id.String()); err != nil {
		s.log.Warn("stop container", "project", id, "err", err)
	}
	return p, nil
}

// settleRefused ends an active project whose dead dev server may not be
// started again (its owner was disabled, its files passed the quota): it
// becomes an error with the reason, instead of a project that claims to
// run and never answers.
func (s *Service) settleRefused(ctx context.Context, id uuid.UUID, err error) {
	if !Refused(err) {
		return
	}
	_, _ = s.stopTo(ctx, id, db.ProjectStatusError, err.Error(), db.ProjectStatusActive)
}

// StopDisabledOwners stops what disabled owners still run, so a share
// link or a preview grant stops serving within a minute of the disable.
func (s *Service) StopDisabledOwners(ctx context.Context) error {
	live, err := s.q.ListLiveProjectsOfDisabledOwners(ctx)
	if err != nil {
		return err
	}
	for _, p := range live {
		if _, err := s.stopTo(ctx, p.ID, db.ProjectStatusStopped, "the owner's account is disabled", db.ProjectStatusActive, db.ProjectStatusInitializing); err != nil {
			continue // changed meanwhile
		}
		s.log.Info("stopped a project of a disabled owner", "project", p.ID)
	}
	return nil
}

// Sentence turns a service error's message into a sentence to show a
// person: a capital first, a full stop last.
func Sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

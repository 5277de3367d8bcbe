package projects

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/containers/image"
	"studio/db"
)

// provisionLater sets a project up in the background, once per replica.
func (s *Service) provisionLater(id uuid.UUID) {
	s.mu.Lock()
	if s.active[id] {
		s.mu.Unlock()
		return
	}
	s.active[id] = true
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.active, id)
			s.mu.Unlock()
		}()
		// A start asked for while this one ran (a restart, say) moved
		// updated_at on: go round again for it.
		var handled time.Time
		for s.bg.Err() == nil {
			p, err := s.q.GetProject(s.bg, id)
			if err != nil || p.Status != db.ProjectStatusInitializing || p.UpdatedAt.Equal(handled) {
				return
			}
			handled = p.UpdatedAt
			if err := s.provision(s.bg, p); err != nil && s.bg.Err() == nil {
				s.log.Warn("project did not start", "project", id, "err", err)
			}
		}
	})
}

// provision takes an initializing project to active: files (first time
// only), container, dev server answering. Progress is recorded as events;
// a failure moves the project to error with the reason.
func (s *Service) provision(ctx context.Context, p db.Project) error {
	id := p.ID
	fail := func(err error) error {
		reason := err.Error()
		var exit *containers.ExitError
		if errors.As(err, &exit) {
			reason = exit.Exit.String()
		}
		ctx := context.WithoutCancel(ctx)
		failed, ferr := s.q.FailProject(ctx, db.FailProjectParams{ID: id, Reason: reason, Started: p.UpdatedAt})
		if ferr != nil {
			return err // stopped, deleted or restarted meanwhile: not ours to mark
		}
		s.record(ctx, failed, "status", map[string]any{"status": db.ProjectStatusError, "reason": reason})
		// Keep a container that never got ready, stopped, so its logs
		// can be read; Start or Restart tries again.
		_ = s.rt.Stop(ctx, id.String())
		return err
	}
	dir := s.dir(id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		s.progress(ctx, p, "files", "Copying the template's files")
		if err := copyTemplate(p.Template, dir); err != nil {
			return fail(err)
		}
	}
	s.progress(ctx, p, "container", "Starting the container")
	st, err := s.startContainer(ctx, containers.Spec{ProjectID: id.String(), Dir: dir, Slug: p.Slug})
	if err != nil {
		return fail(err)
	}
	s.progress(ctx, p, "server", "Waiting for the dev server")
	readyCtx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	endpoint, err := s.rt.WaitReady(readyCtx, id.String(), "/", nil)
	if err != nil {
		if readyCtx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the dev server did not answer within %s: %w", s.opts.ReadyTimeout, err)
		}
		return fail(err)
	}
	_, port, _ := net.SplitHostPort(endpoint)
	hostPort, _ := strconv.Atoi(port)
	active, err := s.q.MarkProjectActive(ctx, db.MarkProjectActiveParams{
		ID: id, ContainerID: st.ContainerID, HostPort: int32(hostPort), Upstream: endpoint, URL: s.opts.URLFor(p.Slug), Started: p.UpdatedAt,
	})
	if err != nil {
		// Stopped or deleted while it started: leave it as the user wants.
		cur, gerr := s.q.GetProject(ctx, id)
		if gerr == nil && (cur.Status == db.ProjectStatusStopped || cur.Status == db.ProjectStatusHibernated || cur.Status == db.ProjectStatusError) {
			_ = s.rt.Stop(ctx, id.String())
		}
		return nil
	}
	s.record(ctx, active, "status", map[string]any{"status": db.ProjectStatusActive, "url": active.URL})
	return nil
}

// startContainer makes and starts the project's container, after any stop
// of it this replica has under way.
func (s *Service) startContainer(ctx context.Context, spec containers.Spec) (containers.Status, error) {
	defer s.lockContainer(uuid.MustParse(spec.ProjectID))()
	st, err := s.rt.Ensure(ctx, spec)
	if err != nil {
		return containers.Status{}, err
	}
	return st, s.rt.Start(ctx, spec.ProjectID)
}

func (s *Service) progress(ctx context.Context, p db.Project, step, message string) {
	if err := s.q.SetProjectProgress(ctx, db.SetProjectProgressParams{ID: p.ID, Progress: message}); err != nil {
		s.log.Warn("project progress", "project", p.ID, "err", err)
	}
	s.record(ctx, p, "progress", map[string]any{"step": step, "message": message})
}

// copyTemplate writes the files next to their final place and renames the
// folder in, so a crash never leaves a half-copied project.
func copyTemplate(template, dir string) error {
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := image.CopyTemplate(template, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("copy the template: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("copy the template: %w", err)
	}
	return nil
}

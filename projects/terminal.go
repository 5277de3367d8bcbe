package projects

import (
	"context"
	"errors"
	"fmt"
	"time"

	"studio/containers"
	"studio/db"
)

// ErrNotStarted refuses a terminal in a project whose owner stopped it or
// that failed: a terminal wakes a sleeping project, never a stopped one.
var ErrNotStarted = errors.New("the project is not running; start it to use the terminal")

// terminalWait bounds how long a terminal waits for its project to wake.
const terminalWait = 3 * time.Minute

// Terminal opens a login shell in the project's container. A paused
// project is thawed and a hibernated one woken first, and the terminal
// waits for its container; progress, which may be nil, hears about the
// wait. ctx bounds the shell's life.
func (h *Handle) Terminal(ctx context.Context, size containers.TermSize, progress func(string)) (containers.Terminal, error) {
	if err := terminalAllowed(h.p); err != nil {
		return nil, err
	}
	if h.p.Status == db.ProjectStatusHibernated {
		if err := h.s.Wake(ctx, h.p.ID); err != nil {
			return nil, err
		}
	}
	h.s.Touch(ctx, h.p.ID)
	wait, cancel := context.WithTimeout(ctx, terminalWait)
	defer cancel()
	told := false
	for {
		t, err := h.s.rt.Terminal(ctx, h.p.ID.String(), size)
		if !errors.Is(err, containers.ErrNotRunning) && !errors.Is(err, containers.ErrNotFound) {
			return t, err
		}
		p, err := h.s.q.GetProject(wait, h.p.ID)
		if err != nil {
			return nil, fmt.Errorf("terminal in project %s: %w", h.p.ID, err)
		}
		if err := terminalAllowed(p); err != nil {
			return nil, err
		}
		if !told && progress != nil {
			progress("Waking the project up…")
			told = true
		}
		select {
		case <-wait.Done():
			return nil, fmt.Errorf("the project did not start within %s; try again", terminalWait)
		case <-time.After(time.Second):
		}
	}
}

func terminalAllowed(p db.Project) error {
	switch {
	case p.HeldByAdmin:
		return ErrHeldByAdmin
	case p.Status == db.ProjectStatusStopped, p.Status == db.ProjectStatusError, p.Status == db.ProjectStatusDeleting:
		return ErrNotStarted
	}
	return nil
}

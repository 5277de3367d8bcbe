package containers

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
)

// Pauser freezes a project's container and thaws it (the cgroup freezer:
// its memory stays, it gets no CPU) — the first stage of idling, which a
// request undoes at once. The Docker runtime implements it; a runtime
// without it never pauses.
type Pauser interface {
	// Pause freezes the running container; pausing a paused one is a
	// no-op, a stopped one is ErrNotRunning, a missing one ErrNotFound.
	Pause(ctx context.Context, projectID string) error
	// Unpause thaws the container; thawing one that is not paused (or
	// not running) is a no-op, a missing one is ErrNotFound.
	Unpause(ctx context.Context, projectID string) error
}

var _ Pauser = (*Docker)(nil)

// Pause freezes the project's container.
func (d *Docker) Pause(ctx context.Context, projectID string) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	err = d.cli(ctx).ContainerPause(ctx, name)
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("project %s: %w", projectID, ErrNotFound)
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already paused"):
		return nil
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("pause project %s: %w", projectID, ErrNotRunning)
	}
	return fmt.Errorf("pause container of project %s: %w", projectID, engineErr(err))
}

// Unpause thaws the project's container.
func (d *Docker) Unpause(ctx context.Context, projectID string) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	err = d.cli(ctx).ContainerUnpause(ctx, name)
	switch {
	case err == nil, notPaused(err):
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("project %s: %w", projectID, ErrNotFound)
	}
	return fmt.Errorf("unpause container of project %s: %w", projectID, engineErr(err))
}

// notPaused: the engine refused to thaw a container that is not frozen
// (running, or not running at all); it says so in words, with a status
// that varies between engine versions.
func notPaused(err error) bool {
	msg := err.Error()
	return cerrdefs.IsConflict(err) || strings.Contains(msg, "is not paused") || strings.Contains(msg, "is not running")
}

package agents

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"studio/db"
	"studio/projects"
)

// runStates opens the run's project and names the states on either side of
// the run: the checkpoint taken before it, and the one taken when it ended
// (the files as they are now while it runs, or for a run that has none).
func (s *Service) runStates(ctx context.Context, user, id uuid.UUID) (db.AgentRun, *projects.Handle, uuid.UUID, uuid.UUID, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, nil, uuid.Nil, uuid.Nil, err
	}
	if row.CheckpointID == nil {
		return row, nil, uuid.Nil, uuid.Nil, ErrNoCheckpoint
	}
	proj, err := s.projects.Open(ctx, user, row.ProjectID)
	if err != nil {
		return row, nil, uuid.Nil, uuid.Nil, err
	}
	after := projects.Current
	if row.AfterCheckpointID != nil && row.Status.Done() {
		after = *row.AfterCheckpointID
	}
	return row, proj, *row.CheckpointID, after, nil
}

// Changes lists the files a run changed.
func (s *Service) Changes(ctx context.Context, user, id uuid.UUID) (db.AgentRun, []projects.FileChange, error) {
	row, proj, before, after, err := s.runStates(ctx, user, id)
	if err != nil {
		return row, nil, err
	}
	list, err := proj.Diff(ctx, before, after)
	return row, list, noCheckpoint(err)
}

// ChangedFile is one file before and after the run.
func (s *Service) ChangedFile(ctx context.Context, user, id uuid.UUID, path string) (projects.FileDiff, error) {
	_, proj, before, after, err := s.runStates(ctx, user, id)
	if err != nil {
		return projects.FileDiff{}, err
	}
	d, err := proj.DiffFile(ctx, before, after, path)
	return d, noCheckpoint(err)
}

// RevertFile puts one file back exactly as it was before the run (a file
// the run created is deleted). The files it replaces are kept as a
// checkpoint, which it returns.
func (s *Service) RevertFile(ctx context.Context, user, id uuid.UUID, path string) (projects.Checkpoint, error) {
	row, proj, before, _, err := s.runStates(ctx, user, id)
	if err != nil {
		return projects.Checkpoint{}, err
	}
	if !row.Status.Done() {
		return projects.Checkpoint{}, ErrStillRunning
	}
	if _, active, err := s.Active(ctx, row.ProjectID); err != nil {
		return projects.Checkpoint{}, err
	} else if active {
		return projects.Checkpoint{}, ErrRunActive
	}
	cp, err := proj.RevertFile(ctx, before, path)
	return cp, noCheckpoint(err)
}

// noCheckpoint words a run's missing checkpoint (dropped to keep within
// the disk quota) as the run's.
func noCheckpoint(err error) error {
	if errors.Is(err, projects.ErrCheckpointNotFound) {
		return ErrNoCheckpoint
	}
	return err
}

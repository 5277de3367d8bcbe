package agents

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
	"studio/projects"
)

// Get returns one of the user's runs.
func (s *Service) Get(ctx context.Context, user, id uuid.UUID) (db.AgentRun, error) {
	row, err := s.q.GetRunForUser(ctx, db.GetRunForUserParams{ID: id, UserID: user})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AgentRun{}, ErrNotFound
	}
	return row, err
}

// Active returns the project's running run, if any.
func (s *Service) Active(ctx context.Context, projectID uuid.UUID) (db.AgentRun, bool, error) {
	row, err := s.q.GetActiveRunForProject(ctx, projectID)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AgentRun{}, false, nil
	}
	return row, err == nil, err
}

// Undo puts the project's files back as they were before the run. The
// state it replaces is itself kept as a checkpoint.
func (s *Service) Undo(ctx context.Context, user, id uuid.UUID) (db.AgentRun, projects.Checkpoint, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, projects.Checkpoint{}, err
	}
	if !row.Status.Done() {
		return row, projects.Checkpoint{}, ErrStillRunning
	}
	if _, active, err := s.Active(ctx, row.ProjectID); err != nil {
		return row, projects.Checkpoint{}, err
	} else if active {
		return row, projects.Checkpoint{}, ErrRunActive // its edits would land on the restored files
	}
	if row.CheckpointID == nil {
		return row, projects.Checkpoint{}, ErrNoCheckpoint
	}
	proj, err := s.projects.Open(ctx, user, row.ProjectID)
	if err != nil {
		return row, projects.Checkpoint{}, err
	}
	cp, err := proj.RestoreCheckpoint(ctx, *row.CheckpointID)
	if errors.Is(err, projects.ErrCheckpointNotFound) {
		err = ErrNoCheckpoint
	}
	return row, cp, err
}

// Messages lists a project's chat, oldest first.
func (s *Service) Messages(ctx context.Context, user, projectID uuid.UUID) ([]db.ChatMessage, error) {
	if _, err := s.projects.Get(ctx, user, projectID); err != nil {
		return nil, err
	}
	return s.q.ListRecentChatMessages(ctx, db.ListRecentChatMessagesParams{ProjectID: projectID, MaxRows: 500})
}

// Runs lists the newest runs of one of the user's projects.
func (s *Service) Runs(ctx context.Context, user, projectID uuid.UUID, limit int32) ([]db.AgentRun, error) {
	if _, err := s.projects.Get(ctx, user, projectID); err != nil {
		return nil, err
	}
	return s.listRuns(ctx, projectID, limit)
}

// listRuns lists a project's newest runs, for callers that checked who asks.
func (s *Service) listRuns(ctx context.Context, projectID uuid.UUID, limit int32) ([]db.AgentRun, error) {
	return s.q.ListRunsForProject(ctx, db.ListRunsForProjectParams{ProjectID: projectID, MaxRows: limit})
}

// Commands lists the tool calls of a run.
func (s *Service) Commands(ctx context.Context, user, id uuid.UUID) ([]db.AgentCommandLog, error) {
	if _, err := s.Get(ctx, user, id); err != nil {
		return nil, err
	}
	return s.q.ListCommandLogs(ctx, id)
}

// Exchange is one message of the user with the run it started, the run's
// answer and its tool calls.
type Exchange struct {
	Message db.ChatMessage
	Run     *db.AgentRun
	Answer  string
	Steps   []db.AgentCommandLog
}

// History is a project's chat as exchanges, oldest first.
func (s *Service) History(ctx context.Context, user, projectID uuid.UUID) ([]Exchange, error) {
	msgs, err := s.Messages(ctx, user, projectID)
	if err != nil {
		return nil, err
	}
	runs, err := s.listRuns(ctx, projectID, 200) // Messages checked the owner
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]*db.AgentRun{}
	ids := make([]uuid.UUID, 0, len(runs))
	for i := range runs {
		byID[runs[i].ID] = &runs[i]
		ids = append(ids, runs[i].ID)
	}
	logs, err := s.q.ListCommandLogsForRuns(ctx, ids)
	if err != nil {
		return nil, err
	}
	steps := map[uuid.UUID][]db.AgentCommandLog{}
	for _, l := range logs {
		steps[l.RunID] = append(steps[l.RunID], l)
	}
	answers := map[uuid.UUID]string{}
	for _, m := range msgs {
		if m.Role == "assistant" && m.RunID != nil {
			answers[*m.RunID] = m.Content
		}
	}
	var out []Exchange
	for _, m := range msgs {
		if m.Role != "user" {
			continue
		}
		ex := Exchange{Message: m}
		if m.RunID != nil {
			ex.Run = byID[*m.RunID]
			ex.Answer = answers[*m.RunID]
			ex.Steps = steps[*m.RunID]
		}
		out = append(out, ex)
	}
	return out, nil
}

// Answer is what a run's agent wrote, and its tool calls.
func (s *Service) Answer(ctx context.Context, user, id uuid.UUID) (db.AgentRun, string, []db.AgentCommandLog, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, "", nil, err
	}
	answer, err := s.q.GetRunAnswer(ctx, &id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return row, "", nil, err
	}
	steps, err := s.q.ListCommandLogsForRuns(ctx, []uuid.UUID{id})
	return row, answer, steps, err
}

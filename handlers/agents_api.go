package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/db"
)

type runJSON struct {
	ID           string       `json:"id"`
	ProjectID    string       `json:"project_id"`
	AgentID      string       `json:"agent_id"`
	AgentVersion int32        `json:"agent_version"`
	AgentName    string       `json:"agent_name"`
	Status       db.RunStatus `json:"status"`
	Model        string       `json:"model"`
	Steps        int32        `json:"steps"`
	InputTokens  int64        `json:"input_tokens"`
	OutputTokens int64        `json:"output_tokens"`
	CostUSD      float64      `json:"cost_usd"`
	Error        string       `json:"error,omitempty"`
	CanUndo      bool         `json:"can_undo"`
	CreatedAt    time.Time    `json:"created_at"`
}

func toRunJSON(r db.AgentRun) runJSON {
	return runJSON{
		ID: r.ID.String(), ProjectID: r.ProjectID.String(), AgentID: r.AgentID, AgentVersion: r.AgentVersion, AgentName: r.AgentName, Status: r.Status, Model: r.Model,
		Steps: r.Steps, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CostUSD: r.CostUsd, Error: r.Error,
		CanUndo: r.CanUndo(), CreatedAt: r.CreatedAt,
	}
}

// runError maps the agent service's errors to answers.
func runError(err error) error {
	var noProvider *agents.NoProviderError
	switch {
	case errors.Is(err, agents.ErrNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such run.")
	case errors.Is(err, agents.ErrRunActive):
		return NewError(http.StatusConflict, "run_active", "An agent is already working on this project; wait for it to finish or cancel it.")
	case errors.Is(err, agents.ErrRunEnded):
		return NewError(http.StatusConflict, "run_ended", "The run has already ended.")
	case errors.Is(err, agents.ErrStillRunning):
		return NewError(http.StatusConflict, "run_active", "The run is still going; cancel it before undoing it.")
	case errors.Is(err, agents.ErrNoCheckpoint):
		return NewError(http.StatusConflict, "no_checkpoint", "This run has no checkpoint to go back to.")
	case errors.Is(err, agents.ErrUnknownAgent):
		return invalidField("agent_id", errors.New("there is no such agent; GET /api/agents lists them"))
	case errors.Is(err, agents.ErrEmptyMessage), errors.Is(err, agents.ErrLongMessage):
		return invalidField("message", err)
	case errors.Is(err, agents.ErrBadModel):
		return invalidField("model", err)
	case errors.As(err, &noProvider):
		return &Error{Status: http.StatusConflict, Code: "no_provider", Field: "model", Message: capitalize(noProvider.Error()) + "."}
	}
	return projectError(err)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func runID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, runError(agents.ErrNotFound)
	}
	return id, nil
}

func (s *Server) apiAgents(c echo.Context) error {
	list, err := s.Agents.Agents(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	type agentJSON struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Mode        string `json:"mode"`
		Model       string `json:"model,omitempty"`
	}
	out := make([]agentJSON, 0, len(list))
	for _, a := range list {
		out = append(out, agentJSON{a.AgentID, a.Name, a.Description, a.Mode, a.Model})
	}
	return c.JSON(http.StatusOK, map[string]any{"agents": out})
}

type chatRequest struct {
	Message   string   `json:"message"`
	AgentID   string   `json:"agent_id"`
	Model     string   `json:"model"`
	OpenFiles []string `json:"open_files"`
}

func (s *Server) apiChat(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	var req chatRequest
	if err := decodeJSON(c, 64<<10, &req); err != nil {
		return err
	}
	run, err := s.Agents.Start(c.Request().Context(), currentUser(c).ID, id, agents.ChatRequest{
		Message: req.Message, AgentID: req.AgentID, Model: req.Model, Open: req.OpenFiles,
	})
	if err != nil {
		return runError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{"run_id": run.ID.String(), "run": toRunJSON(run)})
}

func (s *Server) apiRun(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, err := s.Agents.Get(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"run": toRunJSON(run)})
}

// apiRunStream replays a run's events and follows it until done; with
// Last-Event-ID it resumes right after that event.
func (s *Server) apiRunStream(c echo.Context) error {
	return s.followRun(c, func(w *sseWriter, e agents.Event) error {
		return w.raw(e.Seq, e.Kind, e.Data)
	})
}

// followRun streams one of the user's runs over SSE, each event written by
// write, with heartbeats while nothing happens.
func (s *Server) followRun(c echo.Context, write func(*sseWriter, agents.Event) error) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	user := currentUser(c).ID
	ctx := c.Request().Context()
	if _, err := s.Agents.Get(ctx, user, id); err != nil {
		return runError(err)
	}
	w, err := s.startSSE(c)
	if err != nil {
		return err
	}
	defer w.close()
	err = s.Agents.Follow(ctx, user, id, lastEventID(c), func(e agents.Event) error { return write(w, e) },
		func() error { return w.comment("heartbeat") })
	if err != nil && ctx.Err() == nil {
		s.Logger.Warn("run stream ended", "run", id, "err", err)
	}
	return nil
}

func (s *Server) apiCancelRun(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, err := s.Agents.Cancel(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{"run": toRunJSON(run)})
}

func (s *Server) apiUndoRun(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, cp, err := s.Agents.Undo(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"run": toRunJSON(run), "undo_checkpoint": cp})
}

func (s *Server) apiMessages(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	msgs, err := s.Agents.Messages(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	type messageJSON struct {
		ID        string    `json:"id"`
		Role      string    `json:"role"`
		Content   string    `json:"content"`
		RunID     *string   `json:"run_id,omitempty"`
		CreatedAt time.Time `json:"created_at"`
	}
	out := make([]messageJSON, 0, len(msgs))
	for _, m := range msgs {
		j := messageJSON{ID: m.ID.String(), Role: m.Role, Content: m.Content, CreatedAt: m.CreatedAt}
		if m.RunID != nil {
			v := m.RunID.String()
			j.RunID = &v
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": out})
}

func (s *Server) apiRunCommands(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	cmds, err := s.Agents.Commands(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	type commandJSON struct {
		Tool        string          `json:"tool"`
		Args        json.RawMessage `json:"args"`
		OK          bool            `json:"ok"`
		Result      string          `json:"result"`
		OutputBytes int32           `json:"output_bytes"`
		ExitCode    *int32          `json:"exit_code,omitempty"`
		DurationMS  int32           `json:"duration_ms"`
		CreatedAt   time.Time       `json:"created_at"`
	}
	out := make([]commandJSON, 0, len(cmds))
	for _, m := range cmds {
		j := commandJSON{Tool: m.Tool, Args: m.Args, OK: m.Ok, Result: m.Result, OutputBytes: m.OutputBytes, DurationMS: m.DurationMs, CreatedAt: m.CreatedAt}
		if m.ExitCode.Valid {
			j.ExitCode = &m.ExitCode.Int32
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"commands": out})
}

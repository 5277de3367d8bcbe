package handlers

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/projects"
)

// The history of a project's files: what a run changed, the diff between
// two checkpoints, and putting one file back.

// checkpointParam reads a checkpoint named in the query: its id, or
// "current" (or nothing, where allowed) for the files as they are now.
func checkpointParam(c echo.Context, name string, required bool) (uuid.UUID, error) {
	v := c.QueryParam(name)
	if v == "" && required {
		return uuid.Nil, invalidField(name, errors.New("name a checkpoint by its id, or \"current\" for the files as they are now"))
	}
	if v == "" || v == "current" {
		return projects.Current, nil
	}
	id, err := uuid.Parse(v)
	if err != nil || id == projects.Current {
		return uuid.Nil, invalidField(name, errors.New("not a checkpoint id; GET /api/projects/{id}/checkpoints lists them"))
	}
	return id, nil
}

func (s *Server) apiCheckpointDiff(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	from, err := checkpointParam(c, "from", true)
	if err != nil {
		return err
	}
	to, err := checkpointParam(c, "to", false)
	if err != nil {
		return err
	}
	if c.QueryParam("path") != "" {
		d, err := h.DiffFile(c.Request().Context(), from, to, c.QueryParam("path"))
		if err != nil {
			return fileError(err)
		}
		return c.JSON(http.StatusOK, map[string]any{"file": d})
	}
	list, err := h.Diff(c.Request().Context(), from, to)
	if err != nil {
		return fileError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"files": list})
}

func (s *Server) apiRunChanges(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	ctx, user := c.Request().Context(), currentUser(c).ID
	if p := c.QueryParam("path"); p != "" {
		d, err := s.Agents.ChangedFile(ctx, user, id, p)
		if err != nil {
			return historyError(err)
		}
		return c.JSON(http.StatusOK, map[string]any{"file": d})
	}
	run, list, err := s.Agents.Changes(ctx, user, id)
	if err != nil {
		return historyError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"run": toRunJSON(run), "files": list})
}

type revertRequest struct {
	Path string `json:"path"`
}

func (s *Server) apiRevertRunFile(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	var req revertRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	if req.Path == "" {
		return invalidField("path", errors.New("name the file to put back"))
	}
	undo, err := s.Agents.RevertFile(c.Request().Context(), currentUser(c).ID, id, req.Path)
	if err != nil {
		return historyError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"path": req.Path, "undo": undo})
}

// historyError words the run's errors as runs do, the files' as files do.
func historyError(err error) error {
	for _, e := range []error{agents.ErrNotFound, agents.ErrNoCheckpoint, agents.ErrStillRunning, agents.ErrRunActive} {
		if errors.Is(err, e) {
			return runError(err)
		}
	}
	return fileError(err)
}

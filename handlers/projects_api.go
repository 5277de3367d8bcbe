package handlers

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/db"
	"studio/projects"
	"studio/views"
)

type projectJSON struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Slug      string           `json:"slug"`
	Template  string           `json:"template"`
	Status    db.ProjectStatus `json:"status"`
	URL       string           `json:"url"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
	Error     string           `json:"error,omitempty"`
	Progress  string           `json:"progress,omitempty"`
	// HeldByAdmin: an administrator stopped the project; previews and the
	// editor do not wake it, the owner's start does.
	HeldByAdmin bool `json:"held_by_admin"`
	// Paused: active, with its container frozen while idle; the next
	// preview, editor or agent request resumes it at once.
	Paused bool `json:"paused"`
	// TemplateItem and TemplateVersion: the user's template the project
	// was made from (absent for a built-in template).
	TemplateItem    *string `json:"template_item,omitempty"`
	TemplateVersion *int32  `json:"template_version,omitempty"`
}

func (s *Server) toProjectJSON(p db.Project) projectJSON {
	j := projectJSON{
		ID: p.ID.String(), Name: p.Name, Slug: p.Slug, Template: p.Template, Status: p.Status,
		URL: s.Config.PreviewURL(p.Slug), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Progress: p.Progress,
		HeldByAdmin: p.HeldByAdmin, Paused: p.Status == db.ProjectStatusActive && p.PausedAt != nil,
	}
	if p.Status == db.ProjectStatusError {
		j.Error = p.StatusReason
	}
	if p.TemplateItem.Valid {
		j.TemplateItem, j.TemplateVersion = &p.TemplateItem.String, &p.TemplateVersion.Int32
	}
	return j
}

type createProjectRequest struct {
	Name     string `json:"name"`
	Template string `json:"template"`
}

func (s *Server) apiCreateProject(c echo.Context) error {
	var req createProjectRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	p, err := s.createFrom(c.Request().Context(), currentUser(c).ID, req.Name, req.Template)
	if err != nil {
		return projectError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{"project": s.toProjectJSON(p)})
}

func (s *Server) apiListProjects(c echo.Context) error {
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return &Error{Status: http.StatusBadRequest, Code: "bad_limit", Field: "limit", Message: "limit must be a number from 1 to 200."}
		}
		limit = n
	}
	var after *projects.Cursor
	if v := c.QueryParam("cursor"); v != "" {
		after = &projects.Cursor{}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(b, after) != nil {
			return &Error{Status: http.StatusBadRequest, Code: "bad_cursor", Field: "cursor", Message: "The cursor is not one this API gave out."}
		}
	}
	list, err := s.Projects.List(c.Request().Context(), currentUser(c).ID, limit, after)
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(list))
	for _, p := range list {
		out = append(out, s.toProjectJSON(p))
	}
	res := map[string]any{"projects": out}
	if len(list) == limit {
		last := list[len(list)-1]
		b, _ := json.Marshal(projects.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
		res["next_cursor"] = base64.RawURLEncoding.EncodeToString(b)
	}
	return c.JSON(http.StatusOK, res)
}

// projectID parses the :id parameter; a malformed id is simply not found.
func projectID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, projectError(projects.ErrNotFound)
	}
	return id, nil
}

// openProject opens the signed-in user's project named by :id; anyone
// else's is not found.
func (s *Server) openProject(c echo.Context) (*projects.Handle, error) {
	id, err := projectID(c)
	if err != nil {
		return nil, err
	}
	h, err := s.Projects.Open(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return nil, projectError(err)
	}
	return h, nil
}

// ownProject is the row of the signed-in user's project named by :id.
func (s *Server) ownProject(c echo.Context) (db.Project, error) {
	h, err := s.openProject(c)
	if err != nil {
		return db.Project{}, err
	}
	return h.Project(), nil
}

func (s *Server) apiGetProject(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"project": s.toProjectJSON(p)})
}

type renameRequest struct {
	Name string `json:"name"`
}

func (s *Server) apiRenameProject(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	var req renameRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	p, err := s.Projects.Rename(c.Request().Context(), currentUser(c).ID, id, req.Name)
	if err != nil {
		return projectError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"project": s.toProjectJSON(p)})
}

func (s *Server) apiDeleteProject(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	if err := s.Projects.Delete(c.Request().Context(), currentUser(c).ID, id); err != nil {
		return projectError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// projectAction is a service method that acts on one of the owner's projects.
type projectAction func(ctx context.Context, owner, id uuid.UUID) (db.Project, error)

// apiProjectAction serves start, stop and restart.
func (s *Server) apiProjectAction(action func(*projects.Service) projectAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := projectID(c)
		if err != nil {
			return err
		}
		p, err := action(s.Projects)(c.Request().Context(), currentUser(c).ID, id)
		if err != nil {
			return projectError(err)
		}
		return c.JSON(http.StatusAccepted, map[string]any{"project": s.toProjectJSON(p)})
	}
}

// apiProjectEvents streams the project's status and progress events.
func (s *Server) apiProjectEvents(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	wake, stop := s.Bus.Subscribe(projects.ProjectTopic(h.ID()))
	defer stop()
	last := lastEventID(c)
	out, err := s.startSSE(c)
	if err != nil {
		return err
	}
	defer out.close()
	for {
		evs, err := h.EventsAfter(ctx, last)
		if err != nil {
			return nil // the client is gone or the database is; it reconnects
		}
		for _, e := range evs {
			if err := out.event(e.ID, e.Kind, json.RawMessage(e.Data)); err != nil {
				return nil
			}
			last = e.ID
		}
		if !out.wait(ctx, wake) {
			return nil
		}
	}
}

// apiProjectLogs streams the dev server's output, each line an event of
// JSON {line}.
func (s *Server) apiProjectLogs(c echo.Context) error {
	return s.streamLogs(c, func(out *sseWriter, n int64, line string) error {
		return out.event(n, "log", map[string]string{"line": line})
	})
}

// projectLogs is the workspace's log pane: each line an event of HTML that
// htmx's SSE extension appends (sse-swap="log").
func (s *Server) projectLogs(c echo.Context) error {
	ctx := c.Request().Context()
	return s.streamLogs(c, func(out *sseWriter, n int64, line string) error {
		return out.component(ctx, n, "log", views.LogLine(line))
	})
}

// streamLogs follows the dev server's output (?tail= lines back first),
// sending each line through send, until the client leaves or the output
// ends (then an "end" event).
func (s *Server) streamLogs(c echo.Context, send func(out *sseWriter, n int64, line string) error) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	tail := 200
	if v := c.QueryParam("tail"); v != "" {
		if tail, err = strconv.Atoi(v); err != nil || tail < 0 || tail > 10000 {
			return &Error{Status: http.StatusBadRequest, Code: "bad_tail", Field: "tail", Message: "tail must be a number from 0 to 10000."}
		}
	}
	ctx := c.Request().Context()
	logs, err := h.Logs(ctx, tail)
	if err != nil {
		return NewError(http.StatusConflict, "not_running", "The project has no dev server output yet; start it first.")
	}
	defer logs.Close()
	out, err := s.startSSE(c)
	if err != nil {
		return err
	}
	defer out.close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	var n int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				_ = out.event(n+1, "end", map[string]string{"reason": "the dev server stopped"})
				return nil
			}
			n++
			if send(out, n, line) != nil {
				return nil
			}
		case <-beat.C:
			if out.comment("heartbeat") != nil {
				return nil
			}
		}
	}
}

func projectError(err error) error {
	switch {
	case errors.Is(err, projects.ErrNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such project.")
	case errors.Is(err, projects.ErrUnknownTemplate):
		return invalidField("template", errors.New("there is no such template; GET /api/templates lists them"))
	case errors.Is(err, projects.ErrNameInvalid):
		return invalidField("name", err)
	case errors.Is(err, projects.ErrProjectLimit):
		return NewError(http.StatusConflict, "project_limit", "You have reached the most projects you may keep; delete one first.")
	case errors.Is(err, projects.ErrRunningLimit):
		return NewError(http.StatusTooManyRequests, "running_limit", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrOwnerDisabled):
		return NewError(http.StatusForbidden, "owner_disabled", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrHeldByAdmin):
		return NewError(http.StatusConflict, "held_by_admin", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrDiskQuota):
		return NewError(http.StatusRequestEntityTooLarge, "disk_quota", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrNotAdmin):
		return NewError(http.StatusForbidden, "not_admin", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrBusy):
		return NewError(http.StatusConflict, "busy", "The project is changing state; try again in a moment.")
	}
	return err
}

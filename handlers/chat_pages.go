package handlers

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/db"
	"studio/views"
)

// chatData is the workspace's chat panel for a project.
func (s *Server) chatData(c echo.Context, p db.Project, csrf string) (views.ChatData, error) {
	ctx := c.Request().Context()
	user := currentUser(c).ID
	history, err := s.Agents.History(ctx, user, p.ID)
	if err != nil {
		return views.ChatData{}, err
	}
	list, err := s.Agents.Agents(ctx, user)
	if err != nil {
		return views.ChatData{}, err
	}
	models, ready, err := s.Agents.Models(ctx, user)
	if err != nil {
		return views.ChatData{}, err
	}
	d := views.ChatData{ProjectID: p.ID.String(), CSRFToken: csrf, Agents: list, Models: models, Configured: ready}
	for _, ex := range history {
		it := views.ChatItem{Message: ex.Message}
		if ex.Run != nil {
			it.Run = &views.RunView{Run: *ex.Run, Steps: ex.Steps, Answer: ex.Answer}
			d.Model = ex.Run.Model
		}
		d.Items = append(d.Items, it)
	}
	if d.Model == "" && len(models) > 0 {
		d.Model = models[0]
	}
	return d, nil
}

// chatSend starts a run from the chat form. With htmx the answer is the
// user's message and the live run bubble, appended to the conversation; an
// error shows under the form, which keeps what was typed.
func (s *Server) chatSend(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	msg := c.FormValue("message")
	run, err := s.Agents.Start(c.Request().Context(), currentUser(c).ID, p.ID, agents.ChatRequest{
		Message: msg, AgentID: c.FormValue("agent_id"), Model: c.FormValue("model"),
		Open: c.Request().Form["open_files"],
	})
	if err != nil {
		e := chatError(err)
		if e == nil {
			return err
		}
		if isHTMX(c) {
			c.Response().Header().Set("HX-Retarget", "#chat-error")
			c.Response().Header().Set("HX-Reswap", "innerHTML")
			return render(c, http.StatusOK, views.ChatError(e.Message, e.Code == "no_provider"))
		}
		return e
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/projects/"+p.ID.String())
	}
	first := db.ChatMessage{ProjectID: p.ID, Role: "user", Content: msg, RunID: &run.ID}
	return render(c, http.StatusOK, views.ChatEntry(views.ChatItem{Message: first, Run: &views.RunView{Run: run}}))
}

// chatError is the message a person gets for a refused chat; nil when the
// error is not the user's to fix.
func chatError(err error) *Error {
	var e *Error
	if errors.As(runError(err), &e) && e.Status < 500 {
		return e
	}
	return nil
}

// runEvents follows a run for the chat: htmx's SSE extension swaps each
// event's HTML into the run's bubble.
func (s *Server) runEvents(c echo.Context) error {
	ctx := c.Request().Context()
	return s.followRun(c, func(w *sseWriter, e agents.Event) error {
		switch e.Kind {
		case agents.KindToken:
			var d agents.TokenEvent
			_ = json.Unmarshal(e.Data, &d)
			return w.html(e.Seq, "token", html.EscapeString(d.Text))
		case agents.KindToolCall:
			var d agents.ToolCallEvent
			_ = json.Unmarshal(e.Data, &d)
			return w.html(e.Seq, "activity", "Running "+html.EscapeString(d.Name)+"…")
		case agents.KindToolResult:
			var d agents.ToolResultEvent
			_ = json.Unmarshal(e.Data, &d)
			return w.component(ctx, e.Seq, "step", views.StepRow(d.Name, string(d.Args), d.OK, d.Summary))
		case agents.KindDone:
			id, _ := runID(c)
			run, answer, steps, err := s.Agents.Answer(ctx, currentUser(c).ID, id)
			if err != nil {
				return err
			}
			return w.component(ctx, e.Seq, "done", views.RunBubble(views.RunView{Run: run, Steps: steps, Answer: answer}))
		}
		return nil
	})
}

func (s *Server) runCancel(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	if _, err := s.Agents.Cancel(c.Request().Context(), currentUser(c).ID, id); err != nil && !errors.Is(err, agents.ErrRunEnded) {
		return runError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) runUndo(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, _, err := s.Agents.Undo(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return runError(err)
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/projects/"+run.ProjectID.String())
	}
	return render(c, http.StatusOK, views.RunFooter(run, "Files put back as they were before this run."))
}

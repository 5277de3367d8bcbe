package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"studio/db"
	"studio/projects"
	"studio/views"
)

func (s *Server) card(p db.Project) views.ProjectCard {
	return views.ProjectCard{Project: views.NewProjectView(p), PreviewURL: s.Config.PreviewURL(p.Slug)}
}

func (s *Server) dashboard(c echo.Context) error {
	return s.renderDashboard(c, http.StatusOK, views.Form{})
}

// renderDashboard shows the projects with the forms as f holds them.
func (s *Server) renderDashboard(c echo.Context, status int, f views.Form) error {
	list, err := s.Projects.List(c.Request().Context(), currentUser(c).ID, 200, nil)
	if err != nil {
		return err
	}
	cards := make([]views.ProjectCard, 0, len(list))
	for _, p := range list {
		cards = append(cards, s.card(p))
	}
	choices, err := s.templateChoices(c)
	if err != nil {
		return err
	}
	return render(c, status, views.DashboardPage(s.page(c, "Projects"), cards, choices, f))
}

// formWith is a form holding values, with no errors yet.
func formWith(values map[string]string) views.Form {
	return views.Form{Values: values, Errors: map[string]string{}}
}

// createProject adds a project; htmx gets its card at once, which then
// follows the project's progress over the dashboard's event stream.
func (s *Server) createProject(c echo.Context) error {
	f := views.Form{Values: map[string]string{"name": c.FormValue("name"), "template": c.FormValue("template")}, Errors: map[string]string{}}
	p, err := s.createFrom(c.Request().Context(), currentUser(c).ID, f.Values["name"], f.Values["template"])
	if err != nil {
		choices, cerr := s.templateChoices(c)
		if cerr != nil {
			return cerr
		}
		var e *Error
		if !errors.As(projectError(err), &e) {
			return err
		}
		if e.Field != "" {
			f.Errors[e.Field] = trimField(e)
		} else {
			f.Error = e.Message
		}
		if isHTMX(c) {
			c.Response().Header().Set("HX-Retarget", "#new-project")
			c.Response().Header().Set("HX-Reswap", "outerHTML")
			return render(c, http.StatusOK, views.NewProjectForm(s.page(c, "Projects"), choices, f))
		}
		return render(c, e.Status, views.DashboardPage(s.page(c, "Projects"), nil, choices, f))
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	c.Response().Header().Set("HX-Trigger", "project-created")
	return render(c, http.StatusOK, views.CardWithEmptyStateRemoved(s.page(c, "Projects"), s.card(p)))
}

// projectCardAction serves the start, restart, stop, rename and delete
// buttons of a dashboard card and of the workspace header; htmx gets the
// fragment it came from back, re-rendered.
func (s *Server) projectCardAction(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), currentUser(c).ID
	var p db.Project
	switch c.Param("action") {
	case "start":
		p, err = s.Projects.Start(ctx, owner, id)
	case "restart":
		p, err = s.Projects.Restart(ctx, owner, id)
	case "stop":
		p, err = s.Projects.Stop(ctx, owner, id)
	case "rename":
		p, err = s.Projects.Rename(ctx, owner, id, c.FormValue("name"))
	case "delete":
		if err := s.Projects.Delete(ctx, owner, id); err != nil {
			return projectError(err)
		}
		if isHTMX(c) {
			return c.HTML(http.StatusOK, "")
		}
		return c.Redirect(http.StatusSeeOther, "/")
	default:
		return echo.ErrNotFound
	}
	if err != nil {
		return projectError(err)
	}
	if !isHTMX(c) {
		back := safeNext(c.FormValue("back"))
		if back == "" {
			back = "/"
		}
		return c.Redirect(http.StatusSeeOther, back)
	}
	if c.Request().Header.Get("HX-Target") == "ws-header" {
		return render(c, http.StatusOK, views.WorkspaceHeader(s.page(c, p.Name), views.NewProjectView(p)))
	}
	return render(c, http.StatusOK, views.Card(s.page(c, "Projects"), s.card(p)))
}

// projectCard is one card, for a card that refreshes itself.
func (s *Server) projectCard(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Card(s.page(c, "Projects"), s.card(p)))
}

// openPreview sends the owner's browser through a fresh signed link.
func (s *Server) openPreview(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	link, _, err := s.previewLink(c, p, "/")
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, link)
}

// dashboardEvents streams re-rendered cards of the user's projects as
// their status or progress changes.
func (s *Server) dashboardEvents(c echo.Context) error {
	ctx := c.Request().Context()
	user := currentUser(c).ID
	wake, stop := s.Bus.Subscribe(projects.UserTopic(user))
	defer stop()
	out, err := s.startSSE(c)
	if err != nil {
		return err
	}
	defer out.close()
	page := s.page(c, "Projects")
	sent := map[string]string{} // project id → what its card showed
	var n int64
	for {
		list, err := s.Projects.List(ctx, user, 200, nil)
		if err != nil {
			return nil
		}
		for _, p := range list {
			key := fmt.Sprint(p.Status, "|", p.Progress, "|", p.UpdatedAt, "|", p.Name, "|", p.PausedAt != nil)
			if sent[p.ID.String()] == key {
				continue
			}
			n++
			if out.component(ctx, n, "card-"+p.ID.String(), views.Card(page, s.card(p))) != nil {
				return nil
			}
			sent[p.ID.String()] = key
		}
		if !out.wait(ctx, wake) {
			return nil
		}
	}
}

// trimField is an error's message without the "field: " the API puts
// before it: a form shows it beside the field.
func trimField(e *Error) string {
	if e.Field == "" {
		return e.Message
	}
	return strings.TrimPrefix(e.Message, e.Field+": ")
}

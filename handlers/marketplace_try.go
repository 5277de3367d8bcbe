package handlers

import (
	"cmp"
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/containers/image"
	"studio/db"
	"studio/views"
)

// tryProjects is what the "Try it on a project" form offers: the user's
// projects, and the templates of a new one.
func (s *Server) tryProjects(ctx context.Context, user uuid.UUID) (views.TryData, error) {
	list, err := s.Projects.List(ctx, user, 100, nil)
	if err != nil {
		return views.TryData{}, err
	}
	d := views.TryData{Templates: image.Templates()}
	for _, p := range list {
		if p.Status != db.ProjectStatusDeleting {
			d.Projects = append(d.Projects, p)
		}
	}
	return d, nil
}

// tryAgent opens a project's workspace with the agent chosen in the chat:
// one of the user's projects, or a new one made for it. The workspace
// ignores an agent the user cannot use.
func (s *Server) tryAgent(c echo.Context) error {
	ctx, user, agentID := c.Request().Context(), currentUser(c).ID, c.Param("id")
	var project uuid.UUID
	if choice := c.FormValue("project"); choice != "new" {
		id, err := uuid.Parse(choice)
		if err != nil {
			return NewError(http.StatusBadRequest, "invalid_field", "Choose one of your projects, or a new one.")
		}
		project = id
	} else {
		p, err := s.Projects.Create(ctx, user, c.FormValue("name"), cmp.Or(c.FormValue("template"), "static"))
		if err != nil {
			return projectError(err)
		}
		project = p.ID
	}
	return c.Redirect(http.StatusSeeOther, "/projects/"+project.String()+"?"+url.Values{"agent": {agentID}}.Encode())
}

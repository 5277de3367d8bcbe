package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/db"
	"studio/proxy"
)

// PreviewLinks signs the short-lived links that let an owner's browser in
// to a private preview.
type PreviewLinks interface {
	Link(previewURL string, h proxy.Holder, project uuid.UUID, next string) (string, time.Time, error)
}

// previewLink makes a signed link for the owner's project (the workspace
// page uses the same method for its iframe). It names the browser session
// that asks, so the preview closes when that session ends.
func (s *Server) previewLink(c echo.Context, p db.Project, next string) (string, time.Time, error) {
	return s.signedLink(c, p, s.Config.PreviewURL(p.Slug), next)
}

// signedLink signs the owner's browser in to one of the project's hosts
// (its preview, its published site).
func (s *Server) signedLink(c echo.Context, p db.Project, hostURL, next string) (string, time.Time, error) {
	holder := proxy.Holder{User: p.OwnerID}
	if sess := currentSession(c); sess != nil {
		holder.Session = sess.ID
	}
	return s.Previews.Link(hostURL, holder, p.ID, next)
}

func (s *Server) apiPreviewLink(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	next := c.QueryParam("path")
	if next == "" {
		next = "/"
	}
	link, exp, err := s.previewLink(c, p, next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"url": link, "expires_at": exp.UTC()})
}

func (s *Server) apiShare(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	on := c.Request().Method == http.MethodPost
	p, err := h.SetShareToken(c.Request().Context(), on)
	if err != nil {
		return projectError(err)
	}
	if !on {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, map[string]string{"url": strings.TrimRight(s.Config.PreviewURL(p.Slug), "/") + "/?share=" + p.ShareToken})
}

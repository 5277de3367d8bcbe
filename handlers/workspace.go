package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/projects"
	"studio/views"
)

// workspace is the editor page of one of the user's projects.
func (s *Server) workspace(c echo.Context) error {
	p, err := s.editorProject(c)
	if err != nil {
		return err
	}
	files, err := s.Projects.Tree(p.ID)
	if err != nil {
		files = nil // still starting: the list fills in on reload
	}
	link, _, err := s.previewLink(p, "/")
	if err != nil {
		return err
	}
	d := views.WorkspaceData{Project: p, Files: files, PreviewURL: s.Config.PreviewURL(p.Slug), PreviewLink: link}
	if p.Status == projects.StatusDeleting {
		return projectError(projects.ErrNotFound)
	}
	return render(c, http.StatusOK, views.WorkspacePage(s.page(c, p.Name), d))
}

// fileTree is the workspace's file list, re-fetched when files change.
func (s *Server) fileTree(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	files, err := s.Projects.Tree(p.ID)
	if err != nil {
		return fileError(err)
	}
	return render(c, http.StatusOK, views.FileTree(files))
}

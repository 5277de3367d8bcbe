package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/db"
	"studio/projects"
	"studio/views"
)

// workspace is the editor page of one of the user's projects.
func (s *Server) workspace(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	p := h.Project()
	files, err := s.treeNodes(c.Request().Context(), h, "", map[string]bool{"src": true})
	if err != nil {
		files = nil // still starting: the list fills in on reload
	}
	link, _, err := s.previewLink(c, p, "/")
	if err != nil {
		return err
	}
	if p.Status == db.ProjectStatusDeleting {
		return projectError(projects.ErrNotFound)
	}
	page := s.page(c, p.Name)
	chat, err := s.chatData(c, p, page.CSRFToken)
	if err != nil {
		return err
	}
	chat.Agent = c.QueryParam("agent") // "Try it on a project"; the picker has it only if the user may use it
	layout, err := s.Auth.WorkspaceLayout(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	layoutJSON, _ := json.Marshal(layout)
	d := views.WorkspaceData{Project: p, Files: files, PreviewURL: s.Config.PreviewURL(p.Slug), PreviewLink: link, Chat: chat, Layout: string(layoutJSON)}
	return render(c, http.StatusOK, views.WorkspacePage(page, d))
}

// workspaceHeader is the workspace's header again, after a status change.
func (s *Server) workspaceHeader(c echo.Context) error {
	p, err := s.ownProject(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.WorkspaceHeader(s.page(c, p.Name), views.NewProjectView(p)))
}

// fileTree is the workspace's file list. With ?dir= it is the rows of one
// folder, opened for the first time; otherwise the whole list again, after
// files changed, with the folders named by ?open= and the folders of the
// files named by ?reveal= open.
func (s *Server) fileTree(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	if dir := c.QueryParam("dir"); dir != "" {
		nodes, err := s.treeNodes(c.Request().Context(), h, dir, nil)
		if err != nil {
			return fileError(err)
		}
		return render(c, http.StatusOK, views.TreeItems(h.ID().String(), nodes))
	}
	nodes, err := s.treeNodes(c.Request().Context(), h, "", openFolders(c))
	if err != nil {
		return fileError(err)
	}
	return render(c, http.StatusOK, views.FileTree(h.ID().String(), nodes))
}

// maxOpenFolders bounds the folders one tree request lists.
const maxOpenFolders = 200

// treeNodes lists dir, and inside it every folder named in open.
func (s *Server) treeNodes(ctx context.Context, h *projects.Handle, dir string, open map[string]bool) ([]views.TreeNode, error) {
	budget := maxOpenFolders
	var list func(dir string) ([]views.TreeNode, error)
	list = func(dir string) ([]views.TreeNode, error) {
		budget--
		entries, err := h.ListDir(ctx, dir)
		if err != nil {
			return nil, err
		}
		nodes := make([]views.TreeNode, len(entries))
		for i, e := range entries {
			nodes[i].FileInfo = e
			if e.Type == "dir" && open[e.Path] && budget > 0 {
				children, err := list(e.Path)
				if errors.Is(err, projects.ErrFileNotFound) {
					continue // removed since it was listed
				}
				if err != nil {
					return nil, err
				}
				nodes[i].Open, nodes[i].Children = true, children
			}
		}
		return nodes, nil
	}
	return list(dir)
}

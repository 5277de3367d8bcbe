package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"studio/projects"
	"studio/views"
)

// The workspace's file forms. Each answers htmx with the file tree (the
// folders that were open stay open, and so do the folders of the file it
// made) and tells the editor what happened in an HX-Trigger event, so the
// editor's tabs follow. A refused form comes back in its own place, with
// the message and what was typed, under the error's status.

// createFileForm makes an empty file, or a folder when the path ends
// with / (kept in git by an empty .gitkeep).
func (s *Server) createFileForm(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	typed := c.FormValue("path")
	name := strings.TrimLeft(strings.TrimSpace(typed), "/")
	if strings.HasSuffix(name, "/") {
		name += ".gitkeep"
	}
	id, csrf := h.ID().String(), s.csrfToken(c)
	if err := h.CreateFile(c.Request().Context(), name); err != nil {
		return refuseFileForm(c, err, "#new-file", "outerHTML", func(message string) templ.Component {
			return views.NewFileForm(id, csrf, views.Form{Values: map[string]string{"path": typed}, Error: message}, false)
		})
	}
	name, _ = projects.CleanPath(name)
	return s.fileFormDone(c, h, "studio:file-created", map[string]string{"path": name}, name,
		views.NewFileForm(id, csrf, views.Form{}, true))
}

// renameFileForm moves the file open in the editor; it never overwrites.
func (s *Server) renameFileForm(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	from, typed := c.FormValue("from"), c.FormValue("to")
	to := strings.TrimSpace(typed)
	id, csrf := h.ID().String(), s.csrfToken(c)
	if err := h.MoveFile(c.Request().Context(), from, to); err != nil {
		return refuseFileForm(c, err, "#rename-box", "outerHTML", func(message string) templ.Component {
			return views.RenameBox(id, csrf, views.Form{Values: map[string]string{"from": from, "to": typed}, Error: message}, true, false)
		})
	}
	from, _ = projects.CleanPath(from)
	to, _ = projects.CleanPath(to)
	return s.fileFormDone(c, h, "studio:file-renamed", map[string]string{"from": from, "to": to}, to,
		views.RenameBox(id, csrf, views.Form{Values: map[string]string{"from": to, "to": to}}, false, true))
}

// deleteFileForm removes the file (or folder) open in the editor.
func (s *Server) deleteFileForm(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	name := c.FormValue("path")
	if err := h.DeleteFile(c.Request().Context(), name); err != nil {
		return refuseFileForm(c, err, "#editor-status", "innerHTML", func(message string) templ.Component {
			return views.StatusText(message)
		})
	}
	name, _ = projects.CleanPath(name)
	return s.fileFormDone(c, h, "studio:file-deleted", map[string]string{"path": name}, "", nil)
}

// refuseFileForm answers a refused file form. htmx gets the form (made by
// form, with the message) swapped in place of target; the status stays
// the error's, and app.js swaps such answers because they name their
// target. Without htmx it is the usual error page.
func refuseFileForm(c echo.Context, err error, target, swap string, form func(message string) templ.Component) error {
	err = fileError(err)
	var e *Error
	if !isHTMX(c) || !errors.As(err, &e) || e.Status >= http.StatusInternalServerError {
		return err
	}
	h := c.Response().Header()
	h.Set("HX-Retarget", target)
	h.Set("HX-Reswap", swap)
	return render(c, e.Status, form(e.Message))
}

// fileFormDone answers a file form that worked: the tree, with the folders
// of reveal open, the editor's event and, out of band, the form put back
// empty (reset, when the form has one). Without htmx, the workspace again.
func (s *Server) fileFormDone(c echo.Context, h *projects.Handle, event string, detail map[string]string, reveal string, reset templ.Component) error {
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/projects/"+h.ID().String())
	}
	nodes, err := s.treeNodes(c.Request().Context(), h, "", openFolders(c, reveal))
	if err != nil {
		return fileError(err)
	}
	trigger, err := json.Marshal(map[string]any{event: detail})
	if err != nil {
		return err
	}
	c.Response().Header().Set("HX-Trigger", string(trigger))
	return render(c, http.StatusOK, views.FileTreeWith(h.ID().String(), nodes, reset))
}

// openFolders are the folders a tree answer shows open: those the request
// names in "open", and the folders of each file it names in "reveal" (the
// file open in the editor) or passes here (a file just made).
func openFolders(c echo.Context, reveal ...string) map[string]bool {
	form, err := c.FormParams()
	if err != nil {
		form = c.QueryParams()
	}
	open := map[string]bool{}
	for _, dir := range form["open"] {
		open[dir] = true
	}
	for _, file := range append(form["reveal"], reveal...) {
		for dir := path.Dir(file); dir != "." && dir != "/" && dir != ".."; dir = path.Dir(dir) {
			open[dir] = true
		}
	}
	return open
}

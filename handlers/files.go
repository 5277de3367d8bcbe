package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/projects"
)

// editorProject opens the owner's project for an editor request, which
// counts as use of the project (see Handle.UseInEditor).
func (s *Server) editorProject(c echo.Context) (*projects.Handle, error) {
	h, err := s.openProject(c)
	if err != nil {
		return nil, err
	}
	h.UseInEditor(c.Request().Context())
	return h, nil
}

// editorFile is the project and the file path a file request names.
func (s *Server) editorFile(c echo.Context) (*projects.Handle, string, error) {
	h, err := s.editorProject(c)
	if err != nil {
		return nil, "", err
	}
	name, err := filePath(c)
	return h, name, err
}

// filePath is the path after /files/, decoded exactly once.
func filePath(c echo.Context) (string, error) {
	raw := c.Param("*")
	if c.Request().URL.RawPath == "" {
		return raw, nil // the server decoded it already
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", fileError(&projects.PathError{Reason: "the path is not properly encoded"})
	}
	return p, nil
}

func (s *Server) apiFileTree(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	tree, err := h.Tree(c.Request().Context())
	if err != nil {
		return fileError(err)
	}
	if tree == nil {
		tree = []projects.FileInfo{}
	}
	return c.JSON(http.StatusOK, map[string]any{"files": tree})
}

func (s *Server) apiReadFile(c echo.Context) error {
	proj, name, err := s.editorFile(c)
	if err != nil {
		return err
	}
	content, etag, err := proj.ReadFile(c.Request().Context(), name)
	if err != nil {
		return fileError(err)
	}
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-store")
	if match := c.Request().Header.Get("If-None-Match"); match == etag {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, rawFileHeaders(h, name, content), content)
}

// rawFileHeaders keeps a project file from running on the UI's origin:
// every file is sandboxed and never sniffed; what is not plain text or a
// raster image is a download, and markup or script is sent as text. It
// returns the Content-Type to send.
func rawFileHeaders(h http.Header, name string, content []byte) string {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" || strings.HasPrefix(ctype, "text/html") {
		ctype = http.DetectContentType(content)
	}
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	if !inlineSafe(ctype) {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	}
	if isMarkupOrScript(ctype) {
		ctype = "text/plain; charset=utf-8" // source to edit, never a page to run
	}
	return ctype
}

// inlineSafe: types a browser shows and never executes.
func inlineSafe(ctype string) bool {
	return strings.HasPrefix(ctype, "text/plain") || strings.HasPrefix(ctype, "image/") && !strings.Contains(ctype, "svg")
}

func isMarkupOrScript(ctype string) bool {
	for _, kind := range []string{"html", "xml", "javascript", "ecmascript", "svg"} {
		if strings.Contains(ctype, kind) {
			return true
		}
	}
	return false
}

func (s *Server) apiWriteFile(c echo.Context) error {
	h, name, err := s.editorFile(c)
	if err != nil {
		return err
	}
	limit := s.Config.MaxFileSize
	content, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fileError(projects.ErrTooLarge)
	} else if err != nil {
		return NewError(http.StatusBadRequest, "bad_body", "The file's content could not be read.")
	}
	etag, err := h.WriteFile(c.Request().Context(), name, content, c.Request().Header.Get("If-Match"))
	if err != nil {
		return fileError(err)
	}
	c.Response().Header().Set("ETag", etag)
	return c.JSON(http.StatusOK, map[string]string{"path": strings.TrimSuffix(name, "/"), "etag": etag})
}

func (s *Server) apiDeleteFile(c echo.Context) error {
	h, name, err := s.editorFile(c)
	if err != nil {
		return err
	}
	if err := h.DeleteFile(c.Request().Context(), name); err != nil {
		return fileError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

type moveRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (s *Server) apiMoveFile(c echo.Context) error {
	h, err := s.editorProject(c)
	if err != nil {
		return err
	}
	var req moveRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	if err := h.MoveFile(c.Request().Context(), req.From, req.To); err != nil {
		return fileError(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"from": req.From, "to": req.To})
}

type checkpointRequest struct {
	Label string `json:"label"`
}

func (s *Server) apiListCheckpoints(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	list, err := h.ListCheckpoints(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"checkpoints": list})
}

func (s *Server) apiCreateCheckpoint(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	var req checkpointRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, 16<<10, &req); err != nil {
			return err
		}
	}
	cp, err := h.Checkpoint(c.Request().Context(), strings.TrimSpace(req.Label))
	if err != nil {
		return fileError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"checkpoint": cp})
}

func (s *Server) apiRestoreCheckpoint(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	cid, err := uuid.Parse(c.Param("cid"))
	if err != nil {
		return fileError(projects.ErrCheckpointNotFound)
	}
	undo, err := h.RestoreCheckpoint(c.Request().Context(), cid)
	if err != nil {
		return fileError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"undo": undo})
}

func fileError(err error) error {
	var pe *projects.PathError
	switch {
	case errors.As(err, &pe):
		return &Error{Status: http.StatusBadRequest, Code: "bad_path", Field: "path", Message: "The path is not allowed: " + pe.Reason + "."}
	case errors.Is(err, projects.ErrFileNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such file.")
	case errors.Is(err, projects.ErrIsDir):
		return NewError(http.StatusConflict, "is_directory", "That is a folder, not a file.")
	case errors.Is(err, projects.ErrTooLarge):
		return NewError(http.StatusRequestEntityTooLarge, "too_large", "The file is larger than the limit (STUDIO_MAX_FILE_SIZE).")
	case errors.Is(err, projects.ErrPrecondition):
		return NewError(http.StatusPreconditionFailed, "changed", "The file changed since you opened it; reload it or save again to overwrite.")
	case errors.Is(err, projects.ErrExists):
		return NewError(http.StatusConflict, "exists", "A file or folder already exists there.")
	case errors.Is(err, projects.ErrCheckpointNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such checkpoint.")
	}
	return projectError(err)
}

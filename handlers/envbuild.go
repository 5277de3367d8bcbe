package handlers

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"studio/projects"
	"studio/proxy"
)

// This file serves a project's environment variables (values go in, never
// out), its build with live output, the build's zip and its published site.

func envError(err error) error {
	var reserved projects.ErrEnvReserved
	switch {
	case errors.As(err, &reserved), errors.Is(err, projects.ErrEnvName):
		return invalidField("name", err)
	case errors.Is(err, projects.ErrEnvValue):
		return invalidField("value", err)
	case errors.Is(err, projects.ErrEnvTooMany):
		return NewError(http.StatusRequestEntityTooLarge, "too_many_variables", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrEnvNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such variable.")
	case errors.Is(err, projects.ErrNoSealer):
		return NewError(http.StatusConflict, "no_secret_key", projects.Sentence(err.Error()))
	}
	return projectError(err)
}

// envRestartNote is what the UI and API say after a change.
const envRestartNote = "Restart the project for its dev server to see the change."

func (s *Server) apiListEnv(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	vars, err := h.ListEnv(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"variables": vars})
}

type envRequest struct {
	Value *string `json:"value"`
}

func (s *Server) apiSetEnv(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	var req envRequest
	if err := decodeJSON(c, projects.MaxEnvValueLen+4<<10, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return invalidField("value", errors.New("give the variable's value"))
	}
	v, err := h.SetEnv(c.Request().Context(), c.Param("name"), *req.Value)
	if err != nil {
		return envError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"variable": v, "restart_needed": true, "message": envRestartNote})
}

func (s *Server) apiDeleteEnv(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	if err := h.DeleteEnv(c.Request().Context(), c.Param("name")); err != nil {
		return envError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func buildError(err error) error {
	switch {
	case errors.Is(err, projects.ErrNoBuildScript):
		return NewError(http.StatusUnprocessableEntity, "no_build_script", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrBuilding):
		return NewError(http.StatusConflict, "building", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrNotRunning):
		return NewError(http.StatusConflict, "not_running", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrNoBuildOutput):
		return NewError(http.StatusNotFound, "no_build_output", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrSiteTooLarge):
		return NewError(http.StatusRequestEntityTooLarge, "site_too_large", projects.Sentence(err.Error()))
	case errors.Is(err, projects.ErrNoSite):
		return NewError(http.StatusNotFound, "not_published", projects.Sentence(err.Error()))
	}
	return projectError(err)
}

// apiBuild runs the build script and streams its output as SSE: "line"
// events {text}, then one "done" {exit_code, timed_out, output_dir}. Refusals
// (no script, not running, a build under way) come before the stream as
// errors.
func (s *Server) apiBuild(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	lines := make(chan string, 256)
	type outcome struct {
		res projects.BuildResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := h.Build(ctx, func(l string) {
			select {
			case lines <- l:
			case <-ctx.Done():
			}
		})
		close(lines)
		done <- outcome{res, err}
	}()
	// The first line is the command: its arrival means the build started.
	first, started := <-lines
	if !started {
		return buildError((<-done).err)
	}
	out, err := s.startSSE(c)
	if err != nil {
		return err
	}
	defer out.close()
	var n int64
	send := func(l string) {
		n++
		_ = out.event(n, "line", map[string]string{"text": l})
	}
	send(first)
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case l, ok := <-lines:
			if ok {
				send(l)
				continue
			}
			o := <-done
			n++
			if o.err != nil {
				_ = out.event(n, "failed", map[string]string{"message": projects.Sentence(o.err.Error())})
				return nil
			}
			_ = out.event(n, "done", o.res)
			return nil
		case <-beat.C:
			_ = out.comment("heartbeat")
		case <-ctx.Done():
			<-done
			return nil
		}
	}
}

func (s *Server) apiBuildZip(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	err = h.WriteBuildZip(func() io.Writer {
		hdr := c.Response().Header()
		hdr.Set(echo.HeaderContentType, "application/zip")
		// The slug is [a-z0-9-]: safe in a header.
		hdr.Set(echo.HeaderContentDisposition, `attachment; filename="`+h.Project().Slug+`-build.zip"`)
		c.Response().WriteHeader(http.StatusOK)
		return &unhurried{w: c.Response(), rc: http.NewResponseController(c.Response().Writer)}
	})
	if c.Response().Committed {
		if err != nil {
			s.log(c).Warn("build zip", "project", h.ID(), "err", err)
		}
		return nil
	}
	return buildError(err)
}

// siteURL is where the project's published site is served.
func (s *Server) siteURL(slug string) string {
	return s.Config.PreviewURL(slug + proxy.SiteSuffix)
}

func (s *Server) siteJSON(slug string, site projects.Site) map[string]any {
	return map[string]any{"site": site, "url": s.siteURL(slug)}
}

func (s *Server) apiGetSite(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	site, err := h.Site(c.Request().Context())
	if err != nil {
		return buildError(err)
	}
	return c.JSON(http.StatusOK, s.siteJSON(h.Project().Slug, site))
}

type siteRequest struct {
	Public *bool `json:"public"`
}

// apiPublish copies the build output to the site (POST), or changes who
// may read it (PATCH).
func (s *Server) apiPublish(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	var req siteRequest
	if err := decodeJSON(c, 1<<10, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var site projects.Site
	if c.Request().Method == http.MethodPatch {
		if req.Public == nil {
			return invalidField("public", errors.New("say whether the site is public (true) or only yours (false)"))
		}
		site, err = h.SetSitePublic(ctx, *req.Public)
	} else {
		site, err = h.Publish(ctx, req.Public != nil && *req.Public)
	}
	if err != nil {
		return buildError(err)
	}
	return c.JSON(http.StatusOK, s.siteJSON(h.Project().Slug, site))
}

func (s *Server) apiUnpublish(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	if err := h.Unpublish(c.Request().Context()); err != nil {
		return buildError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// apiSiteLink is a signed link that lets the owner's browser in to a
// private site, as the preview link does for the preview.
func (s *Server) apiSiteLink(c echo.Context) error {
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	p := h.Project()
	link, exp, err := s.signedLink(c, p, s.siteURL(p.Slug), "/")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"url": link, "expires_at": exp.UTC()})
}

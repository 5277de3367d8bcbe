package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/db"
	"studio/projects"
	"studio/templates"
	"studio/views"
)

// createFrom makes a project from what the person chose: a built-in
// template's id, or a template item they may use. A template they may
// not see is "no such template", as if it did not exist.
func (s *Server) createFrom(ctx context.Context, user uuid.UUID, name, template string) (db.Project, error) {
	src, err := s.Agents.TemplateFor(ctx, user, template)
	switch {
	case errors.Is(err, agents.ErrItemNotFound), errors.Is(err, agents.ErrNotATemplate):
		return db.Project{}, projects.ErrUnknownTemplate
	case err != nil:
		return db.Project{}, templateError(err) // hidden, say
	case src.BuiltIn:
		return s.Projects.Create(ctx, user, name, src.ItemID)
	}
	return s.Projects.CreateFromTemplate(ctx, user, name, projects.TemplateRef{Item: src.ItemID, Version: src.Version, Base: src.Base})
}

// templateChoices are the templates of the new-project form.
func (s *Server) templateChoices(c echo.Context) ([]views.TemplateChoice, error) {
	rows, err := s.Agents.UsableTemplates(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return nil, err
	}
	me := currentUser(c).ID
	out := make([]views.TemplateChoice, 0, len(rows))
	for _, r := range rows {
		out = append(out, views.TemplateChoice{ID: r.ID, Name: r.Name, Description: r.Description, Icon: r.Icon,
			Origin: templateOrigin(r, me), Version: r.Version})
	}
	return out, nil
}

func templateOrigin(r agents.UsableTemplate, me uuid.UUID) string {
	switch {
	case r.OwnerID == nil:
		return "built-in"
	case *r.OwnerID == me:
		return "yours"
	}
	return "installed"
}

// apiTemplates lists the templates the user can start a project from.
func (s *Server) apiTemplates(c echo.Context) error {
	type templateJSON struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Origin      string `json:"origin"` // built-in | yours | installed
		Version     int32  `json:"version"`
		Base        string `json:"base"`
	}
	rows, err := s.Agents.UsableTemplates(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := make([]templateJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, templateJSON{ID: r.ID, Name: r.Name, Description: r.Description,
			Origin: templateOrigin(r, currentUser(c).ID), Version: r.Version, Base: r.Base})
	}
	return c.JSON(http.StatusOK, map[string]any{"templates": out})
}

// saveTemplateRequest saves a project's files as a template, or as the
// next version of one of the user's templates (item_id).
type saveTemplateRequest struct {
	ItemID      string   `json:"item_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Readme      string   `json:"readme"`
	Icon        string   `json:"icon"`
	Tags        []string `json:"tags"`
	Visibility  string   `json:"visibility"`
	Screenshots []string `json:"screenshots"`
}

// saveTemplate reads the project's files and publishes them.
func (s *Server) saveTemplate(ctx context.Context, user, projectID uuid.UUID, req saveTemplateRequest) (agents.Item, []templates.Skipped, error) {
	h, err := s.Projects.Open(ctx, user, projectID)
	if err != nil {
		return agents.Item{}, nil, projectError(err)
	}
	collected, err := templates.Collect(h.Dir(), s.Agents.TemplateLimits())
	if errors.Is(err, fs.ErrNotExist) {
		return agents.Item{}, nil, NewError(http.StatusConflict, "not_ready", "The project's files are not there yet; try again once it has started.")
	} else if err != nil {
		return agents.Item{}, nil, templateError(err)
	}
	spec := agents.TemplateSpec{Name: req.Name, Description: req.Description, Readme: req.Readme, Icon: req.Icon,
		Tags: req.Tags, Visibility: req.Visibility, Screenshots: req.Screenshots}
	tf := agents.TemplateFiles{Base: h.Project().Template, Files: collected.Files, Exec: collected.Exec}
	var it agents.Item
	if req.ItemID == "" {
		it, err = s.Agents.CreateTemplate(ctx, user, spec, tf)
	} else {
		it, err = s.Agents.UpdateTemplate(ctx, user, req.ItemID, spec, tf)
	}
	if err != nil {
		return agents.Item{}, nil, templateError(err)
	}
	return it, collected.Skipped, nil
}

func (s *Server) apiSaveTemplate(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return projectError(projects.ErrNotFound)
	}
	var req saveTemplateRequest
	// A README of 32 KiB may take six times that once escaped in JSON.
	if err := decodeJSON(c, 256<<10, &req); err != nil {
		return err
	}
	it, skipped, err := s.saveTemplate(c.Request().Context(), currentUser(c).ID, id, req)
	if err != nil {
		return err
	}
	if skipped == nil {
		skipped = []templates.Skipped{}
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it), "skipped": skipped})
}

// templateError maps a template's refusals to answers.
func templateError(err error) error {
	var bad *templates.Error
	switch {
	case errors.As(err, &bad):
		return NewError(http.StatusBadRequest, "bad_template", capitalize(bad.Message)+".")
	case errors.Is(err, agents.ErrNotATemplate):
		return NewError(http.StatusConflict, "not_a_template", "This item is not a template.")
	}
	return marketplaceError(err)
}

// readBundleBody reads a template bundle sent as the request body.
func (s *Server) readBundleBody(c echo.Context) ([]byte, error) {
	return readUpload(c, s.Agents.TemplateLimits().MaxBundle, "bundle", "", "application/gzip",
		"application/gzip", "application/x-gzip", "application/octet-stream", "application/x-tar")
}

// readUpload reads a file sent as the request body: of one of the media
// types (or none said), at most limit bytes. what names the file in the
// messages, setting the variable that sets the limit (if any), want the
// type to ask for.
func readUpload(c echo.Context, limit int64, what, setting, want string, types ...string) ([]byte, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !slices.Contains(types, strings.TrimSpace(strings.Split(ct, ";")[0])) {
		return nil, NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the "+what+"'s bytes as "+want+".")
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		if setting != "" {
			setting = " (" + setting + ")"
		}
		return nil, NewError(http.StatusRequestEntityTooLarge, "too_large", "The "+what+" is larger than the limit of "+humanBytes(limit)+setting+".")
	}
	return data, nil
}

func (s *Server) apiImportTemplate(c echo.Context) error {
	data, err := s.readBundleBody(c)
	if err != nil {
		return err
	}
	it, err := s.Agents.ImportTemplate(c.Request().Context(), currentUser(c).ID, data)
	if err != nil {
		return templateError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

// templateBundle downloads a template the user can see as a bundle file.
func (s *Server) templateBundle(c echo.Context) error {
	version, err := versionParam(c)
	if err != nil {
		return err
	}
	b, it, err := s.Agents.TemplateBundle(c.Request().Context(), currentUser(c).ID, c.Param("id"), version)
	if err != nil {
		return templateError(err)
	}
	if it.Hidden() && !it.Mine(currentUser(c).ID) {
		return templateError(agents.ErrItemNotFound)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+it.ID+templates.Extension+`"`)
	return c.Blob(http.StatusOK, "application/gzip", b)
}

// versionParam is ?version=N, 0 when absent (the latest).
func versionParam(c echo.Context) (int32, error) {
	v := c.QueryParam("version")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 {
		return 0, &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: "version", Message: "version: is not a version number."}
	}
	return int32(n), nil
}

// templateScreenshot serves one of a template version's screenshots, as
// an image only: project files are hostile, so nothing served here may
// run as a page on studio's host. Who may see it is checked on every
// request; the image itself comes from a small cache, since reading it
// means reading and checking the whole bundle.
func (s *Server) templateScreenshot(c echo.Context) error {
	version, err := versionParam(c)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 0 || n >= 4 {
		return echo.ErrNotFound
	}
	ctx, user := c.Request().Context(), currentUser(c).ID
	it, err := s.Agents.Item(ctx, user, c.Param("id"))
	if err != nil {
		return templateError(err)
	}
	if it.Kind != "template" || it.Hidden() && !it.Mine(user) {
		return templateError(agents.ErrItemNotFound)
	}
	if version == 0 {
		version = it.LatestVersion
	}
	key := fmt.Sprintf("%s@%d#%d", it.ID, version, n)
	shot, ok := shots.get(key)
	if !ok {
		b, err := s.Agents.ReadTemplate(ctx, user, it.ID, version)
		if err != nil {
			return templateError(err)
		}
		paths := b.Manifest.Template.Screenshots
		if n >= len(paths) {
			return echo.ErrNotFound
		}
		data := b.Files[paths[n]]
		shot = screenshot{contentType: http.DetectContentType(data), data: data}
		shots.put(key, shot)
	}
	switch shot.contentType {
	case "image/png", "image/jpeg", "image/webp":
	default:
		return NewError(http.StatusUnsupportedMediaType, "not_an_image", "The screenshot is not a PNG, JPEG or WebP image.")
	}
	hdr := c.Response().Header()
	hdr.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "private, max-age=3600")
	return c.Blob(http.StatusOK, shot.contentType, shot.data)
}

type screenshot struct {
	contentType string
	data        []byte
}

// screenshotCache keeps the last screenshots served, by item, version
// (immutable) and place; at most 64 of them, each at most 2 MiB.
type screenshotCache struct {
	mu sync.Mutex
	m  map[string]screenshot
}

var shots = &screenshotCache{m: map[string]screenshot{}}

func (sc *screenshotCache) get(key string) (screenshot, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	v, ok := sc.m[key]
	return v, ok
}

func (sc *screenshotCache) put(key string, v screenshot) {
	if len(v.data) > 2<<20 {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.m) >= 64 {
		for k := range sc.m { // any one: a version's screenshots never change
			delete(sc.m, k)
			break
		}
	}
	sc.m[key] = v
}

// apiForkItem forks an agent or a template.
func (s *Server) apiForkItem(c echo.Context) error {
	it, err := s.forkItem(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return templateError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) forkItem(ctx context.Context, user uuid.UUID, id string) (agents.Item, error) {
	it, err := s.Agents.ForkAgent(ctx, user, id)
	if errors.Is(err, agents.ErrNotAnAgent) {
		return s.Agents.ForkTemplate(ctx, user, id)
	}
	return it, err
}

func (s *Server) apiDeleteItem(c echo.Context) error {
	if err := s.Agents.DeleteItem(c.Request().Context(), currentUser(c).ID, c.Param("id")); err != nil {
		return marketplaceError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// saveTemplatePage is the "Save as template" form of a project.
func (s *Server) saveTemplatePage(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	p, err := s.Projects.Get(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return projectError(err)
	}
	f := views.Form{Values: map[string]string{"name": p.Name, "visibility": "private"}, Errors: map[string]string{}}
	return s.renderSaveTemplate(c, http.StatusOK, p, f)
}

func (s *Server) renderSaveTemplate(c echo.Context, status int, p db.Project, f views.Form) error {
	lib, err := s.Agents.Library(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	me := currentUser(c).ID
	d := views.SaveTemplateData{ProjectID: p.ID.String(), ProjectName: p.Name, Form: f,
		Instance: s.Agents.MarketplaceMode() == agents.MarketplaceInstance, MaxSize: humanBytes(s.Agents.TemplateLimits().MaxBytes)}
	for _, r := range lib {
		if r.Kind == "template" && r.OwnerID != nil && *r.OwnerID == me {
			d.Own = append(d.Own, views.TemplateChoice{ID: r.ID, Name: r.Name, Version: r.LatestVersion})
		}
	}
	return render(c, status, views.SaveTemplatePage(s.page(c, "Save as template"), d))
}

// saveTemplateForm saves the project as a template and opens its page; a
// refusal keeps what the person typed, with the reason.
func (s *Server) saveTemplateForm(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.ErrNotFound
	}
	ctx, user := c.Request().Context(), currentUser(c).ID
	p, err := s.Projects.Get(ctx, user, id)
	if err != nil {
		return projectError(err)
	}
	f := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range []string{"item_id", "name", "description", "readme", "icon", "tags", "visibility", "screenshots"} {
		f.Values[k] = c.FormValue(k)
	}
	req := saveTemplateRequest{ItemID: f.Values["item_id"], Name: f.Values["name"], Description: f.Values["description"],
		Readme: f.Values["readme"], Icon: f.Values["icon"], Tags: splitList(f.Values["tags"]), Visibility: f.Values["visibility"],
		Screenshots: splitList(f.Values["screenshots"])}
	it, skipped, err := s.saveTemplate(ctx, user, id, req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status >= 500 {
			return err
		}
		if e.Field != "" {
			f.Errors[e.Field] = trimField(e)
		} else {
			f.Error = e.Message
		}
		return s.renderSaveTemplate(c, e.Status, p, f)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/marketplace/items/%s?saved=%d", it.ID, len(skipped)))
}

// splitList splits a comma-separated form value.
func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// useTemplate makes a project from the item page's template and opens it.
func (s *Server) useTemplate(c echo.Context) error {
	ctx, user := c.Request().Context(), currentUser(c).ID
	p, err := s.createFrom(ctx, user, c.FormValue("name"), c.Param("id"))
	if err != nil {
		return projectError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/projects/"+p.ID.String())
}

// templateView is a template item's part of its page.
func (s *Server) templateView(it agents.Item) *views.TemplateView {
	v := &views.TemplateView{Readme: it.Readme}
	for _, tv := range it.TemplateVersions {
		v.Versions = append(v.Versions, views.TemplateVersionView{Version: tv.Version, Name: tv.Name, Base: tv.Base,
			Files: tv.FileCount, Size: humanBytes(tv.TotalBytes), CreatedAt: tv.CreatedAt.UTC().Format(time.DateTime), Screenshots: len(tv.Screenshots)})
	}
	if it.BuiltIn() {
		v.Versions = []views.TemplateVersionView{{Version: 1, Name: it.Name, Base: it.ID, BuiltIn: true}}
	}
	return v
}

package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/db"
	"studio/gitrepo"
	"studio/portable"
	"studio/projects"
)

// apiExportZip streams the project's files as a zip: everything but
// dependencies, studio's cache and build output.
func (s *Server) apiExportZip(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return projectError(projects.ErrNotFound)
	}
	h, err := s.Projects.Open(c.Request().Context(), currentUser(c).ID, id)
	if err != nil {
		return projectError(err)
	}
	if _, err := os.Stat(h.Dir()); err != nil {
		return NewError(http.StatusConflict, "not_ready", "The project's files are not there yet; try again once it has started.")
	}
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, "application/zip")
	// The slug is [a-z0-9-]: safe in a header.
	hdr.Set(echo.HeaderContentDisposition, `attachment; filename="`+h.Project().Slug+`.zip"`)
	c.Response().WriteHeader(http.StatusOK)
	if err := portable.Write(&unhurried{w: c.Response(), rc: http.NewResponseController(c.Response().Writer)}, h.Dir()); err != nil {
		// The status is sent: a cut-off zip is what the client sees.
		s.log(c).Warn("zip export", "project", id, "err", err)
	}
	return nil
}

// unhurried moves the response's write deadline on with every write, so a
// long download on a slow link is not cut at the deadline of one answer.
type unhurried struct {
	w  io.Writer
	rc *http.ResponseController
}

func (u *unhurried) Write(p []byte) (int, error) {
	_ = u.rc.SetWriteDeadline(time.Now().Add(responseWriteTimeout))
	return u.w.Write(p)
}

func (s *Server) importLimits() portable.Limits {
	lim := portable.DefaultLimits
	lim.MaxBytes = s.Config.ImportMaxSize
	return lim
}

// importTurn waits for one of the replica's import slots; release gives
// it back.
func (s *Server) importTurn(c echo.Context) (release func(), err error) {
	select {
	case s.imports <- struct{}{}:
		return func() { <-s.imports }, nil
	case <-c.Request().Context().Done():
		return nil, c.Request().Context().Err()
	}
}

// importZip makes a project from a zip's bytes.
func (s *Server) importZip(c echo.Context, name string, data []byte) (db.Project, []string, error) {
	release, err := s.importTurn(c)
	if err != nil {
		return db.Project{}, nil, err
	}
	defer release()
	files, err := portable.Read(bytes.NewReader(data), int64(len(data)), s.importLimits())
	var bad *portable.Error
	if errors.As(err, &bad) {
		return db.Project{}, nil, NewError(http.StatusBadRequest, "bad_zip", capitalize(bad.Message)+".")
	} else if err != nil {
		return db.Project{}, nil, err
	}
	p, err := s.Projects.CreateFromFiles(c.Request().Context(), currentUser(c).ID, name, files.Files, files.Exec)
	if err != nil {
		return db.Project{}, nil, projectError(err)
	}
	return p, files.Skipped, nil
}

// apiImportZip: the body is the zip; ?name= names the project.
func (s *Server) apiImportZip(c echo.Context) error {
	data, err := readUpload(c, s.Config.ImportMaxSize, "zip", "STUDIO_IMPORT_MAX_SIZE", "application/zip",
		"application/zip", "application/x-zip-compressed", "application/octet-stream")
	if err != nil {
		return err
	}
	p, skipped, err := s.importZip(c, c.QueryParam("name"), data)
	if err != nil {
		return err
	}
	if skipped == nil {
		skipped = []string{}
	}
	return c.JSON(http.StatusAccepted, map[string]any{"project": s.toProjectJSON(p), "skipped": skipped})
}

// importZipForm is the dashboard's "Import a zip" form; a refusal shows
// the dashboard again with the reason.
func (s *Server) importZipForm(c echo.Context) error {
	limit := s.Config.ImportMaxSize
	name := c.FormValue("name")
	fail := func(status int, msg string) error {
		f := formWith(map[string]string{"import_name": name})
		f.Errors["import"] = msg
		return s.renderDashboard(c, status, f)
	}
	fh, err := c.FormFile("zip")
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "The zip is larger than the limit of "+humanBytes(limit)+".")
		}
		return fail(http.StatusBadRequest, "Choose a .zip file to import.")
	}
	if fh.Size > limit {
		return fail(http.StatusRequestEntityTooLarge, "The zip is larger than the limit of "+humanBytes(limit)+".")
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return err
	}
	p, _, err := s.importZip(c, name, data)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status >= 500 {
			return err
		}
		return fail(e.Status, e.Message)
	}
	return c.Redirect(http.StatusSeeOther, "/projects/"+p.ID.String())
}

// gitImportRequest imports a repository by its address: a public one,
// or with GitHub set one the person's GitHub connection can read.
type gitImportRequest struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Branch string `json:"branch"`
	GitHub bool   `json:"github"`
}

// importGit clones the repository shallowly and makes a project of it.
func (s *Server) importGit(c echo.Context, req gitImportRequest) (db.Project, error) {
	if s.Git == nil {
		return db.Project{}, NewError(http.StatusServiceUnavailable, "git_unavailable", "Importing repositories is not set up on this studio.")
	}
	if strings.TrimSpace(req.Name) == "" {
		req.Name = repoName(req.URL)
	}
	u, err := gitrepo.CheckURL(req.URL)
	if err != nil {
		return db.Project{}, invalidField("url", err)
	}
	if err := gitrepo.CheckBranch(req.Branch); err != nil {
		return db.Project{}, invalidField("branch", err)
	}
	var cred gitrepo.Credentials
	if req.GitHub {
		// The connection's token goes to GitHub's own host only, for this
		// clone only.
		if err := s.requireGitHub(); err != nil {
			return db.Project{}, err
		}
		if !s.GitHub.Serves(u) {
			return db.Project{}, invalidField("url", errors.New("with github, give the clone address of a repository on "+s.GitHub.WebURL()))
		}
		if cred.Token, err = s.GitHub.Token(c.Request().Context(), currentUser(c).ID); err != nil {
			return db.Project{}, githubError(err)
		}
	}
	release, err := s.importTurn(c)
	if err != nil {
		return db.Project{}, err
	}
	defer release()
	dir, err := s.Projects.StagingDir()
	if err != nil {
		return db.Project{}, err
	}
	lim := gitrepo.DefaultLimits
	lim.MaxBytes = s.Config.ImportMaxSize
	if err := s.Git.Clone(c.Request().Context(), req.URL, req.Branch, dir, lim, cred, nil); err != nil {
		var bad *gitrepo.Error
		if errors.As(err, &bad) {
			return db.Project{}, NewError(http.StatusUnprocessableEntity, "clone_failed", capitalize(bad.Message)+".")
		}
		return db.Project{}, err
	}
	// The project stays linked to where it came from, on the branch cloned.
	branch := req.Branch
	if r, err := gitrepo.Open(dir); err == nil {
		if b := r.Branch(); b != "" {
			branch = b
		}
		r.Close()
	}
	ctx := c.Request().Context()
	p, err := s.Projects.CreateFromDir(ctx, currentUser(c).ID, req.Name, dir)
	if err != nil {
		return db.Project{}, projectError(err)
	}
	h, err := s.Projects.Open(ctx, currentUser(c).ID, p.ID)
	if err == nil {
		_, err = h.LinkGit(ctx, projects.GitLink{URL: u.String(), Branch: branch, GitHub: s.servedByGitHub(u.String())})
	}
	if err != nil {
		s.log(c).Warn("link an imported project to its repository", "project", p.ID, "err", err)
	}
	return p, nil
}

// repoName is a project name from a repository's address: its last
// segment without .git.
func repoName(raw string) string {
	raw = strings.TrimSuffix(strings.TrimRight(strings.TrimSpace(raw), "/"), ".git")
	if i := strings.LastIndex(raw, "/"); i >= 0 {
		raw = raw[i+1:]
	}
	if raw == "" {
		return "Imported repository"
	}
	return raw
}

func (s *Server) apiImportGit(c echo.Context) error {
	var req gitImportRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	p, err := s.importGit(c, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"project": s.toProjectJSON(p)})
}

// importGitForm is the dashboard's "Import a repository" form.
func (s *Server) importGitForm(c echo.Context) error {
	req := gitImportRequest{Name: c.FormValue("name"), URL: c.FormValue("url"), Branch: c.FormValue("branch"), GitHub: c.FormValue("github") == "1"}
	p, err := s.importGit(c, req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status >= 500 && e.Status != http.StatusBadGateway {
			return err
		}
		if req.GitHub {
			return s.renderGitHubRepos(c, e.Status, e.Message)
		}
		f := formWith(map[string]string{"git_name": req.Name, "git_url": req.URL, "git_branch": req.Branch})
		f.Errors["git"] = e.Message
		return s.renderDashboard(c, e.Status, f)
	}
	return c.Redirect(http.StatusSeeOther, "/projects/"+p.ID.String())
}

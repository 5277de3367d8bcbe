package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"studio/github"
	"studio/gitrepo"
	"studio/projects"
	"studio/views"
)

// The Git pane and its API: the project's changes with their diffs,
// commits, and pushes and pulls to the repository it is linked to. The
// link's address is kept by studio, never read from the project's
// .git/config, and the owner's GitHub token is sent only to GitHub's own
// host.

// historyLength is how many commits the pane and the API list.
const historyLength = 30

// gitError turns a refused git operation into its answer.
func gitError(err error) error {
	var bad *gitrepo.Error
	switch {
	case errors.Is(err, gitrepo.ErrNothingToCommit):
		return NewError(http.StatusConflict, "nothing_to_commit", "There are no changes to commit.")
	case errors.Is(err, gitrepo.ErrNoRepository), errors.Is(err, projects.ErrNoCommits):
		return NewError(http.StatusConflict, "no_commits", "The project has no commits yet; commit first.")
	case errors.Is(err, projects.ErrNotLinked):
		return NewError(http.StatusConflict, "git_not_linked", "Link the project to a repository first.")
	case errors.As(err, &bad) && bad.Conflict:
		return NewError(http.StatusConflict, "git_refused", capitalize(bad.Message)+".")
	case errors.As(err, &bad):
		return NewError(http.StatusBadGateway, "git_failed", capitalize(bad.Message)+".")
	}
	return githubError(err)
}

// gitLimits bound one exchange with a remote repository.
func (s *Server) gitLimits() gitrepo.Limits {
	lim := gitrepo.DefaultLimits
	lim.MaxBytes = s.Config.ImportMaxSize
	return lim
}

// gitCredentials are what a push or pull to link sends: the owner's
// GitHub token when the link goes through GitHub and they have connected
// it, nothing otherwise.
func (s *Server) gitCredentials(c echo.Context, link *projects.GitLink) (gitrepo.Credentials, error) {
	if link == nil || !link.GitHub {
		return gitrepo.Credentials{}, nil
	}
	if err := s.requireGitHub(); err != nil {
		return gitrepo.Credentials{}, err
	}
	u, err := url.Parse(link.URL)
	if err != nil || !s.GitHub.Serves(u) {
		return gitrepo.Credentials{}, NewError(http.StatusConflict, "git_link_moved", "The linked repository is not on "+s.GitHub.WebURL()+" any more; link it again.")
	}
	token, err := s.GitHub.Token(c.Request().Context(), currentUser(c).ID)
	if errors.Is(err, github.ErrNotConnected) {
		// A public repository can still be pulled; a push is refused by
		// GitHub, and the refusal says to connect.
		return gitrepo.Credentials{}, nil
	}
	if err != nil {
		return gitrepo.Credentials{}, githubError(err)
	}
	return gitrepo.Credentials{Token: token}, nil
}

// servedByGitHub says whether a link to raw goes through the person's
// GitHub connection.
func (s *Server) servedByGitHub(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && s.GitHub != nil && s.GitHub.Serves(u)
}

// gitSignature is who a commit names: the signed-in person.
func gitSignature(c echo.Context) gitrepo.Signature {
	u := currentUser(c)
	name := strings.TrimSpace(u.Name)
	if name == "" {
		name, _, _ = strings.Cut(u.Email, "@")
	}
	return gitrepo.Signature{Name: name, Email: u.Email}
}

// The operations, shared by the API and the pane.

type gitLinkRequest struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
}

func (s *Server) linkGit(c echo.Context, h *projects.Handle, req gitLinkRequest) (projects.GitLink, error) {
	link, err := h.LinkGit(c.Request().Context(), projects.GitLink{URL: req.URL, Branch: strings.TrimSpace(req.Branch), GitHub: s.servedByGitHub(strings.TrimSpace(req.URL))})
	var bad *gitrepo.Error
	if errors.As(err, &bad) {
		field := "url"
		if strings.Contains(bad.Message, "branch") {
			field = "branch"
		}
		return link, invalidField(field, err)
	}
	return link, err
}

type gitRepositoryRequest struct {
	Name        string `json:"name"`
	Private     *bool  `json:"private"`
	Description string `json:"description"`
}

// createRepository makes a repository on the person's GitHub account and
// links the project to it.
func (s *Server) createRepository(c echo.Context, h *projects.Handle, req gitRepositoryRequest) (github.Repo, projects.GitLink, error) {
	if err := s.requireGitHub(); err != nil {
		return github.Repo{}, projects.GitLink{}, err
	}
	private := req.Private == nil || *req.Private
	repo, err := s.GitHub.CreateRepo(c.Request().Context(), currentUser(c).ID, strings.TrimSpace(req.Name), private, req.Description)
	if err != nil {
		return github.Repo{}, projects.GitLink{}, githubError(err)
	}
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	link, err := h.LinkGit(c.Request().Context(), projects.GitLink{URL: repo.CloneURL, Branch: branch, GitHub: true})
	return repo, link, err
}

func (s *Server) pushGit(c echo.Context, h *projects.Handle, branch string) (projects.GitLink, bool, error) {
	branch = strings.TrimSpace(branch)
	if err := gitrepo.CheckBranch(branch); err != nil {
		return projects.GitLink{}, false, invalidField("branch", err)
	}
	link, err := h.GitLink(c.Request().Context())
	if err != nil {
		return projects.GitLink{}, false, err
	}
	cred, err := s.gitCredentials(c, link)
	if err != nil {
		return projects.GitLink{}, false, err
	}
	pushed, err := h.GitPush(c.Request().Context(), s.Git, branch, s.gitLimits(), cred)
	if errors.Is(err, gitrepo.ErrUpToDate) {
		return pushed, true, nil
	}
	return pushed, false, gitError(err)
}

func (s *Server) pullGit(c echo.Context, h *projects.Handle) (gitrepo.PullResult, bool, error) {
	link, err := h.GitLink(c.Request().Context())
	if err != nil {
		return gitrepo.PullResult{}, false, err
	}
	cred, err := s.gitCredentials(c, link)
	if err != nil {
		return gitrepo.PullResult{}, false, err
	}
	res, err := h.GitPull(c.Request().Context(), s.Git, s.gitLimits(), cred)
	if errors.Is(err, gitrepo.ErrUpToDate) {
		return res, true, nil
	}
	if err == nil && isHTMX(c) {
		// The file tree and the editor fetch what the pull changed.
		c.Response().Header().Set("HX-Trigger", "studio:files-changed")
	}
	return res, false, gitError(err)
}

// onProject opens the signed-in person's project named by :id for f;
// anyone else's is not found.
func (s *Server) onProject(f func(echo.Context, *projects.Handle) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		h, err := s.openProject(c)
		if err != nil {
			return err
		}
		return f(c, h)
	}
}

// The API.

func (s *Server) apiGitState(c echo.Context, h *projects.Handle) error {
	st, err := h.GitState(c.Request().Context(), historyLength)
	if err != nil {
		return gitError(err)
	}
	if st.Log == nil {
		st.Log = []gitrepo.Commit{}
	}
	if st.Status.Changes == nil {
		st.Status.Changes = []gitrepo.Change{}
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) apiGitDiff(c echo.Context, h *projects.Handle) error {
	diff, err := h.GitDiff(c.Request().Context(), diffPaths(c)...)
	if err != nil {
		return gitError(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"diff": diff})
}

// diffPaths are the ?path= of a diff request; none means every change.
func diffPaths(c echo.Context) []string {
	var out []string
	for _, p := range c.QueryParams()["path"] {
		if clean, err := projects.CleanPath(p); err == nil {
			out = append(out, clean)
		}
	}
	return out
}

func (s *Server) apiGitCommit(c echo.Context, h *projects.Handle) error {
	var req struct {
		Message string `json:"message"`
	}
	if err := decodeJSON(c, 64<<10, &req); err != nil {
		return err
	}
	commit, err := s.commitGit(c, h, req.Message)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"commit": commit})
}

func (s *Server) commitGit(c echo.Context, h *projects.Handle, message string) (gitrepo.Commit, error) {
	if _, err := gitrepo.CheckMessage(message); err != nil {
		return gitrepo.Commit{}, invalidField("message", err)
	}
	commit, err := h.GitCommit(c.Request().Context(), message, gitSignature(c))
	return commit, gitError(err)
}

func (s *Server) apiGitLink(c echo.Context, h *projects.Handle) error {
	var req gitLinkRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	link, err := s.linkGit(c, h, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"link": link})
}

func (s *Server) apiGitUnlink(c echo.Context, h *projects.Handle) error {
	if err := h.UnlinkGit(c.Request().Context()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiGitRepository(c echo.Context, h *projects.Handle) error {
	var req gitRepositoryRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	repo, link, err := s.createRepository(c, h, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"repository": repo, "link": link})
}

func (s *Server) apiGitPush(c echo.Context, h *projects.Handle) error {
	var req struct {
		Branch string `json:"branch"`
	}
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, 16<<10, &req); err != nil {
			return err
		}
	}
	link, upToDate, err := s.pushGit(c, h, req.Branch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"url": link.URL, "branch": link.Branch, "up_to_date": upToDate})
}

func (s *Server) apiGitPull(c echo.Context, h *projects.Handle) error {
	res, upToDate, err := s.pullGit(c, h)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"from": res.From, "to": res.To, "up_to_date": upToDate})
}

// The pane.

// gitPanel answers with the pane: done says what worked; a refusal err
// comes back in the pane with what was typed.
func (s *Server) gitPanel(c echo.Context, h *projects.Handle, done string, typed map[string]string, err error) error {
	status := http.StatusOK
	f := formWith(typed)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Status >= http.StatusInternalServerError && e.Status != http.StatusBadGateway {
			return err
		}
		status, f.Error = e.Status, e.Message
		if e.Field != "" {
			f.Error = capitalize(trimField(e)) + "."
		}
		c.Response().Header().Set("HX-Retarget", "#git")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
	}
	st, serr := h.GitState(c.Request().Context(), historyLength)
	if serr != nil {
		if gerr := gitError(serr); gerr != serr {
			var e *Error
			errors.As(gerr, &e)
			status, f.Error = e.Status, e.Message
		} else {
			return serr
		}
	}
	d := views.GitPanelData{ProjectID: h.ID().String(), CSRF: s.csrfToken(c), State: st, Form: f, Done: done}
	if s.GitHub != nil {
		d.GitHubURL = s.GitHub.WebURL()
		_, err := s.GitHub.Status(c.Request().Context(), currentUser(c).ID)
		d.GitHub = err == nil
	}
	if !isHTMX(c) {
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/projects/"+h.ID().String())
		}
	}
	return render(c, status, views.GitPanel(d))
}

func (s *Server) gitPane(c echo.Context, h *projects.Handle) error {
	return s.gitPanel(c, h, "", nil, nil)
}

func (s *Server) gitDiffPane(c echo.Context, h *projects.Handle) error {
	diff, err := h.GitDiff(c.Request().Context(), diffPaths(c)...)
	if err != nil {
		return gitError(err)
	}
	return render(c, http.StatusOK, views.GitDiff(diff))
}

func (s *Server) gitCommitForm(c echo.Context, h *projects.Handle) error {
	message := c.FormValue("message")
	commit, err := s.commitGit(c, h, message)
	if err != nil {
		return s.gitPanel(c, h, "", map[string]string{"message": message}, err)
	}
	return s.gitPanel(c, h, "Committed "+commit.Hash[:7]+": "+firstLine(commit.Message), nil, nil)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (s *Server) gitPushForm(c echo.Context, h *projects.Handle) error {
	branch := c.FormValue("branch")
	link, upToDate, err := s.pushGit(c, h, branch)
	switch {
	case err != nil:
		return s.gitPanel(c, h, "", map[string]string{"branch": branch}, err)
	case upToDate:
		return s.gitPanel(c, h, "The branch "+link.Branch+" already has every commit.", map[string]string{"branch": branch}, nil)
	}
	return s.gitPanel(c, h, "Pushed to "+link.Branch+".", map[string]string{"branch": branch}, nil)
}

func (s *Server) gitPullForm(c echo.Context, h *projects.Handle) error {
	res, upToDate, err := s.pullGit(c, h)
	switch {
	case err != nil:
		return s.gitPanel(c, h, "", nil, err)
	case upToDate:
		return s.gitPanel(c, h, "Already up to date.", nil, nil)
	}
	return s.gitPanel(c, h, "Pulled: now at "+res.To[:7]+". A checkpoint taken before the pull can undo it.", nil, nil)
}

func (s *Server) gitLinkForm(c echo.Context, h *projects.Handle) error {
	req := gitLinkRequest{URL: c.FormValue("url"), Branch: c.FormValue("branch")}
	link, err := s.linkGit(c, h, req)
	if err != nil {
		return s.gitPanel(c, h, "", map[string]string{"url": req.URL, "branch": req.Branch}, err)
	}
	return s.gitPanel(c, h, "Linked to "+link.URL+".", nil, nil)
}

func (s *Server) gitUnlinkForm(c echo.Context, h *projects.Handle) error {
	if err := h.UnlinkGit(c.Request().Context()); err != nil {
		return err
	}
	return s.gitPanel(c, h, "Unlinked. The project's commits stay.", nil, nil)
}

func (s *Server) gitRepositoryForm(c echo.Context, h *projects.Handle) error {
	private := c.FormValue("private") == "1"
	req := gitRepositoryRequest{Name: c.FormValue("name"), Private: &private}
	repo, _, err := s.createRepository(c, h, req)
	if err != nil {
		p := "0"
		if private {
			p = "1"
		}
		return s.gitPanel(c, h, "", map[string]string{"name": req.Name, "private": p}, err)
	}
	return s.gitPanel(c, h, "Created "+repo.FullName+" and linked it. Commit, then push.", nil, nil)
}

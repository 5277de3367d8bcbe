package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"studio/github"
	"studio/views"
)

// githubError turns the GitHub service's refusals into answers.
func githubError(err error) error {
	var failure *github.Failure
	var invalid *github.Invalid
	switch {
	case errors.Is(err, github.ErrNotConnected):
		return NewError(http.StatusConflict, "github_not_connected", "Connect GitHub first, on the Settings page.")
	case errors.Is(err, github.ErrReconnect):
		return NewError(http.StatusConflict, "github_reconnect", capitalize(err.Error())+".")
	case errors.Is(err, github.ErrTokenRefused), errors.Is(err, github.ErrTokenRequired):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "github_token_refused", Field: "token", Message: capitalize(err.Error()) + "."}
	case errors.Is(err, github.ErrTokenGarbled):
		return &Error{Status: http.StatusBadRequest, Code: "github_token_garbled", Field: "token", Message: capitalize(err.Error()) + "."}
	case errors.As(err, &invalid):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: invalid.Field, Message: capitalize(invalid.Message) + "."}
	case errors.Is(err, github.ErrNoOAuth):
		return NewError(http.StatusNotFound, "github_oauth_unavailable", capitalize(err.Error())+".")
	case errors.Is(err, github.ErrState), errors.Is(err, github.ErrDeclined):
		return NewError(http.StatusBadRequest, "github_state", capitalize(err.Error())+".")
	case errors.As(err, &failure) && failure.Kind == github.NotFound:
		return NewError(http.StatusNotFound, "github_not_found", capitalize(failure.Message)+".")
	case errors.As(err, &failure) && failure.Kind == github.Refused:
		return NewError(http.StatusUnprocessableEntity, "github_refused", capitalize(failure.Message)+".")
	case errors.As(err, &failure) && failure.Kind == github.Limited:
		return &Error{Status: http.StatusTooManyRequests, Code: "github_limited", Message: capitalize(failure.Message) + ".", RetryAfter: failure.RetryAfter}
	case errors.As(err, &failure):
		return NewError(http.StatusBadGateway, "github_unavailable", capitalize(failure.Message)+".")
	}
	return err
}

// githubMessage is what a page says about a refusal; false for an error
// the page cannot show (a 500).
func githubMessage(err error) (int, string, bool) {
	var e *Error
	if !errors.As(githubError(err), &e) {
		return 0, "", false
	}
	return e.Status, e.Message, true
}

func (s *Server) requireGitHub() error {
	if s.GitHub == nil {
		return NewError(http.StatusServiceUnavailable, "github_unavailable", "GitHub is not set up on this studio.")
	}
	return nil
}

// githubSettings is the settings page's view of the connection.
func (s *Server) githubSettings(c echo.Context) (views.GitHubSettings, error) {
	if s.GitHub == nil {
		return views.GitHubSettings{}, nil
	}
	gh := views.GitHubSettings{Enabled: true, OAuth: s.GitHub.OAuth(), WebURL: s.GitHub.WebURL()}
	conn, err := s.GitHub.Status(c.Request().Context(), currentUser(c).ID)
	switch {
	case err == nil:
		gh.Connected, gh.Login, gh.Method, gh.ConnectedAt = true, conn.Login, conn.Method, conn.ConnectedAt
	case !errors.Is(err, github.ErrNotConnected):
		return gh, err
	}
	return gh, nil
}

type githubConnectionJSON struct {
	Connected bool `json:"connected"`
	*github.Connection
}

// apiGitHubConnection: GET /api/github/connection.
func (s *Server) apiGitHubConnection(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	conn, err := s.GitHub.Status(c.Request().Context(), currentUser(c).ID)
	if errors.Is(err, github.ErrNotConnected) {
		return c.JSON(http.StatusOK, githubConnectionJSON{})
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, githubConnectionJSON{Connected: true, Connection: &conn})
}

// apiGitHubToken: PUT /api/github/token {token} connects with a personal
// access token GitHub accepts.
func (s *Server) apiGitHubToken(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	conn, err := s.GitHub.ConnectToken(c.Request().Context(), currentUser(c).ID, req.Token)
	if err != nil {
		return githubError(err)
	}
	s.Auth.Audit(c.Request().Context(), &currentUser(c).ID, "github.connect", conn.Login, meta(c), nil)
	return c.JSON(http.StatusOK, githubConnectionJSON{Connected: true, Connection: &conn})
}

// apiGitHubDisconnect: DELETE /api/github/connection.
func (s *Server) apiGitHubDisconnect(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	err := s.GitHub.Disconnect(c.Request().Context(), currentUser(c).ID)
	if errors.Is(err, github.ErrNotConnected) {
		return NewError(http.StatusNotFound, "not_found", "GitHub is not connected.")
	} else if err != nil {
		return err
	}
	s.Auth.Audit(c.Request().Context(), &currentUser(c).ID, "github.disconnect", "", meta(c), nil)
	return c.NoContent(http.StatusNoContent)
}

// pageParam reads ?page=, 1 when absent or not a page number.
func pageParam(c echo.Context) int {
	n, err := strconv.Atoi(c.QueryParam("page"))
	if err != nil || n < 1 || n > 10_000 {
		return 1
	}
	return n
}

// apiGitHubRepos: GET /api/github/repos?q=&page=.
func (s *Server) apiGitHubRepos(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	page, err := s.GitHub.Repos(c.Request().Context(), currentUser(c).ID, c.QueryParam("q"), pageParam(c))
	if err != nil {
		return githubError(err)
	}
	return c.JSON(http.StatusOK, page)
}

// repoBranches are the branches of the repository named in the path,
// /…/{owner}/{repo}/branches.
func (s *Server) repoBranches(c echo.Context) ([]string, error) {
	if err := s.requireGitHub(); err != nil {
		return nil, err
	}
	branches, err := s.GitHub.Branches(c.Request().Context(), currentUser(c).ID, c.Param("owner")+"/"+c.Param("repo"))
	if err != nil {
		return nil, githubError(err)
	}
	return branches, nil
}

// apiGitHubBranches: GET /api/github/repos/{owner}/{repo}/branches.
func (s *Server) apiGitHubBranches(c echo.Context) error {
	branches, err := s.repoBranches(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]string{"branches": branches})
}

// githubBranchOptions: GET /github/repos/{owner}/{repo}/branches is the
// import form's branch picker, read when it is first used.
func (s *Server) githubBranchOptions(c echo.Context) error {
	branches, err := s.repoBranches(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.GitHubBranchOptions(branches))
}

// githubTokenForm: POST /settings/github/token.
func (s *Server) githubTokenForm(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	conn, err := s.GitHub.ConnectToken(c.Request().Context(), currentUser(c).ID, c.FormValue("token"))
	return s.githubConnected(c, conn, err)
}

// githubDisconnectForm: POST /settings/github/disconnect.
func (s *Server) githubDisconnectForm(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	err := s.GitHub.Disconnect(c.Request().Context(), currentUser(c).ID)
	if err != nil && !errors.Is(err, github.ErrNotConnected) {
		return err
	}
	if err == nil {
		s.Auth.Audit(c.Request().Context(), &currentUser(c).ID, "github.disconnect", "", meta(c), nil)
	}
	return c.Redirect(http.StatusSeeOther, "/settings#github")
}

// githubConnect: POST /settings/github/connect sends the browser to
// GitHub's authorization page with a state bound to this session.
func (s *Server) githubConnect(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	to, err := s.GitHub.AuthorizeURL(c.Request().Context(), currentSession(c).ID)
	if err != nil {
		return githubError(err)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// githubCallback: GET /settings/github/callback?code=&state= is where
// GitHub sends the browser back.
func (s *Server) githubCallback(c echo.Context) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	conn, err := s.GitHub.Finish(c.Request().Context(), currentSession(c).ID, currentUser(c).ID, c.QueryParam("state"), c.QueryParam("code"))
	return s.githubConnected(c, conn, err)
}

// githubConnected ends either way of connecting GitHub: audited and back
// to the settings, or the settings again with why not.
func (s *Server) githubConnected(c echo.Context, conn github.Connection, err error) error {
	if err != nil {
		status, msg, ok := githubMessage(err)
		if !ok || status >= 500 && status != http.StatusBadGateway {
			return err
		}
		return s.renderSettingsWith(c, status, views.Form{}, msg, "")
	}
	s.Auth.Audit(c.Request().Context(), &currentUser(c).ID, "github.connect", conn.Login, meta(c), nil)
	return c.Redirect(http.StatusSeeOther, "/settings#github")
}

// githubReposPage: GET /github/repos?q=&page= lists repositories to
// import.
func (s *Server) githubReposPage(c echo.Context) error {
	return s.renderGitHubRepos(c, http.StatusOK, "")
}

func (s *Server) renderGitHubRepos(c echo.Context, status int, message string) error {
	if err := s.requireGitHub(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	d := views.GitHubRepos{Query: strings.TrimSpace(c.QueryParam("q")), Page: pageParam(c), Error: message}
	conn, err := s.GitHub.Status(ctx, currentUser(c).ID)
	if errors.Is(err, github.ErrNotConnected) {
		return c.Redirect(http.StatusSeeOther, "/settings#github")
	} else if err != nil {
		return err
	}
	d.Login = conn.Login
	page, err := s.GitHub.Repos(ctx, currentUser(c).ID, d.Query, d.Page)
	if err != nil {
		st, msg, ok := githubMessage(err)
		if !ok || st >= 500 && st != http.StatusBadGateway {
			return err
		}
		status, d.Error = st, msg
	}
	d.NextPage = page.NextPage
	for _, r := range page.Repos {
		d.Repos = append(d.Repos, views.GitHubRepo{FullName: r.FullName, CloneURL: r.CloneURL, DefaultBranch: r.DefaultBranch, Description: r.Description, Private: r.Private})
	}
	return render(c, status, views.GitHubReposPage(s.page(c, "Import from GitHub"), d))
}

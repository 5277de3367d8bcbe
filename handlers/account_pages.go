package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/auth"
	"studio/db"
	"studio/projects"
	"studio/views"
)

func (s *Server) profilePage(c echo.Context) error {
	u := currentUser(c)
	name := views.Form{Values: map[string]string{"name": u.Name}}
	return render(c, http.StatusOK, views.ProfilePage(s.page(c, "Profile"), name, views.Form{}))
}

func (s *Server) updateName(c echo.Context) error {
	f := views.Form{Values: map[string]string{"name": strings.TrimSpace(c.FormValue("name"))}, Errors: map[string]string{}}
	if len([]rune(f.Values["name"])) > 100 {
		f.Errors["name"] = "the name must be at most 100 characters"
		return s.profileFormFailed(c, f, views.Form{}, true)
	}
	u, err := s.Auth.UpdateName(c.Request().Context(), currentUser(c).ID, f.Values["name"])
	if err != nil {
		return err
	}
	c.Set(ctxUser, &u)
	f.Values["saved"] = "yes"
	if isHTMX(c) {
		return render(c, http.StatusOK, views.NameForm(s.page(c, "Profile"), f))
	}
	return c.Redirect(http.StatusSeeOther, "/profile")
}

func (s *Server) changePassword(c echo.Context) error {
	f := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	next := c.FormValue("password")
	if next != c.FormValue("confirm") {
		f.Errors["confirm"] = "the two new passwords differ"
		return s.profileFormFailed(c, views.Form{}, f, false)
	}
	err := s.Auth.ChangePassword(c.Request().Context(), currentUser(c).ID, currentSession(c).ID, c.FormValue("current_password"), next, meta(c))
	switch {
	case errors.Is(err, auth.ErrWrongPassword):
		f.Errors["current_password"] = err.Error()
		return s.profileFormFailed(c, views.Form{}, f, false)
	case errors.Is(err, auth.ErrPasswordShort), errors.Is(err, auth.ErrPasswordLong):
		f.Errors["password"] = err.Error()
		return s.profileFormFailed(c, views.Form{}, f, false)
	case err != nil:
		return err
	}
	f.Values["saved"] = "yes"
	if isHTMX(c) {
		return render(c, http.StatusOK, views.PasswordForm(s.page(c, "Profile"), f))
	}
	return c.Redirect(http.StatusSeeOther, "/profile")
}

func (s *Server) profileFormFailed(c echo.Context, name, password views.Form, nameForm bool) error {
	p := s.page(c, "Profile")
	if isHTMX(c) {
		if nameForm {
			return render(c, http.StatusOK, views.NameForm(p, name))
		}
		return render(c, http.StatusOK, views.PasswordForm(p, password))
	}
	if name.Values == nil {
		name.Values = map[string]string{"name": currentUser(c).Name}
	}
	return render(c, http.StatusUnprocessableEntity, views.ProfilePage(p, name, password))
}

func (s *Server) settingsPage(c echo.Context) error {
	f := views.Form{}
	if p := c.QueryParam("key_removed"); slices.Contains(auth.Providers, p) {
		f.Values = keyRemovedNotice(p)
	}
	return s.renderSettings(c, http.StatusOK, f)
}

// keyRemovedNotice tells a person, on the provider's row, that saving a new
// address dropped the key they had stored for the old one.
func keyRemovedNotice(provider string) map[string]string {
	return map[string]string{"provider": provider, "notice": projects.Sentence(auth.KeyRemovedMessage)}
}

func (s *Server) renderSettings(c echo.Context, status int, f views.Form) error {
	return s.renderSettingsWith(c, status, f, "", "")
}

// renderSettingsWith shows the settings page with a message about the
// GitHub connection: an error or a notice.
func (s *Server) renderSettingsWith(c echo.Context, status int, f views.Form, githubError, githubNotice string) error {
	list, err := s.Auth.ListProviders(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	p := s.page(c, "Settings")
	if isHTMX(c) {
		for _, ps := range list {
			if ps.Provider == c.Param("provider") {
				return render(c, http.StatusOK, views.ProviderRow(p, ps, f))
			}
		}
	}
	gh, err := s.githubSettings(c)
	if err != nil {
		return err
	}
	gh.Error, gh.Notice = githubError, githubNotice
	return render(c, status, views.SettingsPage(p, list, gh, f))
}

func (s *Server) saveProvider(c echo.Context) error {
	provider := c.Param("provider")
	var apiKey, baseURL *string
	if v := c.FormValue("api_key"); v != "" {
		apiKey = &v
	}
	if form, _ := c.FormParams(); form.Has("base_url") {
		v := form.Get("base_url")
		baseURL = &v
	}
	setting, err := s.Auth.SetProvider(c.Request().Context(), currentUser(c).ID, provider, apiKey, baseURL)
	if errors.Is(err, auth.ErrUnknownProvider) {
		return providerError(err)
	}
	if err != nil {
		var e *Error
		if !errors.As(providerError(err), &e) {
			return err
		}
		f := views.Form{Values: map[string]string{"provider": provider}, Error: trimField(e)}
		if baseURL != nil {
			f.Values["base_url"] = *baseURL // shown again, to be corrected
		}
		return s.renderSettings(c, http.StatusUnprocessableEntity, f)
	}
	switch {
	case isHTMX(c) && setting.KeyRemoved:
		return s.renderSettings(c, http.StatusOK, views.Form{Values: keyRemovedNotice(provider)})
	case isHTMX(c):
		return s.renderSettings(c, http.StatusOK, views.Form{})
	case setting.KeyRemoved:
		return c.Redirect(http.StatusSeeOther, "/settings?key_removed="+url.QueryEscape(provider))
	}
	return c.Redirect(http.StatusSeeOther, "/settings")
}

func (s *Server) deleteProvider(c echo.Context) error {
	err := s.Auth.DeleteProvider(c.Request().Context(), currentUser(c).ID, c.Param("provider"))
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		return providerError(err)
	}
	if isHTMX(c) {
		return s.renderSettings(c, http.StatusOK, views.Form{})
	}
	return c.Redirect(http.StatusSeeOther, "/settings")
}

func (s *Server) adminPage(c echo.Context) error {
	return s.renderAdmin(c, http.StatusOK, "", "")
}

func (s *Server) renderAdmin(c echo.Context, status int, inviteURL, message string) error {
	ctx := c.Request().Context()
	query := strings.TrimSpace(c.QueryParam("q"))
	users, err := s.Auth.ListUsers(ctx, query, 200)
	if err != nil {
		return err
	}
	audit, err := s.Auth.ListAudit(ctx, 100)
	if err != nil {
		return err
	}
	projectRows, err := s.Projects.ListAll(ctx, 200)
	if err != nil {
		return err
	}
	pool, err := s.Projects.PoolStatus(ctx)
	if err != nil {
		return err
	}
	reports, err := s.Agents.OpenReports(ctx, 200)
	if err != nil {
		return err
	}
	hidden, err := s.Agents.HiddenItems(ctx, 200)
	if err != nil {
		return err
	}
	d := views.AdminData{Query: query, Users: views.NewUserViews(users), Projects: s.withUsage(ctx, projectRows), Audit: audit, InviteURL: inviteURL, Message: message, Pool: poolRows(pool),
		Reports: reports, Hidden: hidden}
	return render(c, status, views.AdminPage(s.page(c, "Administration"), d))
}

// adminUserAction serves enable, disable and role changes.
func (s *Server) adminUserAction(c echo.Context) error {
	target, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return NewError(http.StatusNotFound, "not_found", "There is no such account.")
	}
	actor := currentUser(c).ID
	ctx := c.Request().Context()
	switch c.Param("action") {
	case "disable":
		_, err = s.Auth.SetDisabled(ctx, actor, target, true, meta(c))
	case "enable":
		_, err = s.Auth.SetDisabled(ctx, actor, target, false, meta(c))
	case "role":
		role := db.UserRole(c.FormValue("role"))
		if !role.Valid() {
			return NewError(http.StatusBadRequest, "bad_role", "The role must be admin or user.")
		}
		_, err = s.Auth.SetRole(ctx, actor, target, role, meta(c))
	default:
		return echo.ErrNotFound
	}
	if errors.Is(err, auth.ErrLastAdmin) {
		return s.renderAdmin(c, http.StatusConflict, "", "The last administrator cannot be demoted or disabled.")
	}
	if err != nil {
		return accountError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}

// withUsage asks the engine what each running project uses, all at once,
// for at most two seconds.
func (s *Server) withUsage(ctx context.Context, rows []db.ListAllProjectsRow) []views.AdminProject {
	out := make([]views.AdminProject, len(rows))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range rows {
		out[i].Project = r
		if r.Status != db.ProjectStatusActive || s.Usage == nil {
			continue
		}
		wg.Go(func() {
			u, err := s.Usage.Usage(ctx, r.ID.String())
			if err != nil {
				return
			}
			out[i].Usage = fmt.Sprintf("%d MiB of %d MiB · %.0f%% CPU", u.MemoryBytes>>20, u.MemoryLimit>>20, u.CPUPercent)
		})
	}
	wg.Wait()
	return out
}

// poolRows is the warm pool as the admin page shows it.
func poolRows(pool []projects.PoolTemplate) []views.PoolRow {
	rows := make([]views.PoolRow, len(pool))
	for i, pt := range pool {
		rows[i] = views.PoolRow{Template: pt.Template, Size: pt.Size, Ready: pt.Ready, Warming: pt.Warming, Hits: pt.Hits, Misses: pt.Misses}
		if pt.IdleMemory > 0 {
			rows[i].IdleMemory = fmt.Sprintf("%d MiB", pt.IdleMemory>>20)
		}
	}
	return rows
}

// adminProjectAction stops or deletes anyone's project.
func (s *Server) adminProjectAction(c echo.Context) error {
	id, err := projectID(c)
	if err != nil {
		return err
	}
	action := c.Param("action")
	if action != "stop" && action != "delete" {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	h, err := s.Projects.OpenAsAdmin(ctx, projects.Admin{ID: currentUser(c).ID, IP: meta(c).IP}, id)
	if err != nil {
		return projectError(err)
	}
	if action == "stop" {
		_, err = h.Stop(ctx)
	} else {
		err = h.Delete(ctx)
	}
	if err != nil {
		return projectError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}

func (s *Server) createInvite(c echo.Context) error {
	token, _, err := s.Auth.CreateInvite(c.Request().Context(), currentUser(c).ID, meta(c))
	if err != nil {
		return err
	}
	return s.renderAdmin(c, http.StatusOK, s.Config.PublicURL()+"/signup?invite="+token, "")
}

package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/views"
)

// marketItem is an item as the pages show it.
func (s *Server) marketItem(c echo.Context, it agents.Item) views.MarketItem {
	me := currentUser(c).ID
	m := views.MarketItem{ID: it.ID, Kind: it.Kind, Name: it.Name, Description: it.Description, Icon: it.Icon, Tags: it.Tags,
		Visibility: it.Visibility, BuiltIn: it.BuiltIn(), Mine: it.Mine(me), LatestVersion: it.LatestVersion,
		Installs: it.InstallCount, RatingAverage: average(it.RatingSum, it.RatingCount), RatingCount: it.RatingCount, CreatedAt: it.CreatedAt,
		Hidden: it.Hidden(), HiddenReason: it.HiddenReason}
	if it.InstalledVersion.Valid {
		m.InstalledVersion = it.InstalledVersion.Int32
	}
	if it.MyRating.Valid {
		m.MyRating = it.MyRating.Int16
	}
	return m
}

func (s *Server) canCreate() bool { return s.Agents.MarketplaceMode() != agents.MarketplaceOff }

// marketplacePage searches the catalogue; the search form's htmx request
// gets only the results. The form sends its empty fields too: a browser is
// sent to the address without them, and htmx pushes that address instead.
func (s *Server) marketplacePage(c echo.Context) error {
	if clean, ok := withoutEmptyParams(c.Request().URL); !ok {
		if !isHTMX(c) {
			return c.Redirect(http.StatusSeeOther, clean)
		}
		c.Response().Header().Set("HX-Push-Url", clean)
	}
	q, err := itemQuery(c)
	if err != nil {
		return err
	}
	rows, err := s.Agents.SearchItems(c.Request().Context(), currentUser(c).ID, q)
	if err != nil {
		return marketplaceError(err)
	}
	d := views.MarketData{Search: views.MarketSearch{Query: q.Query, Kind: q.Kind, Tag: q.Tag, Sort: q.Sort}, CanCreate: s.canCreate()}
	for _, r := range rows {
		d.Items = append(d.Items, s.marketItem(c, listedItem(r, nil)))
	}
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "market-results" {
		return render(c, http.StatusOK, views.MarketResults(d.Items))
	}
	d.Remote = s.remoteCatalogues(c)
	return render(c, http.StatusOK, views.MarketplacePage(s.page(c, "Marketplace"), d))
}

// withoutEmptyParams is the address u without its empty query parameters,
// and whether it had none.
func withoutEmptyParams(u *url.URL) (string, bool) {
	q, clean := u.Query(), true
	for k, vs := range q {
		kept := slices.DeleteFunc(slices.Clone(vs), func(v string) bool { return v == "" })
		if len(kept) < len(vs) {
			clean = false
		}
		if len(kept) == 0 {
			delete(q, k)
		} else {
			q[k] = kept
		}
	}
	if len(q) == 0 {
		return u.Path, clean
	}
	return u.Path + "?" + q.Encode(), clean
}

func (s *Server) itemPage(c echo.Context) error {
	ctx, user := c.Request().Context(), currentUser(c).ID
	it, err := s.Agents.Item(ctx, user, c.Param("id"))
	if err != nil {
		return marketplaceError(err)
	}
	d := views.ItemData{Item: s.marketItem(c, it), Versions: it.Versions, CanCreate: s.canCreate(), Reported: c.QueryParam("reported") == "1"}
	if it.Kind == "template" {
		d.Template = s.templateView(it)
	}
	if n, err := strconv.Atoi(c.QueryParam("saved")); err == nil && n >= 0 && it.Mine(user) {
		d.Saved, d.Skipped = true, n
	}
	if d.Item.Usable() {
		if d.Try, err = s.tryProjects(ctx, user); err != nil {
			return err
		}
	}
	return render(c, http.StatusOK, views.ItemPage(s.page(c, it.Name), d))
}

// itemAction carries out a button of the item page and goes back to the
// page that fits: the item, the fork's editor, or the library.
func (s *Server) itemAction(c echo.Context) error {
	ctx, user, id := c.Request().Context(), currentUser(c).ID, c.Param("id")
	back := "/marketplace/items/" + id
	var err error
	switch c.Param("action") {
	case "install":
		_, err = s.Agents.Install(ctx, user, id)
	case "uninstall":
		var it agents.Item
		if it, err = s.Agents.Uninstall(ctx, user, id); it.ID == "" || (it.Hidden() && !it.Mine(user)) {
			back = "/marketplace/library" // its page is gone for the user
		}
	case "rate":
		stars, convErr := strconv.Atoi(c.FormValue("stars"))
		if convErr != nil {
			stars = 0
		}
		_, err = s.Agents.Rate(ctx, user, id, stars)
	case "fork":
		var fork agents.Item
		fork, err = s.forkItem(ctx, user, id)
		back = "/marketplace/agents/" + fork.ID + "/edit"
		if fork.Kind == "template" {
			back = "/marketplace/items/" + fork.ID
		}
	case "delete":
		err = s.Agents.DeleteItem(ctx, user, id)
		back = "/marketplace/library"
	case "use":
		return s.useTemplate(c)
	case "report":
		_, err = s.Agents.Report(ctx, user, id, c.FormValue("reason"))
		back += "?reported=1"
	default:
		return echo.ErrNotFound
	}
	if err != nil {
		return templateError(err)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (s *Server) libraryPage(c echo.Context) error {
	return s.renderLibrary(c, http.StatusOK, "")
}

// renderLibrary shows the library, with why an import was refused if one was.
func (s *Server) renderLibrary(c echo.Context, status int, importError string) error {
	rows, err := s.Agents.Library(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	d := views.LibraryData{CanCreate: s.canCreate(), ImportError: importError}
	for _, r := range rows {
		d.Items = append(d.Items, s.marketItem(c, libraryItem(r)))
	}
	return render(c, status, views.LibraryPage(s.page(c, "My library"), d))
}

func (s *Server) editorData(id string, f views.Form) views.EditorData {
	d := views.EditorData{ID: id, Form: f, Tools: agents.BuiltinTools, ReadOnly: map[string]bool{},
		Instance: s.Agents.MarketplaceMode() == agents.MarketplaceInstance}
	for _, t := range agents.BuiltinTools {
		d.ReadOnly[t] = agents.ReadOnlyTool(t)
	}
	return d
}

func (s *Server) newAgentPage(c echo.Context) error {
	if !s.canCreate() {
		return marketplaceError(agents.ErrPublishingOff)
	}
	f := views.Form{Values: map[string]string{"tools": "list_files,read_file,search_files,get_logs", "visibility": "private"}}
	return render(c, http.StatusOK, views.AgentEditorPage(s.page(c, "New agent"), s.editorData("", f)))
}

func (s *Server) editAgentPage(c echo.Context) error {
	user, id := currentUser(c).ID, c.Param("id")
	it, err := s.Agents.Item(c.Request().Context(), user, id)
	if err != nil {
		return marketplaceError(err)
	}
	if !it.Mine(user) {
		return marketplaceError(agents.ErrNotOwner)
	}
	spec := agents.SpecOf(it.Latest(), it.Tags, it.Visibility)
	f := views.Form{Values: map[string]string{
		"name": spec.Name, "icon": spec.Icon, "description": spec.Description, "system_prompt": spec.SystemPrompt,
		"tools": strings.Join(spec.Tools, ","), "mode": spec.Mode, "model": spec.Model, "tags": strings.Join(spec.Tags, ", "),
		"visibility": spec.Visibility, "readme": spec.Readme,
	}}
	if spec.ReadOnly {
		f.Values["read_only"] = "on"
	}
	if spec.Temperature != nil {
		f.Values["temperature"] = strconv.FormatFloat(*spec.Temperature, 'f', -1, 64)
	}
	d := s.editorData(id, f)
	d.Name = it.Name
	if d.Try, err = s.tryProjects(c.Request().Context(), user); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AgentEditorPage(s.page(c, "Edit "+it.Name), d))
}

// agentForm reads the editor's form: the spec to save, and the form as
// typed, to show again on an error.
func agentForm(c echo.Context) (agents.AgentSpec, views.Form, error) {
	form, err := c.FormParams()
	if err != nil {
		return agents.AgentSpec{}, views.Form{}, NewError(http.StatusBadRequest, "bad_form", "The form could not be read.")
	}
	f := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range []string{"name", "icon", "description", "system_prompt", "readme", "mode", "model", "temperature", "tags", "visibility", "read_only"} {
		f.Values[k] = form.Get(k)
	}
	f.Values["tools"] = strings.Join(form["tools"], ",")
	spec := agents.AgentSpec{Name: f.Values["name"], Icon: f.Values["icon"], Description: f.Values["description"],
		SystemPrompt: f.Values["system_prompt"], Tools: form["tools"], Mode: f.Values["mode"], Model: f.Values["model"],
		ReadOnly: f.Values["read_only"] == "on", Visibility: f.Values["visibility"], Readme: f.Values["readme"]}
	for _, t := range strings.Split(f.Values["tags"], ",") {
		if t = strings.TrimSpace(t); t != "" {
			spec.Tags = append(spec.Tags, t)
		}
	}
	if v := strings.TrimSpace(f.Values["temperature"]); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return spec, f, &agents.FieldError{Field: "temperature", Message: "must be a number from 0 to 2"}
		}
		spec.Temperature = &t
	}
	return spec, f, nil
}

func (s *Server) createAgentForm(c echo.Context) error {
	return s.saveAgentForm(c, "")
}

func (s *Server) updateAgentForm(c echo.Context) error {
	return s.saveAgentForm(c, c.Param("id"))
}

// saveAgentForm publishes the editor's agent; on bad input the editor comes
// back with what was typed and what is wrong.
func (s *Server) saveAgentForm(c echo.Context, id string) error {
	ctx, user := c.Request().Context(), currentUser(c).ID
	spec, f, err := agentForm(c)
	if err == nil {
		var it agents.Item
		if id == "" {
			it, err = s.Agents.CreateAgent(ctx, user, spec)
		} else {
			it, err = s.Agents.UpdateAgent(ctx, user, id, spec)
		}
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/marketplace/items/"+it.ID)
		}
	}
	var field *agents.FieldError
	var status int
	switch {
	case errors.As(err, &field):
		f.Errors[field.Field], status = field.Message, http.StatusBadRequest
	case errors.Is(err, agents.ErrInstanceOff):
		f.Errors["visibility"], status = capitalize(err.Error())+".", http.StatusForbidden
	case errors.Is(err, agents.ErrPublishingOff), errors.Is(err, agents.ErrNotOwner):
		f.Error, status = capitalize(err.Error())+".", http.StatusForbidden
	default:
		return marketplaceError(err) // not found, or a failure of studio's own
	}
	title := "New agent"
	if id != "" {
		title = "Edit agent"
	}
	return render(c, status, views.AgentEditorPage(s.page(c, title), s.editorData(id, f)))
}

package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/db"
)

// maxAgentBody bounds an agent's JSON: room for the largest prompt and
// README, so an oversized one gets the field's own message.
const maxAgentBody = (agents.MaxAgentPrompt+agents.MaxAgentReadme)*2 + 16<<10

// marketplaceError maps the marketplace's errors to answers.
func marketplaceError(err error) error {
	var field *agents.FieldError
	switch {
	case errors.As(err, &field):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: field.Field, Message: field.Error()}
	case errors.Is(err, agents.ErrItemNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such item.")
	case errors.Is(err, agents.ErrPublishingOff):
		return NewError(http.StatusForbidden, "marketplace_off", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrInstanceOff):
		return &Error{Status: http.StatusForbidden, Code: "marketplace_private", Field: "visibility", Message: capitalize(err.Error()) + "."}
	case errors.Is(err, agents.ErrNotOwner):
		return NewError(http.StatusForbidden, "not_owner", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrAlreadyYours):
		return NewError(http.StatusConflict, "already_yours", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrNotInstalled):
		return NewError(http.StatusConflict, "not_installed", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrRateOwn):
		return NewError(http.StatusConflict, "own_item", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrNotAnAgent):
		return NewError(http.StatusConflict, "not_an_agent", "This item is not an agent.")
	case errors.Is(err, agents.ErrItemHidden):
		return NewError(http.StatusConflict, "item_hidden", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrBuiltInItem):
		return NewError(http.StatusConflict, "built_in", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrNotHidden):
		return NewError(http.StatusConflict, "not_hidden", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrNotPublished):
		return NewError(http.StatusConflict, "not_published", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrAlreadyReported):
		return NewError(http.StatusConflict, "already_reported", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrReportOwn):
		return NewError(http.StatusConflict, "own_item", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrReportNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such open report.")
	}
	return err
}

// itemJSON is a catalogue item in the API.
type itemJSON struct {
	ID               string        `json:"id"`
	Kind             string        `json:"kind"`
	Name             string        `json:"name"`
	Description      string        `json:"description"`
	Tags             []string      `json:"tags"`
	Icon             string        `json:"icon"`
	Visibility       string        `json:"visibility"`
	BuiltIn          bool          `json:"built_in"`
	Mine             bool          `json:"mine"`
	Hidden           bool          `json:"hidden"`
	HiddenReason     string        `json:"hidden_reason,omitempty"`
	ForkedFrom       *string       `json:"forked_from,omitempty"`
	LatestVersion    int32         `json:"latest_version"`
	InstalledVersion *int32        `json:"installed_version"`
	UpdateAvailable  bool          `json:"update_available"`
	Installs         int32         `json:"installs"`
	Rating           ratingJSON    `json:"rating"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
	Versions         []versionJSON `json:"versions,omitempty"`
	// A template's README (markdown) and versions.
	TemplateReadme   string                `json:"template_readme,omitempty"`
	TemplateVersions []templateVersionJSON `json:"template_versions,omitempty"`
}

type templateVersionJSON struct {
	Version     int32     `json:"version"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Base        string    `json:"base"`
	Screenshots []string  `json:"screenshots"`
	FileCount   int32     `json:"file_count"`
	TotalBytes  int64     `json:"total_bytes"`
	SHA256      string    `json:"sha256"` // of the version's bundle file
	CreatedAt   time.Time `json:"created_at"`
}

type ratingJSON struct {
	Average float64 `json:"average"` // 0 without ratings
	Count   int32   `json:"count"`
	Mine    *int16  `json:"mine,omitempty"`
}

type versionJSON struct {
	Version      int32     `json:"version"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	Mode         string    `json:"mode"`
	ReadOnly     bool      `json:"read_only"`
	SystemPrompt string    `json:"system_prompt"`
	Tools        []string  `json:"tools"`
	Model        string    `json:"model"`
	Temperature  *float64  `json:"temperature"`
	Icon         string    `json:"icon"`
	Readme       string    `json:"readme"`
	CreatedAt    time.Time `json:"created_at"`
}

func average(sum, count int32) float64 {
	if count == 0 {
		return 0
	}
	return float64(int(float64(sum)/float64(count)*10+0.5)) / 10
}

func (s *Server) toItemJSON(c echo.Context, it agents.Item) itemJSON {
	me := currentUser(c).ID
	j := itemJSON{ID: it.ID, Kind: it.Kind, Name: it.Name, Description: it.Description, Tags: it.Tags, Icon: it.Icon,
		Visibility: it.Visibility, BuiltIn: it.BuiltIn(), Mine: it.Mine(me), Hidden: it.Hidden(), HiddenReason: it.HiddenReason,
		LatestVersion: it.LatestVersion, Installs: it.InstallCount, Rating: ratingJSON{Average: average(it.RatingSum, it.RatingCount), Count: it.RatingCount},
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Versions: []versionJSON{}}
	if it.ForkedFrom.Valid {
		j.ForkedFrom = &it.ForkedFrom.String
	}
	if it.InstalledVersion.Valid {
		j.InstalledVersion = &it.InstalledVersion.Int32
		j.UpdateAvailable = it.InstalledVersion.Int32 < it.LatestVersion
	}
	if it.MyRating.Valid {
		j.Rating.Mine = &it.MyRating.Int16
	}
	for _, v := range it.Versions {
		vj := versionJSON{Version: v.Version, Name: v.Name, Description: v.Description, Mode: v.Mode, ReadOnly: v.ReadOnly,
			SystemPrompt: v.SystemPrompt, Tools: v.Tools, Model: v.Model, Icon: v.Icon, Readme: v.Readme, CreatedAt: v.CreatedAt}
		if v.Temperature.Valid {
			vj.Temperature = &v.Temperature.Float64
		}
		j.Versions = append(j.Versions, vj)
	}
	if it.Kind == "template" {
		j.TemplateReadme = it.Readme
	}
	for _, v := range it.TemplateVersions {
		j.TemplateVersions = append(j.TemplateVersions, templateVersionJSON{Version: v.Version, Name: v.Name, Description: v.Description,
			Base: v.Base, Screenshots: v.Screenshots, FileCount: v.FileCount, TotalBytes: v.TotalBytes, SHA256: v.Sha256, CreatedAt: v.CreatedAt})
	}
	return j
}

// listedItem is a search or library row as an item without versions.
func listedItem(r db.SearchItemsRow, installed *int32) agents.Item {
	row := db.GetVisibleItemRow{ID: r.ID, Kind: r.Kind, OwnerID: r.OwnerID, Visibility: r.Visibility, Name: r.Name,
		Description: r.Description, Tags: r.Tags, Icon: r.Icon, LatestVersion: r.LatestVersion, InstallCount: r.InstallCount,
		RatingCount: r.RatingCount, RatingSum: r.RatingSum, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, HiddenAt: r.HiddenAt}
	if installed != nil {
		row.InstalledVersion.Int32, row.InstalledVersion.Valid = *installed, true
	}
	return agents.Item{GetVisibleItemRow: row}
}

func libraryItem(r db.ListLibraryRow) agents.Item {
	var installed *int32
	if r.InstalledVersion.Valid {
		installed = &r.InstalledVersion.Int32
	}
	return listedItem(db.SearchItemsRow{ID: r.ID, Kind: r.Kind, OwnerID: r.OwnerID, Visibility: r.Visibility, Name: r.Name,
		Description: r.Description, Tags: r.Tags, Icon: r.Icon, LatestVersion: r.LatestVersion, InstallCount: r.InstallCount,
		RatingCount: r.RatingCount, RatingSum: r.RatingSum, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, HiddenAt: r.HiddenAt}, installed)
}

// itemQuery reads a search from the query string (the page and the API
// take the same parameters).
func itemQuery(c echo.Context) (agents.ItemQuery, error) {
	q := agents.ItemQuery{Query: c.QueryParam("q"), Kind: c.QueryParam("kind"), Tag: c.QueryParam("tag"), Sort: c.QueryParam("sort")}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &q.Limit}, {"offset", &q.Offset}} {
		if v := c.QueryParam(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return q, &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: p.name, Message: p.name + ": must be a whole number"}
			}
			*p.dst = n
		}
	}
	return q, nil
}

func (s *Server) apiSearchItems(c echo.Context) error {
	q, err := itemQuery(c)
	if err != nil {
		return err
	}
	rows, err := s.Agents.SearchItems(c.Request().Context(), currentUser(c).ID, q)
	if err != nil {
		return marketplaceError(err)
	}
	out := make([]itemJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.toItemJSON(c, listedItem(r, nil)))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (s *Server) apiGetItem(c echo.Context) error {
	it, err := s.Agents.Item(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiLibrary(c echo.Context) error {
	rows, err := s.Agents.Library(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := make([]itemJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.toItemJSON(c, libraryItem(r)))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

// agentRequest is an agent as the API takes it.
type agentRequest struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	SystemPrompt string   `json:"system_prompt"`
	Tools        []string `json:"tools"`
	Mode         string   `json:"mode"`
	ReadOnly     bool     `json:"read_only"`
	Model        string   `json:"model"`
	Temperature  *float64 `json:"temperature"`
	Icon         string   `json:"icon"`
	Tags         []string `json:"tags"`
	Visibility   string   `json:"visibility"`
	Readme       string   `json:"readme"`
}

func (r agentRequest) spec() agents.AgentSpec {
	return agents.AgentSpec{Name: r.Name, Description: r.Description, SystemPrompt: r.SystemPrompt, Tools: r.Tools, Mode: r.Mode,
		ReadOnly: r.ReadOnly, Model: r.Model, Temperature: r.Temperature, Icon: r.Icon, Tags: r.Tags, Visibility: r.Visibility, Readme: r.Readme}
}

func (s *Server) apiCreateAgent(c echo.Context) error {
	var req agentRequest
	if err := decodeJSON(c, maxAgentBody, &req); err != nil {
		return err
	}
	it, err := s.Agents.CreateAgent(c.Request().Context(), currentUser(c).ID, req.spec())
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiUpdateAgent(c echo.Context) error {
	var req agentRequest
	if err := decodeJSON(c, maxAgentBody, &req); err != nil {
		return err
	}
	it, err := s.Agents.UpdateAgent(c.Request().Context(), currentUser(c).ID, c.Param("id"), req.spec())
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiForkAgent(c echo.Context) error {
	it, err := s.Agents.ForkAgent(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiDeleteAgent(c echo.Context) error {
	if err := s.Agents.DeleteAgent(c.Request().Context(), currentUser(c).ID, c.Param("id")); err != nil {
		return marketplaceError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiInstallItem(c echo.Context) error {
	it, err := s.Agents.Install(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiUninstallItem(c echo.Context) error {
	it, err := s.Agents.Uninstall(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return marketplaceError(err)
	}
	if it.ID == "" { // uninstalled, and no longer the user's to see
		return c.JSON(http.StatusOK, map[string]any{"item": nil})
	}
	return c.JSON(http.StatusOK, map[string]any{"item": s.toItemJSON(c, it)})
}

func (s *Server) apiRateItem(c echo.Context) error {
	var req struct {
		Stars int `json:"stars"`
	}
	if err := decodeJSON(c, 1<<10, &req); err != nil {
		return err
	}
	it, err := s.Agents.Rate(c.Request().Context(), currentUser(c).ID, c.Param("id"), req.Stars)
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"item": s.toItemJSON(c, it)})
}

package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/db"
)

// reportJSON is a user's report of an item.
type reportJSON struct {
	ID        int64     `json:"id"`
	ItemID    string    `json:"item_id"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) apiReportItem(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(c, 8<<10, &req); err != nil {
		return err
	}
	r, err := s.Agents.Report(c.Request().Context(), currentUser(c).ID, c.Param("id"), req.Reason)
	if err != nil {
		return marketplaceError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"report": reportJSON{ID: r.ID, ItemID: r.ItemID, Reason: r.Reason, CreatedAt: r.CreatedAt}})
}

// moderator is the signed-in administrator as the audit log records them.
func moderator(c echo.Context) agents.Moderator {
	return agents.Moderator{ID: currentUser(c).ID, IP: meta(c).IP}
}

// moderateItem carries out hide, unhide or unpublish; reason is hide's.
func (s *Server) moderateItem(c echo.Context, action, reason string) error {
	ctx, m, id := c.Request().Context(), moderator(c), c.Param("id")
	switch action {
	case "hide":
		return s.Agents.Hide(ctx, m, id, reason)
	case "unhide":
		return s.Agents.Unhide(ctx, m, id)
	case "unpublish":
		return s.Agents.Unpublish(ctx, m, id)
	}
	return echo.ErrNotFound
}

func reportID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, NewError(http.StatusNotFound, "not_found", "There is no such open report.")
	}
	return id, nil
}

func (s *Server) apiModerateItem(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if c.Param("action") == "hide" {
		if err := decodeJSON(c, 8<<10, &req); err != nil {
			return err
		}
	}
	if err := s.moderateItem(c, c.Param("action"), req.Reason); err != nil {
		return marketplaceError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiDismissReport(c echo.Context) error {
	id, err := reportID(c)
	if err != nil {
		return err
	}
	if err := s.Agents.DismissReport(c.Request().Context(), moderator(c), id); err != nil {
		return marketplaceError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// openReportJSON is a report as administrators see it.
type openReportJSON struct {
	reportJSON
	Reporter struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"reporter"`
	Item moderatedItemJSON `json:"item"`
}

// moderatedItemJSON is an item in the moderation lists.
type moderatedItemJSON struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Name         string     `json:"name"`
	Visibility   string     `json:"visibility"`
	OwnerEmail   string     `json:"owner_email,omitempty"`
	Hidden       bool       `json:"hidden"`
	HiddenAt     *time.Time `json:"hidden_at"`
	HiddenReason string     `json:"hidden_reason,omitempty"`
}

func (s *Server) apiOpenReports(c echo.Context) error {
	rows, err := s.Agents.OpenReports(c.Request().Context(), 500)
	if err != nil {
		return err
	}
	out := make([]openReportJSON, 0, len(rows))
	for _, r := range rows {
		j := openReportJSON{reportJSON: reportJSON{ID: r.ID, ItemID: r.ItemID, Reason: r.Reason, CreatedAt: r.CreatedAt},
			Item: moderatedItemJSON{ID: r.ItemID, Kind: r.ItemKind, Name: r.ItemName, Visibility: r.ItemVisibility,
				Hidden: r.ItemHiddenAt != nil, HiddenAt: r.ItemHiddenAt}}
		j.Reporter.ID, j.Reporter.Email = r.ReporterID.String(), r.ReporterEmail
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"reports": out})
}

func (s *Server) apiHiddenItems(c echo.Context) error {
	rows, err := s.Agents.HiddenItems(c.Request().Context(), 500)
	if err != nil {
		return err
	}
	out := make([]moderatedItemJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, hiddenItemJSON(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func hiddenItemJSON(r db.ListHiddenItemsRow) moderatedItemJSON {
	return moderatedItemJSON{ID: r.ID, Kind: r.Kind, Name: r.Name, Visibility: r.Visibility, OwnerEmail: r.OwnerEmail,
		Hidden: true, HiddenAt: r.HiddenAt, HiddenReason: r.HiddenReason}
}

// adminItemAction serves the moderation buttons of the admin page and of
// an item's page, and goes back to the page they were on.
func (s *Server) adminItemAction(c echo.Context) error {
	if err := s.moderateItem(c, c.Param("action"), c.FormValue("reason")); err != nil {
		return marketplaceError(err)
	}
	if c.FormValue("back") == "item" {
		return c.Redirect(http.StatusSeeOther, "/marketplace/items/"+c.Param("id"))
	}
	return c.Redirect(http.StatusSeeOther, "/admin#marketplace")
}

func (s *Server) adminDismissReport(c echo.Context) error {
	id, err := reportID(c)
	if err != nil {
		return err
	}
	if err := s.Agents.DismissReport(c.Request().Context(), moderator(c), id); err != nil {
		return marketplaceError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin#marketplace")
}

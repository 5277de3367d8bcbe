package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/auth"
)

// maxLayoutBody bounds a saved layout: a handful of numbers and flags.
const maxLayoutBody = 1024

// getLayout is the signed-in user's workspace layout.
func (s *Server) getLayout(c echo.Context) error {
	l, err := s.Auth.WorkspaceLayout(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// putLayout saves the signed-in user's workspace layout (pane widths,
// collapsed panes); the workspace sends it after each drag or toggle.
func (s *Server) putLayout(c echo.Context) error {
	var l auth.Layout
	if err := decodeJSON(c, maxLayoutBody, &l); err != nil {
		return err
	}
	err := s.Auth.SetWorkspaceLayout(c.Request().Context(), currentUser(c).ID, l)
	if errors.Is(err, auth.ErrLayoutInvalid) {
		return NewError(http.StatusUnprocessableEntity, "invalid_layout", "The layout was not saved: "+err.Error()+".")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

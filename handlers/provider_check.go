package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"studio/auth"
	"studio/views"
)

// testProviderTimeout bounds "Test connection": listing models is quick.
const testProviderTimeout = 10 * time.Second

// testProvider asks the provider, with the user's stored key, for its
// models: the quickest call that proves the key and the address work. The
// page shows only the kind of result, never what the server answered.
func (s *Server) testProvider(c echo.Context) error {
	provider := c.Param("provider")
	ctx, cancel := context.WithTimeout(c.Request().Context(), testProviderTimeout)
	defer cancel()
	result, err := s.Agents.CheckProvider(ctx, currentUser(c).ID, provider)
	f := views.Form{Values: map[string]string{"provider": provider}}
	switch {
	case errors.Is(err, auth.ErrNotFound):
		f.Error = "Save a key (or a base URL) first."
	case err != nil:
		return err
	default:
		f.Values["tested"] = result
	}
	return s.renderSettings(c, http.StatusOK, f)
}

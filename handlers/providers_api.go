package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/auth"
)

type providerRequest struct {
	APIKey  *string `json:"api_key"`
	BaseURL *string `json:"base_url"`
}

func (s *Server) apiListProviders(c echo.Context) error {
	list, err := s.Auth.ListProviders(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"providers": list})
}

func (s *Server) apiPutProvider(c echo.Context) error {
	var req providerRequest
	if err := decodeJSON(c, 16<<10, &req); err != nil {
		return err
	}
	setting, err := s.Auth.SetProvider(c.Request().Context(), currentUser(c).ID, c.Param("provider"), req.APIKey, req.BaseURL)
	if err != nil {
		return providerError(err)
	}
	return c.JSON(http.StatusOK, setting)
}

func (s *Server) apiDeleteProvider(c echo.Context) error {
	if err := s.Auth.DeleteProvider(c.Request().Context(), currentUser(c).ID, c.Param("provider")); err != nil {
		return providerError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func providerError(err error) error {
	switch {
	case errors.Is(err, auth.ErrUnknownProvider):
		return NewError(http.StatusNotFound, "unknown_provider", err.Error())
	case errors.Is(err, auth.ErrNotFound):
		return NewError(http.StatusNotFound, "not_found", "No key is stored for this provider.")
	case errors.Is(err, auth.ErrBaseURLNotAllowed):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "base_url_not_allowed", Message: err.Error(), Field: "base_url"}
	case errors.Is(err, auth.ErrKeyRequired):
		return invalidField("api_key", err)
	case errors.Is(err, auth.ErrBaseURLRequired), errors.Is(err, auth.ErrBaseURLInvalid):
		return invalidField("base_url", err)
	}
	return err
}

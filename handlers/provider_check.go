package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"studio/agents/providers"
	"studio/auth"
	"studio/views"
)

// testProvider asks the provider, with the user's stored key, for its
// models: the quickest call that proves the key and the address work.
func (s *Server) testProvider(c echo.Context) error {
	provider := c.Param("provider")
	ctx := c.Request().Context()
	key, baseURL, err := s.Auth.ProviderKey(ctx, currentUser(c).ID, provider)
	f := views.Form{Values: map[string]string{"provider": provider}}
	switch {
	case errors.Is(err, auth.ErrNotFound):
		f.Error = "Save a key (or a base URL) first."
	case err != nil:
		return err
	default:
		f.Values["tested"] = s.tryProvider(ctx, provider, key, baseURL)
	}
	return s.renderSettings(c, http.StatusOK, f)
}

func (s *Server) tryProvider(ctx context.Context, provider, key, baseURL string) string {
	p, err := providers.New(provider, key, baseURL, providers.WithRetryPolicy(providers.RetryPolicy{Attempts: 1}))
	if err != nil {
		return "Not connected: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	models, err := p.ListModels(ctx)
	if err != nil {
		return "Not connected: " + err.Error()
	}
	return fmt.Sprintf("Connected: %d models available.", len(models))
}

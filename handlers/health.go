package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz answers as long as the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is /readyz's answer: ok or failing per component for anyone,
// and for a signed-in administrator the errors themselves.
type readiness struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Details map[string]string `json:"details,omitempty"`
}

// readyz asks every dependency at once and names the ones that are down.
func (s *Server) readyz(c echo.Context) error {
	checks := map[string]Checker{"database": s.Database}
	if s.Engine != nil {
		checks[s.Config.Runtime] = s.Engine // "docker" or "kubernetes"
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	res := readiness{Status: "ok", Checks: make(map[string]string, len(checks))}
	failures := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, chk := range checks {
		wg.Go(func() {
			err := chk.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			res.Checks[name] = "ok"
			if err != nil {
				res.Checks[name], res.Status = "failing", "failing"
				failures[name] = err.Error()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 && s.signedInAdmin(c) {
		res.Details = failures
	}
	status := http.StatusOK
	if res.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, res)
}

// signedInAdmin reports whether the request carries an administrator's
// live session; any failure to tell (the database may be down) is a no.
func (s *Server) signedInAdmin(c echo.Context) bool {
	cs, _ := s.cookies.Get(c.Request(), s.names.Session)
	id, _ := cs.Values["id"].(string)
	if id == "" {
		return false
	}
	_, user, err := s.Auth.SessionUser(c.Request().Context(), id)
	return err == nil && user.Role.IsAdmin()
}

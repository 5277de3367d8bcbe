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

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz asks every dependency at once and names the ones that are down.
func (s *Server) readyz(c echo.Context) error {
	checks := map[string]Checker{"database": s.Database}
	if s.Engine != nil {
		checks["docker"] = s.Engine
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	res := readiness{Status: "ready", Checks: make(map[string]string, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, chk := range checks {
		wg.Go(func() {
			result := "ok"
			if err := chk.Ping(ctx); err != nil {
				result = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			res.Checks[name] = result
			if result != "ok" {
				res.Status = "unavailable"
			}
		})
	}
	wg.Wait()
	status := http.StatusOK
	if res.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, res)
}

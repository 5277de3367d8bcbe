package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// accessLog writes one structured line per request.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the error response now, so its status is logged
		}
		req, res := c.Request(), c.Response()
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case c.Path() == "/healthz" || c.Path() == "/readyz" || c.Path() == "/static/*":
			level = slog.LevelDebug
		}
		s.log(c).Log(req.Context(), level, "request",
			"method", req.Method,
			"path", req.URL.Path,
			"status", res.Status,
			"bytes", res.Size,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"remote", c.RealIP(),
		)
		return nil
	}
}

// responseWriteTimeout bounds writing a response, from its first byte.
const responseWriteTimeout = 60 * time.Second

// writeDeadline gives each response timeout to reach the client once it
// starts, so a client that stops reading cannot hold a handler: the server
// has no WriteTimeout, which would cut streams. The SSE writer replaces
// the deadline before each event.
func writeDeadline(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			rc := http.NewResponseController(c.Response().Writer)
			c.Response().Before(func() { _ = rc.SetWriteDeadline(time.Now().Add(timeout)) })
			return next(c)
		}
	}
}

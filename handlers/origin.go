package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/config"
)

// checkOrigin refuses a state-changing, cookie-authenticated request that
// a browser says came from another origin. A preview host is the same
// site as the UI, so SameSite cookies do not stop it; Sec-Fetch-Site and
// Origin do. Clients that send neither (scripts, API clients) are not
// browsers acting for someone else and go through.
func (s *Server) checkOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSafeMethod(c.Request().Method) || s.fromUIOrigin(c.Request()) {
			return next(c)
		}
		s.log(c).Warn("cross-origin request refused", "path", c.Request().URL.Path,
			"origin", c.Request().Header.Get("Origin"), "sec_fetch_site", c.Request().Header.Get("Sec-Fetch-Site"))
		return NewError(http.StatusForbidden, "cross_origin",
			"This request came from another site, not from Studio at "+s.uiOrigin()+", so it was refused. Open Studio there and try again.")
	}
}

// fromUIOrigin: Sec-Fetch-Site, which only the browser sets, must be
// same-origin or none (typed by the person); without it, an Origin header
// must be the UI's.
func (s *Server) fromUIOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	return origin == "" || config.Origin(origin) == s.uiOrigin()
}

// uiOrigin is scheme://host[:port] of the UI's public address, in the form
// browsers send: host in lower case, no default port.
func (s *Server) uiOrigin() string { return config.Origin(s.Config.PublicURL()) }

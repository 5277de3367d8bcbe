package handlers

import (
	"github.com/labstack/echo/v4"

	"studio/views"
)

// page fills what the layout needs for this request.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, CSRFToken: s.csrfToken(c)}
	if u := currentUser(c); u != nil {
		p.User = &views.User{Name: u.Name, Email: u.Email, IsAdmin: u.Role.IsAdmin()}
	}
	return p
}

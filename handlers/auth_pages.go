package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"studio/auth"
	"studio/views"
)

// redirect sends the browser on: a 303 for a plain form, HX-Redirect for htmx.
func redirect(c echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// formFailed re-renders a form with err placed next to its field: the
// fragment for htmx (200, so htmx swaps it), the whole page otherwise.
func (s *Server) formFailed(c echo.Context, err error, f views.Form, page, fragment func(views.Page, views.Form) templ.Component, title string) error {
	var e *Error
	if !errors.As(accountError(err), &e) {
		return err
	}
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if e.Field != "" {
		f.Errors[e.Field] = trimField(e)
	} else {
		f.Error = e.Message
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	p := s.page(c, title)
	if isHTMX(c) {
		return render(c, http.StatusOK, fragment(p, f))
	}
	return render(c, e.Status, page(p, f))
}

func (s *Server) signupPage(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := views.Form{Values: map[string]string{"invite": c.QueryParam("invite")}}
	return render(c, http.StatusOK, views.SignupPage(s.page(c, "Sign up"), f))
}

func (s *Server) signup(c echo.Context) error {
	f := views.Form{Values: map[string]string{
		"email": c.FormValue("email"), "name": c.FormValue("name"), "invite": c.FormValue("invite"),
	}}
	user, err := s.Auth.Register(c.Request().Context(), f.Values["email"], c.FormValue("password"), f.Values["name"], f.Values["invite"], meta(c))
	if err != nil {
		return s.formFailed(c, err, f, views.SignupPage, views.SignupForm, "Sign up")
	}
	if err := s.startSession(c, user); err != nil {
		return err
	}
	return redirect(c, "/")
}

func (s *Server) loginPage(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := views.Form{Values: map[string]string{"next": safeNext(c.QueryParam("next"))}}
	return render(c, http.StatusOK, views.LoginPage(s.page(c, "Sign in"), f))
}

func (s *Server) login(c echo.Context) error {
	f := views.Form{Values: map[string]string{"email": c.FormValue("email"), "next": safeNext(c.FormValue("next"))}}
	user, err := s.Auth.Login(c.Request().Context(), f.Values["email"], c.FormValue("password"), meta(c))
	if err != nil {
		return s.formFailed(c, err, f, views.LoginPage, views.LoginForm, "Sign in")
	}
	if err := s.startSession(c, user); err != nil {
		return err
	}
	next := f.Values["next"]
	if next == "" {
		next = "/"
	}
	return redirect(c, next)
}

func (s *Server) logout(c echo.Context) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// safeNext keeps only paths on the UI origin, so a sign-in link cannot
// send the browser elsewhere; anything else becomes "".
func safeNext(next string) string {
	if p := auth.LocalPath(next); p != "/" || strings.TrimSpace(next) == "/" {
		return p
	}
	return ""
}

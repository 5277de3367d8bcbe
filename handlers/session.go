package handlers

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"studio/auth"
	"studio/db"
)

// Cookie names. The session cookie holds only a random id; the session
// itself is a row in PostgreSQL, so any replica can serve it.
const (
	sessionCookie = auth.SessionCookie
	csrfCookie    = auth.CSRFCookie
	refreshCookie = auth.RefreshCookie
	csrfField     = "csrf_token"
	csrfHeader    = "X-CSRF-Token"

	ctxUser    = "studio.user"
	ctxSession = "studio.session"
)

func newCookieStore(ring *auth.Keyring, secure bool) *sessions.CookieStore {
	var pairs [][]byte
	for _, k := range ring.All() {
		pairs = append(pairs, auth.CookieKey(k), nil)
	}
	store := sessions.NewCookieStore(pairs...)
	store.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(auth.SessionAbsoluteTTL.Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	return store
}

// loadSession finds the browser's session, if it has a live one.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cs, _ := s.cookies.Get(c.Request(), sessionCookie)
		if id, _ := cs.Values["id"].(string); id != "" {
			sess, user, err := s.Auth.SessionUser(c.Request().Context(), id)
			switch {
			case err == nil:
				c.Set(ctxSession, &sess)
				c.Set(ctxUser, &user)
			case !errors.Is(err, auth.ErrNotFound):
				return err
			}
		}
		return next(c)
	}
}

// startSession signs the browser in.
func (s *Server) startSession(c echo.Context, user db.User) error {
	token, sess, err := s.Auth.CreateSession(c.Request().Context(), user.ID, meta(c))
	if err != nil {
		return err
	}
	cs, _ := s.cookies.New(c.Request(), sessionCookie)
	cs.Values["id"] = token
	if err := cs.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	c.Set(ctxSession, &sess)
	c.Set(ctxUser, &user)
	return nil
}

// endSession revokes the browser's session and clears its cookie.
func (s *Server) endSession(c echo.Context) error {
	if sess := currentSession(c); sess != nil {
		if err := s.Auth.RevokeSession(c.Request().Context(), sess.ID); err != nil {
			return err
		}
	}
	cs, _ := s.cookies.New(c.Request(), sessionCookie)
	cs.Options.MaxAge = -1
	return cs.Save(c.Request(), c.Response())
}

func currentUser(c echo.Context) *db.User {
	u, _ := c.Get(ctxUser).(*db.User)
	return u
}

func currentSession(c echo.Context) *db.Session {
	sess, _ := c.Get(ctxSession).(*db.Session)
	return sess
}

// requireUser sends a browser without a session to the sign-in page.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		target := "/login"
		if p := c.Request().URL.RequestURI(); p != "/" && c.Request().Method == http.MethodGet {
			target += "?next=" + url.QueryEscape(p)
		}
		if isHTMX(c) {
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// requireAdmin lets only administrators through.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return s.requireUser(func(c echo.Context) error {
		if currentUser(c).Role != "admin" {
			return NewError(http.StatusForbidden, "forbidden", "Only administrators can open this page.")
		}
		return next(c)
	})
}

// csrfToken is the token this browser's forms must carry: the session's,
// or before sign-in, a random value in its own cookie (double submit).
func (s *Server) csrfToken(c echo.Context) string {
	if sess := currentSession(c); sess != nil {
		return sess.CSRFToken
	}
	if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	token, _ := auth.RandomToken()
	c.SetCookie(&http.Cookie{
		Name: csrfCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
	// Make the new cookie visible to the rest of this request.
	c.Request().AddCookie(&http.Cookie{Name: csrfCookie, Value: token})
	return token
}

// csrfProtect refuses a state-changing browser request whose token is
// missing or wrong; nothing runs and nothing changes.
func (s *Server) csrfProtect(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		want := ""
		if sess := currentSession(c); sess != nil {
			want = sess.CSRFToken
		} else if ck, err := c.Cookie(csrfCookie); err == nil {
			want = ck.Value
		}
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.FormValue(csrfField)
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return NewError(http.StatusForbidden, "csrf", "This form has expired or did not come from Studio; reload the page and try again.")
		}
		return next(c)
	}
}

// requireToken authenticates an API request by its bearer access token.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			return NewError(http.StatusUnauthorized, "unauthorized", "Send an access token: Authorization: Bearer <token>.")
		}
		user, err := s.Auth.UserForAccessToken(c.Request().Context(), token)
		switch {
		case errors.Is(err, auth.ErrTokenInvalid):
			return NewError(http.StatusUnauthorized, "invalid_token", "The access token is invalid or has expired; refresh it or sign in again.")
		case errors.Is(err, auth.ErrAccountDisabled):
			return NewError(http.StatusUnauthorized, "account_disabled", auth.ErrAccountDisabled.Error())
		case err != nil:
			return err
		}
		c.Set(ctxUser, &user)
		return next(c)
	}
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.Config.PublicURL(), "https://") }

func meta(c echo.Context) auth.Meta {
	return auth.Meta{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

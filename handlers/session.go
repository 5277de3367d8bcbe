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

// The session cookie holds only a random id; the session itself is a row
// in PostgreSQL, so any replica can serve it. Cookie names come from
// auth.Cookies (Server.names): prefixed under https.
const (
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"

	ctxUser    = "studio.user"
	ctxSession = "studio.session"
	ctxCSRF    = "studio.csrf"
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
		cs, _ := s.cookies.Get(c.Request(), s.names.Session)
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

// startSession signs the browser in. A session the browser already had is
// deleted first: one sign-in, one session row.
func (s *Server) startSession(c echo.Context, user db.User) error {
	ctx := c.Request().Context()
	if old := currentSession(c); old != nil {
		if err := s.Auth.DeleteSession(ctx, old.ID); err != nil {
			return err
		}
	}
	token, sess, err := s.Auth.CreateSession(ctx, user.ID, meta(c))
	if err != nil {
		return err
	}
	cs, _ := s.cookies.New(c.Request(), s.names.Session)
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
	cs, _ := s.cookies.New(c.Request(), s.names.Session)
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
		if !currentUser(c).Role.IsAdmin() {
			return NewError(http.StatusForbidden, "forbidden", "Only administrators can open this page.")
		}
		return next(c)
	})
}

// requireAdminToken lets only administrators' access tokens through; it
// follows requireToken.
func (s *Server) requireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentUser(c).Role.IsAdmin() {
			return NewError(http.StatusForbidden, "forbidden", "Only administrators can do this.")
		}
		return next(c)
	}
}

// csrfToken is the token this browser's forms must carry: an HMAC of its
// session id, or before sign-in, a nonce signed by studio that is also kept
// in a cookie. A cookie studio did not sign is replaced.
func (s *Server) csrfToken(c echo.Context) string {
	if sess := currentSession(c); sess != nil {
		return s.Auth.Ring.SessionCSRF(sess.ID)
	}
	if token, ok := c.Get(ctxCSRF).(string); ok {
		return token
	}
	if ck, err := c.Cookie(s.names.CSRF); err == nil && s.Auth.Ring.ValidCSRFNonce(ck.Value) {
		return ck.Value
	}
	token := s.Auth.Ring.NewCSRFNonce()
	c.SetCookie(s.hostCookie(s.names.CSRF, token, "/", 0, http.SameSiteStrictMode))
	c.Set(ctxCSRF, token) // later calls in this request give the same token
	return token
}

// csrfProtect refuses a state-changing browser request whose token is
// missing or wrong; nothing runs and nothing changes.
func (s *Server) csrfProtect(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSafeMethod(c.Request().Method) {
			return next(c)
		}
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.FormValue(csrfField)
		}
		if !s.validCSRF(c, got) {
			return NewError(http.StatusForbidden, "csrf", "This form has expired or did not come from Studio; reload the page and try again.")
		}
		return next(c)
	}
}

// validCSRF: signed in, the token must be the session's; before sign-in,
// the cookie's value, and signed by studio (so a cookie planted by another
// host with a value of its choosing is worth nothing).
func (s *Server) validCSRF(c echo.Context, got string) bool {
	if sess := currentSession(c); sess != nil {
		return s.Auth.Ring.ValidSessionCSRF(sess.ID, got)
	}
	ck, err := c.Cookie(s.names.CSRF)
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ck.Value)) != 1 {
		return false
	}
	return s.Auth.Ring.ValidCSRFNonce(got)
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
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

// hostCookie is a cookie for the UI host only: no Domain, so no sibling
// host shares it, and Secure under https (which the __Host- and __Secure-
// names require). maxAge 0 lasts for the browser session; -1 expires it.
func (s *Server) hostCookie(name, value, path string, maxAge int, sameSite http.SameSite) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: sameSite,
	}
}

func meta(c echo.Context) auth.Meta {
	return auth.Meta{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

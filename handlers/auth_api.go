package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"studio/auth"
	"studio/db"
)

// authBodyLimit keeps sign-in bodies small.
const authBodyLimit = 16 << 10

// refreshPath is the only path the refresh cookie is sent to.
const refreshPath = "/api/auth"

// userJSON is a user as the API shows it.
type userJSON struct {
	ID        string      `json:"id"`
	Email     string      `json:"email"`
	Name      string      `json:"name"`
	Role      db.UserRole `json:"role"`
	CreatedAt time.Time   `json:"created_at"`
}

func toUserJSON(u db.User) userJSON {
	return userJSON{ID: u.ID.String(), Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
}

type tokenJSON struct {
	AccessToken string   `json:"access_token"`
	TokenType   string   `json:"token_type"`
	ExpiresIn   int      `json:"expires_in"`
	User        userJSON `json:"user"`
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Invite   string `json:"invite"`
}

func (s *Server) apiRegister(c echo.Context) error {
	var req registerRequest
	if err := decodeJSON(c, authBodyLimit, &req); err != nil {
		return err
	}
	user, err := s.Auth.Register(c.Request().Context(), req.Email, req.Password, req.Name, req.Invite, meta(c))
	if err != nil {
		return accountError(err)
	}
	return s.signedIn(c, http.StatusCreated, user)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) apiLogin(c echo.Context) error {
	var req loginRequest
	if err := decodeJSON(c, authBodyLimit, &req); err != nil {
		return err
	}
	user, err := s.Auth.Login(c.Request().Context(), req.Email, req.Password, meta(c))
	if err != nil {
		return accountError(err)
	}
	return s.signedIn(c, http.StatusOK, user)
}

// signedIn answers with a new token pair: the access token in the body,
// the refresh token in an HttpOnly cookie only /api/auth receives.
func (s *Server) signedIn(c echo.Context, status int, user db.User) error {
	pair, err := s.Auth.IssueTokens(c.Request().Context(), user.ID)
	if err != nil {
		return err
	}
	return s.tokenResponse(c, status, user, pair)
}

func (s *Server) tokenResponse(c echo.Context, status int, user db.User, pair auth.TokenPair) error {
	s.setRefreshCookie(c, pair.Refresh, int(auth.RefreshTTL.Seconds()))
	return c.JSON(status, tokenJSON{
		AccessToken: pair.Access,
		TokenType:   "Bearer",
		ExpiresIn:   int(time.Until(pair.ExpiresAt).Seconds()),
		User:        toUserJSON(user),
	})
}

func (s *Server) setRefreshCookie(c echo.Context, value string, maxAge int) {
	c.SetCookie(s.hostCookie(s.names.Refresh, value, refreshPath, maxAge, http.SameSiteStrictMode))
}

func (s *Server) apiRefresh(c echo.Context) error {
	ck, err := c.Cookie(s.names.Refresh)
	if err != nil {
		return NewError(http.StatusUnauthorized, "invalid_refresh_token", "There is no refresh token; sign in again.")
	}
	user, pair, err := s.Auth.Refresh(c.Request().Context(), ck.Value, meta(c))
	if err != nil {
		s.setRefreshCookie(c, "", -1)
		return accountError(err)
	}
	return s.tokenResponse(c, http.StatusOK, user, pair)
}

func (s *Server) apiLogout(c echo.Context) error {
	if ck, err := c.Cookie(s.names.Refresh); err == nil {
		if err := s.Auth.Logout(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	s.setRefreshCookie(c, "", -1)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiMe(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]userJSON{"user": toUserJSON(*currentUser(c))})
}

// accountError turns the account service's errors into responses.
func accountError(err error) error {
	var th *auth.ThrottledError
	switch {
	case errors.As(err, &th):
		return &Error{Status: http.StatusTooManyRequests, Code: "throttled", Message: th.Error(), RetryAfter: th.RetryAfter}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return NewError(http.StatusUnauthorized, "invalid_credentials", err.Error())
	case errors.Is(err, auth.ErrAccountDisabled):
		return NewError(http.StatusForbidden, "account_disabled", err.Error())
	case errors.Is(err, auth.ErrRefreshInvalid):
		return NewError(http.StatusUnauthorized, "invalid_refresh_token", err.Error())
	case errors.Is(err, auth.ErrEmailTaken):
		return &Error{Status: http.StatusConflict, Code: "email_taken", Field: "email", Message: err.Error()}
	case errors.Is(err, auth.ErrSignupClosed), errors.Is(err, auth.ErrInviteRequired):
		return NewError(http.StatusForbidden, "signup_closed", err.Error())
	case errors.Is(err, auth.ErrInviteInvalid):
		return invalidField("invite", err)
	case errors.Is(err, auth.ErrEmailInvalid):
		return invalidField("email", err)
	case errors.Is(err, auth.ErrPasswordShort), errors.Is(err, auth.ErrPasswordLong), errors.Is(err, auth.ErrWrongPassword):
		return invalidField("password", err)
	case errors.Is(err, auth.ErrLastAdmin):
		return NewError(http.StatusConflict, "last_admin", err.Error())
	case errors.Is(err, auth.ErrNotFound):
		return NewError(http.StatusNotFound, "not_found", "There is no such account.")
	}
	return err
}

func retryAfterSeconds(d time.Duration) string {
	s := int(d.Seconds() + 0.999)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

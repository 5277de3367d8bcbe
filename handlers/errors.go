package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"studio/views"
)

// Error is a failure a person should read: an HTTP status, a stable
// snake_case code for programs and a sentence for people.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string // the input field at fault, if one is
	// RetryAfter, when set, is sent as the Retry-After header (429).
	RetryAfter time.Duration
	Err        error // the cause, logged but never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// NewError is an Error without a hidden cause.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// problem is the JSON body of every API error.
type problem struct {
	Error problemBody `json:"error"`
}

type problemBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// handleError is the one place errors become responses: JSON under /api
// and for scripts that ask for it (Accept: application/json), an HTML
// fragment for htmx, an HTML page for everything else.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := s.classify(err, c)
	if e.Status >= 500 {
		s.log(c).Error("request failed", "err", err, "path", c.Request().URL.Path)
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	var werr error
	switch {
	case wantsJSON(c):
		werr = c.JSON(e.Status, problem{problemBody{e.Code, e.Message, e.Field}})
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(e.Status)
	case isHTMX(c):
		werr = render(c, e.Status, views.ErrorFragment(e.Message))
	default:
		werr = render(c, e.Status, views.ErrorPage(s.page(c, "Error"), e.Status, e.Message, requestID(c)))
	}
	if werr != nil {
		s.log(c).Warn("writing error response", "err", werr)
	}
}

func (s *Server) classify(err error, c echo.Context) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromHTTPError(he, s.Config.MaxBody)
	}
	if errors.Is(err, context.Canceled) {
		return NewError(499, "client_closed", "The request was cancelled.")
	}
	msg := "Something went wrong on our side; it has been logged."
	if id := requestID(c); id != "" {
		msg = "Something went wrong on our side; it has been logged with request id " + id + "."
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: msg, Err: err}
}

func fromHTTPError(he *echo.HTTPError, maxBody int64) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return NewError(he.Code, "not_found", "There is nothing at this address.")
	case http.StatusMethodNotAllowed:
		return NewError(he.Code, "method_not_allowed", "This address does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return NewError(he.Code, "too_large", fmt.Sprintf("The request body is larger than the limit of %s.", humanBytes(maxBody)))
	case http.StatusUnsupportedMediaType:
		return NewError(he.Code, "unsupported_media_type", "Send the body as application/json.")
	case http.StatusUnauthorized:
		return NewError(he.Code, "unauthorized", "Sign in first.")
	case http.StatusForbidden:
		return NewError(he.Code, "forbidden", "You are not allowed to do that.")
	case http.StatusTooManyRequests:
		return NewError(he.Code, "throttled", "Too many requests; wait a little and try again.")
	}
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		msg = m
	}
	code := strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_")
	if he.Code >= 500 {
		return &Error{Status: he.Code, Code: code, Message: "Something went wrong on our side; it has been logged.", Err: he}
	}
	return NewError(he.Code, code, msg)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// wantsJSON: an API request, or a script's request that accepts JSON
// and not HTML; the format follows what the client asks for.
func wantsJSON(c echo.Context) bool {
	if isAPI(c) {
		return true
	}
	if isHTMX(c) {
		return false
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(accept, echo.MIMEApplicationJSON) && !strings.Contains(accept, echo.MIMETextHTML)
}

func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

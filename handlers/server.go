// Package handlers is studio's web front door: the HTML pages, the JSON API
// under /api, health checks and the middleware around them. Handlers talk to
// services, never to the database or the container engine directly.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"studio/agents"
	"studio/auth"
	"studio/catalogues"
	"studio/config"
	"studio/containers"
	"studio/events"
	"studio/github"
	"studio/gitrepo"
	"studio/projects"
	"studio/terminal"
)

// Checker is one dependency /readyz asks about.
type Checker interface {
	Ping(ctx context.Context) error
}

// Deps is everything the handlers need.
type Deps struct {
	Config   *config.Config
	Logger   *slog.Logger
	Database Checker
	Engine   Checker // nil when no container engine is configured
	Auth     *auth.Service
	Projects *projects.Service
	Agents   *agents.Service
	Bus      *events.Bus
	Previews PreviewLinks
	Usage    UsageReader // nil: no resource figures on the admin page
	// Catalogues reads the remote marketplace catalogues; nil when the
	// administrator names none.
	Catalogues *catalogues.Client
	// Git clones the repositories people import.
	Git *gitrepo.Cloner
	// GitHub holds people's GitHub connections; nil: no GitHub pages.
	GitHub *github.Service
}

// UsageReader samples what a project's container uses.
type UsageReader interface {
	Usage(ctx context.Context, projectID string) (containers.Usage, error)
}

// Server holds the dependencies the handlers share.
type Server struct {
	Deps
	echo    *echo.Echo
	cookies *sessions.CookieStore
	names   auth.CookieNames // the cookie names for the UI's scheme
	streams *streamSlots     // open event streams per user
	// terminals holds the workspace terminals' shell sessions.
	terminals *terminal.Manager
	// imports bounds the imports (zip, git) a replica runs at once: each
	// holds up to STUDIO_IMPORT_MAX_SIZE, twice, in memory or on disk.
	imports chan struct{}
}

// maxImports is how many imports one replica runs at once.
const maxImports = 2

// New builds the web server with every route and middleware.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{Deps: d, echo: e, streams: newStreamSlots(d.Config.MaxStreamsPerUser), imports: make(chan struct{}, maxImports)}
	s.names = auth.Cookies(s.secureCookies())
	s.terminals = terminal.NewManager(terminal.Options{Idle: d.Config.TerminalIdle})
	s.cookies = newCookieStore(d.Auth.Ring, s.secureCookies())
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIPExtractor(d.Config)
	e.Use(
		s.strictTransport,
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{TargetHeader: echo.HeaderXRequestID}),
		s.accessLog,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.log(c).Error("panic", "err", err, "stack", string(stack))
				return err
			},
		}),
		writeDeadline(responseWriteTimeout),
		// Uploads of bundles and zips have their own, larger limits, set
		// here, before anything (the CSRF check's form parsing) reads them.
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: strconv.FormatInt(d.Config.MaxBody, 10) + "B",
			Skipper: func(c echo.Context) bool { return s.uploadLimit(c.Path()) > 0 }}),
		s.limitUploads,
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "SAMEORIGIN",
			ReferrerPolicy:        "same-origin",
			ContentSecurityPolicy: contentSecurityPolicy(d.Config.PreviewDomain, formTargets(d.Config)...),
		}),
		middleware.GzipWithConfig(middleware.GzipConfig{Skipper: isStream}),
	)
	s.routes()
	return s
}

// clientIPExtractor believes X-Forwarded-For only from a peer inside
// STUDIO_TRUSTED_PROXIES (and then only hops inside them); with none
// configured, the client is the peer, whatever its address.
func clientIPExtractor(cfg *config.Config) echo.IPExtractor {
	if len(cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	trust := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range cfg.TrustedProxies {
		trust = append(trust, echo.TrustIPRange(n))
	}
	// Read from the right, the peer first: the first address outside the
	// trusted ranges is the client.
	return echo.ExtractIPFromXFFHeader(trust...)
}

// strictTransport tells browsers to use https only, on every response
// (errors included), when the UI's address is https.
func (s *Server) strictTransport(next echo.HandlerFunc) echo.HandlerFunc {
	if !s.secureCookies() {
		return next
	}
	return func(c echo.Context) error {
		c.Response().Header().Set("Strict-Transport-Security", "max-age=31536000")
		return next(c)
	}
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// contentSecurityPolicy allows only studio's own assets, plus what Monaco
// needs (inline styles, blob workers, data fonts) and preview frames. Forms
// post to studio only; forms may end, through studio's redirect, at the
// origins in formTargets (a browser holds the redirect to the policy).
func contentSecurityPolicy(domain string, formTargets ...string) string {
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: blob:",
		"font-src 'self' data:",
		"worker-src 'self' blob:",
		"connect-src 'self'",
		"frame-src http://*." + domain + ":* https://*." + domain + ":*",
		"frame-ancestors 'self'",
		strings.Join(append([]string{"form-action 'self'"}, formTargets...), " "),
		"base-uri 'self'",
		"object-src 'none'",
	}, "; ")
}

// formTargets are the origins a form's redirect may lead to: GitHub's, for
// the OAuth web flow's "Connect GitHub".
func formTargets(cfg *config.Config) []string {
	if !cfg.GitHub || !cfg.GitHubOAuth() {
		return nil
	}
	u, err := url.Parse(cfg.GitHubWebURL())
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// isStream skips compression for Server-Sent Events, which must flush per event.
func isStream(c echo.Context) bool {
	return c.IsWebSocket() || strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/event-stream") ||
		strings.HasSuffix(c.Request().URL.Path, "/stream")
}

// log is the request's logger, carrying its request id.
func (s *Server) log(c echo.Context) *slog.Logger {
	return s.Logger.With("request_id", c.Response().Header().Get(echo.HeaderXRequestID))
}

// uploadLimit is the body limit of an upload route, which takes files
// larger than STUDIO_MAX_BODY: template bundles (STUDIO_TEMPLATE_MAX_SIZE)
// and project zips (STUDIO_IMPORT_MAX_SIZE), with room for a multipart
// envelope; 0 for every other route.
func (s *Server) uploadLimit(route string) int64 {
	const envelope = 64 << 10
	switch route {
	case "/api/templates/import", "/marketplace/agents/import":
		return max(int64(maxBundleBody), s.Agents.TemplateLimits().MaxBundle) + envelope
	case "/api/projects/import", "/projects/import":
		return s.Config.ImportMaxSize + envelope
	}
	return 0
}

// limitUploads bounds an upload route's body by its own limit; reading
// past it fails, and the handler answers 413.
func (s *Server) limitUploads(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if limit := s.uploadLimit(c.Path()); limit > 0 {
			if c.Request().ContentLength > limit {
				return NewError(http.StatusRequestEntityTooLarge, "too_large", "The upload is larger than the limit of "+humanBytes(limit)+".")
			}
			c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, limit)
		}
		return next(c)
	}
}

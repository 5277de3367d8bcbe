package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/agents/providers"
	"studio/app"
	"studio/auth"
	"studio/config"
	"studio/containers"
	"studio/db"
	"studio/db/dbtest"
	"studio/netguard"
	"studio/projects"
	"studio/proxy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testEnv is a real server on loopback with a fresh database.
type testEnv struct {
	t      testing.TB
	srv    *Server
	http   *httptest.Server
	client *http.Client // keeps cookies like a browser

	pool      *pgxpool.Pool
	rt        containers.Engine
	url       string // the database's
	instance  string // the label of the containers it owns
	dir       string // STUDIO_DATA
	endpoints *endpoints
}

// endpoints stands in for the administrator's STUDIO_*_BASE_URL: tests point
// openai, anthropic and gemini at fake servers through it, since a person's
// settings cannot.
type endpoints struct {
	mu   sync.Mutex
	urls map[string]string
}

func (e *endpoints) set(provider, url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.urls[provider] = url
}

func (e *endpoints) get(provider string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.urls[provider]
}

// localProviders is the provider HTTP client of every test server: fake
// providers listen on 127.0.0.1, which the administrator allows here.
var localProviders = func() *http.Client {
	allow, err := netguard.ParseAllowList("127.0.0.1")
	if err != nil {
		panic(err)
	}
	return netguard.NewClient(netguard.NewDialer(allow))
}()

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

// projectDir is the folder of a project's files.
func (e *testEnv) projectDir(id uuid.UUID) string {
	return filepath.Join(e.dir, "projects", id.String())
}

// adminStop stops a project as an administrator does, from the admin page.
func (e *testEnv) adminStop(id uuid.UUID) (db.Project, error) {
	ctx := context.Background()
	admin, err := db.New(e.pool).CreateUser(ctx, db.CreateUserParams{Email: "admin-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "admin"})
	if err != nil {
		return db.Project{}, err
	}
	h, err := e.srv.Projects.OpenAsAdmin(ctx, projects.Admin{ID: admin.ID}, id)
	if err != nil {
		return db.Project{}, err
	}
	return h.Stop(ctx)
}

func newEnv(t testing.TB, mutate ...func(*config.Config, *Deps)) *testEnv {
	t.Helper()
	return newEnvWith(t, envOptions{}, mutate...)
}

// envOptions vary a test server.
type envOptions struct {
	agents   func(*agents.Options)   // changes the agent service's options
	projects func(*projects.Options) // changes the project service's options
	// replicaOf makes the server a second studio on the first one's
	// database, data folder and container instance.
	replicaOf *testEnv
	env       map[string]string // more STUDIO_* variables
}

// testAgentOptions answer fast: no waiting between retries, a short
// silence limit.
func testAgentOptions() agents.Options {
	return agents.Options{ProviderOptions: []providers.Option{
		providers.WithHTTPClient(localProviders),
		providers.WithRetryPolicy(providers.RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}),
		providers.WithIdleTimeout(5 * time.Second),
		providers.WithLogger(slog.New(slog.DiscardHandler)),
	}}
}

func newEnvWith(t testing.TB, o envOptions, mutate ...func(*config.Config, *Deps)) *testEnv {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	var (
		url, instance, dir string
		ep                 = &endpoints{urls: map[string]string{}}
	)
	if o.replicaOf != nil {
		url, instance, dir = o.replicaOf.url, o.replicaOf.instance, o.replicaOf.dir
		if o.replicaOf.endpoints != nil {
			ep = o.replicaOf.endpoints
		}
	} else {
		_, url = dbtest.NewWithURL(t)
		instance = "test-" + uuid.NewString()[:8]
		dir = t.TempDir()
		for _, d := range []string{filepath.Dir(dir), dir} {
			os.Chmod(d, 0o755) // the project user in containers must reach project folders
		}
	}
	env := map[string]string{
		"STUDIO_DATABASE_URL": url,
		"STUDIO_DATA":         dir,
		"STUDIO_INSTANCE":     instance,
		"STUDIO_SECRET_KEY":   strings.Repeat("k", 32),
		"STUDIO_PROJECT_DISK": "0",
	}
	maps.Copy(env, o.env)
	cfg, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	studio, err := app.New(context.Background(), cfg, app.Options{
		Parts:  app.Everything,
		Logger: quiet,
		// A cheap bcrypt keeps hundreds of sign-ups fast; production's
		// cost 12 is tested in package auth.
		Auth:     []auth.Option{auth.WithPasswordCost(bcrypt.MinCost)},
		Projects: o.projects,
		Agents: func(opts *agents.Options) {
			opts.ProviderOptions = testAgentOptions().ProviderOptions
			opts.BaseURLFor = ep.get
			if o.agents != nil {
				o.agents(opts)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only the bus and the agents work in the background: the project
	// service's reconcile and idle timers are tested in package projects.
	ctx, cancel := context.WithCancel(context.Background())
	go studio.Bus.Run(ctx)
	go studio.Agents.Run(ctx)
	rt := studio.Engine
	t.Cleanup(func() {
		cancel()
		if studio.Projects != nil {
			studio.Projects.Close() // its background starts end before the listing below
		}
		if o.replicaOf == nil {
			managed, _ := rt.ListManaged(context.Background())
			for _, m := range managed {
				_ = rt.Remove(context.Background(), m.ProjectID)
			}
		}
		studio.Close()
	})
	deps := Deps{
		Config:     cfg,
		Logger:     quiet,
		Database:   studio,
		Engine:     pinger{},
		Auth:       studio.Auth,
		Projects:   studio.Projects,
		Agents:     studio.Agents,
		Bus:        studio.Bus,
		Previews:   &proxy.Signer{Ring: studio.Ring},
		Catalogues: studio.Catalogues,
		Git:        studio.Git,
		GitHub:     studio.GitHub,
		Usage:      rt,
	}
	for _, m := range mutate {
		m(cfg, &deps)
	}
	srv := New(deps)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	jar, _ := cookiejar.New(nil)
	return &testEnv{t: t, srv: srv, http: hs, pool: studio.Pool, rt: rt, url: url, instance: instance, dir: dir, endpoints: ep, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response with its body read.
func (e *testEnv) do(method, path string, body io.Reader, headers ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (e *testEnv) json(method, path string, body any, headers ...string) (*http.Response, map[string]any) {
	e.t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	res, text := e.do(method, path, r, append([]string{"Content-Type", "application/json"}, headers...)...)
	var out map[string]any
	if text != "" {
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %q", method, path, text)
		}
	}
	return res, out
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	if res, _ := env.do("GET", "/healthz", nil); res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	res, body := env.json("GET", "/readyz", nil)
	if res.StatusCode != 200 || body["status"] != "ok" {
		t.Fatalf("readyz %d %v", res.StatusCode, body)
	}

	down := newEnv(t, func(_ *config.Config, d *Deps) { d.Engine = pinger{errors.New("docker engine: cannot connect")} })
	res, body = down.json("GET", "/readyz", nil)
	checks, _ := body["checks"].(map[string]any)
	if res.StatusCode != 503 || checks["database"] != "ok" || checks["docker"] != "failing" {
		t.Fatalf("readyz with the engine down: %d %v", res.StatusCode, body)
	}
}

func TestErrorsAreJSONForAPIAndHTMLForBrowsers(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.srv.echo.GET("/boom", func(echo.Context) error { panic("secret internals") })
	env.srv.echo.GET("/api/boom", func(echo.Context) error { return errors.New("db password=hunter2 leaked?") })

	res, body := env.json("GET", "/api/nothing-here", nil)
	if res.StatusCode != 404 || errorCode(body) != "not_found" || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("api 404: %d %v %s", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	res, html := env.do("GET", "/nothing-here", nil)
	if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("html 404: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(html))
	if doc.Find("[data-testid=error-page]").Length() != 1 {
		t.Fatalf("no error page in %q", html)
	}
	res, html = env.do("GET", "/boom", nil)
	if res.StatusCode != 500 || strings.Contains(html, "secret internals") || strings.Contains(html, "goroutine") {
		t.Fatalf("panic leaked: %d %q", res.StatusCode, html)
	}
	res, body = env.json("GET", "/api/boom", nil)
	if res.StatusCode != 500 || errorCode(body) != "internal" || strings.Contains(body["error"].(map[string]any)["message"].(string), "hunter2") {
		t.Fatalf("api 500: %d %v", res.StatusCode, body)
	}
	if res.Header.Get("X-Request-Id") == "" || !strings.Contains(body["error"].(map[string]any)["message"].(string), res.Header.Get("X-Request-Id")) {
		t.Fatalf("500 should name the request id: %v", body)
	}
	res, frag := env.do("GET", "/nothing-here", nil, "HX-Request", "true")
	if res.StatusCode != 404 || !strings.Contains(frag, `data-testid="error"`) || strings.Contains(frag, "<html") {
		t.Fatalf("htmx error fragment: %d %q", res.StatusCode, frag)
	}
}

func TestBodyLimitAndSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Config, _ *Deps) { c.MaxBody = 4096 })
	res, body := env.json("POST", "/api/auth/login", strings.Repeat("x", 5000))
	if res.StatusCode != 413 || errorCode(body) != "too_large" {
		t.Fatalf("oversized body: %d %v", res.StatusCode, body)
	}
	res, _ = env.do("GET", "/login", nil, "Accept-Encoding", "gzip")
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "worker-src 'self' blob:", "frame-src http://*.studio.localhost:*", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("missing security headers: %v", res.Header)
	}
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("page not compressed: %v", res.Header)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }

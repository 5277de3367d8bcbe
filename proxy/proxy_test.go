package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/auth"
	"studio/containers"
	"studio/containers/image"
	"studio/db"
	"studio/db/dbtest"
	"studio/events"
	"studio/internal/testwait"
	"studio/projects"
	"studio/proxy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type env struct {
	t       testing.TB
	pool    *pgxpool.Pool
	svc     *projects.Service
	auth    *auth.Service
	signer  *proxy.Signer
	srv     *httptest.Server
	owner   uuid.UUID
	session uuid.UUID // a browser session of the owner's, which preview links name
}

// share switches the owner's project's public link on or off.
func (e *env) share(id uuid.UUID, on bool) (db.Project, error) {
	h, err := e.svc.Open(context.Background(), e.owner, id)
	if err != nil {
		return db.Project{}, err
	}
	return h.SetShareToken(context.Background(), on)
}

func newEnv(t testing.TB, mutate ...func(*proxy.Preview)) *env {
	t.Helper()
	return newEnvWith(t, nil, mutate...)
}

// newEnvWith is newEnv with the project service's options changed by
// service (a warm pool, for one) before it is made.
func newEnvWith(t testing.TB, service func(*projects.Options), mutate ...func(*proxy.Preview)) *env {
	t.Helper()
	pool := dbtest.New(t)
	quiet := slog.New(slog.DiscardHandler)
	rt, err := containers.NewDockerWith(containers.Options{Instance: "test-" + uuid.NewString()[:8], Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	opts := projects.Options{
		Root: filepath.Join(dir, "projects"), Checkpoints: filepath.Join(dir, "cp"), Logger: quiet,
	}
	if service != nil {
		service(&opts)
	}
	svc := projects.New(pool, rt, events.New(pool, quiet), opts)
	t.Cleanup(func() {
		svc.Close()
		managed, _ := rt.ListManaged(context.Background())
		for _, m := range managed {
			rt.Remove(context.Background(), m.ProjectID)
		}
	})
	ring, _ := auth.LoadKeyring(strings.Repeat("p", 32), "", "")
	signer := &proxy.Signer{Ring: ring}
	accounts := auth.NewService(pool, ring, "open", quiet)
	config := &proxy.Preview{Projects: svc, SignIns: accounts, Signer: signer, Domain: "studio.localhost", PublicURL: "http://studio.localhost", MaxBody: 1 << 20, Log: quiet}
	for _, m := range mutate {
		m(config)
	}
	preview := proxy.New(config)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the studio app") })
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	hosts := proxy.Hosts{UI: "studio.localhost:" + port, PreviewDomain: "studio.localhost", Log: quiet, ForwardAuth: http.HandlerFunc(preview.ForwardAuth)}
	srv.Config.Handler = proxy.Router(hosts, app, preview)
	srv.Start()
	t.Cleanup(srv.Close)
	u, err := db.New(pool).CreateUser(context.Background(), db.CreateUserParams{Email: uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := accounts.CreateSession(context.Background(), u.ID, auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, pool: pool, svc: svc, auth: accounts, signer: signer, srv: srv, owner: u.ID, session: sess.ID}
}

// holder is the owner signed in through the env's browser session.
func (e *env) holder() proxy.Holder { return proxy.Holder{User: e.owner, Session: e.session} }

// browser sends every *.localhost name to the test server, as browsers do.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := e.srv.Listener.Addr().String()
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func (e *env) host(slug string) string {
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	return "http://" + slug + ".studio.localhost:" + port
}

func (e *env) activeProject(template string) db.Project {
	e.t.Helper()
	p, err := e.svc.Create(context.Background(), e.owner, "app "+uuid.NewString()[:6], template)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.waitStatus(p.ID, db.ProjectStatusActive)
}

func (e *env) waitStatus(id uuid.UUID, want db.ProjectStatus) db.Project {
	e.t.Helper()
	var p db.Project
	testwait.Eventually(e.t, 60*time.Second, func() bool {
		var err error
		p, err = e.svc.Get(context.Background(), e.owner, id)
		return err == nil && p.Status == want
	}, "project "+id.String()+" is "+string(want))
	return p
}

func get(t testing.TB, c *http.Client, u string, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func (e *env) signIn(c *http.Client, p db.Project, next string) (int, string) {
	e.t.Helper()
	link, _, err := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, next)
	if err != nil {
		e.t.Fatal(err)
	}
	code, body, _ := get(e.t, c, link)
	return code, body
}

func TestPrivacyAndSignedLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.activeProject("static")
	anon := e.browser()
	if code, body, _ := get(t, anon, e.host(p.Slug)+"/"); code != 404 || strings.Contains(body, p.Name) {
		t.Fatalf("anonymous: %d %q", code, body)
	}
	if code, _, _ := get(t, anon, e.host("no-such-project")+"/"); code != 404 {
		t.Fatalf("unknown project: %d", code)
	}
	if code, body, _ := get(t, anon, strings.Replace(e.srv.URL, "127.0.0.1", "studio.localhost", 1)+"/"); code != 200 || body != "the studio app" {
		t.Fatalf("the app host: %d %q", code, body)
	}
	owner := e.browser()
	link, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/index.html")
	if code, body, _ := get(t, owner, link); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("signed link: %d %q", code, body)
	}
	if code, _, _ := get(t, owner, e.host(p.Slug)+"/"); code != 200 {
		t.Fatalf("owner with cookie: %d", code)
	}
	// The same link a second time, by anyone, does nothing.
	if code, _, _ := get(t, e.browser(), link); code != 404 {
		t.Fatalf("second use of a link: %d", code)
	}
	// A link for another user, or for another project, is refused.
	other, _, _ := e.signer.Link(e.host(p.Slug)+"/", proxy.Holder{User: uuid.New(), Session: e.session}, p.ID, "/")
	if code, _, _ := get(t, e.browser(), other); code != 404 {
		t.Fatalf("a link for someone else: %d", code)
	}
	p2 := e.activeProject("static")
	cross, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p2.ID, "/")
	if code, _, _ := get(t, e.browser(), cross); code != 404 {
		t.Fatalf("another project's link: %d", code)
	}
	// The owner's cookie for one project does not open another.
	if code, _, _ := get(t, owner, e.host(p2.Slug)+"/"); code != 404 {
		t.Fatalf("cookie reused across projects: %d", code)
	}
	// Tampered and expired links.
	if code, _, _ := get(t, e.browser(), strings.Replace(link, "token=", "token=x", 1)); code != 404 {
		t.Fatalf("tampered link: %d", code)
	}
	stale, _ := auth.LoadKeyring(strings.Repeat("q", 32), "", "")
	forged, _, _ := (&proxy.Signer{Ring: stale}).Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/")
	if code, _, _ := get(t, e.browser(), forged); code != 404 {
		t.Fatalf("link signed with another key: %d", code)
	}
	// Redirects stay on the preview host.
	c := e.browser()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	evil, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "//evil.example/")
	if code, _, h := get(t, c, evil); code != 303 || h.Get("Location") != "/" {
		t.Fatalf("next=//evil: %d %q", code, h.Get("Location"))
	}
}

func TestShareLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.activeProject("static")
	shared, err := e.share(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	visitor := e.browser()
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/?share=wrong"); code != 404 {
		t.Fatalf("wrong share token: %d", code)
	}
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/?share="+shared.ShareToken); code != 200 {
		t.Fatalf("share link: %d", code)
	}
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/index.html"); code != 200 {
		t.Fatalf("share cookie: %d", code)
	}
	if _, err := e.share(p.ID, false); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/index.html"); code != 404 {
		t.Fatalf("revoked share link still works: %d", code)
	}
}

// TestHMRThroughTheProxy: Vite's hot-reload socket, connected through the
// proxy, hears about a change to src/App.tsx.
func TestHMRThroughTheProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.activeProject("react-vite")
	owner := e.browser()
	if code, _ := e.signIn(owner, p, "/"); code != 200 {
		t.Fatalf("sign in: %d", code)
	}
	code, client, _ := get(t, owner, e.host(p.Slug)+"/@vite/client")
	m := regexp.MustCompile(`const wsToken = "([^"]+)"`).FindStringSubmatch(client)
	if code != 200 || m == nil {
		t.Fatalf("vite client: %d, token found %v", code, m != nil)
	}
	u, _ := url.Parse(e.host(p.Slug))
	cookies := owner.Jar.Cookies(u)
	hdr := http.Header{}
	for _, c := range cookies {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	hdr.Set("Origin", e.host(p.Slug))
	dialer := websocket.Dialer{
		Subprotocols: []string{"vite-hmr"},
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.srv.Listener.Addr().String())
		},
		HandshakeTimeout: 10 * time.Second,
	}
	wsURL := "ws://" + u.Host + "/?token=" + m[1]
	conn, res, err := dialer.Dial(wsURL, hdr)
	if err != nil {
		t.Fatalf("websocket through the proxy: %v (%v)", err, res)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || !strings.Contains(string(msg), "connected") {
		t.Fatalf("first message: %q %v", msg, err)
	}
	// Vite sends updates only for modules in its graph: load App.tsx as a
	// browser would before changing it (a warm-up still running on a busy
	// machine may not have yet).
	if code, _, _ := get(t, owner, e.host(p.Slug)+"/src/App.tsx"); code != 200 {
		t.Fatalf("GET /src/App.tsx: %d", code)
	}
	h, err := e.svc.Open(context.Background(), e.owner, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(h.Dir(), "src", "App.tsx")
	src, _ := os.ReadFile(app)
	os.WriteFile(app, []byte(strings.Replace(string(src), "</h1>", " changed</h1>", 1)), 0o644)
	os.Chown(app, image.ProjectUID, image.ProjectGID)
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no update message after editing App.tsx: %v", err)
		}
		if strings.Contains(string(msg), `"update"`) && strings.Contains(string(msg), "App.tsx") {
			return
		}
	}
}

func TestWakeAndRevive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p := e.activeProject("static")
	owner := e.browser()
	e.signIn(owner, p, "/")
	if err := e.svc.Hibernate(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	code, body, h := get(t, owner, e.host(p.Slug)+"/", "Accept", "text/html")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("hibernated preview: %d %v %q", code, h, body)
	}
	e.waitStatus(p.ID, db.ProjectStatusActive)
	if code, _, _ := get(t, owner, e.host(p.Slug)+"/"); code != 200 {
		t.Fatalf("after waking: %d", code)
	}
	// The container vanishes behind studio's back: no 502, it comes back.
	rt, _ := containers.NewDocker()
	defer rt.Close()
	if err := rt.Remove(ctx, p.ID.String()); err != nil {
		t.Fatal(err)
	}
	code, _, _ = get(t, owner, e.host(p.Slug)+"/", "Accept", "text/html")
	if code == 502 {
		t.Fatal("a dead container answered 502")
	}
	e.waitStatus(p.ID, db.ProjectStatusActive)
	testwait.Eventually(t, 30*time.Second, func() bool {
		code, _, _ := get(t, owner, e.host(p.Slug)+"/")
		return code == 200
	}, "the preview comes back")
}

// TestForwardedRequest checks what reaches the project: studio's cookies
// are gone, the project's own stay, X-Forwarded-* are set. The project
// here is an HTTP server on loopback standing in for a dev server.
func TestForwardedRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seen := make(chan *http.Request, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Clone(context.Background())
		io.WriteString(w, "from the dev server")
	}))
	defer upstream.Close()
	p := e.projectServedBy(upstream)
	owner := e.browser()
	e.signIn(owner, p, "/x")
	<-seen // the sign-in's redirect target
	u, _ := url.Parse(e.host(p.Slug))
	owner.Jar.SetCookies(u, []*http.Cookie{{Name: "studio_session", Value: "secret"}, {Name: "app_pref", Value: "dark"}})
	code, body, _ := get(t, owner, e.host(p.Slug)+"/page?q=1")
	if code != 200 || body != "from the dev server" {
		t.Fatalf("proxied: %d %q", code, body)
	}
	r := <-seen
	if c := r.Header.Get("Cookie"); strings.Contains(c, "studio_") || !strings.Contains(c, "app_pref=dark") {
		t.Fatalf("cookies forwarded: %q", c)
	}
	if r.Header.Get("X-Forwarded-For") == "" || r.Header.Get("X-Forwarded-Host") == "" || r.Host != u.Host {
		t.Fatalf("forwarding headers: host %q %v", r.Host, r.Header)
	}
	if r.URL.RequestURI() != "/page?q=1" {
		t.Fatalf("path: %q", r.URL.RequestURI())
	}
}

// movedUpstreams says no recorded address is its project's any more, as
// the Kubernetes runtime does once a project's pod is gone.
type movedUpstreams struct{ asked chan string }

func (m movedUpstreams) Serves(projectID, addr string) bool {
	m.asked <- projectID + " " + addr
	return false
}

// TestAnUpstreamThatMovedIsNotDialled: when the runtime says the recorded
// address is no longer the project's dev server (on Kubernetes a pod's
// address may go to another project's pod), the proxy does not dial it:
// it starts the project again and shows the starting page.
func TestAnUpstreamThatMovedIsNotDialled(t *testing.T) {
	t.Parallel()
	moved := movedUpstreams{asked: make(chan string, 8)}
	e := newEnv(t, func(p *proxy.Preview) { p.Upstreams = moved })
	dialled := make(chan struct{}, 8)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dialled <- struct{}{}
		io.WriteString(w, "another project's dev server")
	}))
	defer upstream.Close()
	p := e.projectServedBy(upstream)
	owner := e.browser()
	e.signIn(owner, p, "/")
	code, body, _ := get(t, owner, e.host(p.Slug)+"/")
	if code != http.StatusServiceUnavailable || strings.Contains(body, "another project") {
		t.Fatalf("a moved upstream: %d %q, want the starting page", code, body)
	}
	select {
	case <-dialled:
		t.Fatal("the proxy dialled an address the runtime disowned")
	default:
	}
	if asked := <-moved.asked; !strings.HasPrefix(asked, p.ID.String()+" 127.0.0.1:") {
		t.Errorf("asked about %q", asked)
	}
}

// projectServedBy makes an active project whose "dev server" is upstream,
// an HTTP server on loopback.
func (e *env) projectServedBy(upstream *httptest.Server) db.Project {
	e.t.Helper()
	ctx := context.Background()
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	p, err := db.New(e.pool).CreateProject(ctx, db.CreateProjectParams{OwnerID: e.owner, Name: "fake", Slug: "fake-" + uuid.NewString()[:6], Template: "static"})
	if err != nil {
		e.t.Fatal(err)
	}
	hp, _ := strconv.Atoi(port)
	if _, err := e.pool.Exec(ctx, "UPDATE projects SET status = 'active', host_port = $2 WHERE id = $1", p.ID, hp); err != nil {
		e.t.Fatal(err)
	}
	p.Status, p.HostPort = db.ProjectStatusActive, int32(hp)
	return p
}

// TestShareVisitorsReadNoErrors: why a project failed (engine errors, host
// paths, figures) is for its owner; a share-link visitor reads that it is
// not running.
func TestShareVisitorsReadNoErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.activeProject("static")
	shared, err := e.share(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	visitor, owner := e.browser(), e.browser()
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/?share="+shared.ShareToken); code != 200 {
		t.Fatalf("share link: %d", code)
	}
	e.signIn(owner, p, "/")
	const reason = "dial tcp 127.0.0.1:5173: /srv/studio/data/projects/secret"
	if _, err := e.pool.Exec(context.Background(), "UPDATE projects SET status = 'error', status_reason = $2 WHERE id = $1", p.ID, reason); err != nil {
		t.Fatal(err)
	}
	var body string
	testwait.Eventually(t, 5*time.Second, func() bool {
		var code int
		code, body, _ = get(t, visitor, e.host(p.Slug)+"/", "Accept", "text/html")
		return code == http.StatusBadGateway
	}, "the failed page for the visitor")
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "/projects/") || !strings.Contains(body, "not running") {
		t.Fatalf("a share-link visitor reads: %q", body)
	}
	testwait.Eventually(t, 5*time.Second, func() bool {
		_, body, _ := get(t, owner, e.host(p.Slug)+"/", "Accept", "text/html")
		return strings.Contains(body, reason)
	}, "the owner reads why the project failed")
}

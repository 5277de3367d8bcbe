package proxy_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"studio/auth"
	"studio/config"
	"studio/db"
	"studio/internal/testwait"
	"studio/proxy"
)

// ask sends what Traefik's ForwardAuth middleware sends for a browser's
// request to target: the browser's headers, and the request itself in
// X-Forwarded-Method/Proto/Host/Uri, to studio at the address Traefik
// dials (not a preview host). It follows no redirect.
func (e *env) ask(target string, headers ...string) (int, string, http.Header) {
	e.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+config.ForwardAuthPath, nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", u.Scheme)
	req.Header.Set("X-Forwarded-Host", u.Host)
	req.Header.Set("X-Forwarded-Uri", u.RequestURI())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		e.t.Fatalf("ask about %s: %v", target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// cookieOf is the value a response sets for the named cookie.
func cookieOf(h http.Header, name string) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// TestForwardAuthGrantsWhatTheProxyGrants: Traefik's ForwardAuth asks
// studio about each preview request; studio answers each kind of caller
// as its own proxy would, against a real project container.
func TestForwardAuthGrantsWhatTheProxyGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, func(p *proxy.Preview) { p.Routed = true })
	p := e.activeProject("static")
	names := auth.Cookies(false)
	page := e.host(p.Slug) + "/index.html"

	// A stranger, and a request for no preview at all.
	if code, body, _ := e.ask(page); code != 404 || strings.Contains(body, p.Name) {
		t.Fatalf("stranger: %d %q", code, body)
	}
	if code, _, _ := e.ask(e.host("no-such-project") + "/"); code != 404 {
		t.Fatalf("unknown project: %d", code)
	}
	if code, _, _ := e.ask("http://studio.localhost/"); code != 400 {
		t.Fatalf("the UI's host: %d", code)
	}

	// The signed link: a redirect to a whole address on the preview host
	// (Traefik must not resolve it against studio's) with the grant.
	link, _, err := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/index.html?x=1")
	if err != nil {
		t.Fatal(err)
	}
	code, _, h := e.ask(link)
	grant := cookieOf(h, names.Preview)
	if code != 303 || h.Get("Location") != page+"?x=1" || grant == "" {
		t.Fatalf("signed link: %d %q grant %q", code, h.Get("Location"), grant)
	}
	if code, _, _ := e.ask(link); code != 404 {
		t.Fatalf("a link used twice: %d", code)
	}

	// The owner passes, and the dev server gets the project's own cookies
	// but none of studio's (Traefik copies the Cookie header studio answers).
	code, _, h = e.ask(page, "Cookie", names.Preview+"="+grant+"; theme=dark", "Cookie", names.Session+"=stolen")
	if code != 200 || strings.Join(h.Values("Cookie"), "; ") != "theme=dark" {
		t.Fatalf("owner: %d, cookies passed on %q", code, h.Values("Cookie"))
	}
	code, _, h = e.ask(page, "Cookie", names.Preview+"="+grant)
	if code != 200 || len(h.Values("Cookie")) != 0 {
		t.Fatalf("owner without cookies of the project's: %d %q", code, h.Values("Cookie"))
	}
	// The grant of one project does not open another.
	p2 := e.activeProject("static")
	if code, _, _ := e.ask(e.host(p2.Slug)+"/", "Cookie", names.Preview+"="+grant); code != 404 {
		t.Fatalf("a grant reused on another project: %d", code)
	}

	// A share link: refused while off, then a redirect with its cookie,
	// then the cookie passes; revoked, refused at once.
	if code, _, _ := e.ask(page + "?share=guess"); code != 404 {
		t.Fatalf("share link of an unshared project: %d", code)
	}
	shared, err := e.share(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	code, _, h = e.ask(page + "?share=" + shared.ShareToken)
	share := cookieOf(h, names.Share)
	if code != 303 || h.Get("Location") != page || share == "" {
		t.Fatalf("share link: %d %q %q", code, h.Get("Location"), share)
	}
	if code, _, _ := e.ask(page, "Cookie", names.Share+"="+share); code != 200 {
		t.Fatalf("share cookie: %d", code)
	}
	if _, err := e.share(p.ID, false); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.ask(page, "Cookie", names.Share+"="+share); code != 404 {
		t.Fatalf("a revoked share link: %d", code)
	}

	// A sleeping project: someone opening it wakes it and gets the page
	// that reloads itself; what an open page asks for in the background
	// gets a 503 and wakes nothing.
	if err := e.svc.Hibernate(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	// (An active project's row is cached for a second.)
	testwait.Eventually(t, 5*time.Second, func() bool {
		code, body, _ := e.ask(page, "Cookie", names.Preview+"="+grant, "Accept", "text/html", "Sec-Fetch-Mode", "cors")
		if code != 200 && code != 503 {
			t.Fatalf("a background request to a sleeping project: %d %q", code, body)
		}
		return code == 503
	}, "a background request to a sleeping project gets a 503")
	if cur, _ := e.svc.Get(ctx, e.owner, p.ID); cur.Status != db.ProjectStatusHibernated {
		t.Fatalf("a background request woke the project: %s", cur.Status)
	}
	code, body, _ := e.ask(page, "Cookie", names.Preview+"="+grant, "Accept", "text/html", "Sec-Fetch-Mode", "navigate")
	if code != 503 || !strings.Contains(body, `data-testid="preview-starting"`) {
		t.Fatalf("opening a sleeping project: %d %q", code, body)
	}
	e.waitStatus(p.ID, db.ProjectStatusActive)
	if code, _, _ := e.ask(page, "Cookie", names.Preview+"="+grant); code != 200 {
		t.Fatalf("after waking: %d", code)
	}

	// A disabled owner: the share link is as good as revoked and the
	// owner's own grant ends.
	if _, err := e.share(p.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, "UPDATE users SET disabled_at = now() WHERE id = $1", e.owner); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		code, _, _ := e.ask(page, "Cookie", names.Preview+"="+grant, "Accept", "text/html")
		return code == 403
	}, "a disabled owner's grant is refused")
	if code, _, _ := e.ask(page, "Cookie", names.Share+"="+share); code != 404 {
		t.Fatalf("a disabled owner's share cookie: %d", code)
	}
}

// TestForwardAuthAnswersOnlyTheRouter: a peer outside
// STUDIO_TRUSTED_PROXIES learns nothing and wakes nothing.
func TestForwardAuthAnswersOnlyTheRouter(t *testing.T) {
	t.Parallel()
	_, elsewhere, _ := net.ParseCIDR("192.0.2.0/24") // no traffic goes there: it is only a setting
	e := newEnv(t, func(p *proxy.Preview) { p.Routed = true; p.Trusted = []*net.IPNet{elsewhere} })
	p := e.activeProject("static")
	link, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/")
	if code, body, h := e.ask(link); code != 403 || h.Get("Set-Cookie") != "" {
		t.Fatalf("untrusted peer: %d %q", code, body)
	}
	// The refused request did not spend the link.
	c := e.browser()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if code, _, _ := get(t, c, link); code != 303 {
		t.Fatalf("the link after a refused ForwardAuth request: %d", code)
	}
}

// TestRoutedPreviewNeverForwards: with Traefik routing, a request that
// reaches studio's own preview handler for an active project (its router
// is gone, or the errors middleware sent it) gets the "Starting…" page and
// a restart when someone opens the page, never studio's own forwarding.
func TestRoutedPreviewNeverForwards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *proxy.Preview) { p.Routed = true })
	p := e.activeProject("static")
	owner := e.browser()
	if code, _ := e.signIn(owner, p, "/"); code != 503 {
		t.Fatalf("a routed preview reached through studio: %d", code)
	}
	e.waitStatus(p.ID, db.ProjectStatusActive) // opening it restarted it
	code, body, _ := get(t, owner, e.host(p.Slug)+"/__studio/unavailable?status=504", "Accept", "*/*", "Sec-Fetch-Mode", "no-cors")
	if code != 503 || strings.Contains(body, "<html") {
		t.Fatalf("a module the dev server answered 504: %d %q", code, body)
	}
	if cur, _ := e.svc.Get(context.Background(), e.owner, p.ID); cur.Status != db.ProjectStatusActive {
		t.Fatalf("a background 504 restarted the project: %s", cur.Status)
	}
	code, body, _ = get(t, owner, e.host(p.Slug)+"/__studio/unavailable?status=502", "Accept", "text/html", "Sec-Fetch-Mode", "navigate")
	if code != 503 || !strings.Contains(body, `data-testid="preview-starting"`) {
		t.Fatalf("opening a page whose dev server is down: %d %q", code, body)
	}
	e.waitStatus(p.ID, db.ProjectStatusActive)
}

// TestForwardAuthEdges: a cookie tossed by another preview host for a
// parent domain does not hide the owner's own; the path is not answered
// on the UI's host name (a proxy in front of the UI is trusted for every
// client); a background request to a sleeping routed project gets a 503,
// not a cut connection (Traefik would show its bare 502).
func TestForwardAuthEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, func(p *proxy.Preview) { p.Routed = true })
	p := e.activeProject("static")
	names := auth.Cookies(false)
	link, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/")
	_, _, h := e.ask(link)
	grant := cookieOf(h, names.Preview)
	if grant == "" {
		t.Fatal("no grant")
	}
	if code, _, _ := e.ask(e.host(p.Slug)+"/", "Cookie", names.Preview+"=tossed-by-another-preview; "+names.Preview+"="+grant); code != 200 {
		t.Fatalf("the owner's grant behind a tossed cookie: %d", code)
	}

	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	req, _ := http.NewRequest("GET", e.srv.URL+config.ForwardAuthPath, nil)
	req.Host = "studio.localhost:" + port
	req.Header.Set("X-Forwarded-Host", strings.TrimPrefix(e.host(p.Slug), "http://"))
	req.Header.Set("X-Forwarded-Uri", "/")
	req.Header.Set("Cookie", names.Preview+"="+grant)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "the studio app" || res.Header.Get("Cookie") != "" {
		t.Fatalf("ForwardAuth answered on the UI's host: %d %q", res.StatusCode, body)
	}

	if err := e.svc.Hibernate(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	owner := e.browser()
	e.signIn(owner, p, "/") // wakes it: wait, then put it to sleep again
	e.waitStatus(p.ID, db.ProjectStatusActive)
	if err := e.svc.Hibernate(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 5*time.Second, func() bool {
		code, _, _ := get(t, owner, e.host(p.Slug)+"/data.json", "Sec-Fetch-Mode", "cors", "Accept", "*/*")
		return code == 503
	}, "a background request to a sleeping routed project gets a 503")
}

package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"studio/config"
)

// uiOrigin is the UI's origin in the test configuration (the default
// STUDIO_BASE_URL).
const uiOrigin = "http://studio.localhost:8080"

// sendAs sends a request from this browser with the UI's host name in the
// Host header, as a browser on studio.localhost would.
func (b *browser) sendAs(method, path, body string, headers ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.http.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Host = "studio.localhost:" + mustURL(b.http.URL).Port()
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// The jar files cookies under the Host header; send those it holds for
	// the server's address too, after any set above (a planted cookie with
	// a longer path comes first in a browser).
	for _, ck := range b.client.Jar.Cookies(mustURL(b.http.URL)) {
		req.AddCookie(ck)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	return res, string(text)
}

// setCookies are the raw Set-Cookie lines of a response, lower-cased.
func setCookies(res *http.Response) []string {
	var out []string
	for _, v := range res.Header.Values("Set-Cookie") {
		out = append(out, strings.ToLower(v))
	}
	return out
}

func hasCookieLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, strings.ToLower(p))
		}
		if all {
			return true
		}
	}
	return false
}

func userName(t *testing.T, env *testEnv, email string) string {
	var name string
	if err := env.pool.QueryRow(context.Background(), "SELECT name FROM users WHERE email = $1", email).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestDuplicateCookieIsRefused: a second studio_session planted by a
// sibling host (Domain=parent, longer path) is never taken for the real one.
func TestDuplicateCookieIsRefused(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("victim@example.com")
	tossed := "studio_session=planted-by-a-preview"

	// A page: the tossed copies are expired where a sibling host could
	// have put them, the real cookie stays, and the browser asks again.
	res, _ := b.sendAs("GET", "/settings", "", "Cookie", tossed)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings" {
		t.Fatalf("page with a duplicate cookie: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	lines := setCookies(res)
	for _, name := range []string{"studio_session", "studio_csrf", "studio_refresh"} {
		for _, path := range []string{"/", "/settings"} {
			if !hasCookieLine(lines, name+"=;", "path="+path+";", "domain=studio.localhost", "max-age=0") {
				t.Errorf("no expiry for a tossed %s on Domain=studio.localhost Path=%s in %q", name, path, lines)
			}
		}
		if !hasCookieLine(lines, name+"=;", "path=/settings;", "max-age=0") {
			t.Errorf("no host-only expiry of %s on Path=/settings: %q", name, lines)
		}
	}
	for _, l := range lines {
		if (strings.HasPrefix(l, "studio_session=;") || strings.HasPrefix(l, "studio_csrf=;")) && strings.Contains(l, "path=/;") && !strings.Contains(l, "domain=") {
			t.Fatalf("the genuine host-only cookie was expired: %q", l)
		}
	}
	// The same copy again (it could not be cleared): now both go and the
	// person is asked to sign in again.
	res, body := b.sendAs("GET", "/settings", "", "Cookie", tossed)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in again") {
		t.Fatalf("a duplicate that survives the retry: %d %s", res.StatusCode, body)
	}
	if !hasCookieLine(setCookies(res), "studio_session=;", "path=/;", "max-age=0") {
		t.Fatalf("the fallback leaves the session cookie: %q", setCookies(res))
	}

	// The retry's address stays on the UI origin, whatever the path.
	for i, path := range []string{"//evil.example/", "/\\evil.example/", "//evil.example/settings?x=1"} {
		d := env.browser()
		d.signup("toss" + strconv.Itoa(i) + "@example.com")
		res, _ := d.sendAs("GET", path, "", "Cookie", tossed)
		if loc := res.Header.Get("Location"); res.StatusCode == http.StatusSeeOther && (!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\")) {
			t.Errorf("GET %s with a duplicate cookie redirects to %q", path, loc)
		}
	}

	// A form POST is not carried out.
	c := env.browser()
	c.signup("other@example.com")
	_, _, token := c.page("/profile")
	res, body = c.sendAs("POST", "/profile/name", url.Values{"csrf_token": {token}, "name": {"Mallory"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Cookie", tossed)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in again") || userName(t, env, "other@example.com") == "Mallory" {
		t.Fatalf("form POST with a duplicate cookie: %d %s", res.StatusCode, body)
	}
	// An htmx POST gets the message as a fragment.
	res, body = c.sendAs("POST", "/profile/name", url.Values{"csrf_token": {token}, "name": {"Mallory"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true", "Cookie", tossed)
	if res.StatusCode != http.StatusForbidden || strings.Contains(body, "<html") || !strings.Contains(body, "sign in again") {
		t.Fatalf("htmx POST with a duplicate cookie: %d %s", res.StatusCode, body)
	}
	// JSON: refresh with two refresh cookies.
	res, body = c.sendAs("POST", "/api/auth/refresh", "", "Cookie", "studio_refresh=a; studio_refresh=b")
	var problem map[string]any
	json.Unmarshal([]byte(body), &problem)
	if res.StatusCode != http.StatusForbidden || errorCode(problem) != "duplicate_cookie" {
		t.Fatalf("refresh with two refresh cookies: %d %s", res.StatusCode, body)
	}
	// Without the tossed cookie the person is still signed in as themselves.
	if res, body := c.sendAs("GET", "/", ""); res.StatusCode != 200 || !strings.Contains(body, `data-testid="dashboard"`) {
		t.Fatalf("the genuine session no longer works: %d", res.StatusCode)
	}
}

func TestPathPrefixesCoverEveryCookiePath(t *testing.T) {
	got := strings.Join(pathPrefixes("/settings/providers/openai"), " ")
	if got != "/ /settings /settings/ /settings/providers /settings/providers/ /settings/providers/openai" {
		t.Fatalf("prefixes: %s", got)
	}
	if got := strings.Join(parentDomains("Studio.Example.com:8080"), " "); got != "studio.example.com example.com com" {
		t.Fatalf("domains: %s", got)
	}
	if got := parentDomains("127.0.0.1:8080"); got != nil {
		t.Fatalf("domains of an address: %v", got)
	}
}

// TestCSRFTokenIsBoundToTheSession: a token from another session, or a
// pre-sign-in value planted in a cookie, opens nothing.
func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice, mallory := env.browser(), env.browser()
	alice.signup("alice@example.com")
	mallory.signup("mallory@example.com")
	_, _, malloryToken := mallory.page("/profile")
	res, _ := alice.post("/profile/name", url.Values{"csrf_token": {malloryToken}, "name": {"Owned"}})
	if res.StatusCode != http.StatusForbidden || userName(t, env, "alice@example.com") == "Owned" {
		t.Fatalf("another session's token: %d", res.StatusCode)
	}
	_, _, aliceToken := alice.page("/profile")
	if res, _ := alice.post("/profile/name", url.Values{"csrf_token": {aliceToken}, "name": {"Alice"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session's own token: %d", res.StatusCode)
	}

	// Before sign-in: a cookie value the attacker chose, echoed in the form.
	victim := env.browser()
	planted := "0123456789abcdef0123456789abcdef0123456789"
	victim.client.Jar.SetCookies(mustURL(env.http.URL), []*http.Cookie{{Name: "studio_csrf", Value: planted, Path: "/"}})
	res, _ = victim.post("/login", url.Values{"csrf_token": {planted}, "email": {"mallory@example.com"}, "password": {"a long password"}})
	if res.StatusCode != http.StatusForbidden || victim.cookie("studio_session") != nil {
		t.Fatalf("sign-in with a planted CSRF cookie: %d", res.StatusCode)
	}
	// The page replaces the planted value with a signed one, which works.
	_, _, token := victim.page("/login")
	if token == planted || victim.cookie("studio_csrf").Value != token {
		t.Fatalf("the login page kept the planted value: %q", token)
	}
	if res := victim.login("alice@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with studio's own nonce: %d", res.StatusCode)
	}
}

// TestCrossOriginWritesAreRefused: a preview page (same site, other
// origin) cannot post to the UI; Bearer API calls need no Origin.
func TestCrossOriginWritesAreRefused(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("ada@example.com")
	_, _, token := b.page("/profile")
	form := url.Values{"csrf_token": {token}, "name": {"Changed"}}.Encode()
	formCT := []string{"Content-Type", "application/x-www-form-urlencoded"}
	preview := "http://evil.studio.localhost:8080"

	cases := []struct {
		name, method, path, body string
		headers                  []string
		json                     bool
	}{
		{"form POST, Origin of a preview", "POST", "/profile/name", form, append(formCT, "Origin", preview), false},
		{"form POST, Sec-Fetch-Site same-site", "POST", "/profile/name", form, append(formCT, "Sec-Fetch-Site", "same-site", "Origin", uiOrigin), false},
		{"form POST, Origin null", "POST", "/profile/name", form, append(formCT, "Origin", "null"), false},
		{"htmx POST", "POST", "/profile/name", form, append(formCT, "HX-Request", "true", "X-CSRF-Token", token, "Origin", preview), false},
		{"cookie JSON", "PUT", "/projects/00000000-0000-0000-0000-000000000000/files/a.txt", "x", []string{"Accept", "application/json", "X-CSRF-Token", token, "Sec-Fetch-Site", "cross-site"}, true},
		{"refresh", "POST", "/api/auth/refresh", "", []string{"Origin", preview}, true},
		{"logout", "POST", "/api/auth/logout", "", []string{"Sec-Fetch-Site", "same-site"}, true},
	}
	for _, tc := range cases {
		res, body := b.sendAs(tc.method, tc.path, tc.body, tc.headers...)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") {
			t.Errorf("%s: %d %s", tc.name, res.StatusCode, body)
			continue
		}
		if tc.json {
			var p map[string]any
			if json.Unmarshal([]byte(body), &p); errorCode(p) != "cross_origin" {
				t.Errorf("%s: code %q", tc.name, errorCode(p))
			}
		}
	}
	if name := userName(t, env, "ada@example.com"); name == "Changed" {
		t.Fatal("a cross-origin form changed the name")
	}
	// The UI's own origin, Sec-Fetch-Site same-origin, and clients that
	// send neither go through.
	for _, h := range [][]string{{"Origin", uiOrigin}, {"Sec-Fetch-Site", "same-origin", "Origin", "http://127.0.0.1:1"}, nil} {
		if res, body := b.sendAs("POST", "/profile/name", form, append(formCT, h...)...); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("same-origin form %v: %d %s", h, res.StatusCode, body)
		}
	}
	// Bearer API: not cookie-authenticated, no Origin check.
	tok := env.register("api@example.com")
	res, body := env.json("PUT", "/api/settings/providers/openai", map[string]string{"api_key": "sk-test-1234567890"}, append(bearer(tok), "Origin", preview, "Sec-Fetch-Site", "cross-site")...)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bearer API with a foreign Origin: %d %v", res.StatusCode, body)
	}
}

// TestSigningInAgainReplacesTheSession: the old row goes before the new one.
func TestSigningInAgainReplacesTheSession(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("ada@example.com")
	old := b.cookie("studio_session")
	_, _, token := b.page("/profile") // the sign-in page itself sends a signed-in browser home
	if res, _ := b.post("/login", url.Values{"csrf_token": {token}, "email": {"ada@example.com"}, "password": {"a long password"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", res.StatusCode)
	}
	var n int
	env.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n)
	if n != 1 {
		t.Fatalf("%d session rows after signing in twice", n)
	}
	if now := b.cookie("studio_session"); now == nil || now.Value == old.Value {
		t.Fatal("the session cookie was not replaced")
	}
	thief := env.browser()
	thief.client.Jar.SetCookies(mustURL(env.http.URL), []*http.Cookie{old})
	if res, _ := thief.do("GET", "/", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the replaced session still works: %d", res.StatusCode)
	}
}

// TestHTTPSCookiesAndHSTS: under https the cookies carry their prefixes
// and every response, errors included, carries HSTS.
func TestHTTPSCookiesAndHSTS(t *testing.T) {
	t.Parallel()
	plain := newEnv(t)
	if res, _ := plain.do("GET", "/healthz", nil); res.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS over http")
	}
	env := newEnv(t, func(c *config.Config, _ *Deps) { c.BaseURL = "https://studio.example.com" })
	for _, path := range []string{"/healthz", "/login", "/no-such-page", "/api/nothing"} {
		if res, _ := env.do("GET", path, nil); res.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Errorf("%s: HSTS %q", path, res.Header.Get("Strict-Transport-Security"))
		}
	}
	b := env.browser()
	res, _, token := b.page("/signup")
	csrf := setCookies(res)
	if !hasCookieLine(csrf, "__host-studio_csrf=", "path=/;", "secure") || hasCookieLine(csrf, "domain=") {
		t.Fatalf("CSRF cookie under https: %q", csrf)
	}
	res, _ = b.sendAs("POST", "/signup", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"a long password"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	lines := setCookies(res)
	if res.StatusCode != http.StatusSeeOther || !hasCookieLine(lines, "__host-studio_session=", "path=/;", "secure", "httponly") || hasCookieLine(lines, "domain=") {
		t.Fatalf("session cookie under https: %d %q", res.StatusCode, lines)
	}
	api := env.browser()
	res, _ = api.sendAs("POST", "/api/auth/register", `{"email":"b@example.com","password":"a long password"}`, "Content-Type", "application/json")
	if lines := setCookies(res); !hasCookieLine(lines, "__secure-studio_refresh=", "path=/api/auth", "secure") || hasCookieLine(lines, "domain=") {
		t.Fatalf("refresh cookie under https: %q", lines)
	}
}

// TestClientAddressBehindProxies: X-Forwarded-For is believed only from a
// configured proxy; STUDIO_ROUTER=traefik alone trusts nobody.
func TestClientAddressBehindProxies(t *testing.T) {
	t.Parallel()
	_, tenNet, _ := net.ParseCIDR("10.0.0.0/8")
	cases := []struct {
		name    string
		trusted bool
		router  string
		peer    string
		xff     string
		want    string
	}{
		{"no proxy configured, private peer", false, "builtin", "10.1.2.3:5000", "203.0.113.9", "10.1.2.3"},
		{"no proxy configured, loopback peer", false, "builtin", "127.0.0.1:5000", "203.0.113.9", "127.0.0.1"},
		{"traefik router alone", false, "traefik", "172.18.0.2:5000", "203.0.113.9", "172.18.0.2"},
		{"trusted peer", true, "traefik", "10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"trusted peer, chain", true, "builtin", "10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"},
		{"untrusted peer", true, "builtin", "192.168.1.5:5000", "203.0.113.9", "192.168.1.5"},
		{"untrusted loopback peer", true, "builtin", "127.0.0.1:5000", "203.0.113.9", "127.0.0.1"},
		{"trusted peer, no header", true, "builtin", "10.1.2.3:5000", "", "10.1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := config.Load("serve", nil, func(string) string { return "" }, io.Discard)
			cfg.Router = tc.router
			if tc.trusted {
				cfg.TrustedProxies = append(cfg.TrustedProxies, tenNet)
			}
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.peer
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := clientIPExtractor(cfg)(req); got != tc.want {
				t.Fatalf("client address %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReadinessHidesErrorsFromStrangers: anonymous callers see ok/failing
// per component; an administrator sees what failed.
func TestReadinessHidesErrorsFromStrangers(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(_ *config.Config, d *Deps) {
		d.Engine = pinger{errors.New("dial unix /var/run/docker.sock: secret internal detail")}
	})
	res, body := env.do("GET", "/readyz", nil)
	want := `{"status":"failing","checks":{"database":"ok","docker":"failing"}}`
	if res.StatusCode != 503 || strings.TrimSpace(body) != want {
		t.Fatalf("anonymous readyz: %d %s", res.StatusCode, body)
	}
	admin := env.browser()
	admin.signup("admin@example.com") // the first account is the administrator
	res, body = admin.do("GET", "/readyz", nil)
	if res.StatusCode != 503 || !strings.Contains(body, "secret internal detail") {
		t.Fatalf("admin readyz: %d %s", res.StatusCode, body)
	}
	user := env.browser()
	user.signup("user@example.com")
	if _, body := user.do("GET", "/readyz", nil); strings.Contains(body, "secret") {
		t.Fatalf("a non-admin sees details: %s", body)
	}
	ok := newEnv(t)
	if res, body := ok.do("GET", "/readyz", nil); res.StatusCode != 200 || strings.TrimSpace(body) != `{"status":"ok","checks":{"database":"ok","docker":"ok"}}` {
		t.Fatalf("healthy readyz: %d %s", res.StatusCode, body)
	}
}

// TestRawFilesCannotRunOnTheUIOrigin: every raw file is sandboxed; types a
// browser could execute are downloads.
func TestRawFilesCannotRunOnTheUIOrigin(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "site")
	cases := map[string]bool{ // name → sent as an attachment
		"page.html": true, "page.xhtml": true, "feed.xml": true, "icon.svg": true, "app.js": true, "mod.mjs": true,
		"data.bin": true, "image.png": false, "notes.txt": false,
	}
	b := env.browser()
	b.login("a@example.com", "a long password")
	for name, attachment := range cases {
		body := []byte(`<html><script>alert(document.domain)</script></html>`)
		if name == "image.png" {
			body = []byte("\x89PNG\r\n\x1a\n0000")
		}
		if res, text := env.put(tok, id, name, body); res.StatusCode != 200 {
			t.Fatalf("write %s: %d %s", name, res.StatusCode, text)
		}
		for _, prefix := range []string{"/api/projects/", "/projects/"} {
			res, _ := env.do("GET", prefix+id+"/files/"+name, nil, bearer(tok)...)
			if prefix == "/projects/" {
				res, _ = b.do("GET", prefix+id+"/files/"+name, nil)
			}
			h := res.Header
			if res.StatusCode != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s%s: %d CSP %q nosniff %q", prefix, name, res.StatusCode, h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
			}
			if got := strings.HasPrefix(h.Get("Content-Disposition"), "attachment"); got != attachment {
				t.Errorf("%s%s (%s): Content-Disposition %q", prefix, name, h.Get("Content-Type"), h.Get("Content-Disposition"))
			}
		}
	}
}

// The Origin a browser sends matches the UI's address however the
// administrator spelled it (case, default port).
func TestOriginMatchesTheUIAddressAsBrowsersSpellIt(t *testing.T) {
	t.Parallel()
	for base, origin := range map[string]string{
		"https://Studio.Example.com:443":  "https://studio.example.com",
		"http://studio.localhost:80/":     "http://studio.localhost",
		"http://studio.localhost:8080":    "http://studio.localhost:8080",
		"https://studio.example.com/base": "https://studio.example.com",
	} {
		s := &Server{Deps: Deps{Config: &config.Config{BaseURL: base, Domain: "studio.localhost", Addr: "127.0.0.1:8080"}}}
		if got := config.Origin(origin); got != s.uiOrigin() {
			t.Errorf("STUDIO_BASE_URL %s: Origin %s is read as %s, the UI as %s", base, origin, got, s.uiOrigin())
		}
	}
}

package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"studio/config"
	"studio/db"
)

// browser is a cookie-keeping client that reads CSRF tokens off pages.
type browser struct {
	*testEnv
}

func (e *testEnv) browser() *browser {
	return &browser{&testEnv{t: e.t, srv: e.srv, http: e.http, endpoints: e.endpoints, client: &http.Client{
		Jar:           newJar(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}}
}

// page GETs a page and returns it parsed, with its CSRF token.
func (b *browser) page(path string) (*http.Response, *goquery.Document, string) {
	b.t.Helper()
	res, body := b.do("GET", path, nil)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	token, _ := doc.Find("input[name=csrf_token]").First().Attr("value")
	return res, doc, token
}

// post submits a form as a browser without JavaScript would.
func (b *browser) post(path string, form url.Values, headers ...string) (*http.Response, *goquery.Document) {
	b.t.Helper()
	res, body := b.do("POST", path, strings.NewReader(form.Encode()), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	return res, doc
}

func (b *browser) signup(email string) {
	b.t.Helper()
	_, _, token := b.page("/signup")
	res, doc := b.post("/signup", url.Values{"csrf_token": {token}, "email": {email}, "password": {"a long password"}, "name": {"Ada"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		b.t.Fatalf("signup %s: %d %s", email, res.StatusCode, doc.Text())
	}
}

func (b *browser) login(email, password string) *http.Response {
	b.t.Helper()
	_, _, token := b.page("/login")
	res, _ := b.post("/login", url.Values{"csrf_token": {token}, "email": {email}, "password": {password}})
	return res
}

func (b *browser) cookie(name string) *http.Cookie {
	for _, c := range b.client.Jar.Cookies(mustURL(b.http.URL)) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSignupDashboardLogout(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	if res, _ := b.do("GET", "/", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous dashboard: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, doc, token := b.page("/signup")
	if token == "" || doc.Find("label[for=f-email]").Length() != 1 || doc.Find("input#f-password[type=password]").Length() != 1 {
		t.Fatalf("signup page lacks its fields: %s", doc.Text())
	}
	// Without the token nothing happens.
	res, _ := b.post("/signup", url.Values{"email": {"ada@example.com"}, "password": {"a long password"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("signup without CSRF: %d", res.StatusCode)
	}
	var n int
	env.pool.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n)
	if n != 0 {
		t.Fatal("a forged signup created an account")
	}
	// A bad email keeps what was typed; the password is never echoed.
	res, doc = b.post("/signup", url.Values{"csrf_token": {token}, "email": {"not-an-email"}, "password": {"a long password"}, "name": {"Ada"}})
	if res.StatusCode != 422 || doc.Find("[data-testid=error-email]").Length() != 1 {
		t.Fatalf("bad email: %d %s", res.StatusCode, doc.Text())
	}
	if v, _ := doc.Find("input#f-name").Attr("value"); v != "Ada" {
		t.Fatalf("typed name lost: %q", v)
	}
	if _, has := doc.Find("input#f-password").Attr("value"); has {
		t.Fatal("the password was echoed back")
	}

	b.signup("ada@example.com")
	sc := b.cookie("studio_session")
	if sc == nil {
		t.Fatal("no session cookie")
	}
	res, body := b.do("GET", "/", nil)
	if res.StatusCode != 200 || !strings.Contains(body, `data-testid="dashboard"`) || !strings.Contains(body, `href="/admin"`) {
		t.Fatalf("dashboard for the first (admin) user: %d", res.StatusCode)
	}
	raw := res.Request.Header.Get("Cookie")
	if strings.Contains(raw, "ada@") {
		t.Fatal("the session cookie carries user data")
	}

	_, _, token = b.page("/")
	if res, _ := b.post("/logout", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	// Replaying the old cookie does not sign anyone in.
	thief := env.browser()
	thief.client.Jar.SetCookies(mustURL(env.http.URL), []*http.Cookie{sc})
	if res, _ := thief.do("GET", "/", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoked session still works: %d", res.StatusCode)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	_, _, token := b.page("/signup")
	res, _ := b.post("/signup", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"a long password"}})
	var sc *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "studio_session" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
		t.Fatalf("session cookie: %+v", sc)
	}
}

func TestLoginErrorsAndNext(t *testing.T) {
	t.Parallel()
	env := newEnv(t, slowBackoff)
	env.browser().signup("a@example.com")
	b := env.browser()
	_, _, token := b.page("/login?next=//evil.example/x")
	res, doc := b.post("/login", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"wrong password"}})
	if res.StatusCode != 401 || !strings.Contains(doc.Find("[data-testid=form-error]").Text(), "wrong") {
		t.Fatalf("wrong password: %d %s", res.StatusCode, doc.Text())
	}
	if v, _ := doc.Find("input#f-email").Attr("value"); v != "a@example.com" {
		t.Fatalf("typed email lost: %q", v)
	}
	// htmx gets the fragment, not a page.
	res, frag := b.do("POST", "/login", strings.NewReader(url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"wrong password"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || strings.Contains(frag, "<html") || !strings.Contains(frag, `data-testid="login-form"`) {
		t.Fatalf("htmx error: %d %q", res.StatusCode, frag)
	}
	res, _ = b.post("/login", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"a long password"}, "next": {"//evil.example/x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("next=//evil: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	c := env.browser()
	_, _, token = c.page("/login")
	res, _ = c.do("POST", "/login", strings.NewReader(url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"a long password"}, "next": {"/settings"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.Header.Get("HX-Redirect") != "/settings" {
		t.Fatalf("htmx login redirect: %v", res.Header)
	}
	// Slowed down after five failures.
	d := env.browser()
	_, _, token = d.page("/login")
	for range 5 {
		d.post("/login", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"wrong password"}})
	}
	res, doc = d.post("/login", url.Values{"csrf_token": {token}, "email": {"a@example.com"}, "password": {"a long password"}})
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(doc.Text(), "try again") {
		t.Fatalf("throttle: %d %v", res.StatusCode, res.Header)
	}
}

func TestProfileSettingsAndCSRF(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	other := env.browser()
	if res := other.login("a@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second session: %d", res.StatusCode)
	}
	_, _, token := b.page("/profile")
	if res, _ := b.post("/profile/name", url.Values{"csrf_token": {"wrong"}, "name": {"Mallory"}}); res.StatusCode != 403 {
		t.Fatalf("wrong CSRF: %d", res.StatusCode)
	}
	if res, _ := b.post("/profile/name", url.Values{"csrf_token": {token}, "name": {"Ada L."}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("name: %d", res.StatusCode)
	}
	if _, doc, _ := b.page("/profile"); doc.Find("[data-testid=current-user]").Text() != "Ada L." {
		t.Fatalf("name not shown: %q", doc.Find("[data-testid=current-user]").Text())
	}
	res, doc := b.post("/profile/password", url.Values{"csrf_token": {token}, "current_password": {"nope nope nope"}, "password": {"another long one"}, "confirm": {"another long one"}})
	if res.StatusCode != 422 || doc.Find("[data-testid=error-current_password]").Length() != 1 {
		t.Fatalf("wrong current password: %d", res.StatusCode)
	}
	if res, _ := b.post("/profile/password", url.Values{"csrf_token": {token}, "current_password": {"a long password"}, "password": {"another long one"}, "confirm": {"another long one"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", res.StatusCode)
	}
	if res, _ := other.do("GET", "/", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatal("another session survived the password change")
	}
	if res, _ := b.do("GET", "/", nil); res.StatusCode != 200 {
		t.Fatal("the current session ended with the password change")
	}

	// Provider keys: saved, never shown again, removable.
	res, _ = b.post("/settings/providers/openai", url.Values{"csrf_token": {token}, "api_key": {"sk-secret-value-9876"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save key: %d", res.StatusCode)
	}
	_, body := b.do("GET", "/settings", nil)
	if strings.Contains(body, "sk-secret") || !strings.Contains(body, "…9876") {
		t.Fatal("the settings page shows the key or lacks its hint")
	}
	res, doc = b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "api_key": {"x"}, "base_url": {""}})
	if res.StatusCode != 422 || !strings.Contains(doc.Find("[data-testid=provider-openai_compatible]").Text(), "base URL") {
		t.Fatalf("compatible without URL: %d", res.StatusCode)
	}
	if res, _ := b.post("/settings/providers/openai/delete", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove key: %d", res.StatusCode)
	}
	if _, body := b.do("GET", "/settings", nil); strings.Contains(body, "…9876") {
		t.Fatal("removed key still listed")
	}
}

func TestAdminPages(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Config, d *Deps) { c.Signup = "invite"; d.Auth.Signup = "invite" })
	admin := env.browser()
	admin.signup("admin@example.com") // the first account is always allowed
	// Invite-only: no link, no account.
	stranger := env.browser()
	_, _, tok := stranger.page("/signup")
	if res, doc := stranger.post("/signup", url.Values{"csrf_token": {tok}, "email": {"u@example.com"}, "password": {"a long password"}}); res.StatusCode != 403 || !strings.Contains(doc.Text(), "invite") {
		t.Fatalf("uninvited signup: %d", res.StatusCode)
	}
	_, doc, token := admin.page("/admin")
	// The default warm pool: one react-vite slot (none made here, where
	// the project service's background work does not run).
	if row := doc.Find("[data-testid=pool-row][data-template=react-vite]"); row.Length() != 1 || row.Find("td").Eq(1).Text() != "1" {
		t.Errorf("the admin page does not show the warm pool: %q", doc.Find("[data-testid=pool]").Text())
	}
	res, doc := admin.post("/admin/invites", url.Values{"csrf_token": {token}})
	link := doc.Find("[data-testid=invite-url]").Text()
	if res.StatusCode != 200 || !strings.Contains(link, "/signup?invite=") {
		t.Fatalf("invite: %d %q", res.StatusCode, link)
	}
	invite := link[strings.Index(link, "invite=")+7:]
	user := env.browser()
	_, doc, tok = user.page("/signup?invite=" + invite)
	if v, _ := doc.Find("input[name=invite]").Attr("value"); v != invite {
		t.Fatal("the invite is not carried by the form")
	}
	res, _ = user.post("/signup", url.Values{"csrf_token": {tok}, "email": {"u@example.com"}, "password": {"a long password"}, "invite": {invite}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("invited signup: %d", res.StatusCode)
	}
	if res, _ := user.do("GET", "/admin", nil); res.StatusCode != 403 {
		t.Fatalf("a non-admin opened /admin: %d", res.StatusCode)
	}
	u, err := db.New(env.pool).GetUserByEmail(context.Background(), "u@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ = admin.page("/admin?q=u@ex")
	if doc.Find("[data-testid=user-row]").Length() != 1 {
		t.Fatalf("search: %d rows", doc.Find("[data-testid=user-row]").Length())
	}
	if res, _ := admin.post("/admin/users/"+u.ID.String()+"/disable", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if res, _ := user.do("GET", "/", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatal("a disabled user's session still works")
	}
	adminRow, _ := db.New(env.pool).GetUserByEmail(context.Background(), "admin@example.com")
	res, doc = admin.post("/admin/users/"+adminRow.ID.String()+"/role", url.Values{"csrf_token": {token}, "role": {"user"}})
	if res.StatusCode != 409 || !strings.Contains(doc.Find("[data-testid=admin-message]").Text(), "last administrator") {
		t.Fatalf("demote last admin: %d", res.StatusCode)
	}
	if res, _ := admin.post("/admin/users/00000000-0000-0000-0000-000000000000/enable", url.Values{"csrf_token": {token}}); res.StatusCode != 404 {
		t.Fatalf("unknown user: %d", res.StatusCode)
	}
	_, doc, _ = admin.page("/admin")
	if !strings.Contains(doc.Find("[data-testid=audit]").Text(), "user.disable") {
		t.Fatal("the audit log lacks the disable")
	}
}

// TestProviderTestConnection checks a stored key against a local server
// that speaks OpenAI's models API.
func TestProviderTestConnection(t *testing.T) {
	t.Parallel()
	var wantKey = "sk-good-key-000"
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+wantKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"llama-3","object":"model","created":1,"owned_by":"me"},{"id":"qwen","object":"model","created":1,"owned_by":"me"}]}`)
	}))
	defer fake.Close()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, _, token := b.page("/settings")
	save := func(key string) {
		res, _ := b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "api_key": {key}, "base_url": {fake.URL + "/v1"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d", res.StatusCode)
		}
	}
	save(wantKey)
	_, doc := b.post("/settings/providers/openai_compatible/test", url.Values{"csrf_token": {token}})
	if got := doc.Find("[data-testid=test-result]").Text(); got != "connected (2 models)" {
		t.Fatalf("good key: %q", got)
	}
	save("sk-wrong-key-111")
	_, doc = b.post("/settings/providers/openai_compatible/test", url.Values{"csrf_token": {token}})
	if got := doc.Find("[data-testid=test-result]").Text(); !strings.Contains(got, "the key was rejected by openai_compatible") || strings.Contains(got, "sk-wrong") {
		t.Fatalf("wrong key: %q", got)
	}
	_, doc = b.post("/settings/providers/anthropic/test", url.Values{"csrf_token": {token}})
	if got := doc.Find("[data-testid=form-error]").Text(); !strings.Contains(got, "Save a key") {
		t.Fatalf("nothing stored: %q", got)
	}
}

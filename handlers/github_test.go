package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/config"
	"studio/internal/githubfake"
	"studio/internal/testwait"
)

// syncBuffer collects the server's log lines from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// githubEnv is a studio whose GitHub is the fake, with its log kept.
func githubEnv(t *testing.T, gh *githubfake.GitHub, oauth bool) (*testEnv, *syncBuffer) {
	t.Helper()
	vars := map[string]string{"STUDIO_PROVIDER_ALLOW": "127.0.0.1", "STUDIO_GITHUB_URL": gh.URL}
	if oauth {
		vars["STUDIO_GITHUB_CLIENT_ID"], vars["STUDIO_GITHUB_CLIENT_SECRET"] = gh.ClientID, gh.Secret
	}
	logs := &syncBuffer{}
	env := newEnvWith(t, envOptions{env: vars}, func(_ *config.Config, d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return env, logs
}

func (e *testEnv) githubRow(email string) (login, access, refresh string, found bool) {
	err := e.pool.QueryRow(context.Background(),
		`SELECT g.login, g.access_token, g.refresh_token FROM github_connections g JOIN users u ON u.id = g.user_id WHERE u.email = $1`, email).
		Scan(&login, &access, &refresh)
	return login, access, refresh, err == nil
}

func errorOf(body map[string]any) (code, message string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

// A person connects with a personal access token, lists their
// repositories, imports a private one, and disconnects; the token is
// sealed in the database and appears in no file, log line or answer.
func TestGitHubTokenListImportDisconnect(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.AddRepo("octo-ada", "site", true, map[string]map[string]string{"main": {"index.html": "<h1>Private site</h1>"}})
	gh.Describe("octo-ada/site", "The team's site")
	for i := range 34 {
		gh.AddRepo("octo-ada", fmt.Sprintf("lib-%02d", i), false, nil)
	}
	token := gh.Issue("octo-ada")
	env, logs := githubEnv(t, gh, false)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")

	// Not connected yet: listing says so.
	res, out := env.json("GET", "/api/github/repos", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_not_connected" || !strings.Contains(msg, "Connect GitHub first") {
		t.Fatalf("repos before connecting: %d %v", res.StatusCode, out)
	}
	// A token GitHub refuses: a clear 422 and nothing stored.
	res, out = env.json("PUT", "/api/github/token", map[string]string{"token": "ghp_notAToken"}, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusUnprocessableEntity || code != "github_token_refused" || !strings.Contains(msg, "GitHub refused the token") {
		t.Fatalf("bad token: %d %v", res.StatusCode, out)
	}
	if _, _, _, found := env.githubRow("alice@example.com"); found {
		t.Fatal("a refused token was stored")
	}

	// A token with a control character or a space inside: 400, GitHub is not asked.
	res, out = env.json("PUT", "/api/github/token", map[string]string{"token": "ghp_abc\u0000def"}, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusBadRequest || code != "github_token_garbled" || !strings.Contains(msg, "paste only the token") {
		t.Fatalf("garbled token: %d %v", res.StatusCode, out)
	}

	res, out = env.json("PUT", "/api/github/token", map[string]string{"token": " " + token + "\n"}, bearer(alice)...)
	if res.StatusCode != http.StatusOK || out["connected"] != true || out["login"] != "octo-ada" || out["method"] != "token" {
		t.Fatalf("connect: %d %v", res.StatusCode, out)
	}
	login, access, _, _ := env.githubRow("alice@example.com")
	if login != "octo-ada" || !strings.HasPrefix(access, "v1.") || strings.Contains(access, token) {
		t.Fatalf("the stored token is not sealed: %q %q", login, access)
	}
	_, out = env.json("GET", "/api/github/connection", nil, bearer(alice)...)
	if out["connected"] != true || out["login"] != "octo-ada" || out["connected_at"] == nil {
		t.Fatalf("connection: %v", out)
	}
	// Bob sees none of it.
	_, out = env.json("GET", "/api/github/connection", nil, bearer(bob)...)
	if out["connected"] != false || out["login"] != nil {
		t.Fatalf("bob's connection: %v", out)
	}
	res, out = env.json("GET", "/api/github/repos", nil, bearer(bob)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_not_connected" {
		t.Fatalf("bob's repos: %d %v", res.StatusCode, out)
	}

	// Paging and search.
	names := func(out map[string]any) []string {
		var n []string
		for _, r := range out["repos"].([]any) {
			n = append(n, r.(map[string]any)["full_name"].(string))
		}
		return n
	}
	_, out = env.json("GET", "/api/github/repos", nil, bearer(alice)...)
	if n := names(out); len(n) != 30 || n[0] != "octo-ada/site" || out["next_page"] != float64(2) {
		t.Fatalf("page 1: %v next %v", n, out["next_page"])
	}
	first := out["repos"].([]any)[0].(map[string]any)
	if first["private"] != true || first["clone_url"] != gh.URL+"/octo-ada/site.git" || first["default_branch"] != "main" || first["description"] != "The team's site" {
		t.Fatalf("a repository: %v", first)
	}
	_, out = env.json("GET", "/api/github/repos?page=2", nil, bearer(alice)...)
	if n := names(out); len(n) != 5 || n[4] != "octo-ada/lib-33" || out["next_page"] != float64(0) {
		t.Fatalf("page 2: %v next %v", n, out["next_page"])
	}
	_, out = env.json("GET", "/api/github/repos?q=LIB-1", nil, bearer(alice)...)
	if n := names(out); len(n) != 10 || n[0] != "octo-ada/lib-10" || out["next_page"] != float64(0) {
		t.Fatalf("search: %v next %v", n, out["next_page"])
	}

	// Branches, for the import form's picker and the Git panel.
	gh.PushCommit(t, "octo-ada/site", "feature", map[string]string{"f.txt": "f"}, "a feature")
	res, out = env.json("GET", "/api/github/repos/octo-ada/site/branches", nil, bearer(alice)...)
	if b, _ := out["branches"].([]any); res.StatusCode != http.StatusOK || len(b) != 2 || b[0] != "feature" || b[1] != "main" {
		t.Fatalf("branches: %d %v", res.StatusCode, out)
	}
	res, out = env.json("GET", "/api/github/repos/octo-ada/nothing/branches", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusNotFound || code != "github_not_found" || !strings.Contains(msg, "octo-ada/nothing does not exist on GitHub, or the connection's token has no access to it") {
		t.Fatalf("branches of no repository: %d %v", res.StatusCode, out)
	}
	res, out = env.json("GET", "/api/github/repos/octo-ada/site/branches", nil, bearer(bob)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_not_connected" {
		t.Fatalf("bob's branches: %d %v", res.StatusCode, out)
	}

	// The private repository: without the connection it asks for
	// credentials; with it, it imports and serves.
	cloneURL := gh.URL + "/octo-ada/site.git"
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": cloneURL}, bearer(alice)...)
	if _, msg := errorOf(out); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "asks for credentials") {
		t.Fatalf("anonymous import of a private repository: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": cloneURL, "github": true}, bearer(bob)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_not_connected" {
		t.Fatalf("bob's GitHub import: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": "https://example.com/octo-ada/site.git", "github": true}, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusUnprocessableEntity || code != "invalid_field" || !strings.Contains(msg, gh.URL) {
		t.Fatalf("a GitHub import from another host: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": cloneURL, "github": true}, bearer(alice)...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	id := out["project"].(map[string]any)["id"].(string)
	if out["project"].(map[string]any)["name"] != "site" {
		t.Fatalf("project: %v", out["project"])
	}
	testwait.Eventually(t, 90*time.Second, func() bool {
		_, body := env.json("GET", "/api/projects/"+id, nil, bearer(alice)...)
		return body["project"].(map[string]any)["status"] == "active"
	}, "the imported project is active")
	if page := env.serves(id, "/"); !strings.Contains(page, "Private site") {
		t.Fatalf("the import serves %s", page)
	}
	dir := env.projectDir(uuid.MustParse(id))
	if cfg, err := os.ReadFile(filepath.Join(dir, ".git/config")); err != nil || !strings.Contains(string(cfg), cloneURL) {
		t.Fatalf(".git/config: %s %v", cfg, err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(token)) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})

	// A revoked token: listing asks to reconnect, an import says GitHub
	// refused the credentials.
	gh.Revoke(token)
	res, out = env.json("GET", "/api/github/repos", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_reconnect" || !strings.Contains(msg, "reconnect GitHub") {
		t.Fatalf("repos with a revoked token: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": cloneURL, "github": true}, bearer(alice)...)
	if _, msg := errorOf(out); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "refused the credentials") {
		t.Fatalf("import with a revoked token: %d %v", res.StatusCode, out)
	}

	if res, _ := env.do("DELETE", "/api/github/connection", nil, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("disconnect: %d", res.StatusCode)
	}
	if _, _, _, found := env.githubRow("alice@example.com"); found {
		t.Fatal("disconnect left the token")
	}
	if res, _ := env.do("DELETE", "/api/github/connection", nil, bearer(alice)...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("disconnect twice: %d", res.StatusCode)
	}
	if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "/api/github/repos") {
		t.Fatalf("the log holds the token, or nothing was logged:\n%s", logs.String())
	}
}

// The OAuth web flow: the state is single use and bound to the browser
// session that started it; expiring tokens are refreshed before use.
func TestGitHubOAuthFlow(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.Expiring = true
	gh.AddRepo("octo-ada", "site", false, nil)
	env, logs := githubEnv(t, gh, true)
	b := env.browser()
	b.signup("ada@example.com")
	mallory := env.browser()
	mallory.signup("mallory@example.com")

	_, doc, csrf := b.page("/settings")
	if doc.Find("[data-testid=github-connect]").Length() != 1 || doc.Find("[data-testid=github-not-connected]").Length() != 1 {
		t.Fatalf("settings offers no GitHub sign-in: %s", doc.Find("#github").Text())
	}
	res, _ := b.post("/settings/github/connect", url.Values{"csrf_token": {csrf}})
	to, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(to.String(), gh.URL+"/login/oauth/authorize?") {
		t.Fatalf("connect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	q := to.Query()
	if q.Get("client_id") != gh.ClientID || q.Get("redirect_uri") != env.srv.Config.PublicURL()+"/settings/github/callback" || len(q.Get("state")) < 40 {
		t.Fatalf("authorize address: %v", q)
	}
	// Ada approves on GitHub, which sends her back with a code.
	q.Set("login", "octo-ada")
	to.RawQuery = q.Encode()
	back, err := http.DefaultTransport.RoundTrip(mustRequest(t, to.String()))
	if err != nil || back.StatusCode != http.StatusFound {
		t.Fatalf("GitHub's authorize page: %v %v", back, err)
	}
	callback, _ := url.Parse(back.Header.Get("Location"))
	good := callback.Query()

	refused := func(who *browser, query url.Values, why string) {
		t.Helper()
		res, doc, _ := who.page("/settings/github/callback?" + query.Encode())
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=github-error]").Text(), "could not be matched") {
			t.Fatalf("%s: %d %s", why, res.StatusCode, doc.Find("#github").Text())
		}
	}
	refused(b, url.Values{"code": {good.Get("code")}}, "no state")
	refused(b, url.Values{"code": {good.Get("code")}, "state": {"not-the-state"}}, "a wrong state")
	refused(mallory, good, "the state in another session")
	if _, _, _, found := env.githubRow("mallory@example.com"); found {
		t.Fatal("another session's state connected mallory")
	}

	res, _ = b.do("GET", "/settings/github/callback?"+good.Encode(), nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings#github" {
		t.Fatalf("callback: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	refused(b, good, "the state used twice")
	_, doc, _ = b.page("/settings")
	if got := doc.Find("[data-testid=github-connected]").Text(); got != "Connected as octo-ada" {
		t.Fatalf("settings after connecting: %q", got)
	}
	login, access, refresh, _ := env.githubRow("ada@example.com")
	if login != "octo-ada" || !strings.HasPrefix(access, "v1.") || !strings.HasPrefix(refresh, "v1.") || strings.Contains(access, "gho_") || strings.Contains(refresh, "ghr_") {
		t.Fatalf("stored: %q %q %q", login, access, refresh)
	}

	// The token expires at once: each use refreshes it first, spending
	// each refresh token once.
	for i := 1; i <= 2; i++ {
		res, doc, _ := b.page("/github/repos")
		if res.StatusCode != http.StatusOK || doc.Find("[data-testid=github-repo]").Length() != 1 {
			t.Fatalf("repos page %d: %d %s", i, res.StatusCode, doc.Text())
		}
		if n := gh.Refreshes(); n != i {
			t.Fatalf("after use %d GitHub answered %d refreshes", i, n)
		}
	}

	_, doc, csrf = b.page("/settings")
	res, _ = b.post("/settings/github/disconnect", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disconnect: %d", res.StatusCode)
	}
	if _, _, _, found := env.githubRow("ada@example.com"); found {
		t.Fatal("disconnect left the token")
	}
	// Declining on GitHub: the settings page says so, nothing is stored.
	_, _, csrf = b.page("/settings")
	res, _ = b.post("/settings/github/connect", url.Values{"csrf_token": {csrf}})
	to, _ = url.Parse(res.Header.Get("Location"))
	res, doc, _ = b.page("/settings/github/callback?" + url.Values{"error": {"access_denied"}, "state": {to.Query().Get("state")}}.Encode())
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=github-error]").Text(), "did not authorize studio") {
		t.Fatalf("declined: %d %s", res.StatusCode, doc.Find("#github").Text())
	}
	if _, _, _, found := env.githubRow("ada@example.com"); found {
		t.Fatal("a declined sign-in stored a connection")
	}
	for _, s := range append(gh.Tokens(), good.Get("code")) {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("the log holds %q", s)
		}
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Without an OAuth App the settings page takes a pasted token; the
// repositories page lists what it reaches, and says when GitHub refuses.
func TestGitHubSettingsTokenForm(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.AddRepo("octo-ada", "site", true, nil)
	gh.AddRepo("octo-ada", "blog", false, nil)
	token := gh.Issue("octo-ada")
	env, logs := githubEnv(t, gh, false)
	b := env.browser()
	b.signup("ada@example.com")

	if res, _ := b.do("GET", "/github/repos", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings#github" {
		t.Fatalf("repos page before connecting: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, doc, csrf := b.page("/settings")
	if doc.Find("[data-testid=github-connect]").Length() != 0 || doc.Find("[data-testid=github-token-form]").Length() != 1 {
		t.Fatalf("settings without an OAuth App: %s", doc.Find("#github").Text())
	}
	res, doc := b.post("/settings/github/token", url.Values{"csrf_token": {csrf}, "token": {"ghp_wrong"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("[data-testid=github-error]").Text(), "GitHub refused the token") {
		t.Fatalf("a wrong token: %d %s", res.StatusCode, doc.Find("#github").Text())
	}
	if _, _, _, found := env.githubRow("ada@example.com"); found {
		t.Fatal("a refused token was stored")
	}
	if res, _ := b.post("/settings/github/token", url.Values{"csrf_token": {csrf}, "token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d", res.StatusCode)
	}
	_, doc, _ = b.page("/settings")
	if doc.Find("[data-testid=github-connected]").Text() != "Connected as octo-ada" || strings.Contains(doc.Text(), token) {
		t.Fatalf("settings after connecting: %s", doc.Find("#github").Text())
	}
	if html, _ := doc.Find("#github").Html(); strings.Contains(html, token) {
		t.Fatal("the settings page shows the token")
	}

	_, doc, _ = b.page("/github/repos?q=sit")
	rows := doc.Find("[data-testid=github-repo]")
	if rows.Length() != 1 || !strings.Contains(rows.Text(), "octo-ada/site") || !strings.Contains(rows.Text(), "private") {
		t.Fatalf("search: %s", doc.Text())
	}
	if v, _ := rows.Find("input[name=url]").Attr("value"); v != gh.URL+"/octo-ada/site.git" {
		t.Fatalf("import form's address: %q", v)
	}
	if v, _ := rows.Find("input[name=github]").Attr("value"); v != "1" {
		t.Fatalf("import form's github field: %q", v)
	}
	picker := rows.Find("[data-testid=github-branch]")
	if v, _ := picker.Attr("value"); v != "main" || picker.AttrOr("hx-get", "") != "/github/repos/octo-ada/site/branches" {
		t.Fatalf("branch picker: %q %q", v, picker.AttrOr("hx-get", ""))
	}
	gh.PushCommit(t, "octo-ada/site", "main", map[string]string{"index.html": "hi"}, "first")
	gh.PushCommit(t, "octo-ada/site", "next", map[string]string{"index.html": "next"}, "next")
	res, doc, _ = b.page("/github/repos/octo-ada/site/branches")
	if opts := doc.Find("[data-testid=github-branch-option]"); res.StatusCode != http.StatusOK || opts.Length() != 2 || opts.First().AttrOr("value", "") != "main" {
		t.Fatalf("branch options: %d %s", res.StatusCode, doc.Text())
	}

	gh.Revoke(token)
	res, doc, _ = b.page("/github/repos")
	if res.StatusCode != http.StatusConflict || !strings.Contains(doc.Find("[data-testid=github-repos-error]").Text(), "reconnect GitHub") {
		t.Fatalf("repos page with a revoked token: %d %s", res.StatusCode, doc.Text())
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the log holds the token")
	}
}

// With STUDIO_GITHUB=off the settings page has no GitHub card and the
// GitHub endpoints say GitHub is not set up.
func TestGitHubOff(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{env: map[string]string{"STUDIO_GITHUB": "off"}})
	alice := env.register("alice@example.com")
	res, out := env.json("GET", "/api/github/connection", nil, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusServiceUnavailable || code != "github_unavailable" {
		t.Fatalf("connection with GitHub off: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", "/api/projects/import-git", map[string]any{"url": "https://github.com/octo-ada/site.git", "github": true}, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusServiceUnavailable || code != "github_unavailable" {
		t.Fatalf("a GitHub import with GitHub off: %d %v", res.StatusCode, out)
	}
	b := env.browser()
	b.signup("ada@example.com")
	if _, doc, _ := b.page("/settings"); doc.Find("#github").Length() != 0 {
		t.Fatalf("settings show GitHub: %s", doc.Find("#github").Text())
	}
}

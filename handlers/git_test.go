package handlers

import (
	"io/fs"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	pt "studio/agents/providers/providertest"
	"studio/internal/githubfake"
	"studio/internal/testwait"
)

// A person imports a private repository through GitHub, changes it,
// commits and pushes; a colleague's commit is pulled; a branch gone its
// own way is refused both ways with what to do. The token reaches no log
// line, no file of the project and no answer.
func TestGitCommitPushPull(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	gh.AddRepo("octo-ada", "site", true, map[string]map[string]string{"main": {"index.html": "<h1>Site</h1>\n"}})
	token := gh.Issue("octo-ada")
	env, logs := githubEnv(t, gh, false)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	if res, out := env.json("PUT", "/api/github/token", map[string]string{"token": token}, bearer(alice)...); res.StatusCode != http.StatusOK {
		t.Fatalf("connect: %d %v", res.StatusCode, out)
	}
	res, out := env.json("POST", "/api/projects/import-git", map[string]any{"url": gh.CloneURL("octo-ada/site"), "github": true}, bearer(alice)...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	id := out["project"].(map[string]any)["id"].(string)
	base := "/api/projects/" + id + "/git"
	testwait.Eventually(t, 90*time.Second, func() bool {
		_, body := env.json("GET", "/api/projects/"+id, nil, bearer(alice)...)
		return body["project"].(map[string]any)["status"] == "active"
	}, "the imported project is active")

	res, out = env.json("GET", base, nil, bearer(alice)...)
	link, _ := out["link"].(map[string]any)
	if res.StatusCode != http.StatusOK || out["repository"] != true || out["branch"] != "main" || link["url"] != gh.CloneURL("octo-ada/site") || link["branch"] != "main" || link["github"] != true {
		t.Fatalf("git state after the import: %d %v", res.StatusCode, out)
	}
	if log := out["log"].([]any); len(log) != 1 || len(out["status"].(map[string]any)["changes"].([]any)) != 0 {
		t.Fatalf("a fresh import's log and changes: %v", out)
	}
	// Another person sees nothing of it.
	for _, p := range []string{"", "/diff"} {
		if res, _ := env.json("GET", base+p, nil, bearer(bob)...); res.StatusCode != http.StatusNotFound {
			t.Fatalf("bob's GET %s: %d", p, res.StatusCode)
		}
	}
	if res, _ := env.json("POST", base+"/push", nil, bearer(bob)...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's push: %d", res.StatusCode)
	}

	if res, body := env.put(alice, id, "index.html", []byte("<h1>Changed</h1>\n")); res.StatusCode != http.StatusOK {
		t.Fatalf("write: %d %s", res.StatusCode, body)
	}
	_, out = env.json("GET", base, nil, bearer(alice)...)
	if ch := out["status"].(map[string]any)["changes"].([]any); len(ch) != 1 || ch[0].(map[string]any)["path"] != "index.html" || ch[0].(map[string]any)["status"] != "modified" {
		t.Fatalf("changes: %v", out["status"])
	}
	_, out = env.json("GET", base+"/diff?path=index.html", nil, bearer(alice)...)
	if d, _ := out["diff"].(string); !strings.Contains(d, "-<h1>Site</h1>") || !strings.Contains(d, "+<h1>Changed</h1>") {
		t.Fatalf("diff: %v", out)
	}

	// Commit: a message is needed; then the commit names the person.
	res, out = env.json("POST", base+"/commit", map[string]string{"message": "  "}, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusUnprocessableEntity || code != "invalid_field" {
		t.Fatalf("an empty message: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", base+"/commit", map[string]string{"message": "Change the heading"}, bearer(alice)...)
	commit, _ := out["commit"].(map[string]any)
	if res.StatusCode != http.StatusCreated || commit["message"] != "Change the heading" || commit["email"] != "alice@example.com" {
		t.Fatalf("commit: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", base+"/commit", map[string]string{"message": "again"}, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "nothing_to_commit" {
		t.Fatalf("a commit of nothing: %d %v", res.StatusCode, out)
	}

	res, out = env.json("POST", base+"/push", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || out["branch"] != "main" || out["up_to_date"] != false {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	if got := gh.HeadMessage(t, "octo-ada/site", "main"); got != "Change the heading" {
		t.Fatalf("GitHub's main is at %q", got)
	}
	if got := gh.Show(t, "octo-ada/site", "main", "index.html"); got != "<h1>Changed</h1>\n" {
		t.Fatalf("GitHub's index.html: %q", got)
	}

	// A colleague's commit comes in with a pull, after a checkpoint.
	gh.PushCommit(t, "octo-ada/site", "main", map[string]string{"about.html": "<p>About</p>\n"}, "From a colleague")
	res, out = env.json("POST", base+"/pull", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || out["up_to_date"] != false || out["from"] != commit["hash"] {
		t.Fatalf("pull: %d %v", res.StatusCode, out)
	}
	if res, body := env.do("GET", "/api/projects/"+id+"/files/about.html", nil, bearer(alice)...); res.StatusCode != http.StatusOK || !strings.Contains(body, "About") {
		t.Fatalf("the pulled file: %d %s", res.StatusCode, body)
	}
	_, out = env.json("GET", "/api/projects/"+id+"/checkpoints", nil, bearer(alice)...)
	if !strings.Contains(strings.Join(labels(out), "|"), "Before pulling main") {
		t.Fatalf("no checkpoint before the pull: %v", out)
	}
	if res, out = env.json("POST", base+"/pull", nil, bearer(alice)...); res.StatusCode != http.StatusOK || out["up_to_date"] != true {
		t.Fatalf("a second pull: %d %v", res.StatusCode, out)
	}

	// Uncommitted changes: pull refuses and touches nothing.
	env.put(alice, id, "index.html", []byte("<h1>Mine</h1>\n"))
	res, out = env.json("POST", base+"/pull", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusConflict || code != "git_refused" || !strings.Contains(msg, "not committed") {
		t.Fatalf("a pull onto changes: %d %v", res.StatusCode, out)
	}
	// Diverged: a commit on each side.
	env.json("POST", base+"/commit", map[string]string{"message": "Mine"}, bearer(alice)...)
	gh.PushCommit(t, "octo-ada/site", "main", map[string]string{"index.html": "<h1>Theirs</h1>\n"}, "Theirs")
	res, out = env.json("POST", base+"/pull", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusConflict || code != "git_refused" || !strings.Contains(msg, "does not merge") {
		t.Fatalf("a pull of a diverged branch: %d %v", res.StatusCode, out)
	}
	if _, body := env.do("GET", "/api/projects/"+id+"/files/index.html", nil, bearer(alice)...); !strings.Contains(body, "Mine") {
		t.Fatalf("the refused pull changed index.html: %s", body)
	}
	res, out = env.json("POST", base+"/push", nil, bearer(alice)...)
	if code, msg := errorOf(out); res.StatusCode != http.StatusConflict || code != "git_refused" || !strings.Contains(msg, "pull them first") {
		t.Fatalf("a push onto a diverged branch: %d %v", res.StatusCode, out)
	}
	if got := gh.HeadMessage(t, "octo-ada/site", "main"); got != "Theirs" {
		t.Fatalf("the refused push moved GitHub's main to %q", got)
	}
	// The work goes to a new branch instead.
	if res, out = env.json("POST", base+"/push", map[string]string{"branch": "alice/mine"}, bearer(alice)...); res.StatusCode != http.StatusOK || out["branch"] != "alice/mine" {
		t.Fatalf("push to a new branch: %d %v", res.StatusCode, out)
	}
	if got := gh.HeadMessage(t, "octo-ada/site", "alice/mine"); got != "Mine" {
		t.Fatalf("the new branch is at %q", got)
	}
	if res, out = env.json("POST", base+"/push", map[string]string{"branch": "../x"}, bearer(alice)...); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a push to a bad branch name: %d %v", res.StatusCode, out)
	}

	// The token is in no file of the project, .git included, and in no
	// log line.
	dir := env.projectDir(uuid.MustParse(id))
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), token) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
	if strings.Contains(logs.String(), token) {
		t.Error("the log holds the token")
	}
	// What git wrote belongs to the project's user, like every other file.
	if os.Geteuid() == 0 {
		filepath.WalkDir(filepath.Join(dir, ".git"), func(p string, d fs.DirEntry, err error) error {
			if fi, ierr := os.Lstat(p); err == nil && ierr == nil && ownerOf(fi) == 0 {
				t.Errorf("%s is root's", p)
			}
			return nil
		})
	}
}

func labels(out map[string]any) []string {
	var l []string
	for _, c := range out["checkpoints"].([]any) {
		l = append(l, c.(map[string]any)["label"].(string))
	}
	return l
}

// A project made in studio gets a new private GitHub repository, its
// first commit and a push; without a link, push says to link one.
func TestGitCreateRepositoryAndPush(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	token := gh.Issue("octo-ada")
	env, _ := githubEnv(t, gh, false)
	alice := env.register("alice@example.com")
	id := env.newProject(alice, "Landing")
	base := "/api/projects/" + id + "/git"

	_, out := env.json("GET", base, nil, bearer(alice)...)
	if out["repository"] != false || out["link"] != nil {
		t.Fatalf("a new project's git state: %v", out)
	}
	res, out := env.json("POST", base+"/push", nil, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "git_not_linked" {
		t.Fatalf("a push without a link: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", base+"/repository", map[string]string{"name": "landing"}, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "github_not_connected" {
		t.Fatalf("create without a connection: %d %v", res.StatusCode, out)
	}
	env.json("PUT", "/api/github/token", map[string]string{"token": token}, bearer(alice)...)
	res, out = env.json("POST", base+"/repository", map[string]string{"name": "landing"}, bearer(alice)...)
	repo, _ := out["repository"].(map[string]any)
	if res.StatusCode != http.StatusCreated || repo["full_name"] != "octo-ada/landing" || repo["private"] != true {
		t.Fatalf("create: %d %v", res.StatusCode, out)
	}
	res, out = env.json("POST", base+"/push", nil, bearer(alice)...)
	if code, _ := errorOf(out); res.StatusCode != http.StatusConflict || code != "no_commits" {
		t.Fatalf("a push before any commit: %d %v", res.StatusCode, out)
	}
	if res, out = env.json("POST", base+"/commit", map[string]string{"message": "First"}, bearer(alice)...); res.StatusCode != http.StatusCreated {
		t.Fatalf("first commit: %d %v", res.StatusCode, out)
	}
	if res, out = env.json("POST", base+"/push", nil, bearer(alice)...); res.StatusCode != http.StatusOK {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	if got := gh.Show(t, "octo-ada/landing", "main", "index.html"); !strings.Contains(got, "<") {
		t.Fatalf("the pushed index.html: %q", got)
	}
	// node_modules and studio's own folder are not in the commit.
	_, out = env.json("GET", base, nil, bearer(alice)...)
	if ch := out["status"].(map[string]any)["changes"].([]any); len(ch) != 0 {
		t.Fatalf("changes left after the first commit: %v", ch)
	}

	// Linking another address: checked like an import.
	for _, bad := range []map[string]string{{"url": "ftp://x/y.git"}, {"url": gh.CloneURL("octo-ada/landing"), "branch": "a..b"}} {
		if res, out := env.json("PUT", base+"/link", bad, bearer(alice)...); res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("link %v: %d %v", bad, res.StatusCode, out)
		}
	}
	if res, _ := env.json("DELETE", base+"/link", nil, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("unlink: %d", res.StatusCode)
	}
	if _, out = env.json("GET", base, nil, bearer(alice)...); out["link"] != nil || len(out["log"].([]any)) != 1 {
		t.Fatalf("after unlinking: %v", out)
	}
}

func ownerOf(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// The Git pane as the workspace uses it (htmx): a refused form comes back
// in the pane with its reason and what was typed; without htmx a form
// that worked goes back to the workspace.
func TestGitPane(t *testing.T) {
	t.Parallel()
	remote := githubfake.NewGitServer(t)
	url := remote.Repo(t, "public", map[string]map[string]string{"main": {"index.html": "x"}})
	env := newEnvWith(t, envOptions{env: map[string]string{"STUDIO_PROVIDER_ALLOW": "127.0.0.1"}})
	ada := env.browser()
	ada.signup("ada@example.com")
	_, login := env.json("POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "a long password"})
	id := env.newProject(login["access_token"].(string), "Pane")
	loc := "/projects/" + id
	_, _, csrf := ada.page(loc)
	dir := env.projectDir(uuid.MustParse(strings.TrimPrefix(loc, "/projects/")))
	testwait.Eventually(t, 60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "index.html"))
		return err == nil
	}, "the project has its files")
	htmx := []string{"HX-Request", "true"}
	pane := func() *goquery.Document {
		t.Helper()
		res, body := ada.do("GET", loc+"/git", nil, htmx...)
		d, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
		if res.StatusCode != http.StatusOK || d.Find("[data-testid=git-panel]").Length() != 1 {
			t.Fatalf("pane: %d %s", res.StatusCode, body)
		}
		return d
	}
	d := pane()
	if d.Find("[data-testid=git-no-repo]").Length() != 1 || d.Find("[data-testid=git-commit-form]").Length() != 1 ||
		d.Find("[data-testid=git-create-form]").Length() != 0 || d.Find("[data-testid=git-link-form]").Length() != 1 {
		t.Fatalf("a new project's pane: %s", d.Text())
	}

	form := func(action string, v neturl.Values) (*http.Response, *goquery.Document) {
		v.Set("csrf_token", csrf)
		return ada.post(loc+"/git/"+action, v, htmx...)
	}
	res, d := form("commit", neturl.Values{"message": {" "}})
	if res.StatusCode != http.StatusUnprocessableEntity || res.Header.Get("HX-Retarget") != "#git" || !strings.Contains(d.Find("[data-testid=git-error]").Text(), "Write a commit message") {
		t.Fatalf("an empty message: %d %s", res.StatusCode, d.Text())
	}
	res, d = form("commit", neturl.Values{"message": {"First version"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(d.Find("[data-testid=git-done]").Text(), "Committed") ||
		d.Find("[data-testid=git-commit-row]").Length() != 1 || d.Find("[data-testid=git-clean]").Length() != 1 {
		t.Fatalf("commit: %d %s", res.StatusCode, d.Text())
	}

	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>Second</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = pane()
	if ch := d.Find("[data-testid=git-change]"); ch.Length() != 1 || ch.AttrOr("data-path", "") != "index.html" {
		t.Fatalf("changes: %s", d.Text())
	}
	res, body := ada.do("GET", loc+"/git/diff?path=index.html", nil, htmx...)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "bg-green") || !strings.Contains(body, "+&lt;h1&gt;Second&lt;/h1&gt;") {
		t.Fatalf("diff: %d %s", res.StatusCode, body)
	}

	// Pull and push need a link; a bad address keeps what was typed.
	res, d = form("pull", neturl.Values{})
	if res.StatusCode != http.StatusConflict || !strings.Contains(d.Find("[data-testid=git-error]").Text(), "Link the project") {
		t.Fatalf("pull without a link: %d %s", res.StatusCode, d.Text())
	}
	res, d = form("link", neturl.Values{"url": {"git@github.com:o/r.git"}, "branch": {"main"}})
	if res.StatusCode != http.StatusUnprocessableEntity || d.Find("#git-link-url").AttrOr("value", "") != "git@github.com:o/r.git" {
		t.Fatalf("a bad address: %d %s", res.StatusCode, d.Text())
	}
	res, d = form("link", neturl.Values{"url": {url}, "branch": {""}})
	if res.StatusCode != http.StatusOK || !strings.Contains(d.Find("[data-testid=git-link]").Text(), url) || d.Find("#git-push-branch").AttrOr("value", "") != "main" {
		t.Fatalf("link: %d %s", res.StatusCode, d.Text())
	}
	// Changes not committed: the pull is refused, the file kept.
	res, d = form("pull", neturl.Values{})
	if res.StatusCode != http.StatusConflict || !strings.Contains(d.Find("[data-testid=git-error]").Text(), "not committed") {
		t.Fatalf("pull onto changes: %d %s", res.StatusCode, d.Text())
	}
	// main there has its own history: the push is refused, the branch
	// typed kept; a new branch takes the work.
	form("commit", neturl.Values{"message": {"Second"}})
	res, d = form("push", neturl.Values{"branch": {"main"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(d.Find("[data-testid=git-error]").Text(), "pull them first") || d.Find("#git-push-branch").AttrOr("value", "") != "main" {
		t.Fatalf("a push onto another history: %d %s", res.StatusCode, d.Text())
	}
	res, d = form("push", neturl.Values{"branch": {"feature/x"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(d.Find("[data-testid=git-done]").Text(), "Pushed to feature/x") || d.Find("#git-push-branch").AttrOr("value", "") != "feature/x" {
		t.Fatalf("a push to a new branch: %d %s", res.StatusCode, d.Text())
	}
	res, d = form("unlink", neturl.Values{})
	if res.StatusCode != http.StatusOK || d.Find("[data-testid=git-link]").Length() != 0 || d.Find("[data-testid=git-commit-row]").Length() != 2 {
		t.Fatalf("unlink: %d %s", res.StatusCode, d.Text())
	}

	// Without htmx, a form that worked goes back to the workspace.
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>Third</h1>\n"), 0o644)
	res, _ = ada.post(loc+"/git/commit", neturl.Values{"csrf_token": {csrf}, "message": {"Third"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
		t.Fatalf("a commit without htmx: %d %v", res.StatusCode, res.Header)
	}
	// Someone else gets nothing.
	bob := env.browser()
	bob.signup("bob@example.com")
	if res, _ := bob.do("GET", loc+"/git", nil, htmx...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's pane: %d", res.StatusCode)
	}
	if res, _ := bob.do("GET", loc+"/git/diff?path=index.html", nil, htmx...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's diff: %d", res.StatusCode)
	}
}

// The agent reads git status and diff; it has no tool that commits.
func TestAgentReadsGitStatusAndDiff(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	base := "/api/projects/" + project + "/git"
	if res, out := env.json("POST", base+"/commit", map[string]string{"message": "Start"}, bearer(token)...); res.StatusCode != http.StatusCreated {
		t.Fatalf("commit: %d %v", res.StatusCode, out)
	}
	env.put(token, project, "index.html", []byte("<h1>Edited by hand</h1>\n"))

	fake.Push(
		pt.Use(pt.Call{Name: "git_status", Args: `{}`}),
		pt.Use(pt.Call{Name: "git_diff", Args: `{"path":"index.html"}`}),
		pt.Say("You changed the heading."),
	)
	run := env.chat(token, project, map[string]any{"message": "What did I change?", "model": "openai/gpt-4o-mini"})
	if got := last(env.stream(token, run, 0, nil)); got.Data["status"] != "succeeded" {
		t.Fatalf("run ended %v", got)
	}
	reqs := fake.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	var names []string
	for _, tool := range reqs[0].Body["tools"].([]any) {
		names = append(names, tool.(map[string]any)["function"].(map[string]any)["name"].(string))
	}
	if !slices.Contains(names, "git_status") || !slices.Contains(names, "git_diff") || slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "commit") || strings.Contains(n, "push") }) {
		t.Fatalf("tools offered: %v", names)
	}
	if out := toolOutputs(reqs[1]); !strings.Contains(out, "on branch main") || !strings.Contains(out, "modified index.html") || !strings.Contains(out, "Start") {
		t.Fatalf("git_status gave: %s", out)
	}
	if out := toolOutputs(reqs[2]); !strings.Contains(out, "+\\u003ch1\\u003eEdited by hand") && !strings.Contains(out, "+<h1>Edited by hand") {
		t.Fatalf("git_diff gave: %s", out)
	}
}

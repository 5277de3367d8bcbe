package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"studio/internal/githubfake"
)

// TestGitHubConnectImportCommitPush: a person connects GitHub through
// its OAuth page, imports a private repository, and from the workspace's
// Git pane commits a change, pushes it, pulls a colleague's commit, and is
// told plainly when the branch and the project have diverged. GitHub's
// token shows in no log line and no project file.
func TestGitHubConnectImportCommitPush(t *testing.T) {
	gh := githubfake.New(t)
	gh.Approver = "octo-ada"
	const repo = "octo-ada/site"
	gh.AddRepo("octo-ada", "site", true, map[string]map[string]string{
		"main": {"index.html": "<!doctype html>\n<title>Site</title>\n<h1>Hello from GitHub</h1>\n"},
	})
	s := startStudio(t, "STUDIO_PROVIDER_ALLOW=127.0.0.1", "STUDIO_GITHUB_URL="+gh.URL,
		"STUDIO_GITHUB_CLIENT_ID="+gh.ClientID, "STUDIO_GITHUB_CLIENT_SECRET="+gh.Secret)
	const email, password = "ada@example.com", "a github password"
	ctx := browser(t)
	type css = chromedp.CSS
	signUp(t, ctx, s, email, password)

	// Connect: GitHub's page asks, Ada authorizes, and settings show whom
	// studio is connected as.
	step(t, ctx, "settings",
		chromedp.Navigate(s.base+"/settings"),
		chromedp.WaitVisible(css(`[data-testid=github-not-connected]`)),
		chromedp.Evaluate[chromedp.Void](`document.addEventListener("securitypolicyviolation", function (e) { window.blockedBy = e.violatedDirective })`),
		chromedp.Click(css(`[data-testid=github-connect]`)),
	)
	toGitHub(t, ctx)
	step(t, ctx, "authorize on GitHub",
		chromedp.Click(css(`#js-oauth-authorize-btn`)),
		chromedp.WaitVisible(css(`[data-testid=github-connected]`)),
	)
	if connected, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=github-connected]`))); connected != "Connected as octo-ada" {
		t.Fatalf("settings after connecting: %q", connected)
	}
	if loc := workspaceURLOf(t, ctx); loc != s.base+"/settings#github" {
		t.Fatalf("back from GitHub at %s", loc)
	}

	// Import the private repository; its page shows in the preview.
	step(t, ctx, "import",
		chromedp.Navigate(s.base+"/github/repos"),
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid="github-repo"][contains(., "`+repo+`")][contains(., "private")]`)),
		chromedp.Click(chromedp.Search(`//li[@data-testid="github-repo"][contains(., "`+repo+`")]//button[@data-testid="github-import"]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	waitFrameHeading(t, ctx, previewFrame(t, ctx), "Hello from GitHub")
	project := strings.TrimSuffix(strings.TrimPrefix(workspaceURLOf(t, ctx), s.base+"/projects/"), "/")
	dir := filepath.Join(s.data, "projects", project)

	// Change the page; the Git pane lists the change and shows its diff.
	changed := "<!doctype html>\n<title>Site</title>\n<h1>Hello from Studio</h1>\n"
	writeThroughAPI(t, s, email, password, project, "index.html", changed)
	step(t, ctx, "the change and its diff",
		chromedp.Click(css(`[data-testid=git-tab]`)),
		chromedp.WaitVisible(css(`[data-testid=git-link]`)),
		paneReady,
		chromedp.Click(css(`[data-testid=git-change][data-path="index.html"] summary`)),
		chromedp.WaitVisible(css(`[data-testid=git-change][data-path="index.html"] [data-testid=git-diff]`)),
	)
	diff, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=git-diff]`)))
	if !strings.Contains(diff, "-<h1>Hello from GitHub</h1>") || !strings.Contains(diff, "+<h1>Hello from Studio</h1>") || !strings.Contains(diff, " <title>Site</title>") {
		t.Fatalf("the diff reads:\n%s", diff)
	}
	screenshot(t, ctx, "git-pane")

	commit := func(name, message string) {
		t.Helper()
		step(t, ctx, name,
			chromedp.WaitVisible(css(`[data-testid=git-message]`)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=git-message]").value = ""`),
			chromedp.SendKeys(css(`[data-testid=git-message]`), message),
			chromedp.Click(css(`[data-testid=git-commit]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="git-done"][contains(., "Committed")][contains(., "`+message+`")]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="git-commit-row"][contains(., "`+message+`")]`)),
			paneReady,
		)
	}
	commit("commit", "Greet from Studio")
	step(t, ctx, "push",
		chromedp.Click(css(`[data-testid=git-push]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="git-done"][contains(., "Pushed to main.")]`)),
		paneReady,
	)
	if msg, page := gh.HeadMessage(t, repo, "main"), gh.Show(t, repo, "main", "index.html"); msg != "Greet from Studio" || page != changed {
		t.Fatalf("GitHub's main is at %q holding %q", msg, page)
	}

	// A colleague adds a page on GitHub; Pull brings it, and the file
	// tree shows it without a reload.
	gh.PushCommit(t, repo, "main", map[string]string{"about.html": "<h1>About</h1>\n"}, "Add an about page")
	step(t, ctx, "pull",
		chromedp.Click(css(`[data-testid=git-pull]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="git-done"][contains(., "Pulled")]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="git-commit-row"][contains(., "Add an about page")]`)),
		chromedp.WaitVisible(css(`[data-file="about.html"]`)),
		paneReady,
	)

	// Both sides commit: Pull refuses to merge and says why; the local
	// page stays as it was.
	local := "<!doctype html>\n<title>Site</title>\n<h1>Hello from the project</h1>\n"
	writeThroughAPI(t, s, email, password, project, "index.html", local)
	step(t, ctx, "refresh", chromedp.Click(css(`[data-testid=git-refresh]`)), chromedp.WaitVisible(css(`[data-testid=git-change][data-path="index.html"]`)), paneReady)
	commit("commit locally", "Greet from the project")
	gh.PushCommit(t, repo, "main", map[string]string{"index.html": "<h1>Hello from a colleague</h1>\n"}, "Greet from a colleague")
	step(t, ctx, "diverged pull",
		chromedp.Click(css(`[data-testid=git-pull]`)),
		chromedp.WaitVisible(css(`[data-testid=git-error]`)),
	)
	refusal, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=git-error]`)))
	if !strings.Contains(refusal, "gone their own way") || !strings.Contains(refusal, "does not merge") {
		t.Fatalf("a diverged pull says %q", refusal)
	}
	if page, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || string(page) != local {
		t.Fatalf("after the refused pull index.html holds %q (%v)", page, err)
	}

	// GitHub's tokens are in no log line and no file of the project.
	tokens := gh.Tokens()
	if len(tokens) == 0 {
		t.Fatal("GitHub issued no token")
	}
	printed, err := os.ReadFile(s.log)
	if err != nil || len(printed) == 0 {
		t.Fatalf("studio's log: %v (%d bytes)", err, len(printed))
	}
	for _, token := range tokens {
		if bytes.Contains(printed, []byte(token)) {
			t.Errorf("studio's log holds the token %s", token)
		}
	}
	// Git's work in the project's folder leaves its dev server running.
	if bytes.Contains(printed, []byte("a project's dev server stopped")) {
		t.Errorf("the project's dev server stopped during the Git steps; the Logs pane says why")
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, token := range tokens {
			if bytes.Contains(b, []byte(token)) {
				t.Errorf("%s holds the token", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// paneReady waits until htmx has set up the Git pane it just swapped in:
// a click on one of its buttons before that would post the form without
// htmx, and the whole workspace would load again in answer.
var paneReady = chromedp.WaitVisible(chromedp.CSS(`#git:not(.htmx-settling)`))

// toGitHub waits for the page after Connect GitHub: GitHub's authorize
// page. The settings page's Content-Security-Policy must let the browser
// follow the redirect there (form-action covers where a form's redirect
// leads).
func toGitHub(t *testing.T, ctx context.Context) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		on, _ := chromedp.Run(qctx, chromedp.Evaluate[bool](`!!document.getElementById("js-oauth-authorize-btn")`))
		blocked, _ := chromedp.Run(qctx, chromedp.Evaluate[string](`window.blockedBy || ""`))
		cancel()
		if on {
			return
		}
		if blocked != "" {
			t.Fatalf("Connect GitHub does not reach GitHub: the settings page's Content-Security-Policy %s blocks the redirect to GitHub's authorize page", blocked)
		}
	}
	where, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("Connect GitHub led to %s, not GitHub's authorize page", where)
}

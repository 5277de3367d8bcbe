package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	pt "studio/agents/providers/providertest"
	"studio/internal/testwait"
)

// TestRunDiffRevertAndRestoreAVersion: an agent's run changes a line; its
// Changes button opens a Monaco diff with the new line, and Revert puts
// the file back. A named version is saved, the file changed, the version
// restored, and the restore undone from the timeline.
func TestRunDiffRevertAndRestoreAVersion(t *testing.T) {
	fake := pt.New("openai")
	defer fake.Close()
	s := startStudio(t, "STUDIO_OPENAI_BASE_URL="+fake.BaseURL(), "STUDIO_PROVIDER_ALLOW="+strings.TrimPrefix(strings.TrimSuffix(fake.BaseURL(), "/v1"), "http://"))
	const email, password = "hedy@example.com", "a long password"
	ctx := browser(t)
	type css = chromedp.CSS
	signUp(t, ctx, s, email, password)
	token := apiToken(t, s, email, password)
	var out any
	apiJSON(t, s, token, "PUT", "/api/settings/providers/openai", map[string]string{"api_key": "sk-e2e-key-0003"}, http.StatusOK, &out)
	var created struct {
		Project struct {
			ID string `json:"id"`
		} `json:"project"`
	}
	apiJSON(t, s, token, "POST", "/api/projects", map[string]string{"name": "Versions", "template": "static"}, http.StatusAccepted, &created)
	id := created.Project.ID
	testwait.Eventually(t, 60*time.Second, func() bool {
		var p struct {
			Project struct {
				Status string `json:"status"`
			} `json:"project"`
		}
		apiJSON(t, s, token, "GET", "/api/projects/"+id, nil, http.StatusOK, &p)
		return p.Project.Status == "active"
	}, "the project is active")
	const original = "<h1>Old title</h1>\n<p>kept</p>\n"
	writeThroughAPI(t, s, email, password, id, "page.html", original)
	read := func(path string) string {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/api/projects/"+id+"/files/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}

	step(t, ctx, "open the workspace",
		chromedp.Navigate(s.base+"/projects/"+id),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = function () { return true }; true`)); err != nil {
		t.Fatal(err)
	}
	fake.Push(
		pt.Use(pt.Call{Name: "write_file", Args: `{"path":"page.html","content":"<h1>Brand new title</h1>\n<p>kept</p>\n"}`}),
		pt.Say("Retitled."),
	)
	step(t, ctx, "a run changes a line",
		chromedp.SendKeys(css(`[data-testid=chat-message]`), "Change the title"),
		chromedp.Click(css(`[data-testid=chat-send]`)),
		chromedp.WaitVisible(css(`[data-testid=chat-run][data-status=succeeded] [data-testid=run-changes]`)),
	)
	step(t, ctx, "the run's diff shows the changed line",
		chromedp.Click(css(`[data-testid=chat-run][data-status=succeeded] [data-testid=run-changes]`)),
		chromedp.WaitVisible(css(`[data-testid=history-file][data-path="page.html"]`)),
		chromedp.WaitVisible(css(`[data-testid=history-diff][data-path="page.html"] .editor.modified .view-lines`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="history-diff"]//*[contains(@class,"modified")]//*[contains(@class,"view-line")][contains(., "Brand")]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="history-diff"]//*[contains(@class,"original")]//*[contains(@class,"view-line")][contains(., "Old")]`)),
	)
	screenshot(t, ctx, "run-diff")
	step(t, ctx, "inline",
		chromedp.Click(css(`[data-testid=history-inline]`)),
		chromedp.WaitNotPresent(css(`[data-testid=history-diff] .monaco-diff-editor.side-by-side`)),
	)
	step(t, ctx, "revert the file",
		chromedp.Click(css(`[data-testid=history-revert]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="history-status"][contains(., "back as it was before the run")]`)),
	)
	if got := read("page.html"); got != original {
		t.Fatalf("after the revert page.html is %q, want %q", got, original)
	}

	step(t, ctx, "save a named version",
		chromedp.Click(css(`[data-testid=history-close]`)),
		chromedp.Click(css(`[data-testid=ws-save-version]`)),
		chromedp.WaitVisible(css(`[data-testid=history-name]`)),
		chromedp.SendKeys(css(`[data-testid=history-name]`), "Before the redesign"),
		chromedp.Click(css(`[data-testid=history-save]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid="history-version"][1][contains(., "Before the redesign")]`)),
		// The timeline is drawn again when the save is done: click in the
		// finished one.
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="history-status"][contains(., "Saved")]`)),
	)
	writeThroughAPI(t, s, email, password, id, "page.html", "<h1>Redesigned</h1>\n")
	writeThroughAPI(t, s, email, password, id, "extra.html", "new")
	step(t, ctx, "restore it",
		chromedp.Click(chromedp.Search(`//li[@data-testid="history-version"][contains(., "Before the redesign")]//button[@data-testid="history-restore"]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid="history-status"][contains(., "Restored")]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid="history-version"][1][contains(., "before restoring")]`)),
	)
	screenshot(t, ctx, "version-history")
	if got := read("page.html"); got != original || strings.Contains(read("extra.html"), "new") {
		t.Fatalf("after the restore page.html is %q, extra.html %q", got, read("extra.html"))
	}
	step(t, ctx, "undo the restore",
		chromedp.Click(chromedp.Search(`//li[@data-testid="history-version"][1]//button[@data-testid="history-restore"]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid="history-version"][1][contains(., "before restoring before restoring")]`)),
	)
	if got := read("page.html"); got != "<h1>Redesigned</h1>\n" || read("extra.html") != "new" {
		t.Fatalf("after undoing the restore page.html is %q", got)
	}
}
